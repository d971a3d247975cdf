package recovery

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"kagi/auth"
	"kagi/auth/authtest"
	"kagi/notify"
	"kagi/notify/notifytest"
)

// holdOf reads recovered_at and hold_until from an answer of the session or the service API.
func holdOf(t *testing.T, body []byte) (recoveredAt, holdUntil any) {
	t.Helper()
	r, h, _ := holdReasonOf(t, body)
	return r, h
}

// holdReasonOf reads recovered_at, hold_until and hold_reason from an answer of the session or
// the service API.
func holdReasonOf(t *testing.T, body []byte) (recoveredAt, holdUntil, reason any) {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	r, ok1 := v["recovered_at"]
	h, ok2 := v["hold_until"]
	why, ok3 := v["hold_reason"]
	if !ok1 || !ok2 || !ok3 {
		t.Fatalf("answer %s lacks recovered_at, hold_until or hold_reason", body)
	}
	return r, h, why
}

// The first passkey bound from a password session (§2.13) is told by mail and SMS and starts the
// hold, reported with hold_reason passkey_added by every session and the service API; a
// replacement from a recovery session later reports recovery.
func TestFirstPasskeyFromAPasswordSessionStartsTheHold(t *testing.T) {
	t.Parallel()
	hold := auth.DefaultRecoveryHold
	e := newTestEnvWithCore(t, func(c *auth.Config) { c.RecoveryHold = hold }, func(c *Config) { c.RecoveryHold = hold })
	acct := e.addAccount("taro", "1234567")
	ctx := context.Background()
	session := e.browser()
	if status, body := e.passwordLogin(session, "taro"); status != http.StatusOK {
		t.Fatalf("password login: %d %v", status, body)
	}
	e.clock.Advance(time.Minute)
	phone := authtest.NewPhone(authtest.Config{BaseURL: e.srv.URL, Origin: "https://kagi.test", RPID: "kagi.test"})
	if _, err := phone.Register(ctx, session); err != nil {
		t.Fatal(err)
	}
	added := testStart.Add(time.Minute)
	wantH := added.Add(hold).Format(time.RFC3339)
	_, api := e.checkWindow("taro", "Bearer "+testAPIKey)
	for name, body := range map[string][]byte{"session": e.sessionBody(session), "service API": api} {
		if r, h, why := holdReasonOf(t, body); r != nil || h != wantH || why != "passkey_added" {
			t.Errorf("%s: recovered_at %v hold_until %v hold_reason %v, want null %s passkey_added", name, r, h, why, wantH)
		}
	}
	var told []string
	for _, m := range notifytest.Messages(t, e.pool, acct.ID) {
		if m.Event.Kind == notify.KindPasskeyAdded {
			told = append(told, m.Channel)
			if !m.Event.Until.Equal(added.Add(hold)) {
				t.Errorf("the notice says the hold ends %v", m.Event.Until)
			}
		}
	}
	if !slices.Contains(told, "email") || !slices.Contains(told, "sms") {
		t.Fatalf("the first passkey was told by %v, want email and sms", told)
	}

	// A recovery later on takes the hold over, with its own reason.
	e.clock.Advance(time.Hour)
	e.open(acct.ID, ChannelIVR, "ivr:CA01", "")
	rescue := e.browser()
	if status, body := e.passwordLogin(rescue, "taro"); status != http.StatusOK {
		t.Fatalf("window login: %d %v", status, body)
	}
	recovered := added.Add(time.Hour).Format(time.RFC3339)
	if r, h, why := holdReasonOf(t, e.sessionBody(rescue)); r != recovered || h != added.Add(time.Hour+hold).Format(time.RFC3339) || why != "recovery" {
		t.Errorf("after the recovery: recovered_at %v hold_until %v hold_reason %v", r, h, why)
	}
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
