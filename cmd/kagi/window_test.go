package main

import (
	"strings"
	"testing"

	"kagi/pgdb/pgtest"
)

func TestWindowOpen(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t, schema...)
	env := prodEnv(url)
	if out, err := kagi(t, env, "account", "add", "--login-id", "hanako", "--password", "a good password",
		"--account-number", "7654321", "--pin", "4321", "--phone", "+819011112222", "--email", "hanako@example.jp",
		"--name", "佐藤 花子"); err != nil {
		t.Fatalf("add: %v\n%s", err, out)
	}

	out, err := kagi(t, env, "window", "open", "--account-number", "7654321", "--channel", "operator", "--reason", "本人確認済み")
	if err != nil {
		t.Fatalf("window open: %v\n%s", err, out)
	}
	if !strings.Contains(out, "open until") || !strings.Contains(out, " JST") {
		t.Fatalf("output %q does not give the window's end in JST", out)
	}
	if n := count(t, url, `SELECT count(*) FROM fallback_windows WHERE closed_at IS NULL AND opened_via = 'operator' AND opened_by = 'cli'
		AND reason = '本人確認済み' AND expires_at = opened_at + interval '30 minutes'`); n != 1 {
		t.Fatalf("open windows = %d, want one 30-minute window opened by the CLI", n)
	}
	if n := count(t, url, `SELECT count(*) FROM audit_log WHERE event = 'window_opened' AND actor = 'cli'`); n != 1 {
		t.Fatalf("audit lines = %d, want 1", n)
	}

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown account", []string{"--account-number", "1111111", "--reason", "確認済み"}, "no account with number"},
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
