package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/pgdb/pgtest"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func kagi(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, envOf(env), &out, &errOut)
	return out.String() + errOut.String(), err
}

func count(t *testing.T, url, sql string) int {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func exec(t *testing.T, url, sql string) {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t) // an empty database
	env := map[string]string{"DATABASE_URL": url}
	for i := range 2 {
		if out, err := kagi(t, env, "migrate"); err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out)
		}
	}
	if n := count(t, url, `SELECT count(*) FROM accounts`); n != 0 {
		t.Fatalf("accounts = %d", n)
	}
}

func prodEnv(url string) map[string]string {
	return map[string]string{
		"DATABASE_URL":      url,
		"KAGI_PUBLIC_URL":   "https://login.example.jp",
		"TWILIO_AUTH_TOKEN": "twilio-token-for-tests",
		"KAGI_API_KEYS":     "weblogin:service-key-0123456789",
		"KAGI_PIN_KEY":      "pin-key-0123456789abcdef0123456789",
		// What a production server must be told rather than guess.
		"KAGI_TRUSTED_PROXIES": "none",
		"KAGI_BRAND_NAME":      "カギ証券",
		// Tests run servers side by side and stop them at once.
		"KAGI_ADMIN_LISTEN":   "127.0.0.1:0",
		"KAGI_CONSOLE_LISTEN": "127.0.0.1:0",
		"KAGI_SHUTDOWN_DELAY": "0s",
		"KAGI_CONSOLE_URL":    "https://console.example.jp",
	}
}

func TestAccountAdd(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t, schema...)
	env := prodEnv(url)
	good := []string{"account", "add", "--login-id", "hanako", "--password", "a good password", "--account-number", "7654321",
		"--pin", "4321", "--phone", "+819011112222", "--phone", "+81311112222", "--email", "hanako@example.jp", "--name", "佐藤 花子"}
	if out, err := kagi(t, env, good...); err != nil {
		t.Fatalf("add: %v\n%s", err, out)
	}
	with := func(flag, value string) []string {
		args := append([]string(nil), good...)
		for i := range args {
			if args[i] == flag {
				args[i+1] = value
				return args
			}
		}
		t.Fatalf("no flag %s", flag)
		return nil
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"PIN of 3 digits", with("--pin", "123"), "PIN must be exactly 4 digits"},
		{"PIN with a letter", with("--pin", "12a4"), "PIN must be exactly 4 digits"},
		{"phone not E.164", with("--phone", "090-1111-2222"), "not an E.164 number"},
		{"duplicate login ID", with("--account-number", "1111111"), "already exists"},
		{"duplicate account number", with("--login-id", "other"), "already exists"},
		{"account number with letters", with("--account-number", "12ab"), "account number must be 1-12 digits"},
		{"bad email", with("--email", "not-an-email"), "not a plain address"},
		{"unknown flag", append(append([]string(nil), good...), "--colour", "red"), "flag provided but not defined"},
		{"stray argument", append(append([]string(nil), good...), "extra"), "unexpected argument"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := kagi(t, env, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, out = %q; want an error mentioning %q", err, out, c.want)
			}
			if strings.Contains(oneLine(err), "\n") || out != "" {
				t.Fatalf("reason is not one line: %q, output %q", oneLine(err), out)
			}
		})
	}
	if n := count(t, url, `SELECT count(*) FROM accounts`); n != 1 {
		t.Fatalf("accounts = %d, want only the good one", n)
	}
	if n := count(t, url, `SELECT count(*) FROM account_phones`); n != 2 {
		t.Fatalf("phones = %d, want 2", n)
	}
}

