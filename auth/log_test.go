package auth

import (
	"log/slog"
	"strings"
	"testing"

	"kagi/web"
	"kagi/web/webtest"
)

// testLogger writes through the test's output, so a failing test shows its server log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Logins and refusals are logged with the request's id, and never with what the customer typed.
func TestLoginsAreLoggedWithoutSecrets(t *testing.T) {
	t.Parallel()
	var out webtest.LogBuffer
	e := newTestEnv(t, func(c *Config) { c.Log = slog.New(web.RequestIDLogs(slog.NewJSONHandler(&out, nil))) })
	e.addAccount(demoAccount)
	e.passwordLogin(e.browser(), "taro", "a wrong secret!")
	e.passwordLogin(e.browser(), "nobody-here", "another secret!")
	e.passwordLogin(e.browser(), "taro", demoAccount.Password)
	logged := out.String()
	for _, want := range []string{`"msg":"login succeeded"`, `"msg":"password login refused"`, `"reason":"wrong_password"`, `"reason":"unknown_login_id"`, `"request_id":"`} {
		if !strings.Contains(logged, want) {
			t.Errorf("log lacks %s:\n%s", want, logged)
		}
	}
	for _, secret := range []string{demoAccount.Password, "a wrong secret!", "another secret!", "nobody-here"} {
		if strings.Contains(logged, secret) {
			t.Errorf("log holds %q", secret)
		}
	}
}
