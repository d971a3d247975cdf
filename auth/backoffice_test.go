package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/auth/authtest"
	"kagi/notify"
	"kagi/web/webtest"
)

// api calls the back office with the key named keyName ("" for no Authorization header).
func (e *testEnv) api(keyName, method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var header []string
	if keyName != "" {
		header = []string{"Authorization", "Bearer " + testKeys[keyName]}
	}
	return e.do(http.DefaultClient, method, path, body, header...)
}

// count runs a count(*) query.
func (e *testEnv) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.svc.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// actors lists the actors of the account's audit lines of one event, oldest first.
func (e *testEnv) actors(accountID int64, event string) []string {
	e.t.Helper()
	rows, err := e.svc.pool.Query(context.Background(), `SELECT actor FROM audit_log WHERE account_id = $1 AND event = $2 ORDER BY id`, accountID, event)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func newAccountLine(number, loginID string) map[string]any {
	return map[string]any{
		"account_number": number, "login_id": loginID, "name": "佐藤 花子", "email": loginID + "@example.jp",
		"phones": []string{"+819011112222"}, "password": map[string]string{"plain": "a good password"},
		"pin": map[string]string{"plain": "4321"},
	}
}

func TestBackOfficeRefusesWithoutAKey(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addAccount(demoAccount)
	routes := []struct{ method, path string }{
		{"POST", "/api/v1/accounts"},
		{"PATCH", "/api/v1/accounts/1234567"},
		{"POST", "/api/v1/accounts/1234567/password"},
		{"POST", "/api/v1/accounts/1234567/suspend"},
		{"POST", "/api/v1/accounts/1234567/resume"},
	}
	for _, r := range routes {
		for _, authz := range []string{"", "Bearer wrong-key-0123456789", "Bearer " + testKeys["crm"] + "x", "Basic " + testKeys["crm"], testKeys["crm"]} {
			var header []string
			if authz != "" {
				header = []string{"Authorization", authz}
			}
			status, body := e.do(http.DefaultClient, r.method, r.path, map[string]any{"reason": "x"}, header...)
			if status != http.StatusUnauthorized || body["error"] != "unauthorized" || body["message"] == "" {
				t.Errorf("%s %s with %q: %d %v, want 401 unauthorized", r.method, r.path, authz, status, body)
			}
		}
	}
	if n := e.count(`SELECT count(*) FROM accounts`); n != 1 {
		t.Errorf("%d accounts after refused calls", n)
	}
	if got := e.auditEvents(acct.ID); !slices.Equal(got, []string{"account_created"}) {
		t.Errorf("audit after refused calls: %v", got)
	}
}

func TestBackOfficeCreateAccount(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addAccount(demoAccount) // taro, 1234567

	status, body := e.api("crm", "POST", "/api/v1/accounts", newAccountLine("7654321", "hanako"))
	if status != http.StatusCreated || body["account_number"] != "7654321" || body["login_id"] != "hanako" {
		t.Fatalf("create: %d %v", status, body)
	}
	created, ok, err := e.svc.AccountByNumber(context.Background(), e.svc.pool, "7654321")
	if err != nil || !ok {
		t.Fatalf("created account not found: %v", err)
	}
	if got := e.actors(created.ID, "account_created"); !slices.Equal(got, []string{"api:crm"}) {
		t.Errorf("account_created actors %v, want [api:crm]", got)
	}
	if status, _ := e.passwordLogin(e.browser(), "hanako", "a good password"); status != http.StatusOK {
		t.Errorf("the created account's password login: %d", status)
	}

	conflicts := []struct {
		name, number, loginID, field string
	}{
		{"login ID in use", "1111111", "taro", "login_id"},
		{"account number in use", "1234567", "jiro", "account_number"},
	}
	for _, c := range conflicts {
		status, body := e.api("crm", "POST", "/api/v1/accounts", newAccountLine(c.number, c.loginID))
		if status != http.StatusConflict || body["error"] != "conflict" || body["field"] != c.field || body["message"] == "" {
			t.Errorf("%s: %d %v, want 409 conflict naming %s", c.name, status, body, c.field)
		}
	}

	bad := newAccountLine("12ab", "x")
	bad["email"] = "not an address"
	bad["phones"] = []string{"090-1111-2222"}
	bad["pin"] = map[string]string{"plain": "12"}
	invalid := []struct {
		name string
		body any
		want []string
	}{
		{"every problem at once", bad, []string{"login ID", "account number", "email", "phone", "PIN"}},
		{"unknown field", map[string]any{"account_number": "2222222", "colour": "red"}, []string{`unknown field "colour"`}},
		{"weak password", func() map[string]any {
			l := newAccountLine("3333333", "saburo")
			l["password"] = map[string]string{"plain": "short"}
			return l
		}(), []string{"password must be 8-256 characters"}},
	}
	for _, c := range invalid {
		status, body := e.api("crm", "POST", "/api/v1/accounts", c.body)
		problems, _ := body["problems"].([]any)
		joined := ""
		for _, p := range problems {
			joined += p.(string) + "\n"
		}
		if status != http.StatusBadRequest || body["error"] != "invalid" || body["message"] == "" {
			t.Errorf("%s: %d %v, want 400 invalid", c.name, status, body)
		}
		for _, w := range c.want {
			if !strings.Contains(joined, w) {
				t.Errorf("%s: problems %q do not name %q", c.name, joined, w)
			}
		}
	}
	if n := e.count(`SELECT count(*) FROM accounts`); n != 2 {
		t.Errorf("%d accounts, want the two created; refused calls write nothing", n)
	}
}

func TestBackOfficeChangeContacts(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.RecoveryHold = DefaultRecoveryHold })
	n := demoAccount
	n.Phones = []string{"+819012345678", "+81312345678"} // a mobile and a landline
	acct := e.addAccount(n)
	browser := e.loggedIn(acct, AssurancePasskey)

	t.Run("no change tells nobody", func(t *testing.T) {
		status, body := e.api("backoffice", "PATCH", "/api/v1/accounts/1234567",
			map[string]any{"name": n.Name, "email": n.Email, "phones": []string{"+81312345678", "+819012345678"}})
		if status != http.StatusOK || len(body["changed"].([]any)) != 0 {
			t.Fatalf("%d %v", status, body)
		}
		if got := e.queuedKinds(acct.ID); len(got) != 0 {
			t.Fatalf("told %v of no change", got)
		}
		if _, session := e.do(browser, "GET", "/api/v1/session", nil); session["hold_reason"] != nil {
			t.Fatalf("a hold after no change: %v", session)
		}
	})

	t.Run("bad input writes nothing", func(t *testing.T) {
		for _, body := range []any{
			map[string]any{"email": "not an address"},
			map[string]any{"phones": []string{}},
			map[string]any{"phones": []string{"+819099998888", "0312345678"}},
			map[string]any{"name": ""},
			map[string]any{"mail": "x@example.jp"},
		} {
			if status, got := e.api("backoffice", "PATCH", "/api/v1/accounts/1234567", body); status != http.StatusBadRequest || got["error"] != "invalid" {
				t.Errorf("%v: %d %v, want 400 invalid", body, status, got)
			}
		}
		if status, got := e.api("backoffice", "PATCH", "/api/v1/accounts/9999999", map[string]any{"name": "x"}); status != http.StatusNotFound || got["error"] != "not_found" {
			t.Errorf("unknown number: %d %v", status, got)
		}
		if got := e.auditEvents(acct.ID); slices.Contains(got, "account_contacts_changed") {
			t.Errorf("audit %v", got)
		}
	})

	t.Run("email and phones: old and new told, hold started", func(t *testing.T) {
		status, body := e.api("backoffice", "PATCH", "/api/v1/accounts/1234567",
			map[string]any{"email": "taro.new@example.jp", "phones": []string{"+818011112222"}})
		if status != http.StatusOK {
			t.Fatalf("%d %v", status, body)
		}
		var emails, texts []string
		for _, m := range e.queuedMessages(acct.ID) {
			if m.Event.Kind != notify.KindContactChanged {
				t.Errorf("unexpected message %s", m.Event.Kind)
				continue
			}
			if m.Event.Until.IsZero() || !slices.Equal(m.Event.Contacts, []string{notify.ContactEmail, notify.ContactPhones}) {
				t.Errorf("event %+v, want email and phones with the hold's end", m.Event)
			}
			if m.Channel == "email" {
				emails = append(emails, m.To)
			} else {
				texts = append(texts, m.To)
			}
		}
		slices.Sort(emails)
		slices.Sort(texts)
		if want := []string{"taro.new@example.jp", "taro@example.jp"}; !slices.Equal(emails, want) {
			t.Errorf("emailed %v, want the old and the new address %v", emails, want)
		}
		if want := []string{"+818011112222", "+819012345678"}; !slices.Equal(texts, want) {
			t.Errorf("texted %v, want the old and the new mobile %v (never the landline)", texts, want)
		}
		_, session := e.do(browser, "GET", "/api/v1/session", nil)
		if session["hold_reason"] != HoldContactChanged || session["hold_until"] == nil {
			t.Errorf("session %v, want hold_reason contact_changed", session)
		}
		if got := e.actors(acct.ID, "account_contacts_changed"); !slices.Equal(got, []string{"api:backoffice"}) {
			t.Errorf("actors %v", got)
		}
		va, _, err := e.svc.VoiceAccountByNumber(context.Background(), e.svc.pool, "1234567")
		if err != nil || !slices.Equal(va.phones, []string{"+818011112222"}) {
			t.Errorf("phones now %v (%v)", va.phones, err)
		}
	})

	t.Run("a name alone is told, without a hold", func(t *testing.T) {
		e2 := newTestEnv(t, func(c *Config) { c.RecoveryHold = DefaultRecoveryHold })
		acct := e2.addAccount(demoAccount)
		if status, body := e2.api("crm", "PATCH", "/api/v1/accounts/1234567", map[string]any{"name": "山田 一郎"}); status != http.StatusOK {
			t.Fatalf("%d %v", status, body)
		}
		got := e2.queuedMessages(acct.ID)
		if len(got) != 2 || got[0].To != "taro@example.jp" || got[1].To != "+819012345678" ||
			got[0].Event.Name != "山田 一郎" || !got[0].Event.Until.IsZero() {
			t.Fatalf("messages %+v, want a mail and a text, no hold", got)
		}
		_, session := e2.do(e2.loggedIn(acct, AssurancePasskey), "GET", "/api/v1/session", nil)
		if session["hold_reason"] != nil || session["name"] != "山田 一郎" {
			t.Errorf("session %v", session)
		}
	})
}

