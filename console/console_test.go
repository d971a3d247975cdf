package console

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kagi/auth"
	"kagi/hours"
	"kagi/notify/notifytest"
	"kagi/pgdb"
	"kagi/recovery"
	"kagi/staff"
)

// The console's customer: secrets of their own, none of which any staff answer may carry.
const (
	consoleNumber   = "5550001"
	consolePIN      = "8642"
	consolePhone    = "+819087654321"
	consoleLandline = "+81398765432"
)

// fakeCalls is the voice line's call log as ivr.CallLog provides it (recovery cannot import
// ivr): one call per account, the caller masked.
type fakeCalls struct{}

func (fakeCalls) RecentCalls(_ context.Context, _ pgdb.Querier, accountID int64, limit int) ([]recovery.Call, error) {
	return []recovery.Call{{CallSid: fmt.Sprintf("CA%d", accountID), Caller: auth.MaskPhone(consolePhone), StartedAt: testStart, Outcome: "failed"}}[:min(1, limit)], nil
}

// console is a test of the console API: its env, and every body a staff answer carried, for
// the secrets check.
type console struct {
	*testEnv
	mu     sync.Mutex
	bodies [][]byte
}

func newConsole(t *testing.T, edit ...func(*setup)) *console {
	t.Helper()
	return &console{testEnv: newTestEnv(t, append([]func(*setup){func(c *setup) { c.Calls = fakeCalls{} }}, edit...)...)}
}

// call is d.call, keeping the answer.
func (c *console) call(d *staffDesk, method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	status, out, raw := d.call(method, path, body)
	c.mu.Lock()
	c.bodies = append(c.bodies, raw)
	c.mu.Unlock()
	return status, out
}

func (c *console) act(d *staffDesk, number, action, reason string) (int, map[string]any) {
	c.t.Helper()
	return c.call(d, "POST", "/staff/api/accounts/"+number+"/"+action, map[string]string{"reason": reason})
}

// customer adds the console's customer, with a passkey, two phones and the PIN above.
func (c *console) customer() auth.Account {
	c.t.Helper()
	a, err := c.auth.CreateAccount(context.Background(), auth.NewAccount{
		LoginID: "hanako", Password: testPassword, AccountNumber: consoleNumber, PIN: consolePIN,
		Phones: []string{consolePhone, consoleLandline}, Email: "hanako@example.jp", Name: "佐藤 花子",
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.addPasskey(a.ID)
	return a
}

// secrets are the customer's secrets in every encoding an answer could carry them in, and the
// given cookie values.
func (c *console) secrets(accountID int64, tokens ...string) []string {
	c.t.Helper()
	var pinHash, credID, pubKey []byte
	var pwHash string
	if err := c.pool.QueryRow(context.Background(), `SELECT pin_hash, password_hash FROM accounts WHERE id = $1`, accountID).
		Scan(&pinHash, &pwHash); err != nil {
		c.t.Fatal(err)
	}
	out := []string{consolePIN, testPassword, pwHash, consolePhone, consolePhone[3:], "0" + consolePhone[3:],
		consoleLandline, consoleLandline[3:], c.auth.AccountNumberKey(consoleNumber)}
	bins := [][]byte{pinHash}
	err := c.pool.QueryRow(context.Background(), `SELECT credential_id, public_key FROM passkeys WHERE account_id = $1`, accountID).
		Scan(&credID, &pubKey)
	if err == nil {
		bins = append(bins, credID, pubKey)
		out = append(out, string(credID), string(pubKey))
	}
	for _, b := range bins {
		out = append(out, hex.EncodeToString(b), base64.StdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
			base64.RawStdEncoding.EncodeToString(b))
	}
	for _, tok := range tokens {
		if tok != "" {
			out = append(out, tok)
		}
	}
	return out
}

// checkNoSecret fails when any staff answer of the test carried one of secrets.
func (c *console) checkNoSecret(secrets []string) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.bodies) == 0 {
		c.t.Fatal("no staff answer to check")
	}
	for _, b := range c.bodies {
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				c.t.Fatalf("a staff answer carries a secret %q:\n%s", s, b)
			}
		}
	}
}

// sessionCookie is the customer's session token in the browser's jar.
func (c *console) sessionCookie(b *http.Client) string {
	u, _ := url.Parse(c.srv.URL)
	for _, ck := range b.Jar.Cookies(u) {
		if ck.Name == auth.SessionCookie {
			return ck.Value
		}
	}
	return ""
}

// lockBoth locks the account number and the customer's mobile out of the voice line, as five
// and ten failed verifications would.
func (c *console) lockBoth() {
	c.t.Helper()
	until := c.clock.Now().Add(24 * time.Hour)
	for _, sub := range []struct{ kind, subject string }{{"account", c.auth.AccountNumberKey(consoleNumber)}, {"caller", consolePhone}} {
		_, err := c.pool.Exec(context.Background(), `
			INSERT INTO voice_lockouts (subject_kind, subject, touched_at, locked_until) VALUES ($1, $2, $3, $4)`, sub.kind, sub.subject, c.clock.Now(), until)
		if err != nil {
			c.t.Fatal(err)
		}
		for range 10 {
			if _, err := c.pool.Exec(context.Background(), `INSERT INTO voice_failures (subject_kind, subject, at) VALUES ($1, $2, $3)`,
				sub.kind, sub.subject, c.clock.Now()); err != nil {
				c.t.Fatal(err)
			}
		}
	}
}

