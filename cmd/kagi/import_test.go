package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kagi/pgdb/pgtest"
)

// kagi import runs as the serving role (its stage is a temporary table; on audit_log it only
// inserts), writes the failed lines to stderr and a summary to stdout, and says by its exit
// status whether a line failed (1) or the import did not run (2).
func TestImportCommand(t *testing.T) {
	t.Parallel()
	ownerURL := pgtest.URL(t) // an empty database, migrated by its owner in servingURL
	env := prodEnv(servingURL(t, ownerURL))
	const bcryptHash = `$2a$10$8/2fuBJw5Vb0cmg2Z8Gb/esfmo/Q8mONSzSk.J29jQvqdaoM24uC2`
	line := func(number, loginID, password string) string {
		return `{"account_number":"` + number + `","login_id":"` + loginID + `","name":"顧客","email":"` + loginID +
			`@example.jp","phones":["+819012345678"],"password":` + password + `,"pin":{"plain":"1234"}}`
	}
	dir := t.TempDir()
	write := func(name string, lines ...string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	mixed := write("mixed.jsonl",
		line("1001", "hanako", `{"hash":"`+bcryptHash+`"}`),
		line("1002", "jiro", `{"plain":"short"}`),
		line("1003", "saburo", `{"plain":"a good password"}`),
	)
	good := write("good.jsonl", line("1001", "hanako", `{"hash":"`+bcryptHash+`"}`))
	status := func(err error) int {
		var e exitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &e):
			return e.status
		}
		return 1
	}
	cases := []struct {
		name   string
		args   []string
		status int
		want   []string
	}{
		{"a failed line", []string{"import", mixed}, 1, []string{"line 2: password must be 8-256 characters",
			"kagi import: 3 lines: 2 created, 0 existing, 0 updated, 1 failed in", "accounts/s); peak memory", "1 of 3 lines failed"}},
		{"run again", []string{"import", mixed}, 1, []string{"line 2: password", "3 lines: 0 created, 2 existing, 0 updated, 1 failed"}},
		{"every line there, flags after the file", []string{"import", good, "--update", "--batch", "10"}, 0, []string{"1 lines: 0 created, 1 existing, 0 updated, 0 failed"}},
		{"no file", []string{"import", filepath.Join(dir, "missing.jsonl")}, 2, []string{"no such file"}},
		{"no argument", []string{"import"}, 2, []string{"a FILE to import is required"}},
		{"two files", []string{"import", good, mixed}, 2, []string{"unexpected argument"}},
		{"bad batch", []string{"import", "--batch", "0", good}, 2, []string{"--batch must be at least 1"}},
	}
	for _, c := range cases { // in order: the second run sees the first's accounts
		out, err := kagi(t, env, c.args...)
		if err != nil {
			out += err.Error()
		}
		if got := status(err); got != c.status {
			t.Errorf("%s: exit status %d, want %d\n%s", c.name, got, c.status, out)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output does not say %q:\n%s", c.name, w, out)
			}
		}
		if strings.Contains(out, "short\"") || strings.Contains(out, "a good password") {
			t.Errorf("%s: output repeats a password:\n%s", c.name, out)
		}
	}
	if n := count(t, ownerURL, `SELECT count(*) FROM audit_log WHERE event = 'account_imported' AND actor = 'import'`); n != 2 {
		t.Errorf("%d account_imported lines, want 2", n)
	}
}
