package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"kagi/auth/authtest"
	"kagi/pgdb/pgtest"
)

// staffRequest sends a request as the console's pages do, with the staff cookie when given,
// and returns the status, the raw answer and the cookie it set.
func staffRequest(t *testing.T, method, url string, body []byte, cookie string) (int, []byte, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var set string
	for _, c := range res.Cookies() {
		set = c.Name + "=" + c.Value
	}
	return res.StatusCode, raw, set
}

var enrollmentCode = regexp.MustCompile(`^[A-Z2-7]{26}$`)

// kagi staff add prints the code alone on its last line, and the code enrolls the staff
// member's passkey on the console as kagi serve wires it; kagi staff disable ends the session
// that made.
func TestStaffAddAndDisable(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t, schema...)
	env := prodEnv(url)
	ctx := context.Background()
	var out bytes.Buffer
	err := run(ctx, []string{"staff", "add", "--login-id", "suzuki", "--name", "鈴木 一郎", "--role", "supervisor", "--operator", "admin"},
		envOf(env), &out, io.Discard)
	if err != nil {
		t.Fatalf("staff add: %v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	code := lines[len(lines)-1]
	if len(lines) < 2 || !enrollmentCode.MatchString(code) || !strings.Contains(lines[0], "suzuki") {
		t.Fatalf("staff add printed %q; want a line about suzuki, then the code alone", out.String())
	}
	if n := count(t, url, `SELECT count(*) FROM audit_log WHERE event = 'staff_added' AND actor = 'cli:admin' AND account_id IS NULL`); n != 1 {
		t.Fatalf("%d audit lines of the addition, want 1", n)
	}

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"bad role", []string{"add", "--login-id", "tanaka", "--name", "田中", "--role", "admin"}, `role "admin" must be operator or supervisor`},
		{"no role", []string{"add", "--login-id", "tanaka", "--name", "田中"}, "--role is required"},
		{"no login ID", []string{"add", "--name", "田中", "--role", "operator"}, "--login-id is required"},
		{"no name", []string{"add", "--login-id", "tanaka", "--role", "operator"}, "--name is required"},
		{"bad login ID", []string{"add", "--login-id", "a b", "--name", "田中", "--role", "operator"}, "login ID must be"},
		{"existing login ID", []string{"add", "--login-id", "suzuki", "--name", "田中", "--role", "operator"}, "already exists"},
		{"stray argument", []string{"add", "--login-id", "tanaka", "--name", "田中", "--role", "operator", "extra"}, "unexpected argument"},
		{"disable without a login ID", []string{"disable"}, "--login-id is required"},
		{"disable an unknown login ID", []string{"disable", "--login-id", "nobody"}, "no staff member"},
		{"unknown staff command", []string{"remove", "--login-id", "suzuki"}, "unknown staff command"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := kagi(t, env, append([]string{"staff"}, c.args...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, out = %q; want an error mentioning %q", err, out, c.want)
			}
			if strings.Contains(oneLine(err), "\n") || out != "" {
				t.Fatalf("reason is not one line: %q, output %q", oneLine(err), out)
			}
		})
	}
	if n := count(t, url, `SELECT count(*) FROM staff`); n != 1 {
		t.Fatalf("%d staff members, want only suzuki", n)
	}

	// The console as kagi serve wires it (https public URL: the __Host- cookie).
	a, err := addAppFlags(newFlagSet("test"), forCLI, "").open(ctx, envOf(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	srv := httptest.NewServer(a.consoleHandler())
	defer srv.Close()
	desk := authtest.NewPhone(authtest.Config{BaseURL: srv.URL, Origin: "https://console.example.jp", RPID: "console.example.jp", DeviceBound: true,
		UserAgent: authtest.UAWindows})
	codeJSON, _ := json.Marshal(map[string]string{"code": code})
	status, options, _ := staffRequest(t, "POST", srv.URL+"/staff/api/enroll/begin", codeJSON, "")
	if status != http.StatusOK {
		t.Fatalf("enroll begin: %d %s", status, options)
	}
	cred, err := desk.Create(options)
	if err != nil {
		t.Fatal(err)
	}
	finish, _ := json.Marshal(map[string]any{"code": code, "credential": json.RawMessage(cred)})
	status, raw, cookie := staffRequest(t, "POST", srv.URL+"/staff/api/enroll/finish", finish, "")
	if status != http.StatusOK || !strings.HasPrefix(cookie, "__Host-kagi_staff=") {
		t.Fatalf("enroll finish: %d %s (cookie %q)", status, raw, cookie)
	}
	status, raw, _ = staffRequest(t, "GET", srv.URL+"/staff/api/me", nil, cookie)
	if status != http.StatusOK || !strings.Contains(string(raw), `"role":"supervisor"`) {
		t.Fatalf("me: %d %s", status, raw)
	}

	out.Reset()
	if err := run(ctx, []string{"staff", "disable", "--login-id", "suzuki"}, envOf(env), &out, io.Discard); err != nil {
		t.Fatalf("staff disable: %v", err)
	}
	if !strings.Contains(out.String(), "suzuki disabled; 1 sessions ended") {
		t.Fatalf("staff disable printed %q", out.String())
	}
	status, raw, _ = staffRequest(t, "GET", srv.URL+"/staff/api/me", nil, cookie)
	if status != http.StatusUnauthorized || !strings.Contains(string(raw), `"error":"unauthorized"`) {
		t.Fatalf("me after disable: %d %s", status, raw)
	}
	if n := count(t, url, `SELECT count(*) FROM audit_log WHERE event = 'staff_disabled' AND actor LIKE 'cli%'`); n != 1 {
		t.Fatalf("%d audit lines of the disabling, want 1", n)
	}
	if out, err := kagi(t, env, "staff", "disable", "--login-id", "suzuki"); err != nil || !strings.Contains(out, "already disabled") {
		t.Fatalf("disabling again: %v %q", err, out)
	}
}

// With --dev, the staff commands find scripts/run's database as kagi account add does.
func TestStaffCommandsInDevMode(t *testing.T) {
	t.Chdir(t.TempDir())
	url := pgtest.URL(t, schema...)
	if err := os.MkdirAll(".kagi/pg", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(devDatabaseFile, []byte(url+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err := run(context.Background(), []string{"staff", "add", "--dev", "--login-id", "demo", "--name", "デモ", "--role", "operator"},
		envOf(map[string]string{}), &out, io.Discard)
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); err != nil || !enrollmentCode.MatchString(lines[len(lines)-1]) {
		t.Fatalf("staff add --dev: %v\n%s", err, out.String())
	}
	if out, err := kagi(t, map[string]string{}, "staff", "disable", "--dev", "--login-id", "demo"); err != nil {
		t.Fatalf("staff disable --dev: %v\n%s", err, out)
	}
	if n := count(t, url, `SELECT count(*) FROM staff WHERE login_id = 'demo' AND disabled_at IS NOT NULL`); n != 1 {
		t.Fatal("the development database has no disabled demo staff member")
	}
}

// kagi staff code gives an existing staff member a new code, alone on the last line; an unknown
// or disabled member gets a one-line refusal.
func TestStaffCode(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t, schema...)
	env := prodEnv(url)
	if _, err := kagi(t, env, "staff", "add", "--login-id", "suzuki", "--name", "鈴木 一郎", "--role", "operator"); err != nil {
		t.Fatal(err)
	}
	out, err := kagi(t, env, "staff", "code", "--login-id", "suzuki", "--operator", "admin")
	if err != nil {
		t.Fatalf("staff code: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !enrollmentCode.MatchString(lines[len(lines)-1]) {
		t.Fatalf("last line %q is not a code", lines[len(lines)-1])
	}
	if n := count(t, url, `SELECT count(*) FROM staff_enrollment_codes`); n != 1 {
		t.Errorf("%d live codes, want only the new one", n)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--login-id", "nobody"}, "no staff member"},
		{[]string{}, "--login-id is required"},
	} {
		if _, err := kagi(t, env, append([]string{"staff", "code"}, c.args...)...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("staff code %v: %v, want %q", c.args, err, c.want)
		}
	}
	if _, err := kagi(t, env, "staff", "disable", "--login-id", "suzuki"); err != nil {
		t.Fatal(err)
	}
	if _, err := kagi(t, env, "staff", "code", "--login-id", "suzuki"); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("a disabled member's code: %v", err)
	}
}