// auditLine is the newest audit line of the account with event, as the console reports it.
func (c *console) auditLine(accountID int64, event string) (actor string, detail map[string]any) {
	c.t.Helper()
	lines, _, err := auth.AuditTrail(context.Background(), c.pool, auth.AuditQuery{AccountID: accountID})
	if err != nil {
		c.t.Fatal(err)
	}
	for _, l := range lines {
		if l.Event == event {
			return l.Actor, l.Detail
		}
	}
	c.t.Fatalf("no %s audit line of the account", event)
	return "", nil
}

func expectAudited(t *testing.T, what, actor string, detail map[string]any, wantActor, wantRole, wantReason string) {
	t.Helper()
	if actor != wantActor || detail["staff_role"] != wantRole || detail["reason"] != wantReason {
		t.Fatalf("%s audited as %s %v, want %s with role %s and reason %q", what, actor, detail, wantActor, wantRole, wantReason)
	}
}

func TestConsoleFindsAnAccountByNumberOrLoginIDWithoutItsSecrets(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	acct := c.customer()
	c.open(acct.ID, recovery.ChannelIVR, "ivr:CA01", "")
	c.lockBoth()
	c.addAccount("5550001x", "7777777") // a login ID that is no account number of its own
	desk := c.enrolledStaff("suzuki", staff.RoleOperator)
	customer := c.browser()
	if status, body := c.passwordLogin(customer, "hanako"); status != http.StatusOK {
		t.Fatalf("customer login through the window: %d %v", status, body)
	}

	for _, q := range []string{consoleNumber, "hanako", " hanako "} {
		status, body := c.call(desk, "GET", "/staff/api/accounts?q="+url.QueryEscape(q), nil)
		expectStatus(t, "search "+q, status, body, http.StatusOK, "")
		accounts, _ := body["accounts"].([]any)
		if len(accounts) != 1 {
			t.Fatalf("search %q: %v, want the one account", q, body)
		}
		a := accounts[0].(map[string]any)
		pk, _ := a["passkey"].(map[string]any)
		win, _ := a["window"].(map[string]any)
		if a["account_number"] != consoleNumber || a["login_id"] != "hanako" || a["name"] != "佐藤 花子" || a["suspended_at"] != nil ||
			pk == nil || pk["synced"] != true || pk["created_at"] == nil || win["open"] != true || win["opened_via"] != "ivr" {
			t.Fatalf("search %q: card %v", q, a)
		}
		if exp, _ := time.Parse(time.RFC3339, win["expires_at"].(string)); !exp.Equal(testStart.Add(recovery.DefaultWindow)) {
			t.Fatalf("window expires %v", win["expires_at"])
		}
		var locks []string
		for _, l := range a["lockouts"].([]any) {
			l := l.(map[string]any)
			locks = append(locks, fmt.Sprint(l["kind"], " ", l["caller"], " ", l["until"] != nil))
		}
		if want := []string{"account <nil> true", "caller +8190****4321 true"}; !slices.Equal(locks, want) {
			t.Fatalf("lockouts %v, want %v", locks, want)
		}
		calls := a["recent_calls"].([]any)
		if len(calls) != 1 || calls[0].(map[string]any)["caller"] != "+8190****4321" {
			t.Fatalf("recent calls %v", calls)
		}
	}
	// The other account is suspended by the back office (§12.2): the card says since when.
	if _, err := c.pool.Exec(context.Background(), `UPDATE accounts SET suspended_at = $1 WHERE account_number = '7777777'`, testStart); err != nil {
		t.Fatal(err)
	}
	status, body := c.call(desk, "GET", "/staff/api/accounts?q=5550001x", nil)
	if accounts, _ := body["accounts"].([]any); status != http.StatusOK || len(accounts) != 1 ||
		accounts[0].(map[string]any)["account_number"] != "7777777" || accounts[0].(map[string]any)["passkey"] != nil ||
		accounts[0].(map[string]any)["suspended_at"] == nil {
		t.Fatalf("search by the other login ID: %d %v", status, body)
	}
	status, body = c.call(desk, "GET", "/staff/api/accounts?q=9999999", nil)
	if accounts, ok := body["accounts"].([]any); status != http.StatusOK || !ok || len(accounts) != 0 {
		t.Fatalf("search for nobody: %d %v, want an empty list", status, body)
	}
	status, body = c.call(desk, "GET", "/staff/api/accounts?q=", nil)
	expectStatus(t, "empty search", status, body, http.StatusBadRequest, "invalid_request")
	c.checkNoSecret(c.secrets(acct.ID, desk.staffCookie(), c.sessionCookie(customer)))
}

