package auth

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"kagi/notify"
)

// changePassword posts a password change from the browser c.
func (e *testEnv) changePassword(c *http.Client, current, next string, header ...string) (int, map[string]any) {
	e.t.Helper()
	return e.do(c, http.MethodPost, "/api/v1/password", map[string]string{"current": current, "new": next}, header...)
}

// loginFails counts the failures the login ID's throttle holds for browsers it does not know.
func (e *testEnv) loginFails(loginID string) int {
	e.t.Helper()
	var n int
	err := e.svc.pool.QueryRow(context.Background(), `SELECT COALESCE((SELECT failures FROM login_throttle WHERE login_key = $1), 0)`,
		throttleKey(loginID)).Scan(&n)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// A customer with a landline beside the mobile: the notice is texted to the mobile only.
var changingAccount = func() NewAccount {
	n := demoAccount
	n.LoginID = "yamada.taro"
	n.Phones = []string{"+819012345678", "+81312345678"}
	return n
}()

func TestPasswordChange(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		assurance Assurance
		next      string
	}{
		{"from a passkey session", AssurancePasskey, "a brand new secret"},
		{"from a password session", AssurancePassword, "a brand new secret"},
		// The policy counts characters: eight of them are 24 bytes.
		{"to eight Japanese characters", AssurancePassword, "あたらしいひみつ"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ends := &recordedEnds{}
			e := newTestEnv(t, func(cfg *Config) { cfg.SessionEnds = ends })
			acct := e.addAccount(changingAccount)
			acting := e.loggedIn(acct, c.assurance)
			others := []*http.Client{e.loggedIn(acct, AssurancePasskey), e.loggedIn(acct, AssurancePassword),
				e.loggedIn(acct, AssurancePasswordFallback)}
			// Another customer's session is none of this change's business.
			bystander := changingAccount
			bystander.LoginID, bystander.AccountNumber = "hanako", "7654321"
			otherAcct := e.addAccount(bystander)
			unrelated := e.loggedIn(otherAcct, AssurancePassword)
			messagesBefore := len(e.queuedMessages(acct.ID))

			if status, body := e.changePassword(acting, changingAccount.Password, c.next); status != http.StatusOK {
				t.Fatalf("change: %d %v", status, body)
			}
			if !e.sessionAlive(acting) {
				t.Error("the session that changed the password ended")
			}
			for i, o := range others {
				if e.sessionAlive(o) {
					t.Errorf("other session %d outlived the change", i)
				}
			}
			if !e.sessionAlive(unrelated) {
				t.Error("another account's session ended")
			}
			// Through the one session-ending path: the applications hear of each end.
			if got := ends.take(); len(got) != len(others) {
				t.Errorf("SessionEnds told of %d sessions, want %d", len(got), len(others))
			}

			if status, body := e.passwordLogin(e.browser(), changingAccount.LoginID, changingAccount.Password); status != http.StatusUnauthorized || body["error"] != "invalid_credentials" {
				t.Errorf("login with the old password: %d %v, want 401 invalid_credentials", status, body)
			}
			if status, body := e.passwordLogin(e.browser(), changingAccount.LoginID, c.next); status != http.StatusOK {
				t.Errorf("login with the new password: %d %v", status, body)
			}
			if !strings.HasPrefix(e.storedPasswordHash(acct.ID), "$argon2id$") {
				t.Errorf("stored %q, want an Argon2id PHC string", e.storedPasswordHash(acct.ID))
			}

			details := e.auditDetails(acct.ID, "password_changed")
			if len(details) != 1 || details[0]["sessions_ended"] != float64(len(others)) || details[0]["session_kept"] != true {
				t.Errorf("password_changed audit = %v, want one line with sessions_ended %d and the session kept", details, len(others))
			}
			if got := e.auditEvents(otherAcct.ID); slices.Contains(got, "password_changed") {
				t.Errorf("the other account's trail says %v", got)
			}

			// By mail and by text to the mobile, never to the landline; each renders link-free.
			var got []string
			for _, m := range e.queuedMessages(acct.ID)[messagesBefore:] {
				if m.Event.Kind != notify.KindPasswordChanged {
					continue
				}
				got = append(got, m.Channel+":"+m.To)
				if m.Channel == "email" {
					msg, err := notify.RenderEmail(m.Event, "デモ証券")
					if err != nil || !strings.Contains(msg.Body, "山田 太郎様") || !strings.Contains(msg.Body, "パスワードが変更されました") {
						t.Errorf("the mail renders as %q, %v", msg.Body, err)
					}
				} else if body, err := notify.RenderSMS(m.Event, "デモ証券"); err != nil || !strings.Contains(body, "パスワードが変更されました") {
					t.Errorf("the text renders as %q, %v", body, err)
				}
			}
			if want := []string{"email:" + changingAccount.Email, "sms:+819012345678"}; !slices.Equal(got, want) {
				t.Errorf("password_changed told %v, want %v", got, want)
			}
		})
	}
}

