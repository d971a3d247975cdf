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
	"strconv"
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
	err := run(ctx, []string{"staff", "add", "--login-id", "suzuki", "--name", "鈴木 一郎", "--role", "supervisor"},
		envOf(env), &out, io.Discard)
	if err != nil {
		t.Fatalf("staff add: %v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	code := lines[len(lines)-1]
	if len(lines) < 2 || !enrollmentCode.MatchString(code) || !strings.Contains(lines[0], "suzuki") {
		t.Fatalf("staff add printed %q; want a line about suzuki, then the code alone", out.String())
	}
	if n := count(t, url, `SELECT count(*) FROM audit_log WHERE event = 'staff_added' AND actor = 'cli' AND account_id IS NULL
		AND detail->>'bootstrap' = 'true'`); n != 1 {
		t.Fatalf("%d audit lines of the bootstrap addition, want 1", n)
	}

	// The console as kagi serve wires it (https public URL: the __Host- cookie).
	a, err := addAppFlags(newFlagSet("test"), forCLI, "").open(ctx, envOf(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	srv := httptest.NewServer(a.consoleHandler())
	defer srv.Close()
	// The desk's own authenticator: staff passkeys are device-bound (§6).
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
		{"existing login ID", []string{"add", "--login-id", "suzuki", "--name", "田中", "--role", "operator", "--by", "suzuki"}, "already exists"},
		{"stray argument", []string{"add", "--login-id", "tanaka", "--name", "田中", "--role", "operator", "extra"}, "unexpected argument"},
		{"disable without a login ID", []string{"disable", "--by", "suzuki"}, "--login-id is required"},
		{"disable an unknown login ID", []string{"disable", "--login-id", "nobody", "--by", "suzuki"}, "no staff member"},
		{"disable oneself", []string{"disable", "--login-id", "suzuki", "--by", "suzuki"}, "cannot disable or demote themselves"},
		{"role without a role", []string{"role", "--login-id", "suzuki", "--by", "suzuki"}, "--role is required"},
		{"role of no role", []string{"role", "--login-id", "suzuki", "--role", "admin", "--by", "suzuki"}, `role "admin" must be`},
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

	// Before suzuki enrolled, another could be added without --by; now they are refused.
	if _, err := kagi(t, env, "staff", "add", "--login-id", "tanaka", "--name", "田中", "--role", "supervisor"); err == nil ||
		!strings.Contains(err.Error(), "--by is required once a supervisor has enrolled") {
		t.Fatalf("a second bootstrap after a supervisor enrolled: %v", err)
	}
	if _, err := kagi(t, env, "staff", "add", "--login-id", "tanaka", "--name", "田中", "--role", "supervisor", "--by", "suzuki"); err != nil {
		t.Fatal(err)
	}
	fakeEnroll(t, url, "tanaka")
	out.Reset()
	if err := run(ctx, []string{"staff", "disable", "--login-id", "suzuki", "--by", "tanaka"}, envOf(env), &out, io.Discard); err != nil {
		t.Fatalf("staff disable: %v", err)
	}
	if !strings.Contains(out.String(), "suzuki disabled; 1 sessions ended") {
		t.Fatalf("staff disable printed %q", out.String())
	}
	status, raw, _ = staffRequest(t, "GET", srv.URL+"/staff/api/me", nil, cookie)
	if status != http.StatusUnauthorized || !strings.Contains(string(raw), `"error":"unauthorized"`) {
		t.Fatalf("me after disable: %d %s", status, raw)
	}
	if n := count(t, url, `SELECT count(*) FROM audit_log WHERE event = 'staff_disabled' AND actor = 'staff:tanaka'`); n != 1 {
		t.Fatalf("%d audit lines of the disabling, want 1", n)
	}
	if out, err := kagi(t, env, "staff", "disable", "--login-id", "suzuki", "--by", "tanaka"); err != nil || !strings.Contains(out, "already disabled") {
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
	if _, err := kagi(t, map[string]string{}, "staff", "add", "--dev", "--login-id", "boss", "--name", "上司", "--role", "supervisor"); err != nil {
		t.Fatal(err)
	}
	fakeEnroll(t, url, "boss")
	if out, err := kagi(t, map[string]string{}, "staff", "disable", "--dev", "--login-id", "demo", "--by", "boss"); err != nil {
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
	if _, err := kagi(t, env, "staff", "add", "--login-id", "boss", "--name", "上司", "--role", "supervisor"); err != nil {
		t.Fatal(err)
	}
	fakeEnroll(t, url, "boss")
	if _, err := kagi(t, env, "staff", "add", "--login-id", "suzuki", "--name", "鈴木 一郎", "--role", "operator", "--by", "boss"); err != nil {
		t.Fatal(err)
	}
	out, err := kagi(t, env, "staff", "code", "--login-id", "suzuki", "--by", "boss")
	if err != nil {
		t.Fatalf("staff code: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !enrollmentCode.MatchString(lines[len(lines)-1]) {
		t.Fatalf("last line %q is not a code", lines[len(lines)-1])
	}
	if n := count(t, url, `SELECT count(*) FROM staff_enrollment_codes c JOIN staff s ON s.id = c.staff_id WHERE s.login_id = 'suzuki'`); n != 1 {
		t.Errorf("%d live codes, want only the new one", n)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--login-id", "nobody", "--by", "boss"}, "no staff member"},
		{[]string{"--by", "boss"}, "--login-id is required"},
	} {
		if _, err := kagi(t, env, append([]string{"staff", "code"}, c.args...)...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("staff code %v: %v, want %q", c.args, err, c.want)
		}
	}
	if _, err := kagi(t, env, "staff", "disable", "--login-id", "suzuki", "--by", "boss"); err != nil {
		t.Fatal(err)
	}
	if _, err := kagi(t, env, "staff", "code", "--login-id", "suzuki", "--by", "boss"); err == nil || !strings.Contains(err.Error(), "enable them first") {
		t.Errorf("a disabled member's code: %v", err)
	}
}

// fakeEnroll gives a staff member a passkey row, as an enrollment would: what --by asks of a
// supervisor. The key itself is never used here.
func fakeEnroll(t *testing.T, url, loginID string) {
	t.Helper()
	exec(t, url, `
		INSERT INTO staff_credentials (credential_id, staff_id, public_key, aaguid, backup_eligible, backup_state, attestation_type, created_at)
		SELECT decode(md5(random()::text), 'hex'), id, '\x00', '00000000-0000-0000-0000-000000000000', false, false, 'none', now()
		FROM staff WHERE login_id = '`+loginID+`'`)
}

// staffWithSupervisors is a database with the staff every --by case needs: boss, an enrolled
// supervisor; opr, an enrolled operator; gone, an enrolled supervisor since disabled; fresh, a
// supervisor who has not enrolled; and sato, an operator, the one acted on.
func staffWithSupervisors(t *testing.T) (url string, env map[string]string) {
	t.Helper()
	url = pgtest.URL(t, schema...)
	env = prodEnv(url)
	steps := [][]string{
		{"add", "--login-id", "boss", "--name", "上司", "--role", "supervisor"},
		{"add", "--login-id", "opr", "--name", "オペ", "--role", "operator", "--by", "boss"},
		{"add", "--login-id", "gone", "--name", "退職", "--role", "supervisor", "--by", "boss"},
		{"add", "--login-id", "fresh", "--name", "新人", "--role", "supervisor", "--by", "boss"},
		{"add", "--login-id", "sato", "--name", "佐藤", "--role", "operator", "--by", "boss"},
	}
	for i, step := range steps {
		if out, err := kagi(t, env, append([]string{"staff"}, step...)...); err != nil {
			t.Fatalf("staff %v: %v\n%s", step, err, out)
		}
		if i == 0 {
			fakeEnroll(t, url, "boss")
		}
	}
	fakeEnroll(t, url, "opr")
	fakeEnroll(t, url, "gone")
	if out, err := kagi(t, env, "staff", "disable", "--login-id", "gone", "--by", "boss"); err != nil {
		t.Fatalf("disable gone: %v\n%s", err, out)
	}
	return url, env
}

// Every staff command takes --by: only an enrolled, enabled supervisor may act, each other one
// is refused naming the problem and nothing changes; the trail names the supervisor.
func TestStaffCommandsActByAnEnrolledSupervisor(t *testing.T) {
	t.Parallel()
	commands := []struct {
		name  string
		args  []string // without --by
		setup []string // a staff command run (by boss) before, on a fresh database
		event string   // audited, with detail staff = the one acted on
		staff string
		after string // a count that is 1 once the good --by acted, 0 before
	}{
		{"add", []string{"add", "--login-id", "tanaka", "--name", "田中", "--role", "operator"}, nil,
			"staff_added", "tanaka", `SELECT count(*) FROM staff WHERE login_id = 'tanaka'`},
		{"code", []string{"code", "--login-id", "sato"}, nil,
			"staff_code_issued", "sato", `SELECT count(*) FROM staff_enrollment_codes c JOIN staff s ON s.id = c.staff_id WHERE s.login_id = 'sato' AND c.created_at > s.created_at`},
		{"disable", []string{"disable", "--login-id", "sato"}, nil,
			"staff_disabled", "sato", `SELECT count(*) FROM staff WHERE login_id = 'sato' AND disabled_at IS NOT NULL`},
		{"enable", []string{"enable", "--login-id", "sato"}, []string{"disable", "--login-id", "sato", "--by", "boss"},
			"staff_enabled", "sato", `SELECT count(*) FROM staff WHERE login_id = 'sato' AND disabled_at IS NULL`},
		{"role", []string{"role", "--login-id", "sato", "--role", "supervisor"}, nil,
			"staff_role_changed", "sato", `SELECT count(*) FROM staff WHERE login_id = 'sato' AND role = 'supervisor'`},
	}
	refusals := []struct {
		name string
		by   []string
		want string
	}{
		{"missing --by", nil, "--by is required"},
		{"--by an operator", []string{"--by", "opr"}, "--by opr: an operator"},
		{"--by a disabled supervisor", []string{"--by", "gone"}, "--by gone: disabled"},
		{"--by a supervisor without a passkey", []string{"--by", "fresh"}, "--by fresh: has not enrolled a passkey"},
		{"--by unknown", []string{"--by", "nobody"}, "--by nobody: no staff member"},
	}
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			url, env := staffWithSupervisors(t)
			if c.setup != nil {
				if out, err := kagi(t, env, append([]string{"staff"}, c.setup...)...); err != nil {
					t.Fatalf("setup: %v\n%s", err, out)
				}
			}
			audited := `SELECT count(*) FROM audit_log WHERE event = '` + c.event + `' AND detail->>'staff' = '` + c.staff + `'`
			before := count(t, url, audited)
			for _, r := range refusals {
				out, err := kagi(t, env, append(append([]string{"staff"}, c.args...), r.by...)...)
				if err == nil || !strings.Contains(err.Error(), r.want) || out != "" {
					t.Errorf("%s: err = %v, out = %q; want an error mentioning %q", r.name, err, out, r.want)
				}
				if n := count(t, url, c.after); n != 0 {
					t.Fatalf("%s: the command acted all the same", r.name)
				}
				if n := count(t, url, audited); n != before {
					t.Fatalf("%s: %d audit lines, want %d", r.name, n, before)
				}
			}
			if out, err := kagi(t, env, append(append([]string{"staff"}, c.args...), "--by", "boss")...); err != nil {
				t.Fatalf("--by boss: %v\n%s", err, out)
			}
			if n := count(t, url, c.after); n != 1 {
				t.Fatalf("--by boss did not act")
			}
			if n := count(t, url, audited+` AND actor = 'staff:boss'`); n != 1 {
				t.Fatalf("%d audit lines by staff:boss, want 1", n)
			}
		})
	}
}

// A member disabled and enabled again is one identity: the same staff row, passkey and login
// ID before and after, in the trail as one person.
func TestStaffEnableKeepsOneIdentity(t *testing.T) {
	t.Parallel()
	url, env := staffWithSupervisors(t)
	fakeEnroll(t, url, "sato")
	id := count(t, url, `SELECT id FROM staff WHERE login_id = 'sato'`)
	if _, err := kagi(t, env, "staff", "disable", "--login-id", "sato", "--by", "boss"); err != nil {
		t.Fatal(err)
	}
	out, err := kagi(t, env, "staff", "enable", "--login-id", "sato", "--by", "boss")
	if err != nil || !strings.Contains(out, "sato enabled; their passkey logs in again") {
		t.Fatalf("enable: %v %q", err, out)
	}
	if n := count(t, url, `SELECT count(*) FROM staff WHERE login_id = 'sato' AND disabled_at IS NULL`); n != 1 {
		t.Fatalf("%d enabled rows of sato, want 1", n)
	}
	if n := count(t, url, `SELECT id FROM staff WHERE login_id = 'sato'`); n != id {
		t.Fatalf("sato's staff id went from %d to %d", id, n)
	}
	if n := count(t, url, `SELECT count(*) FROM staff_credentials WHERE staff_id = `+strconv.Itoa(id)); n != 1 {
		t.Fatalf("%d passkeys of sato after enabling, want the one from before", n)
	}
	if n := count(t, url, `SELECT count(*) FROM audit_log WHERE actor = 'staff:boss' AND detail->>'staff' = 'sato'
		AND event IN ('staff_added', 'staff_disabled', 'staff_enabled')`); n != 3 {
		t.Fatalf("%d trail lines of sato's added, disabled and enabled, want 3", n)
	}
	if out, err := kagi(t, env, "staff", "enable", "--login-id", "sato", "--by", "boss"); err != nil || !strings.Contains(out, "was not disabled") {
		t.Fatalf("enabling again: %v %q", err, out)
	}
	// Without a passkey, enabling says a code is needed.
	if _, err := kagi(t, env, "staff", "enable", "--login-id", "fresh", "--by", "boss"); err != nil {
		t.Fatal(err)
	}
}

// A role change is audited with both roles; a supervisor may be demoted by another, never by
// themselves.
func TestStaffRoleChange(t *testing.T) {
	t.Parallel()
	url, env := staffWithSupervisors(t)
	out, err := kagi(t, env, "staff", "role", "--login-id", "sato", "--role", "supervisor", "--by", "boss", "--reason", "異動 S-12")
	if err != nil || !strings.Contains(out, "sato is now supervisor (was operator)") {
		t.Fatalf("promote: %v %q", err, out)
	}
	if n := count(t, url, `SELECT count(*) FROM audit_log WHERE event = 'staff_role_changed' AND detail->>'reason' = '異動 S-12'`); n != 1 {
		t.Fatal("--reason is not in the trail")
	}
	fakeEnroll(t, url, "sato")
	if out, err := kagi(t, env, "staff", "role", "--login-id", "boss", "--role", "operator", "--by", "boss"); err == nil ||
		!strings.Contains(err.Error(), "cannot disable or demote themselves") {
		t.Fatalf("self-demotion: %v %q", err, out)
	}
	if out, err := kagi(t, env, "staff", "role", "--login-id", "boss", "--role", "operator", "--by", "sato"); err != nil {
		t.Fatalf("demote boss by sato: %v %q", err, out)
	}
	if n := count(t, url, `SELECT count(*) FROM audit_log WHERE event = 'staff_role_changed'
		AND ((actor = 'staff:boss' AND detail->>'staff' = 'sato' AND detail->>'from' = 'operator' AND detail->>'to' = 'supervisor')
		  OR (actor = 'staff:sato' AND detail->>'staff' = 'boss' AND detail->>'from' = 'supervisor' AND detail->>'to' = 'operator'))`); n != 2 {
		t.Fatalf("%d audit lines of the two role changes, want 2", n)
	}
	if out, err := kagi(t, env, "staff", "role", "--login-id", "boss", "--role", "operator", "--by", "sato"); err != nil || !strings.Contains(out, "already operator") {
		t.Fatalf("the same role again: %v %q", err, out)
	}
	if n := count(t, url, `SELECT count(*) FROM audit_log WHERE event = 'staff_role_changed'`); n != 2 {
		t.Fatalf("an unchanged role was audited: %d lines", n)
	}
	// boss, an operator now, acts no more.
	if _, err := kagi(t, env, "staff", "code", "--login-id", "opr", "--by", "boss"); err == nil || !strings.Contains(err.Error(), "an operator") {
		t.Fatalf("a demoted supervisor acted: %v", err)
	}
}