func TestConsoleOpensAWindowInBusinessHours(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	acct := c.customer()
	operator := c.enrolledStaff("suzuki", staff.RoleOperator)

	status, body := c.act(operator, consoleNumber, "window/open", "  本人確認済み(生年月日・住所)  ")
	expectStatus(t, "open", status, body, http.StatusOK, "")
	if exp, _ := time.Parse(time.RFC3339, fmt.Sprint(body["expires_at"])); !exp.Equal(testStart.Add(recovery.DefaultWindow)) {
		t.Fatalf("open answered %v", body)
	}
	// The answer carries the card as it is now, so the page redraws it without a search: the
	// action is on the record, and no read is counted or audited beside it.
	card, _ := body["account"].(map[string]any)
	if win, _ := card["window"].(map[string]any); card["account_number"] != consoleNumber || win["open"] != true {
		t.Fatalf("the answer's card is %v", card)
	}
	if n := c.count(`SELECT count(*) FROM audit_log WHERE event = 'staff_search'`); n != 0 {
		t.Fatalf("the action was audited as %d searches", n)
	}
	ws := c.windows(acct.ID)
	if len(ws) != 1 || ws[0].Closed {
		t.Fatalf("windows %+v", ws)
	}
	actor, detail := c.auditLine(acct.ID, "window_opened")
	expectAudited(t, "open", actor, detail, "staff:suzuki", "operator", "本人確認済み(生年月日・住所)")
	if detail["via"] != "operator" {
		t.Fatalf("opened via %v", detail["via"])
	}
	kinds := notifytest.Kinds(t, c.pool, acct.ID)
	if !slices.Contains(kinds, "email:window_opened") || !slices.Contains(kinds, "sms:window_opened") {
		t.Fatalf("the customer was told %v", kinds)
	}
	for _, m := range notifytest.Messages(t, c.pool, acct.ID) {
		if m.Event.Channel != "operator" {
			t.Fatalf("notice %+v does not say the operator opened it", m)
		}
	}
	// An account without a passkey needs no window: its password works already.
	plain := c.addAccount("jiro", "2222222")
	status, body = c.act(operator, "2222222", "window/open", "本人確認済み")
	expectStatus(t, "open for an account without a passkey", status, body, http.StatusConflict, "no_passkey")
	if len(c.windows(plain.ID)) != 0 || len(notifytest.Kinds(t, c.pool, plain.ID)) != 0 {
		t.Fatalf("a refused opening left a window or a notice")
	}
	// The customer's password works now.
	if status, body := c.passwordLogin(c.browser(), "hanako"); status != http.StatusOK || body["assurance"] != "password_fallback" {
		t.Fatalf("password login in the window: %d %v", status, body)
	}
	// A second opening restarts the same window.
	c.clock.Advance(10 * time.Minute)
	status, body = c.act(operator, consoleNumber, "window/open", "再度の依頼")
	expectStatus(t, "restart", status, body, http.StatusOK, "")
	if ws := c.windows(acct.ID); len(ws) != 1 || ws[0].RestartedCount != 1 || !ws[0].ExpiresAt.Equal(c.clock.Now().Add(recovery.DefaultWindow)) {
		t.Fatalf("after a restart: %+v", ws)
	}

	for _, tc := range []struct {
		name, number, reason string
		body                 any
		want                 int
		code                 string
	}{
		{"no reason", consoleNumber, "", nil, http.StatusBadRequest, "reason_required"},
		{"a blank reason", consoleNumber, " \t　", nil, http.StatusBadRequest, "reason_required"},
		{"an overlong reason", consoleNumber, strings.Repeat("理", recovery.MaxReasonLen+1), nil, http.StatusBadRequest, "invalid_request"},
		{"a NUL in the reason", consoleNumber, "本人確認\x00済み", nil, http.StatusBadRequest, "invalid_request"},
		{"an escape sequence in the reason", consoleNumber, "\x1b[2J本人確認済み", nil, http.StatusBadRequest, "invalid_request"},
		{"no body", consoleNumber, "", "not an object", http.StatusBadRequest, "invalid_request"},
		{"an unknown account", "9999999", "本人確認済み", nil, http.StatusNotFound, "not_found"},
		{"a number no account can have", "%00", "本人確認済み", nil, http.StatusNotFound, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body any = map[string]string{"reason": tc.reason}
			if tc.body != nil {
				body = tc.body
			}
			status, out := c.call(operator, "POST", "/staff/api/accounts/"+tc.number+"/window/open", body)
			expectStatus(t, tc.name, status, out, tc.want, tc.code)
			if msg, _ := out["message"].(string); !strings.HasSuffix(msg, "。") {
				t.Fatalf("%s: message %q is not a Japanese sentence", tc.name, msg)
			}
		})
	}
	if n := c.count(`SELECT count(*) FROM audit_log WHERE account_id = $1 AND event IN ('window_opened', 'window_restarted')`, acct.ID); n != 2 {
		t.Fatalf("%d openings audited, want the 2 that succeeded", n)
	}
	c.checkNoSecret(c.secrets(acct.ID, operator.staffCookie()))
}

func TestConsoleOpensNoWindowOutsideBusinessHours(t *testing.T) {
	t.Parallel()
	closedToday, err := hours.Parse([]byte(`{"closed":["` + testStart.Format("2006-01-02") + `"]}`))
	if err != nil {
		t.Fatal(err)
	}
	sunday := time.Date(2031, 6, 8, 20, 0, 0, 0, jst)
	for _, tc := range []struct {
		name    string
		edit    func(*setup)
		advance time.Duration
	}{
		{"Sunday 20:00 JST", func(*setup) {}, sunday.Sub(testStart)},
		{"a closed day of the calendar", func(c *setup) { c.Calendar = closedToday }, 0},
		{"support switched off", func(c *setup) { c.SupportEnabled = false }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newConsole(t, tc.edit)
			acct := c.customer()
			c.clock.Advance(tc.advance)
			supervisor := c.enrolledStaff("tanaka", staff.RoleSupervisor)
			status, body := c.act(supervisor, consoleNumber, "window/open", "本人確認済み")
			expectStatus(t, "open", status, body, http.StatusForbidden, "outside_business_hours")
			if len(c.windows(acct.ID)) != 0 || len(notifytest.Kinds(t, c.pool, acct.ID)) != 0 {
				t.Fatal("a refused opening opened a window or told the customer")
			}
		})
	}
}