func TestBackOfficeSetPassword(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addAccount(demoAccount)
	sessions := []*http.Client{e.loggedIn(acct, AssurancePassword), e.loggedIn(acct, AssurancePasskey)}

	for _, c := range []struct {
		name string
		body any
	}{
		{"too short", map[string]any{"password": "short"}},
		{"missing", map[string]any{}},
		{"unknown field", map[string]any{"password": "a new good password", "hash": "x"}},
	} {
		if status, body := e.api("backoffice", "POST", "/api/v1/accounts/1234567/password", c.body); status != http.StatusBadRequest || body["error"] != "invalid" {
			t.Errorf("%s: %d %v", c.name, status, body)
		}
	}
	if status, body := e.api("backoffice", "POST", "/api/v1/accounts/7777777/password", map[string]any{"password": "a new good password"}); status != http.StatusNotFound || body["error"] != "not_found" {
		t.Errorf("unknown number: %d %v", status, body)
	}
	if !e.sessionAlive(sessions[0]) {
		t.Fatal("a refused call ended a session")
	}

	status, body := e.api("backoffice", "POST", "/api/v1/accounts/1234567/password", map[string]any{"password": "a new good password"})
	if status != http.StatusOK || body["sessions_ended"] != float64(2) {
		t.Fatalf("%d %v", status, body)
	}
	for i, c := range sessions {
		if e.sessionAlive(c) {
			t.Errorf("session %d outlived the new password", i)
		}
	}
	if status, _ := e.passwordLogin(e.browser(), "taro", demoAccount.Password); status != http.StatusUnauthorized {
		t.Errorf("old password: %d, want 401", status)
	}
	if status, body := e.passwordLogin(e.browser(), "taro", "a new good password"); status != http.StatusOK {
		t.Errorf("new password: %d %v", status, body)
	}
	if !strings.HasPrefix(e.storedPasswordHash(acct.ID), "$argon2id$") {
		t.Errorf("stored %q, want kagi's Argon2id", e.storedPasswordHash(acct.ID))
	}
	kinds := e.queuedKinds(acct.ID)
	if !slices.Contains(kinds, "email:password_reset") || !slices.Contains(kinds, "sms:password_reset") {
		t.Errorf("told %v, want password_reset by mail and SMS", kinds)
	}
	if got := e.actors(acct.ID, "password_set"); !slices.Equal(got, []string{"api:backoffice"}) {
		t.Errorf("actors %v", got)
	}
}