func TestServeRefusesMissingSecrets(t *testing.T) {
	t.Parallel()
	_, err := kagi(t, map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/none"}, "serve")
	if err == nil {
		t.Fatal("serve started without secrets")
	}
	for _, name := range []string{"TWILIO_AUTH_TOKEN", "KAGI_API_KEYS", "KAGI_PIN_KEY", "KAGI_PUBLIC_URL", "KAGI_SMTP_URL", "KAGI_MAIL_FROM"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestServeRejectsBadSettings(t *testing.T) {
	t.Parallel()
	env := prodEnv("postgres://127.0.0.1:1/none")
	env["KAGI_FALLBACK_WINDOW"] = "forever"
	env["KAGI_PASSKEY_CREATE_PLATFORMS"] = "ios,windows"
	env["KAGI_PUBLIC_URL"] = "http://login.example.jp"
	env["KAGI_SMTP_URL"] = "imap://user:s3cret-pass@mail.example.jp"
	env["KAGI_MAIL_FROM"] = "not an address"
	env["KAGI_SMS_FROM"] = "+815012345678" // without TWILIO_ACCOUNT_SID
	env["KAGI_EMAIL_CHECK"] = "sometimes"
	env["KAGI_LOGIN_NOTICE"] = "yes please"
	env["KAGI_RECOVERY_HOLD"] = "-1h"
	env["KAGI_VOICE_LINE_NUMBER"] = "call us!"
	env["KAGI_TRUSTED_PROXIES"] = "10.0.0.0/33"
	env["KAGI_LIMIT_PASSWORD_LOGIN"] = "lots"
	_, err := kagi(t, env, "serve")
	if err == nil {
		t.Fatal("serve started with bad settings")
	}
	if strings.Contains(err.Error(), "s3cret-pass") {
		t.Errorf("error %q shows the SMTP password", err)
	}
	for _, want := range []string{"KAGI_FALLBACK_WINDOW", "windows", "https", "KAGI_SMTP_URL", "KAGI_MAIL_FROM",
		"TWILIO_ACCOUNT_SID", "KAGI_EMAIL_CHECK", "KAGI_LOGIN_NOTICE", "KAGI_RECOVERY_HOLD", "KAGI_VOICE_LINE_NUMBER",
		"KAGI_TRUSTED_PROXIES", "KAGI_LIMIT_PASSWORD_LOGIN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestServeRefusesABadSupportCalendar(t *testing.T) {
	t.Parallel()
	file := t.TempDir() + "/calendar.json"
	if err := os.WriteFile(file, []byte(`{"closed":["2026-12-31"],"special":[{"date":"2026-12-30","open":"09:00","close":"25:00"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := prodEnv("postgres://127.0.0.1:1/none")
	env["KAGI_SUPPORT_CALENDAR"] = file
	env["KAGI_OPERATOR_NUMBER"] = "0312345678"
	_, err := kagi(t, env, "serve")
	if err == nil {
		t.Fatal("serve started with a bad calendar")
	}
	for _, want := range []string{"KAGI_SUPPORT_CALENDAR", "special[0]", "25:00", "KAGI_OPERATOR_NUMBER"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestServeRefusesASecondFactorItCannotServe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ factor, want string }{
		{"sms", "TWILIO_ACCOUNT_SID"},
		{"callback", "TWILIO_ACCOUNT_SID"},
		{"auto", "TWILIO_ACCOUNT_SID"},
		{"carrier-pigeon", "must be auto, sms, callback or none"},
	} {
		env := prodEnv("postgres://127.0.0.1:1/none")
		env["KAGI_IVR_SECOND_FACTOR"] = tc.factor
		_, err := kagi(t, env, "serve")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("KAGI_IVR_SECOND_FACTOR=%s: %v, want an error mentioning %q", tc.factor, err, tc.want)
		}
	}
}

// With --dev and no DATABASE_URL, the commands find scripts/run's private cluster by the URL
// it keeps under .kagi/pg while it runs; without it they say how to start it.
func TestDevCommandsFindTheDevelopmentDatabase(t *testing.T) {
	t.Chdir(t.TempDir())
	add := []string{"account", "add", "--dev", "--login-id", "hanako", "--password", "a good password", "--account-number", "7654321",
		"--pin", "4321", "--phone", "+819011112222", "--email", "hanako@example.jp", "--name", "佐藤 花子"}
	if _, err := kagi(t, map[string]string{}, add...); err == nil || !strings.Contains(err.Error(), "scripts/run") {
		t.Fatalf("without a development database: %v, want a pointer to scripts/run", err)
	}
	url := pgtest.URL(t, schema...)
	if err := os.MkdirAll(".kagi/pg", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(devDatabaseFile, []byte(url+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := kagi(t, map[string]string{}, add...); err != nil {
		t.Fatalf("account add --dev: %v\n%s", err, out)
	}
	if n := count(t, url, `SELECT count(*) FROM accounts`); n != 1 {
		t.Fatalf("accounts = %d, want the one added", n)
	}
}