func TestConsoleClosesAWindowAndEndsTheRecoverySession(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	acct := c.customer()
	c.open(acct.ID, recovery.ChannelIVR, "ivr:CA01", "")
	recoverySession := c.browser()
	if status, body := c.passwordLogin(recoverySession, "hanako"); status != http.StatusOK {
		t.Fatalf("login: %d %v", status, body)
	}
	full := c.addPasskeySession(acct.ID)
	operator := c.enrolledStaff("suzuki", staff.RoleOperator)

	status, body := c.act(operator, consoleNumber, "window/close", "")
	expectStatus(t, "close without a reason", status, body, http.StatusBadRequest, "reason_required")
	status, body = c.act(operator, "9999999", "window/close", "お客さまのご依頼")
	expectStatus(t, "close an unknown account's", status, body, http.StatusNotFound, "not_found")
	status, body = c.act(operator, consoleNumber, "window/close", "お客さまのご依頼")
	expectStatus(t, "close", status, body, http.StatusOK, "")
	if ws := c.windows(acct.ID); len(ws) != 1 || ws[0].CloseReason != "closed_by_operator" {
		t.Fatalf("windows %+v", ws)
	}
	actor, detail := c.auditLine(acct.ID, "window_closed")
	expectAudited(t, "close", actor, detail, "staff:suzuki", "operator", "お客さまのご依頼")
	if kinds := notifytest.Kinds(t, c.pool, acct.ID); !slices.Contains(kinds, "email:window_closed") {
		t.Fatalf("the customer was told %v, want the window's close", kinds)
	}
	if status, _, _ := c.do(recoverySession, "GET", "/api/v1/session", nil); status != http.StatusUnauthorized {
		t.Fatalf("the recovery session outlived its window: %d", status)
	}
	if status, _, _ := c.do(full, "GET", "/api/v1/session", nil); status != http.StatusOK {
		t.Fatalf("closing the window ended a passkey session: %d", status)
	}
	status, body = c.act(operator, consoleNumber, "window/close", "もう一度")
	expectStatus(t, "close with none open", status, body, http.StatusConflict, "no_window")
	c.checkNoSecret(c.secrets(acct.ID, operator.staffCookie(), c.sessionCookie(recoverySession)))
}