// A suspended account logs in nowhere — password (right or wrong), email check, passkey — and
// every session ended with the suspension; resumed, it logs in again.
func TestSuspendAndResume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTestEnv(t, withEmailCheck)
	acct := e.addAccount(demoAccount)
	other := demoAccount
	other.LoginID, other.AccountNumber, other.Email = "hanako", "7654321", "hanako@example.jp"
	e.addAccount(other)

	phone := e.registeredPhone(acct, authtest.Config{})
	passkeySession := e.browser()
	if _, err := phone.Login(ctx, passkeySession, ""); err != nil {
		t.Fatal(err)
	}
	// The password and the email check are tried on an account without a passkey, whose check
	// begins before the suspension and is picked after it.
	pending := e.browser()
	checkAcct := e.addAccount(NewAccount{LoginID: "jiro", Password: "correct horse battery", AccountNumber: "5555555", PIN: "1234",
		Phones: []string{"+819055556666"}, Email: "jiro@example.jp", Name: "鈴木 次郎"})
	id, _, mailed := e.startCheck(pending, checkAcct, "correct horse battery")

	for _, number := range []string{"1234567", "5555555"} {
		status, body := e.api("backoffice", "POST", "/api/v1/accounts/"+number+"/suspend", map[string]any{"reason": "相続手続き中"})
		if status != http.StatusOK || body["suspended"] != true || body["changed"] != true {
			t.Fatalf("suspend %s: %d %v", number, status, body)
		}
	}
	if e.sessionAlive(passkeySession) {
		t.Error("the passkey session outlived the suspension")
	}
	wantSuspended := func(what string, status int, body map[string]any) {
		t.Helper()
		msg, _ := body["message"].(string)
		if status != http.StatusForbidden || body["error"] != "account_suspended" || !strings.Contains(msg, "サポート窓口") {
			t.Errorf("%s: %d %v, want 403 account_suspended naming the support desk", what, status, body)
		}
	}
	status, body := e.pick(pending, id, mailed)
	wantSuspended("email check picked after the suspension", status, body)
	right, rightBody := e.passwordLogin(e.browser(), "jiro", "correct horse battery")
	wrong, wrongBody := e.passwordLogin(e.browser(), "jiro", "not the password")
	wantSuspended("right password", right, rightBody)
	// Whoever does not know the password learns nothing of the suspension: a wrong password
	// answers as for any account, and an account with a passkey says passkey_required.
	if wrong != http.StatusUnauthorized || wrongBody["error"] != "invalid_credentials" {
		t.Errorf("wrong password of a suspended account: %d %v, want 401 invalid_credentials", wrong, wrongBody)
	}
	for _, pw := range []string{demoAccount.Password, "not the password"} {
		if status, body := e.passwordLogin(e.browser(), demoAccount.LoginID, pw); status != http.StatusForbidden || body["error"] != "passkey_required" {
			t.Errorf("password login of a suspended account with a passkey: %d %v, want 403 passkey_required", status, body)
		}
	}
	_, err := phone.Login(ctx, e.browser(), "")
	if authtest.Status(err) != http.StatusForbidden || authtest.Code(err) != "account_suspended" {
		t.Errorf("passkey login: %v, want 403 account_suspended", err)
	}
	if status, _ := e.passwordLogin(e.browser(), "hanako", demoAccount.Password); status != http.StatusOK {
		t.Errorf("another account's login: %d", status)
	}
	if got := e.actors(acct.ID, "account_suspended"); !slices.Equal(got, []string{"api:backoffice"}) {
		t.Errorf("actors %v", got)
	}
	if d := e.auditDetails(acct.ID, "account_suspended"); len(d) != 1 || d[0]["reason"] != "相続手続き中" || d[0]["sessions_ended"] != float64(2) {
		t.Errorf("audit detail %v, want the reason and both sessions ended", d)
	}
	if !slices.Contains(e.queuedKinds(acct.ID), "email:account_suspended") {
		t.Errorf("the suspension was not mailed: %v", e.queuedKinds(acct.ID))
	}

	t.Run("suspending again changes nothing", func(t *testing.T) {
		status, body := e.api("crm", "POST", "/api/v1/accounts/1234567/suspend", nil)
		if status != http.StatusOK || body["changed"] != false {
			t.Fatalf("%d %v", status, body)
		}
	})
	if status, body := e.api("crm", "POST", "/api/v1/accounts/0000001/suspend", nil); status != http.StatusNotFound || body["error"] != "not_found" {
		t.Errorf("unknown number: %d %v", status, body)
	}
	for _, reason := range []string{"相続\x00手続き", "相続手続き\n[2031-06-04] account_resumed", "\x1b[2J相続手続き"} {
		if status, body := e.api("crm", "POST", "/api/v1/accounts/1234567/resume", map[string]any{"reason": reason}); status != http.StatusBadRequest || body["error"] != "invalid" {
			t.Errorf("resume with the reason %q: %d %v, want 400 invalid", reason, status, body)
		}
	}

	for _, number := range []string{"1234567", "5555555"} {
		status, body := e.api("crm", "POST", "/api/v1/accounts/"+number+"/resume", map[string]any{"reason": "手続き完了"})
		if status != http.StatusOK || body["suspended"] != false || body["changed"] != true {
			t.Fatalf("resume %s: %d %v", number, status, body)
		}
	}
	if _, err := phone.Login(ctx, e.browser(), ""); err != nil {
		t.Errorf("passkey login after resume: %v", err)
	}
	c := e.browser()
	id, _, mailed = e.startCheck(c, checkAcct, "correct horse battery")
	if status, body := e.pick(c, id, mailed); status != http.StatusOK {
		t.Errorf("password and email check after resume: %d %v", status, body)
	}
	if got := e.actors(acct.ID, "account_resumed"); !slices.Equal(got, []string{"api:crm"}) {
		t.Errorf("actors %v", got)
	}
	if !slices.Contains(e.queuedKinds(acct.ID), "email:account_resumed") {
		t.Errorf("the resumption was not mailed: %v", e.queuedKinds(acct.ID))
	}
}

