package recovery

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"kagi"
	"kagi/auth"
)

// backOffice calls the auth core's back-office API with the key named "backoffice".
func (e *testEnv) backOffice(method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	status, out, _ := e.do(http.DefaultClient, method, path, body, "Authorization", "Bearer "+otherAPIKey)
	return status, out
}

// A change of email or phones by the back office starts the hold, which the web login's check
// reports (§3.6, §12.2); the key that made the change is named in the audit trail.
func TestBackOfficeContactChangeShowsInTheWindowCheck(t *testing.T) {
	t.Parallel()
	e := newTestEnvWithCore(t, func(c *auth.Config) { c.RecoveryHold = auth.DefaultRecoveryHold },
		func(c *Config) { c.RecoveryHold = auth.DefaultRecoveryHold })
	acct := e.addAccount("taro", realNumber)
	if _, body := e.checkWindow("taro", "Bearer "+testAPIKey); string(body) != closedAnswer {
		t.Fatalf("before: %s", body)
	}
	status, body := e.backOffice("PATCH", "/api/v1/accounts/"+realNumber, map[string]any{"phones": []string{"+818099990000"}})
	if status != http.StatusOK {
		t.Fatalf("PATCH: %d %v", status, body)
	}
	_, check := e.checkWindow("taro", "Bearer "+testAPIKey)
	if !strings.Contains(string(check), `"hold_reason":"contact_changed"`) || !strings.Contains(string(check), `"hold_until":"2031-06-07T10:00:00+09:00"`) {
		t.Fatalf("after: %s, want the contact_changed hold until 72 hours on", check)
	}
	var actor string
	if err := e.pool.QueryRow(context.Background(), `SELECT actor FROM audit_log WHERE account_id = $1 AND event = 'account_contacts_changed'`, acct.ID).Scan(&actor); err != nil || actor != "api:backoffice" {
		t.Fatalf("actor %q (%v), want api:backoffice", actor, err)
	}
}

// The voice line refuses a suspended account (§12.2) — but only a caller who passed the keyed
// checks hears so: anyone else hears the one failure sentence, as for a number no account has,
// so the refusal tells a stranger nothing. Nothing opens; resumed, the account verifies again.
func TestSuspendedAccountOnTheVoiceLine(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addPasskeyAccount("taro", realNumber)
	// A window open when the account is suspended closes with it.
	e.expect("the customer before the suspension", e.verify(realNumber, ownPhone, rightPIN), VoiceVerified)
	if status, body := e.backOffice("POST", "/api/v1/accounts/"+realNumber+"/suspend", map[string]any{"reason": "調査中"}); status != http.StatusOK {
		t.Fatalf("suspend: %d %v", status, body)
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows WHERE closed_at IS NULL`); n != 0 {
		t.Fatalf("%d windows still open after the suspension", n)
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows WHERE close_reason = 'closed_account_suspended'`); n != 1 {
		t.Fatalf("%d windows closed by the suspension, want 1", n)
	}
	cases := []struct {
		name          string
		number, from  string
		pin           string
		want          VoiceOutcome
		refusedEvents int
	}{
		{"a stranger with the right PIN", realNumber, strangerA, rightPIN, VoiceFailed, 0},
		{"the registered phone with a wrong PIN", realNumber, ownPhone, wrongPIN, VoiceFailed, 0},
		{"a made-up number", madeUpNumber, ownPhone, rightPIN, VoiceFailed, 0},
		{"the customer", realNumber, ownPhone, rightPIN, VoiceSuspended, 1},
	}
	for _, c := range cases {
		e.expect(c.name, e.verify(c.number, c.from, c.pin), c.want)
		if got := e.count(`SELECT count(*) FROM audit_log WHERE account_id = $1 AND event = 'voice_refused_suspended'`, acct.ID); got != c.refusedEvents {
			t.Errorf("%s: %d voice_refused_suspended lines, want %d", c.name, got, c.refusedEvents)
		}
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows`); n != 1 {
		t.Fatalf("%d windows opened for a suspended account", n-1)
	}
	// Opened by anyone else (the console, `kagi window open`), a window is refused too.
	_, err := e.openErr(context.Background(), acct.ID, ChannelOperator, "staff:1", "本人確認済み")
	var ke *kagi.Error
	if !errors.As(err, &ke) || ke.Code != "account_suspended" {
		t.Fatalf("window for a suspended account: %v, want account_suspended", err)
	}

	if status, body := e.backOffice("POST", "/api/v1/accounts/"+realNumber+"/resume", nil); status != http.StatusOK {
		t.Fatalf("resume: %d %v", status, body)
	}
	e.expect("the customer once resumed", e.verify(realNumber, ownPhone, rightPIN), VoiceVerified)
	if n := e.count(`SELECT count(*) FROM fallback_windows WHERE closed_at IS NULL`); n != 1 {
		t.Fatalf("%d windows open once resumed and verified, want 1", n)
	}
}