func TestConsoleClearsLockoutsForSupervisorsOnly(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	acct := c.customer()
	c.lockBoth()
	operator := c.enrolledStaff("suzuki", staff.RoleOperator)
	supervisor := c.enrolledStaff("tanaka", staff.RoleSupervisor)
	c.expectOutcome("the customer calling while locked", c.verify(consoleNumber, consolePhone, consolePIN), recovery.VoiceAccountLocked)

	status, body := c.act(operator, consoleNumber, "lockout/clear", "本人確認済み")
	expectStatus(t, "an operator clearing", status, body, http.StatusForbidden, "forbidden")
	c.expectOutcome("after the operator's refused clear", c.verify(consoleNumber, consolePhone, consolePIN), recovery.VoiceAccountLocked)
	status, body = c.act(supervisor, consoleNumber, "lockout/clear", " ")
	expectStatus(t, "clear without a reason", status, body, http.StatusBadRequest, "reason_required")
	status, body = c.act(supervisor, "9999999", "lockout/clear", "本人確認済み")
	expectStatus(t, "clear an unknown account's", status, body, http.StatusNotFound, "not_found")
	// Another customer, with one wrong PIN counted and nothing locked: nothing to clear, and
	// nothing changes — the failure still counts, no line is audited, nobody is told.
	other, err := c.auth.CreateAccount(context.Background(), auth.NewAccount{
		LoginID: "jiro", Password: testPassword, AccountNumber: "7654321", PIN: consolePIN,
		Phones: []string{"+819011112222"}, Email: "jiro@example.jp", Name: "佐藤 次郎",
	})
	if err != nil {
		t.Fatal(err)
	}
	c.addPasskey(other.ID)
	c.expectOutcome("the other customer's wrong PIN", c.verify("7654321", "+819011112222", wrongPIN), recovery.VoiceFailed)
	failures, audited := c.count(`SELECT count(*) FROM voice_failures`), c.count(`SELECT count(*) FROM audit_log`)
	toldOther := len(notifytest.Kinds(t, c.pool, other.ID))
	status, body = c.act(supervisor, "7654321", "lockout/clear", "本人確認済み")
	expectStatus(t, "clear with nothing locked", status, body, http.StatusConflict, "nothing_to_clear")
	if msg, _ := body["message"].(string); msg != msgNothingToClear {
		t.Fatalf("message %q", msg)
	}
	if n := c.count(`SELECT count(*) FROM voice_failures`); n != failures {
		t.Fatalf("%d failures after a refused clear, want %d", n, failures)
	}
	if n := c.count(`SELECT count(*) FROM audit_log`); n != audited {
		t.Fatalf("a refused clear wrote %d audit lines", n-audited)
	}
	if kinds := notifytest.Kinds(t, c.pool, other.ID); len(kinds) != toldOther {
		t.Fatalf("the customer was told %v of a clear with nothing to clear", kinds[toldOther:])
	}

	status, body = c.act(supervisor, consoleNumber, "lockout/clear", "本人確認済み")
	expectStatus(t, "a supervisor clearing", status, body, http.StatusOK, "")
	if body["cleared"] != float64(2) {
		t.Fatalf("clear answered %v, want the account's and the phone's lockouts", body)
	}
	actor, detail := c.auditLine(acct.ID, "voice_lockout_cleared")
	expectAudited(t, "clear", actor, detail, "staff:tanaka", "supervisor", "本人確認済み")
	if kinds := notifytest.Kinds(t, c.pool, acct.ID); !slices.Contains(kinds, "email:voice_lockout_cleared") || !slices.Contains(kinds, "sms:voice_lockout_cleared") {
		t.Fatalf("the customer was told %v, want the lockout's clearing by mail and text", kinds)
	}
	if lifted := fmt.Sprint(detail["lifted"]); !strings.Contains(lifted, "+8190****4321") || !strings.Contains(lifted, "account") {
		t.Fatalf("audited lifted %v", lifted)
	}
	if n := c.count(`SELECT count(*) FROM voice_failures WHERE subject IN ($1, $2)`, c.auth.AccountNumberKey(consoleNumber), consolePhone); n != 0 {
		t.Fatalf("%d failures still counted", n)
	}
	_, body = c.call(supervisor, "GET", "/staff/api/accounts?q="+consoleNumber, nil)
	if locks := body["accounts"].([]any)[0].(map[string]any)["lockouts"].([]any); len(locks) != 0 {
		t.Fatalf("lockouts after clearing: %v", locks)
	}
	// One wrong PIN after the clear is one failure, not the sixth.
	c.expectOutcome("a wrong PIN after the clear", c.verify(consoleNumber, consolePhone, wrongPIN), recovery.VoiceFailed)
	c.expectOutcome("the customer calling after the clear", c.verify(consoleNumber, consolePhone, consolePIN), recovery.VoiceVerified)
	told := len(notifytest.Kinds(t, c.pool, acct.ID))
	status, body = c.act(supervisor, consoleNumber, "lockout/clear", "本人確認済み")
	expectStatus(t, "clear again once cleared", status, body, http.StatusConflict, "nothing_to_clear")
	if n := len(notifytest.Kinds(t, c.pool, acct.ID)); n != told {
		t.Fatalf("the customer was told %d more things of a clear with nothing to clear", n-told)
	}
	c.checkNoSecret(c.secrets(acct.ID, operator.staffCookie(), supervisor.staffCookie()))
}

// A paused password login (§2.12) shows among the lockouts, and a supervisor's clear lifts it:
// the customer's password logs in again, and is told so by mail and text.
func TestConsoleClearsAPasswordPause(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	acct := c.customer()
	supervisor := c.enrolledStaff("tanaka", staff.RoleSupervisor)
	until := c.clock.Now().Add(20 * time.Hour)
	if _, err := c.pool.Exec(context.Background(), `UPDATE accounts SET password_paused_until = $2 WHERE id = $1`, acct.ID, until); err != nil {
		t.Fatal(err)
	}
	_, body := c.call(supervisor, "GET", "/staff/api/accounts?q="+consoleNumber, nil)
	locks := body["accounts"].([]any)[0].(map[string]any)["lockouts"].([]any)
	if len(locks) != 1 || locks[0].(map[string]any)["kind"] != "password_pause" {
		t.Fatalf("lockouts of a paused account: %v", locks)
	}
	status, body := c.act(supervisor, consoleNumber, "lockout/clear", "本人確認済み")
	expectStatus(t, "a supervisor clearing the pause", status, body, http.StatusOK, "")
	if body["cleared"] != float64(1) {
		t.Fatalf("clear answered %v, want the pause", body)
	}
	if paused, err := auth.PasswordPaused(context.Background(), c.pool, acct.ID, c.clock.Now()); err != nil || !paused.IsZero() {
		t.Fatalf("still paused until %v (%v)", paused, err)
	}
	if actor, _ := c.auditLine(acct.ID, "password_pause_lifted"); actor != "staff:tanaka" {
		t.Fatalf("the lift is audited under %q", actor)
	}
	kinds := notifytest.Kinds(t, c.pool, acct.ID)
	if !slices.Contains(kinds, "email:password_pause_lifted") || !slices.Contains(kinds, "sms:password_pause_lifted") || slices.Contains(kinds, "email:voice_lockout_cleared") {
		t.Fatalf("the customer was told %v, want the pause's lifting by mail and text, and nothing of the voice line", kinds)
	}
}

