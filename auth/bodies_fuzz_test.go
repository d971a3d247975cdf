package auth

import (
	"net/http"
	"strings"
	"testing"

	"kagi/auth/authtest"
	"kagi/web/webtest"
)

// FuzzCustomerBodies posts whatever body to the customers' routes that read one and that
// FuzzPasswordLoginBody and FuzzBackOfficeBody leave out: the passkey login's begin and the email
// check, anonymous; the passkey's registration and the password change, in a session the
// password opened (the account has no passkey); and the back office's contact change,
// suspension and resumption of another account. Every "@secret@" stands for a secret of the
// test's choosing, as in FuzzBackOfficeBody. Whatever the body, the answer is never a 5xx,
// nothing is logged as an error (an operator's alert), and a password the body held only as the
// current or the new one is never repeated: not in the answer nor in the server's log.
func FuzzCustomerBodies(f *testing.F) {
	const secret = "Qm4vT8xKp2Wd6Ys9"
	var logs webtest.LogBuffer
	e := newTestEnv(f, func(c *Config) {
		c.Log = logs.Logger()
	})
	e.addAccount(demoAccount)
	other := demoAccount
	other.LoginID, other.AccountNumber, other.Email = "hanako", "7654321", "hanako@example.jp"
	e.addAccount(other)
	hash, err := e.svc.passwords.Hash(f.Context(), demoAccount.Password)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		``,
		`{}`,
		`null`,
		`{"login_id":"taro"}`,
		`{"login_id":"a\u0000b"}`,
		`{"mediation":"conditional"}`,
		`{"id":"x","choice":3}`,
		`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"}}`,
		`{"current":"correct horse battery","new":"@secret@ new one"}`,
		`{"current":"@secret@","new":"@secret@"}`,
		`{"current":"wrong","new":"short"}`,
		`{"name":"佐藤 花子","email":"hanako2@example.jp","phones":["+819099998888"]}`,
		`{"name":"\u001b[2J","phones":[]}`,
		`{"reason":"ご本人からの申し出"}`,
		`{"reason":1}`,
		`{"reason":"a\u0000b"}`,
		`{"name":"a\u0000b"}`,
	} {
		f.Add(seed)
	}
	anonymous := []string{"/api/v1/passkeys/login/begin", "/api/v1/login/email-check"}
	inSession := []string{"/api/v1/passkeys/register/begin", "/api/v1/passkeys/register/finish", "/api/v1/password"}
	backOffice := []struct{ method, path string }{
		{http.MethodPatch, "/api/v1/accounts/" + other.AccountNumber},
		{http.MethodPost, "/api/v1/accounts/" + other.AccountNumber + "/suspend"},
		{http.MethodPost, "/api/v1/accounts/" + other.AccountNumber + "/resume"},
	}
	// A customer's smartphone: the passkey's routes answer nothing else (§2).
	phone := []string{"User-Agent", authtest.UAiPhone}
	f.Fuzz(func(t *testing.T, template string) {
		body := []byte(strings.ReplaceAll(template, "@secret@", secret))
		logs.Reset()
		check := func(method, path string, status int, answer []byte) {
			t.Helper()
			if status >= 500 {
				t.Fatalf("%s %s %q: %d %s", method, path, body, status, answer)
			}
		}
		for _, path := range anonymous {
			status, _, answer := webtest.Do(t, e.browser(), e.srv.URL, http.MethodPost, path, body, phone...)
			check(http.MethodPost, path, status, answer)
		}
		// A session of its own for every input: a password change may end it.
		c := e.browser()
		if status, out, _ := webtest.Do(t, c, e.srv.URL, http.MethodPost, "/api/v1/login/password", map[string]string{"login_id": "taro", "password": demoAccount.Password}, phone...); status != http.StatusOK {
			t.Fatalf("password login: %d %v", status, out)
		}
		for _, path := range inSession {
			status, _, answer := webtest.Do(t, c, e.srv.URL, http.MethodPost, path, body, phone...)
			check(http.MethodPost, path, status, answer)
			if path == "/api/v1/password" && strings.Contains(string(answer), secret) {
				t.Fatalf("POST %s %q: the answer repeats a password: %s", path, body, answer)
			}
		}
		for _, r := range backOffice {
			status, _, answer := webtest.Do(t, http.DefaultClient, e.srv.URL, r.method, r.path, body, "Authorization", "Bearer "+testKeys["backoffice"])
			check(r.method, r.path, status, answer)
		}
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("%q: the log repeats a password: %s", body, logs.String())
		}
		if logs.LoggedError() {
			t.Fatalf("%q: a caller's mistake logged as an error: %s", body, logs.String())
		}
		// What an input may have changed of taro's password and its counts is put back, so that
		// the next input logs in as this one did.
		if _, err := e.svc.pool.Exec(t.Context(), `UPDATE accounts SET password_hash = $1 WHERE login_id = 'taro'`, hash); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"login_throttle", "email_check_failures"} {
			if _, err := e.svc.pool.Exec(t.Context(), "DELETE FROM "+table); err != nil {
				t.Fatal(err)
			}
		}
	})
}