// A suspension that commits while a passkey finish waits for the credential's lock (the
// suspension takes it too) refuses that login: the holder hears account_suspended, and nothing
// of the login is written — no session, no login_succeeded line, no notice, the challenge not
// used up. With the login notice the finish's COMMIT goes in the round trip of its writes, so
// PostgreSQL itself must refuse them; without it they go with the commit, the same way.
func TestPasskeyFinishRefusedBySuspensionWhileItWaited(t *testing.T) {
	t.Parallel()
	for _, notice := range []bool{true, false} {
		t.Run(fmt.Sprintf("login notice %v", notice), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			e := newTestEnv(t, func(c *Config) { c.LoginNotice = notice })
			acct := e.addAccount(demoAccount)
			phone := e.registeredPhone(acct, authtest.Config{})
			browser := e.browser()
			assertion, err := phone.Assert(ctx, browser, "")
			if err != nil {
				t.Fatal(err)
			}
			pool := e.svc.pool
			before := e.loginWrites(acct.ID)
			suspension, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = suspension.Rollback(ctx) }()
			if _, err := suspension.Exec(ctx, `SELECT 1 FROM passkeys WHERE account_id = $1 FOR UPDATE`, acct.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := suspension.Exec(ctx, `UPDATE accounts SET suspended_at = $2 WHERE id = $1`, acct.ID, e.clock.Now()); err != nil {
				t.Fatal(err)
			}
			finished := make(chan error, 1)
			go func() {
				_, err := phone.FinishLogin(ctx, browser, assertion)
				finished <- err
			}()
			waitForLockWait(t, pool)
			if err := suspension.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			var ae *authtest.APIError
			if err := <-finished; !errors.As(err, &ae) || ae.Status != http.StatusForbidden || ae.Code != "account_suspended" {
				t.Fatalf("finish after a suspension committed meanwhile: %v, want 403 account_suspended", err)
			}
			if after := e.loginWrites(acct.ID); after != before {
				t.Errorf("the refused login wrote: %+v before, %+v after", before, after)
			}
		})
	}
}