// Every refused change writes nothing: the password, the sessions, the trail's change and the
// customer's messages stay as they were.
func TestPasswordChangeRefusals(t *testing.T) {
	t.Parallel()
	right := changingAccount.Password
	for _, c := range []struct {
		name string
		// assurance is the acting session's; "" sends no session at all.
		assurance Assurance
		current   string
		next      string
		header    []string
		status    int
		code      string
		msg       string
		// counted: the refusal is a failure the login ID's throttle counts.
		counted bool
	}{
		{name: "unauthenticated", current: right, next: "a brand new secret",
			status: http.StatusUnauthorized, code: "unauthorized", msg: msgUnauthorized},
		{name: "recovery-only session", assurance: AssurancePasswordFallback, current: right, next: "a brand new secret",
			status: http.StatusForbidden, code: "forbidden", msg: msgPasswordChangeRecovery},
		{name: "wrong current password", assurance: AssurancePasskey, current: "not my password", next: "a brand new secret",
			status: http.StatusUnauthorized, code: "invalid_credentials", msg: msgCurrentPasswordWrong, counted: true},
		{name: "current password missing", assurance: AssurancePassword, next: "a brand new secret",
			status: http.StatusBadRequest, code: "invalid_request", msg: msgPasswordChangeMissing},
		{name: "new password missing", assurance: AssurancePassword, current: right,
			status: http.StatusBadRequest, code: "invalid_request", msg: msgPasswordChangeMissing},
		{name: "current password longer than any", assurance: AssurancePassword, current: strings.Repeat("x", 1025), next: "a brand new secret",
			status: http.StatusBadRequest, code: "invalid_request", msg: msgCurrentPasswordTooLong},
		{name: "new password of seven characters", assurance: AssurancePassword, current: right, next: "1234567",
			status: http.StatusBadRequest, code: "weak_password", msg: msgPasswordLength},
		{name: "new password of seven Japanese characters (21 bytes)", assurance: AssurancePassword, current: right, next: "あたらしいひみ",
			status: http.StatusBadRequest, code: "weak_password", msg: msgPasswordLength},
		{name: "new password of 257 characters", assurance: AssurancePassword, current: right, next: strings.Repeat("x", 257),
			status: http.StatusBadRequest, code: "weak_password", msg: msgPasswordLength},
		{name: "new password equal to the current one", assurance: AssurancePasskey, current: right, next: right,
			status: http.StatusBadRequest, code: "weak_password", msg: msgPasswordUnchanged},
		{name: "new password equal to the login ID", assurance: AssurancePassword, current: right, next: "Yamada.Taro",
			status: http.StatusBadRequest, code: "weak_password", msg: msgPasswordIsLoginID},
		{name: "a cross-site request", assurance: AssurancePassword, current: right, next: "a brand new secret",
			header: []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"},
			status: http.StatusForbidden, code: "cross_origin"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			acct := e.addAccount(changingAccount)
			acting := e.browser()
			if c.assurance != "" {
				acting = e.loggedIn(acct, c.assurance)
			}
			other := e.loggedIn(acct, AssurancePassword)
			hash := e.storedPasswordHash(acct.ID)
			messages := len(e.queuedMessages(acct.ID))

			status, body := e.changePassword(acting, c.current, c.next, c.header...)
			if status != c.status || body["error"] != c.code {
				t.Fatalf("change: %d %v, want %d %s", status, body, c.status, c.code)
			}
			if c.msg != "" && body["message"] != c.msg {
				t.Errorf("message %q, want %q", body["message"], c.msg)
			}
			if e.storedPasswordHash(acct.ID) != hash {
				t.Error("the password was changed")
			}
			if !e.sessionAlive(other) {
				t.Error("another session ended")
			}
			if c.assurance != "" && c.assurance != AssurancePasswordFallback && !e.sessionAlive(acting) {
				t.Error("the acting session ended")
			}
			if got := e.auditEvents(acct.ID); slices.Contains(got, "password_changed") {
				t.Errorf("audit %v records a change", got)
			}
			if got := e.queuedMessages(acct.ID); len(got) != messages {
				t.Errorf("%d messages enqueued", len(got)-messages)
			}
			want := 0
			if c.counted {
				want = 1
				if got := e.auditEvents(acct.ID); !slices.Contains(got, "password_change_failed") {
					t.Errorf("audit %v, want the failure recorded", got)
				}
			}
			if got := e.loginFails(acct.LoginID); got != want {
				t.Errorf("the login ID's throttle counts %d failures, want %d", got, want)
			}
		})
	}
}