func TestConsoleDeletesAPasskeyForSupervisorsOnly(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	acct := c.customer()
	c.open(acct.ID, recovery.ChannelIVR, "ivr:CA01", "")
	full := c.addPasskeySession(acct.ID)
	operator := c.enrolledStaff("suzuki", staff.RoleOperator)
	supervisor := c.enrolledStaff("tanaka", staff.RoleSupervisor)
	secrets := c.secrets(acct.ID, operator.staffCookie(), supervisor.staffCookie())

	status, body := c.act(operator, consoleNumber, "passkey/delete", "機種変更のため")
	expectStatus(t, "an operator deleting", status, body, http.StatusForbidden, "forbidden")
	if _, ok, _ := c.auth.PasskeyOf(context.Background(), c.pool, acct.ID); !ok {
		t.Fatal("an operator's refused deletion deleted the passkey")
	}
	status, body = c.act(supervisor, consoleNumber, "passkey/delete", "")
	expectStatus(t, "delete without a reason", status, body, http.StatusBadRequest, "reason_required")
	status, body = c.act(supervisor, "9999999", "passkey/delete", "機種変更のため")
	expectStatus(t, "delete an unknown account's", status, body, http.StatusNotFound, "not_found")
	if kinds := notifytest.Kinds(t, c.pool, acct.ID); slices.Contains(kinds, "email:passkey_deleted") {
		t.Fatalf("refused deletions told the customer %v", kinds)
	}

	status, body = c.act(supervisor, consoleNumber, "passkey/delete", "機種変更のため")
	expectStatus(t, "a supervisor deleting", status, body, http.StatusOK, "")
	if _, ok, _ := c.auth.PasskeyOf(context.Background(), c.pool, acct.ID); ok {
		t.Fatal("the passkey is still there")
	}
	if ws := c.windows(acct.ID); len(ws) != 1 || ws[0].CloseReason != "closed_passkey_deleted" {
		t.Fatalf("windows %+v", ws)
	}
	if status, _, _ := c.do(full, "GET", "/api/v1/session", nil); status != http.StatusUnauthorized {
		t.Fatalf("a session outlived the passkey: %d", status)
	}
	actor, _ := c.auditLine(acct.ID, "passkey_deleted")
	if actor != "staff:tanaka" {
		t.Fatalf("deletion audited as %s", actor)
	}
	actor, detail := c.auditLine(acct.ID, "passkey_delete_requested")
	expectAudited(t, "delete", actor, detail, "staff:tanaka", "supervisor", "機種変更のため")
	kinds := notifytest.Kinds(t, c.pool, acct.ID)
	if !slices.Contains(kinds, "email:passkey_deleted") || !slices.Contains(kinds, "sms:passkey_deleted") {
		t.Fatalf("the customer was told %v", kinds)
	}
	// The customer's password works again without a window (§2.3).
	if status, body := c.passwordLogin(c.browser(), "hanako"); status != http.StatusOK || body["assurance"] != "password" {
		t.Fatalf("password login after the deletion: %d %v", status, body)
	}
	status, body = c.act(supervisor, consoleNumber, "passkey/delete", "もう一度")
	expectStatus(t, "delete with none", status, body, http.StatusConflict, "no_passkey")
	c.checkNoSecret(secrets)
}

func TestConsoleNeedsAStaffSession(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	acct := c.customer()
	customer := c.browser()
	c.open(acct.ID, recovery.ChannelIVR, "ivr:CA01", "")
	if status, body := c.passwordLogin(customer, "hanako"); status != http.StatusOK {
		t.Fatalf("customer login: %d %v", status, body)
	}
	routes := []struct{ method, path string }{
		{"GET", "/staff/api/accounts?q=" + consoleNumber},
		{"POST", "/staff/api/accounts/" + consoleNumber + "/window/open"},
		{"POST", "/staff/api/accounts/" + consoleNumber + "/window/close"},
		{"POST", "/staff/api/accounts/" + consoleNumber + "/lockout/clear"},
		{"POST", "/staff/api/accounts/" + consoleNumber + "/passkey/delete"},
		{"GET", "/staff/api/audit"},
	}
	for _, who := range []struct {
		name   string
		client *http.Client
	}{{"no session", c.browser()}, {"a customer's session", customer}} {
		for _, r := range routes {
			var body any
			if r.method == "POST" {
				body = map[string]string{"reason": "本人確認済み"}
			}
			status, out, _ := c.doConsole(who.client, r.method, r.path, body, "Sec-Fetch-Site", "same-origin")
			expectStatus(t, who.name+": "+r.method+" "+r.path, status, out, http.StatusUnauthorized, "unauthorized")
		}
	}
	if ws := c.windows(acct.ID); len(ws) != 1 || ws[0].Closed {
		t.Fatalf("a request without a staff session changed the window: %+v", ws)
	}
}

