package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"kagi/auth/authtest"
	"kagi/staff"
	"kagi/web/webtest"
)

// FuzzConsoleBodies posts whatever body to every console route that reads one: the staff
// ceremonies and the logout, which anyone who reaches the console's listener may call, from a
// browser without a session; and the supervisor's actions on a customer's account and on staff,
// with an enrolled supervisor's session, who also searches the accounts and the audit trail for
// it. Whatever the body, the answer is never a 5xx, a JSON answer is well-formed, nothing is
// logged as an error (an operator's alert), and a browser without a session is never given one.
func FuzzConsoleBodies(f *testing.F) {
	var logs webtest.LogBuffer
	e := newTestEnv(f, func(c *setup) {
		c.Log = logs.Logger()
	})
	sup := e.enrolledStaff("tanaka", staff.RoleSupervisor)
	e.addStaff("sato", staff.RoleOperator)
	e.addPasskey(e.addAccount("taro", "1234567").ID)
	for _, seed := range []string{
		``,
		`{}`,
		`null`,
		`[]`,
		`{"reason":"お客様からのお電話で本人確認済み"}`,
		`{"reason":"` + strings.Repeat("あ", 600) + `"}`,
		`{"reason":"a\u0000b"}`,
		`{"reason":"a\u001b[2Jb"}`,
		`{"login_id":"ya\u0000mada","name":"山田\u0000花子","role":"operator","reason":"x"}`,
		`{"login_id":"yamada2","name":"\u001b[31m山田","role":"operator","reason":"x"}`,
		`{"code":"ABCDEFGHIJKLMNOPQRSTUVWXYZ"}`,
		`{"code":"abcd-efgh-ijkl","credential":{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{}}}`,
		`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"","signature":""}}`,
		`{"login_id":"yamada","name":"山田 花子","role":"operator","reason":"新任"}`,
		`{"role":"supervisor","reason":"x"}`,
		`{"role":1e999}`,
		"1234567\x00",
		"\xff\xfe",
		"12345678901234567890",
	} {
		f.Add(seed)
	}
	anonymous := []string{"/staff/api/enroll/begin", "/staff/api/enroll/finish", "/staff/api/login/begin",
		"/staff/api/login/finish", "/staff/api/logout"}
	supervised := []string{"/staff/api/accounts/1234567/window/open", "/staff/api/accounts/1234567/window/close",
		"/staff/api/accounts/1234567/lockout/clear", "/staff/api/accounts/1234567/passkey/delete", "/staff/api/staff",
		"/staff/api/staff/sato/code", "/staff/api/staff/sato/disable", "/staff/api/staff/sato/enable",
		"/staff/api/staff/sato/role"}
	header := []string{"Sec-Fetch-Site", "same-origin", "User-Agent", authtest.UAWindows}
	console, err := url.Parse(e.console.URL)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		logs.Reset()
		defer func() {
			if logs.LoggedError() {
				t.Fatalf("%q: a caller's mistake logged as an error: %s", body, logs.String())
			}
		}()
		for _, path := range anonymous {
			c := e.browser()
			status, _, raw := webtest.Do(t, c, e.console.URL, http.MethodPost, path, []byte(body), header...)
			if status >= 500 {
				t.Fatalf("POST %s %q: %d %s", path, body, status, raw)
			}
			for _, cookie := range c.Jar.Cookies(console) {
				if cookie.Name == StaffCookie && cookie.Value != "" {
					t.Fatalf("POST %s %q: %d, and a staff session", path, body, status)
				}
			}
		}
		// The searches, with body as what the operator typed.
		v := url.QueryEscape(body)
		for _, path := range []string{"/staff/api/accounts?q=" + v, "/staff/api/audit?account_number=" + v + "&staff=" + v + "&before=" + v} {
			if status, _, raw := webtest.Do(t, sup.c, e.console.URL, http.MethodGet, path, nil, header...); status >= 500 {
				t.Fatalf("GET %s as a supervisor: %d %s", path, status, raw)
			}
		}
		for _, path := range supervised {
			if status, _, raw := webtest.Do(t, sup.c, e.console.URL, http.MethodPost, path, []byte(body), header...); status >= 500 {
				t.Fatalf("POST %s %q as a supervisor: %d %s", path, body, status, raw)
			}
		}
	})
}