// Wrong current passwords count where the login's wrong passwords count: past the limit the
// change and the login are both refused (429), the right current password too; a right current
// password is no failure.
func TestPasswordChangeThrottle(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addAccount(changingAccount)
	acting := e.loggedIn(acct, AssurancePasskey)
	wrong := func(n int) {
		t.Helper()
		for i := range n {
			if status, body := e.changePassword(acting, "not my password", "a brand new secret"); status != http.StatusUnauthorized {
				t.Fatalf("wrong current password %d: %d %v", i+1, status, body)
			}
		}
	}
	wrong(DefaultThrottle.Max - 1)
	// The right one is not counted: one more wrong one still is only a 401.
	if status, body := e.changePassword(acting, changingAccount.Password, "a brand new secret"); status != http.StatusOK {
		t.Fatalf("right change: %d %v", status, body)
	}
	if got := e.loginFails(acct.LoginID); got != DefaultThrottle.Max-1 {
		t.Fatalf("after the right change the throttle counts %d, want %d", got, DefaultThrottle.Max-1)
	}
	wrong(1)

	status, body := e.changePassword(acting, "a brand new secret", "another new secret")
	if status != http.StatusTooManyRequests || body["error"] != "rate_limited" || body["message"] != msgPasswordChangeLimited {
		t.Fatalf("right current password past the limit: %d %v, want 429 rate_limited", status, body)
	}
	if status, body := e.passwordLogin(e.browser(), acct.LoginID, "a brand new secret"); status != http.StatusTooManyRequests || body["error"] != "rate_limited" {
		t.Errorf("login past the limit: %d %v, want 429 rate_limited", status, body)
	}
	if got := e.auditEvents(acct.ID); !slices.Contains(got, "login_throttled") {
		t.Errorf("audit %v, want the lockout recorded", got)
	}
	if got := e.auditDetails(acct.ID, "password_changed"); len(got) != 1 {
		t.Errorf("%d changes recorded, want the one right change", len(got))
	}
}

// failingEnds is a SessionEnds that fails, as a back-channel logout that cannot be enqueued.
type failingEnds struct{}

func (failingEnds) SessionsEnded(context.Context, pgx.Tx, []EndedSession) error {
	return errors.New("cannot enqueue the logout tokens")
}

// A change that fails half way through leaves nothing of itself.
func TestPasswordChangeAllOrNothing(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.SessionEnds = failingEnds{} })
	acct := e.addAccount(changingAccount)
	acting := e.loggedIn(acct, AssurancePassword)
	other := e.loggedIn(acct, AssurancePassword)
	hash := e.storedPasswordHash(acct.ID)
	messages := len(e.queuedMessages(acct.ID))
	if status, body := e.changePassword(acting, changingAccount.Password, "a brand new secret"); status != http.StatusInternalServerError {
		t.Fatalf("change: %d %v, want 500", status, body)
	}
	if e.storedPasswordHash(acct.ID) != hash || !e.sessionAlive(other) || len(e.queuedMessages(acct.ID)) != messages ||
		slices.Contains(e.auditEvents(acct.ID), "password_changed") {
		t.Error("a failed change left part of itself")
	}
	if status, body := e.passwordLogin(e.browser(), acct.LoginID, changingAccount.Password); status != http.StatusOK {
		t.Errorf("login with the unchanged password: %d %v", status, body)
	}
}