func TestConsoleAuditTrailPages(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	acct := c.customer()
	operator := c.enrolledStaff("suzuki", staff.RoleOperator)
	other := c.enrolledStaff("sato", staff.RoleOperator)
	st := staff.Staff{LoginID: "suzuki", Role: staff.RoleOperator}
	const opened = 54
	for i := range opened {
		if _, err := c.consoleSvc.OpenForStaff(context.Background(), st, consoleNumber, fmt.Sprintf("依頼 %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	status, body := c.act(other, consoleNumber, "window/close", "終了")
	expectStatus(t, "close", status, body, http.StatusOK, "")

	page := func(query string) ([]map[string]any, any) {
		t.Helper()
		status, body := c.call(operator, "GET", "/staff/api/audit?"+query, nil)
		expectStatus(t, "audit "+query, status, body, http.StatusOK, "")
		var out []map[string]any
		for _, ev := range body["events"].([]any) {
			out = append(out, ev.(map[string]any))
		}
		return out, body["next"]
	}
	q := "account_number=" + consoleNumber + "&staff=suzuki"
	first, next := page(q)
	if len(first) != auth.MaxAuditPage || next == nil {
		t.Fatalf("first page: %d events, next %v; want 50 and a cursor", len(first), next)
	}
	if first[0]["detail"].(map[string]any)["reason"] != fmt.Sprintf("依頼 %d", opened-1) {
		t.Fatalf("the first page starts with %v, not the newest", first[0])
	}
	second, last := page(q + "&before=" + next.(string))
	if len(second) != opened-auth.MaxAuditPage || last != nil {
		t.Fatalf("second page: %d events, next %v; want %d and none", len(second), last, opened-auth.MaxAuditPage)
	}
	if second[len(second)-1]["event"] != "window_opened" || second[len(second)-1]["detail"].(map[string]any)["reason"] != "依頼 0" {
		t.Fatalf("the last page ends with %v, not the oldest", second[len(second)-1])
	}
	for _, ev := range append(first, second...) {
		if ev["actor"] != "staff:suzuki" {
			t.Fatalf("the staff filter let %v through", ev)
		}
	}
	if events, _ := page("staff=sato&account_number=" + consoleNumber); len(events) != 1 || events[0]["event"] != "window_closed" {
		t.Fatalf("sato's lines: %v", events)
	}
	if events, next := page("account_number=9999999"); len(events) != 0 || next != nil {
		t.Fatalf("an unknown account's trail: %v %v", events, next)
	}
	for _, bad := range []string{"abc", "0", "-1", "1.5"} {
		status, body := c.call(operator, "GET", "/staff/api/audit?before="+bad, nil)
		expectStatus(t, "before="+bad, status, body, http.StatusBadRequest, "invalid_request")
	}
	// The whole trail, every page of it, carries no secret.
	for cursor := ""; ; {
		_, next := page("before=" + cursor)
		if next == nil {
			break
		}
		cursor = next.(string)
	}
	c.checkNoSecret(c.secrets(acct.ID, operator.staffCookie(), other.staffCookie()))
}

// staffReadLine is the newest audit line of event: its account, actor and detail.
func (c *console) staffReadLine(event string) (account *int64, actor string, detail map[string]any) {
	c.t.Helper()
	err := c.pool.QueryRow(context.Background(), `SELECT account_id, actor, detail FROM audit_log WHERE event = $1 ORDER BY id DESC LIMIT 1`,
		event).Scan(&account, &actor, &detail)
	if err != nil {
		c.t.Fatalf("no %s line: %v", event, err)
	}
	return account, actor, detail
}

// Every search and every trail read is audited under the staff member, with their role and
// address, what the search matched (never what was typed) and how much was shown (§6).
func TestConsoleReadsLeaveATrace(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	acct := c.customer()
	twin := c.addAccount(consoleNumber+"0", "5550002")
	c.addAccount("5550002", "5550003") // a login ID that is twin's account number
	desk := c.enrolledStaff("suzuki", staff.RoleOperator)
	for _, s := range []struct {
		q, kind string
		results int
		account *int64
	}{
		{consoleNumber, "account_number", 1, &acct.ID},
		{"hanako", "login_id", 1, &acct.ID},
		{consoleNumber + "0", "login_id", 1, &twin.ID},
		{"5550002", "both", 2, nil},
		{"nobody-at-all", "none", 0, nil},
	} {
		status, body := c.call(desk, "GET", "/staff/api/accounts?q="+url.QueryEscape(s.q), nil)
		expectStatus(t, "search "+s.q, status, body, http.StatusOK, "")
		account, actor, detail := c.staffReadLine("staff_search")
		if actor != "staff:suzuki" || detail["staff_role"] != "operator" || detail["client"] == nil ||
			detail["q_kind"] != s.kind || detail["results"] != float64(s.results) {
			t.Fatalf("search %q audited as %s %v, want q_kind %s and %d results", s.q, actor, detail, s.kind, s.results)
		}
		if (account == nil) != (s.account == nil) || (account != nil && *account != *s.account) {
			t.Fatalf("search %q audited under account %v, want %v", s.q, account, s.account)
		}
		if strings.Contains(fmt.Sprint(detail), s.q) {
			t.Fatalf("search %q: the trail keeps what was typed: %v", s.q, detail)
		}
	}

	status, body := c.call(desk, "GET", "/staff/api/audit?account_number="+consoleNumber+"&staff=suzuki", nil)
	expectStatus(t, "audit read", status, body, http.StatusOK, "")
	shown := len(body["events"].([]any))
	account, actor, detail := c.staffReadLine("staff_audit_read")
	filters, _ := detail["filters"].(map[string]any)
	if account != nil || actor != "staff:suzuki" || detail["staff_role"] != "operator" || detail["client"] == nil ||
		detail["results"] != float64(shown) || filters["account_number"] != consoleNumber || filters["staff"] != "suzuki" {
		t.Fatalf("audit read audited as %v %s %v, want suzuki's read of %d lines with its filters", account, actor, detail, shown)
	}
	// The two searches of hanako's account are in its trail; the read of it is not.
	if shown != 2 {
		t.Fatalf("the account's trail shows %d lines, want its two searches", shown)
	}
}

// Past KAGI_STAFF_READ_LIMIT a staff member's searches and trail reads are refused, 429, until
// the period ends; another staff member reads on.
func TestConsoleReadsAreLimitedPerStaffMember(t *testing.T) {
	t.Parallel()
	c := newConsole(t, func(cfg *setup) { cfg.Staff.ReadLimit = auth.ClientLimit{Max: 3, Period: 20 * time.Minute} })
	c.customer()
	desk := c.enrolledStaff("suzuki", staff.RoleOperator)
	other := c.enrolledStaff("sato", staff.RoleOperator)
	reads := []string{"/staff/api/accounts?q=" + consoleNumber, "/staff/api/audit", "/staff/api/accounts?q=hanako"}
	for _, path := range reads {
		status, body := c.call(desk, "GET", path, nil)
		expectStatus(t, path, status, body, http.StatusOK, "")
	}
	before := readsLimited()
	audited := c.count(`SELECT count(*) FROM audit_log WHERE event IN ('staff_search', 'staff_audit_read')`)
	for _, path := range reads[:2] {
		status, body := c.call(desk, "GET", path, nil)
		expectStatus(t, "past the limit: "+path, status, body, http.StatusTooManyRequests, "rate_limited")
		if body["message"] != "検索・履歴の表示回数が上限に達しました。しばらく時間をおいてから再度お試しください。" {
			t.Fatalf("message %v", body["message"])
		}
	}
	if d := readsLimited() - before; d < 2 {
		t.Fatalf("kagi_staff_reads_limited_total rose by %v, want 2", d)
	}
	if n := c.count(`SELECT count(*) FROM audit_log WHERE event IN ('staff_search', 'staff_audit_read')`); n != audited {
		t.Fatalf("a refused read was audited as shown (%d lines)", n-audited)
	}
	status, body := c.call(other, "GET", reads[0], nil)
	expectStatus(t, "another staff member", status, body, http.StatusOK, "")
	// (Within the staff session's 30 idle minutes.)
	c.clock.Advance(20 * time.Minute)
	status, body = c.call(desk, "GET", reads[0], nil)
	expectStatus(t, "the next period", status, body, http.StatusOK, "")
}

// The trail shown to staff says passkey_required of a refused password, right or wrong: read
// back, the two refusals are the same line but for their time and id (§2.2, §6).
func TestConsoleTrailNeverSaysWhetherARefusedPasswordWasRight(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	acct := c.customer()
	desk := c.enrolledStaff("suzuki", staff.RoleOperator)
	for _, pw := range []string{testPassword, "not-the-password-1"} {
		status, body, _ := c.do(c.browser(), "POST", "/api/v1/login/password", map[string]string{"login_id": "hanako", "password": pw})
		if status == http.StatusOK {
			t.Fatalf("a password logged in past the passkey: %v", body)
		}
	}
	// The trail itself keeps the difference.
	if n := c.count(`SELECT count(DISTINCT detail->>'reason') FROM audit_log WHERE account_id = $1 AND event = 'login_failed'`, acct.ID); n != 2 {
		t.Fatalf("%d reasons audited, want right and wrong told apart", n)
	}
	status, body, raw := desk.call("GET", "/staff/api/audit?account_number="+consoleNumber, nil)
	expectStatus(t, "audit read", status, body, http.StatusOK, "")
	var refused []map[string]any
	for _, ev := range body["events"].([]any) {
		if ev := ev.(map[string]any); ev["event"] == "login_failed" {
			refused = append(refused, ev["detail"].(map[string]any))
		}
	}
	if len(refused) != 2 || fmt.Sprint(refused[0]) != fmt.Sprint(refused[1]) || refused[0]["reason"] != "passkey_required" {
		t.Fatalf("the refusals read back as %v, want two identical passkey_required lines", refused)
	}
	if strings.Contains(string(raw), "password_right") || strings.Contains(string(raw), "password_wrong") {
		t.Fatalf("the trail shown to staff tells right from wrong: %s", raw)
	}
}

// A search costs a bounded number of statements, whatever the account carries: the staff
// session, the read's count, the lookups and the card in one read-only snapshot, and the audit
// line. The figure is logged (go test -run SearchStatements -v); the test fails when it grows.
func TestConsoleSearchStatements(t *testing.T) {
	t.Parallel()
	c := newConsole(t)
	acct := c.customer()
	c.lockBoth()
	c.open(acct.ID, recovery.ChannelIVR, "ivr:CA01", "")
	desk := c.enrolledStaff("suzuki", staff.RoleOperator)
	for _, q := range []string{consoleNumber, "hanako", "nobody"} {
		c.statements.Statements.Store(0)
		c.statements.Commits.Store(0)
		status, body := c.call(desk, "GET", "/staff/api/accounts?q="+q, nil)
		expectStatus(t, "search "+q, status, body, http.StatusOK, "")
		statements, commits := c.statements.Statements.Load(), c.statements.Commits.Load()
		t.Logf("search %q: %d statements, %d commits (the call list, fake here, adds one)", q, statements, commits)
		if statements > 10 || commits > 1 {
			t.Errorf("search %q: %d statements and %d commits, want at most 10 and 1", q, statements, commits)
		}
	}
}
