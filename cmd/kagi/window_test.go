package main

import (
	"strings"
	"testing"

	"kagi/pgdb/pgtest"
)

func TestWindowOpen(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t, schema...)
	// The tools need only the database and the PIN key, not the server's other secrets.
	env := map[string]string{"DATABASE_URL": url, "KAGI_PIN_KEY": prodEnv(url)["KAGI_PIN_KEY"]}
	for _, a := range [][]string{{"hanako", "7654321"}, {"jiro", "2222222"}} {
		if out, err := kagi(t, env, "account", "add", "--login-id", a[0], "--password", "a good password",
			"--account-number", a[1], "--pin", "4321", "--phone", "+819011112222", "--email", a[0]+"@example.jp",
			"--name", "佐藤 花子"); err != nil {
			t.Fatalf("add: %v\n%s", err, out)
		}
	}
	// Only hanako has a passkey (the row is written directly: the CLI never makes one).
	exec(t, url, `INSERT INTO passkeys (account_id, credential_id, public_key, aaguid, backup_eligible, backup_state, created_at)
		SELECT id, 'cred', 'key', '00000000-0000-0000-0000-000000000000', true, true, now() FROM accounts WHERE login_id = 'hanako'`)

	out, err := kagi(t, env, "window", "open", "--account-number", "7654321", "--channel", "operator", "--reason", "本人確認済み", "--operator", "suzuki")
	if err != nil {
		t.Fatalf("window open: %v\n%s", err, out)
	}
	if !strings.Contains(out, "open until") || !strings.Contains(out, " JST") {
		t.Fatalf("output %q does not give the window's end in JST", out)
	}
	if n := count(t, url, `SELECT count(*) FROM fallback_windows WHERE closed_at IS NULL AND opened_via = 'operator' AND opened_by = 'cli:suzuki'
		AND reason = '本人確認済み' AND expires_at = opened_at + interval '30 minutes'`); n != 1 {
		t.Fatalf("open windows = %d, want one 30-minute window opened by the CLI", n)
	}
	if n := count(t, url, `SELECT count(*) FROM audit_log WHERE event = 'window_opened' AND actor = 'cli:suzuki'`); n != 1 {
		t.Fatalf("audit lines = %d, want 1", n)
	}

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown account", []string{"--account-number", "1111111", "--reason", "確認済み"}, "no account with number"},
		{"account without a passkey", []string{"--account-number", "2222222", "--reason", "確認済み"}, "has no passkey"},
		{"no reason", []string{"--account-number", "7654321"}, "--reason is required"},
		{"blank reason", []string{"--account-number", "7654321", "--reason", "  "}, "--reason is required"},
		{"no account number", []string{"--reason", "確認済み"}, "--account-number is required"},
		{"voice line channel", []string{"--account-number", "7654321", "--channel", "ivr", "--reason", "確認済み"}, "only \"operator\""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := kagi(t, env, append([]string{"window", "open"}, c.args...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, out = %q; want an error mentioning %q", err, out, c.want)
			}
			if strings.Contains(oneLine(err), "\n") {
				t.Fatalf("reason is not one line: %q", oneLine(err))
			}
		})
	}
	if n := count(t, url, `SELECT count(*) FROM fallback_windows`); n != 1 {
		t.Fatalf("windows = %d, refused commands wrote some", n)
	}
}

func TestServeRejectsBadExpirySchedule(t *testing.T) {
	t.Parallel()
	env := prodEnv("postgres://127.0.0.1:1/none")
	env["KAGI_EXPIRY_SCHEDULE"] = "every minute"
	_, err := kagi(t, env, "serve")
	if err == nil || !strings.Contains(err.Error(), "KAGI_EXPIRY_SCHEDULE") {
		t.Fatalf("err = %v, want a configuration error naming KAGI_EXPIRY_SCHEDULE", err)
	}
}