// An email check begun with the old password cannot let anyone in after the change.
func TestPasswordChangeEndsPendingEmailCheck(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withEmailCheck)
	acct := e.addAccount(changingAccount)
	acting := e.loggedIn(acct, AssurancePasskey)
	attacker := e.browser()
	id, _, mailed := e.startCheck(attacker, acct, changingAccount.Password)
	if status, body := e.changePassword(acting, changingAccount.Password, "a brand new secret"); status != http.StatusOK {
		t.Fatalf("change: %d %v", status, body)
	}
	if status, body := e.pick(attacker, id, mailed); status != http.StatusGone {
		t.Fatalf("the old password's check picked right after the change: %d %v, want 410", status, body)
	}
	if e.sessionAlive(attacker) {
		t.Error("the old password's check made a session")
	}
}

// The settings page offers the change to a full session, with fields a password manager
// understands, and not to a recovery-only one.
func TestPagePasswordChangeForm(t *testing.T) {
	t.Parallel()
	e := newPagesEnv(t)
	acct, ok, err := e.svc.AccountByLoginID(context.Background(), e.svc.pool, "taro")
	if err != nil || !ok {
		t.Fatal(err)
	}
	for _, a := range []Assurance{AssurancePasskey, AssurancePassword} {
		p := e.getAs(e.loggedIn(acct, a), "/settings/security", uaIPhone)
		wantHTML(t, p, passwordFormText.Title, passwordFormText.Rule, passwordFormText.Done, passwordFormText.Mismatch)
		els := checkStrictCSP(t, p)
		for id, autocomplete := range map[string]string{"current-password": "current-password", "new-password": "new-password", "confirm-password": "new-password"} {
			if el, ok := findElement(els, id); !ok || el.attrs["type"] != "password" || el.attrs["autocomplete"] != autocomplete {
				t.Errorf("%s page: #%s = %v, want a password field with autocomplete %s", a, id, el.attrs, autocomplete)
			}
		}
		for _, id := range []string{"password-change-form", "password-change-submit", "password-change-msg"} {
			if _, ok := findElement(els, id); !ok {
				t.Errorf("%s page lacks #%s", a, id)
			}
		}
	}
	recovering := e.browser()
	if status, body := e.passwordLogin(recovering, "hanako", demoAccount.Password); status != http.StatusOK || body["via_fallback_window"] != true {
		t.Fatalf("recovery login: %d %v", status, body)
	}
	p := e.getAs(recovering, "/settings/security", uaIPhone)
	for _, el := range parseHTML(t, p.body) {
		if strings.HasPrefix(el.attrs["id"], "password-change") || el.attrs["type"] == "password" {
			t.Errorf("the recovery page offers the password change: <%s id=%q>", el.name, el.attrs["id"])
		}
	}
}

// A change that finds the hashing line full, or waits past its bound, answers 429 in Japanese
// as the login does; nothing was tried, so nothing is counted or written.
func TestPasswordChangeWhenHashingIsBusy(t *testing.T) {
	t.Parallel()
	for name, jam := range map[string]func(h *PasswordHasher){
		"the line full": func(h *PasswordHasher) {
			for len(h.queue) < cap(h.queue) {
				h.queue <- struct{}{}
			}
		},
		"every slot taken past the wait": func(h *PasswordHasher) {
			h.maxWaited = 50 * time.Millisecond
			for len(h.sem) < cap(h.sem) {
				h.sem <- struct{}{}
				h.queue <- struct{}{}
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			acct := e.addAccount(changingAccount)
			acting := e.loggedIn(acct, AssurancePassword)
			hash := e.storedPasswordHash(acct.ID)
			jam(e.svc.passwords)
			status, body := e.changePassword(acting, changingAccount.Password, "a brand new secret")
			if status != http.StatusTooManyRequests || body["error"] != "rate_limited" || body["message"] != msgPasswordChangeBusy {
				t.Fatalf("%d %v, want 429 rate_limited", status, body)
			}
			if e.storedPasswordHash(acct.ID) != hash || e.loginFails(acct.LoginID) != 0 {
				t.Error("a change that hashed nothing changed the password or counted a failure")
			}
		})
	}
}
