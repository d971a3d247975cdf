package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"kagi/pgdb/pgtest"
)

// calendarFile writes a support calendar whose today and tomorrow (JST) are all open, or all
// closed, so a test of business hours passes whenever it runs.
func calendarFile(t *testing.T, open bool) string {
	t.Helper()
	today := time.Now().In(jst)
	days := []string{today.Format("2006-01-02"), today.AddDate(0, 0, 1).Format("2006-01-02")}
	var body string
	if open {
		body = `{"special":[{"date":"` + days[0] + `","open":"00:00","close":"24:00"},{"date":"` + days[1] + `","open":"00:00","close":"24:00"}]}`
	} else {
		body = `{"closed":["` + days[0] + `","` + days[1] + `"]}`
	}
	file := t.TempDir() + "/calendar.json"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestWindowOpen(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t, schema...)
	// The tools need only the database and the PIN key, not the server's other secrets.
	env := map[string]string{"DATABASE_URL": url, "KAGI_PIN_KEY": prodEnv(url)["KAGI_PIN_KEY"], "KAGI_SUPPORT_CALENDAR": calendarFile(t, true)}
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
	if n := count(t, url, `SELECT count(*) FROM audit_log WHERE event = 'window_break_glass'`); n != 0 {
		t.Fatalf("an opening in business hours was audited as break-glass")
	}
}

// Outside business hours the command refuses, and --break-glass opens the window with a
// break-glass line in the audit trail, committed with the opening.
func TestWindowOpenOutsideBusinessHoursNeedsBreakGlass(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t, schema...)
	env := map[string]string{"DATABASE_URL": url, "KAGI_PIN_KEY": prodEnv(url)["KAGI_PIN_KEY"], "KAGI_SUPPORT_CALENDAR": calendarFile(t, false)}
	if out, err := kagi(t, env, "account", "add", "--login-id", "hanako", "--password", "a good password",
		"--account-number", "7654321", "--pin", "4321", "--phone", "+819011112222", "--email", "hanako@example.jp",
		"--name", "佐藤 花子"); err != nil {
		t.Fatalf("add: %v\n%s", err, out)
	}
	exec(t, url, `INSERT INTO passkeys (account_id, credential_id, public_key, aaguid, backup_eligible, backup_state, created_at)
		SELECT id, 'cred', 'key', '00000000-0000-0000-0000-000000000000', true, true, now() FROM accounts`)
	open := []string{"window", "open", "--account-number", "7654321", "--reason", "障害対応のため", "--operator", "suzuki"}
	if _, err := kagi(t, env, open...); err == nil || !strings.Contains(err.Error(), "outside business hours") || !strings.Contains(err.Error(), "--break-glass") {
		t.Fatalf("outside hours: %v, want a refusal that names --break-glass", err)
	}
	if n := count(t, url, `SELECT count(*) FROM fallback_windows`); n != 0 {
		t.Fatalf("a refused opening left %d windows", n)
	}
	if out, err := kagi(t, env, append(open, "--break-glass")...); err != nil {
		t.Fatalf("--break-glass: %v\n%s", err, out)
	}
	if n := count(t, url, `SELECT count(*) FROM audit_log a JOIN fallback_windows w ON (a.detail->>'window_id')::bigint = w.id
		WHERE a.event = 'window_break_glass' AND a.actor = 'cli:suzuki' AND a.detail->>'reason' = '障害対応のため'
		AND (a.detail->>'outside_business_hours')::boolean AND w.closed_at IS NULL`); n != 1 {
		t.Fatalf("break-glass audit lines = %d, want 1 naming the open window", n)
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