// waitForLockWait returns once some statement on pool's database waits for a row lock.
func waitForLockWait(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	for range 500 {
		var waiting bool
		err := pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock')`).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no statement came to wait for the lock")
}

// FuzzBackOfficeBody posts whatever body to the two back-office routes that take a secret, with
// a valid key: POST /api/v1/accounts (an account line) and POST /api/v1/accounts/{number}/password
// (an existing account's). Every "@secret@" in the body stands for a secret of the test's
// choosing, so that a seed's password and PIN (plain or hash) are known. Whatever the body, the
// answer is never a 5xx and nothing is logged as an error (an operator's alert); an account is
// created only by a 201 and a password set only by a 200; and a secret the body held only as a
// password or PIN is never repeated: not in the answer, the server's log, the audit trail or the
// outbox.
func FuzzBackOfficeBody(f *testing.F) {
	const secret = "Sx7kQ9vLw2Zr4Tn8"
	var logs webtest.LogBuffer
	e := newTestEnv(f, func(c *Config) {
		c.Log = logs.Logger()
	})
	e.addAccount(demoAccount)
	line := func(password, pin string) string {
		return `{"account_number":"7000001","login_id":"fuzz01","name":"佐藤 花子","email":"fuzz01@example.jp","phones":["+819011112222"],"password":` + password + `,"pin":` + pin + `}`
	}
	for _, seed := range []string{
		line(`{"plain":"@secret@ ok"}`, `{"plain":"4321"}`),
		line(`{"plain":"@secret@"}`, `{"plain":"@secret@"}`),
		line(`{"plain":"short"}`, `{"plain":"12345"}`),
		line(`{"hash":"$2a$10$@secret@"}`, `{"hash":"@secret@"}`),
		line(`{"hash":"$argon2id$v=19$m=65536,t=3,p=4$@secret@$@secret@"}`, `{"plain":"4321"}`),
		line(`{"plain":"@secret@","hash":"@secret@"}`, `{}`),
		line(`{"plain":1e999}`, `"@secret@"`),
		line(`{"plain":"@secret@ ok"}`, `{"plain":"4321"}`) + `{}`,
		`{"password":"@secret@ ok"}`,
		`{"password":"@secret@"}`,
		`{"password":"@secret@ ok","pin":"@secret@"}`,
		`{"password":{"plain":"@secret@"},"unknown":"x"}`,
		`{"password":{"plain":"@secret@"`,
		``,
		`null`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, template string) {
		body := strings.ReplaceAll(template, "@secret@", secret)
		for _, route := range []struct {
			path    string
			success int
			// state is what the route changes when it succeeds.
			state string
		}{
			{"/api/v1/accounts", http.StatusCreated, `SELECT count(*)::text FROM accounts`},
			{"/api/v1/accounts/" + demoAccount.AccountNumber + "/password", http.StatusOK,
				`SELECT password_hash FROM accounts WHERE account_number = '` + demoAccount.AccountNumber + `'`},
		} {
			state := func() string {
				var v string
				if err := e.svc.pool.QueryRow(context.Background(), route.state).Scan(&v); err != nil {
					t.Fatal(err)
				}
				return v
			}
			before := state()
			logs.Reset()
			status, _, answer := webtest.Do(t, http.DefaultClient, e.srv.URL, http.MethodPost, route.path, []byte(body),
				"Authorization", "Bearer "+testKeys["backoffice"])
			if status >= 500 {
				t.Fatalf("POST %s %q: %d %s", route.path, body, status, answer)
			}
			if changed := state() != before; changed != (status == route.success) {
				t.Fatalf("POST %s %q: %d %s, and the account changed: %v", route.path, body, status, answer, changed)
			}
			if logs.LoggedError() {
				t.Fatalf("POST %s %q: a caller's mistake logged as an error: %s", route.path, body, logs.String())
			}
			if !onlyInSecrets(body, secret) {
				continue
			}
			if strings.Contains(string(answer), secret) {
				t.Fatalf("POST %s %q: the answer repeats a secret: %s", route.path, body, answer)
			}
			if strings.Contains(logs.String(), secret) {
				t.Fatalf("POST %s %q: the log repeats a secret: %s", route.path, body, logs.String())
			}
			if n := e.countIn(t, `SELECT (SELECT count(*) FROM audit_log WHERE detail::text LIKE '%' || $1 || '%')
				+ (SELECT count(*) FROM river_job WHERE args::text LIKE '%' || $1 || '%')`, secret); n != 0 {
				t.Fatalf("POST %s %q: the audit trail or the outbox holds a secret", route.path, body)
			}
		}
	})
}

// onlyInSecrets reports that every occurrence of secret in what the server reads of body (its
// first JSON value, keys and values decoded) is inside the password or the PIN, so that
// anything repeating it repeats a secret, and not, say, a login ID made of it, which a 201
// rightly echoes. A body that is not a JSON value is refused before any field is read.
func onlyInSecrets(body, secret string) bool {
	var v any
	if json.NewDecoder(strings.NewReader(body)).Decode(&v) != nil {
		return true
	}
	obj, _ := v.(map[string]any)
	all, _ := json.Marshal(v)
	secrets, _ := json.Marshal([]any{obj["password"], obj["pin"]})
	return strings.Count(string(all), secret) == strings.Count(string(secrets), secret)
}

// countIn is count for a fuzz target's own t.
func (e *testEnv) countIn(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := e.svc.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
