package recovery

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"kagi/auth"
)

// holdOf reads recovered_at and hold_until from an answer of the session or the service API.
func holdOf(t *testing.T, body []byte) (recoveredAt, holdUntil any) {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	r, ok1 := v["recovered_at"]
	h, ok2 := v["hold_until"]
	if !ok1 || !ok2 {
		t.Fatalf("answer %s lacks recovered_at or hold_until", body)
	}
	return r, h
}

// After a login through a window every session of the account, and the service API, report the
// recovery and the hold of §2.11 until it passes; a hold of 0 reports none.
func TestRecoveryHoldAfterAWindowLogin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		hold time.Duration
	}{{"72h", 72 * time.Hour}, {"off", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnvWithCore(t, func(c *auth.Config) { c.RecoveryHold = tc.hold }, func(c *Config) { c.RecoveryHold = tc.hold })
			acct := e.addPasskeyAccount("taro", "1234567")
			bearer := "Bearer " + testAPIKey
			_, before := e.checkWindow("taro", bearer)
			if r, h := holdOf(t, before); r != nil || h != nil {
				t.Fatalf("a hold before any recovery: %s", before)
			}

			e.open(acct.ID, ChannelIVR, "ivr:CA01", "")
			first := e.browser()
			if status, body := e.passwordLogin(first, "taro"); status != http.StatusOK {
				t.Fatalf("window login: %d %v", status, body)
			}
			recoveredAt := testStart.Format(time.RFC3339)
			holdUntil := testStart.Add(72 * time.Hour).Format(time.RFC3339)
			e.clock.Advance(10 * time.Minute)
			second := e.browser() // another session of the account, made after the recovery
			if status, body := e.passwordLogin(second, "taro"); status != http.StatusOK {
				t.Fatalf("second login: %d %v", status, body)
			}
			_, api := e.checkWindow("taro", bearer)
			for name, body := range map[string][]byte{"first session": e.sessionBody(first), "second session": e.sessionBody(second), "service API": api} {
				r, h := holdOf(t, body)
				if tc.hold == 0 {
					if r != nil || h != nil {
						t.Errorf("%s with the hold off: %s", name, body)
					}
					continue
				}
				// The second login through the window is a recovery too: it extends the hold.
				wantR, wantH := testStart.Add(10*time.Minute).Format(time.RFC3339), testStart.Add(72*time.Hour+10*time.Minute).Format(time.RFC3339)
				if r != wantR || h != wantH {
					t.Errorf("%s: recovered_at %v hold_until %v, want %s %s (first recovery %s %s)", name, r, h, wantR, wantH, recoveredAt, holdUntil)
				}
			}

			e.clock.Advance(72 * time.Hour)
			_, api = e.checkWindow("taro", bearer)
			if r, h := holdOf(t, api); r != nil || h != nil {
				t.Fatalf("the service API still reports a hold after it passed: %s", api)
			}
		})
	}
}

// sessionBody is GET /api/v1/session's answer for the browser's session.
func (e *testEnv) sessionBody(c *http.Client) []byte {
	e.t.Helper()
	status, _, raw := e.do(c, "GET", "/api/v1/session", nil)
	if status != http.StatusOK {
		e.t.Fatalf("GET /api/v1/session: %d %s", status, raw)
	}
	return raw
}
