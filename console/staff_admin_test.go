package console

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"kagi/auth"
	"kagi/staff"
)

// staffAdminEnv is a desk of two: the supervisor "boss", logged in, and the operator "suzuki",
// enrolled and logged in on their own desk.
func staffAdminEnv(t *testing.T) (e *testEnv, boss, suzuki *staffDesk) {
	e = newTestEnv(t)
	boss = e.enrolledStaff("boss", staff.RoleSupervisor)
	suzuki = e.enrolledStaff("suzuki", staff.RoleOperator)
	return e, boss, suzuki
}

// lastStaffAudit is the newest line of the staff audit trail, as "actor event".
func (e *testEnv) lastStaffAudit() string {
	e.t.Helper()
	lines := e.staffAudit()
	if len(lines) == 0 {
		e.t.Fatal("no staff audit line")
	}
	return lines[len(lines)-1]
}

// staffID is the staff row of loginID: the identity the trail names.
func (e *testEnv) staffID(loginID string) int64 {
	e.t.Helper()
	var id int64
	if err := e.pool.QueryRow(context.Background(), `SELECT id FROM staff WHERE login_id = $1`, loginID).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// expectCode checks an answer that carries a new one-time code: valid 24 hours from now, and
// stored only as its hash.
func expectCode(t *testing.T, e *testEnv, body map[string]any) string {
	t.Helper()
	code, _ := body["code"].(string)
	if code == "" {
		t.Fatalf("no code in %v", body)
	}
	want := e.clock.Now().Add(24 * time.Hour)
	if got, err := time.Parse(time.RFC3339Nano, body["expires_at"].(string)); err != nil || !got.Equal(want) {
		t.Fatalf("expires_at %v (%v), want %v", body["expires_at"], err, want)
	}
	if n := e.count(`SELECT count(*) FROM staff_enrollment_codes WHERE code_hash = $1`, auth.TokenHash(code)); n != 1 {
		t.Fatalf("the code is stored %d times by its hash, want once", n)
	}
	return code
}

func TestSupervisorManagesStaffFromTheConsole(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, e *testEnv)
		path  string
		body  any // nil for a GET
		event string
		check func(t *testing.T, e *testEnv, body map[string]any, suzuki *staffDesk)
	}{
		{
			name: "lists the staff", path: "/staff/api/staff", event: "staff_list_read",
			setup: func(t *testing.T, e *testEnv) {
				if _, err := e.staff.Add(context.Background(), staff.NewStaff{LoginID: "sato", Name: "佐藤 次郎", Role: staff.RoleOperator}, "boss", ""); err != nil {
					t.Fatal(err)
				}
				if _, err := e.staff.Disable(context.Background(), "suzuki", "boss", ""); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, e *testEnv, body map[string]any, _ *staffDesk) {
				list, _ := body["staff"].([]any)
				var got []string
				for _, m := range list {
					m := m.(map[string]any)
					got = append(got, m["login_id"].(string)+" "+m["role"].(string)+" "+
						map[bool]string{true: "enabled", false: "disabled"}[m["enabled"].(bool)]+" "+
						map[bool]string{true: "enrolled", false: "no passkey"}[m["enrolled"].(bool)])
					if m["created_at"] == nil || (m["enabled"].(bool) == (m["disabled_at"] != nil)) {
						t.Fatalf("member %v", m)
					}
					if _, ok := m["code"]; ok {
						t.Fatalf("the list shows a code: %v", m)
					}
				}
				want := []string{"boss supervisor enabled enrolled", "sato operator enabled no passkey", "suzuki operator disabled enrolled"}
				if !slices.Equal(got, want) {
					t.Fatalf("the list is %q, want %q", got, want)
				}
				if n := e.count(`SELECT count(*) FROM staff_reads`); n != 0 {
					t.Fatalf("the staff list counted against the read limit (%d rows)", n)
				}
			},
		},
		{
			name: "adds a member whose code enrolls", path: "/staff/api/staff", event: "staff_added",
			body: map[string]string{"login_id": "tanaka", "name": " 田中 花子 ", "role": "supervisor", "reason": "申請番号 S-12"},
			check: func(t *testing.T, e *testEnv, body map[string]any, _ *staffDesk) {
				code := expectCode(t, e, body)
				desk := e.staffDesk()
				status, answer := desk.enroll(code)
				expectStatus(t, "enroll with the console's code", status, answer, http.StatusOK, "")
				if st := answer["staff"].(map[string]any); st["login_id"] != "tanaka" || st["name"] != "田中 花子" || st["role"] != "supervisor" {
					t.Fatalf("enrolled as %v", st)
				}
			},
		},
		{
			name: "reissues a code that replaces the lost passkey", path: "/staff/api/staff/suzuki/code", body: map[string]any{"reason": "申請番号 S-12"}, event: "staff_code_issued",
			check: func(t *testing.T, e *testEnv, body map[string]any, _ *staffDesk) {
				code := expectCode(t, e, body)
				desk := e.staffDesk()
				status, answer := desk.enroll(code)
				expectStatus(t, "enroll a new device", status, answer, http.StatusOK, "")
				if n := e.count(`SELECT count(*) FROM staff_credentials WHERE staff_id = $1`, e.staffID("suzuki")); n != 1 {
					t.Fatalf("suzuki has %d passkeys, want the new one only", n)
				}
			},
		},
		{
			name: "disables a member, whose session ends", path: "/staff/api/staff/suzuki/disable", body: map[string]any{"reason": "申請番号 S-12"}, event: "staff_disabled",
			check: func(t *testing.T, e *testEnv, body map[string]any, suzuki *staffDesk) {
				if body["already_disabled"] != false || body["sessions_ended"] != float64(1) {
					t.Fatalf("disable answered %v", body)
				}
				status, answer := suzuki.me()
				expectStatus(t, "suzuki's desk after disabling", status, answer, http.StatusUnauthorized, "unauthorized")
			},
		},
		{
			name: "disables a member whose login ID has '.' and '@', escaped as the page does", path: "/staff/api/staff/sato.j%40desk/disable",
			body: map[string]any{"reason": "申請番号 S-12"}, event: "staff_disabled",
			setup: func(t *testing.T, e *testEnv) {
				if _, err := e.staff.Add(context.Background(), staff.NewStaff{LoginID: "sato.j@desk", Name: "佐藤 次郎", Role: staff.RoleOperator}, "boss", ""); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, e *testEnv, body map[string]any, _ *staffDesk) {
				if body["staff"].(map[string]any)["login_id"] != "sato.j@desk" || body["sessions_ended"] != float64(0) {
					t.Fatalf("disable answered %v", body)
				}
				if n := e.count(`SELECT count(*) FROM staff WHERE login_id = 'sato.j@desk' AND disabled_at IS NOT NULL`); n != 1 {
					t.Fatal("sato.j@desk is not disabled")
				}
			},
		},
		{
			name: "enables a disabled member", path: "/staff/api/staff/suzuki/enable", body: map[string]any{"reason": "申請番号 S-12"}, event: "staff_enabled",
			setup: func(t *testing.T, e *testEnv) {
				if _, err := e.staff.Disable(context.Background(), "suzuki", "boss", ""); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, e *testEnv, body map[string]any, _ *staffDesk) {
				if body["already_enabled"] != false || body["enrolled"] != true {
					t.Fatalf("enable answered %v", body)
				}
			},
		},
		{
			name: "makes an operator a supervisor", path: "/staff/api/staff/suzuki/role", body: map[string]string{"role": "supervisor", "reason": "申請番号 S-12"}, event: "staff_role_changed",
			check: func(t *testing.T, e *testEnv, body map[string]any, suzuki *staffDesk) {
				if body["from"] != "operator" || body["changed"] != true || body["staff"].(map[string]any)["role"] != "supervisor" {
					t.Fatalf("role answered %v", body)
				}
				status, answer, _ := suzuki.call("GET", "/staff/api/staff", nil)
				expectStatus(t, "suzuki lists the staff as a supervisor", status, answer, http.StatusOK, "")
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, boss, suzuki := staffAdminEnv(t)
			if c.setup != nil {
				c.setup(t, e)
			}
			method := "POST"
			if c.body == nil {
				method = "GET"
			}
			status, body, _ := boss.call(method, c.path, c.body)
			expectStatus(t, method+" "+c.path, status, body, http.StatusOK, "")
			if got, want := e.lastStaffAudit(), "staff:boss "+c.event; got != want {
				t.Fatalf("the trail's last line is %q, want %q", got, want)
			}
			if c.event != "staff_list_read" {
				if n := e.count(`SELECT count(*) FROM audit_log WHERE event = $1 AND detail->>'reason' = '申請番号 S-12'`, c.event); n != 1 {
					t.Fatalf("the reason is not in the %s line", c.event)
				}
			}
			c.check(t, e, body, suzuki)
		})
	}
}

// staffAdminCalls are every staff management route, as the page calls them.
var staffAdminCalls = []struct {
	method, path string
	body         any
}{
	{"GET", "/staff/api/staff", nil},
	{"POST", "/staff/api/staff", map[string]string{"login_id": "tanaka", "name": "田中 花子", "role": "operator", "reason": "申請番号 S-12"}},
	{"POST", "/staff/api/staff/boss/code", map[string]any{"reason": "申請番号 S-12"}},
	{"POST", "/staff/api/staff/boss/disable", map[string]any{"reason": "申請番号 S-12"}},
	{"POST", "/staff/api/staff/boss/enable", map[string]any{"reason": "申請番号 S-12"}},
	{"POST", "/staff/api/staff/boss/role", map[string]string{"role": "operator", "reason": "申請番号 S-12"}},
}

func TestOperatorCannotManageStaff(t *testing.T) {
	t.Parallel()
	e, _, suzuki := staffAdminEnv(t)
	before := e.staffAudit()
	for _, c := range staffAdminCalls {
		status, body, _ := suzuki.call(c.method, c.path, c.body)
		expectStatus(t, "an operator's "+c.method+" "+c.path, status, body, http.StatusForbidden, "forbidden")
	}
	if after := e.staffAudit(); !slices.Equal(before, after) {
		t.Fatalf("an operator's refused calls left %q in the trail", after[len(before):])
	}
	if n := e.count(`SELECT count(*) FROM staff WHERE login_id = 'tanaka' OR role <> 'supervisor' AND login_id = 'boss' OR disabled_at IS NOT NULL`); n != 0 {
		t.Fatalf("an operator's refused calls changed %d staff rows", n)
	}
	anon := e.staffDesk()
	for _, c := range staffAdminCalls {
		status, body, _ := anon.call(c.method, c.path, c.body)
		expectStatus(t, "no session's "+c.method+" "+c.path, status, body, http.StatusUnauthorized, "unauthorized")
	}
}

func TestStaffManagementRefusals(t *testing.T) {
	t.Parallel()
	e, boss, _ := staffAdminEnv(t)
	if _, err := e.staff.Add(context.Background(), staff.NewStaff{LoginID: "sato", Name: "佐藤 次郎", Role: staff.RoleOperator}, "boss", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.staff.Disable(context.Background(), "sato", "boss", ""); err != nil {
		t.Fatal(err)
	}
	long := make([]rune, 101)
	for i := range long {
		long[i] = '名'
	}
	for _, c := range []struct {
		name string
		path string
		body any
		want int
		code string
	}{
		{"self-disable", "/staff/api/staff/boss/disable", map[string]any{"reason": "申請番号 S-12"}, http.StatusConflict, "own_account"},
		{"self-demote", "/staff/api/staff/boss/role", map[string]string{"role": "operator", "reason": "申請番号 S-12"}, http.StatusConflict, "own_account"},
		{"unknown member's code", "/staff/api/staff/nobody/code", map[string]any{"reason": "申請番号 S-12"}, http.StatusNotFound, "not_found"},
		{"unknown member disabled", "/staff/api/staff/nobody/disable", map[string]any{"reason": "申請番号 S-12"}, http.StatusNotFound, "not_found"},
		{"unknown member enabled", "/staff/api/staff/nobody/enable", map[string]any{"reason": "申請番号 S-12"}, http.StatusNotFound, "not_found"},
		{"unknown member's role", "/staff/api/staff/nobody/role", map[string]string{"role": "operator", "reason": "申請番号 S-12"}, http.StatusNotFound, "not_found"},
		{"duplicate add", "/staff/api/staff", map[string]string{"login_id": "suzuki", "name": "鈴木 二郎", "role": "operator", "reason": "申請番号 S-12"}, http.StatusConflict, "staff_exists"},
		{"a disabled member's code", "/staff/api/staff/sato/code", map[string]any{"reason": "申請番号 S-12"}, http.StatusConflict, "staff_disabled"},
		{"a login ID with a space", "/staff/api/staff", map[string]string{"login_id": "ta naka", "name": "田中 花子", "role": "operator", "reason": "申請番号 S-12"}, http.StatusBadRequest, "invalid_request"},
		{"a short login ID", "/staff/api/staff", map[string]string{"login_id": "ta", "name": "田中 花子", "role": "operator", "reason": "申請番号 S-12"}, http.StatusBadRequest, "invalid_request"},
		{"no name", "/staff/api/staff", map[string]string{"login_id": "tanaka", "name": "  ", "role": "operator", "reason": "申請番号 S-12"}, http.StatusBadRequest, "invalid_request"},
		{"a name over 100 characters", "/staff/api/staff", map[string]string{"login_id": "tanaka", "name": string(long), "role": "operator", "reason": "申請番号 S-12"}, http.StatusBadRequest, "invalid_request"},
		{"no role", "/staff/api/staff", map[string]string{"login_id": "tanaka", "name": "田中 花子", "reason": "申請番号 S-12"}, http.StatusBadRequest, "invalid_request"},
		{"an unknown role", "/staff/api/staff/suzuki/role", map[string]string{"role": "admin", "reason": "申請番号 S-12"}, http.StatusBadRequest, "invalid_request"},
		{"a body that is no object", "/staff/api/staff", []string{"tanaka"}, http.StatusBadRequest, "invalid_request"},
		{"an add without a reason", "/staff/api/staff", map[string]string{"login_id": "tanaka", "name": "田中 花子", "role": "operator"}, http.StatusBadRequest, "reason_required"},
		{"a disable with a blank reason", "/staff/api/staff/suzuki/disable", map[string]any{"reason": "  "}, http.StatusBadRequest, "reason_required"},
		{"a new code without a reason", "/staff/api/staff/suzuki/code", map[string]any{}, http.StatusBadRequest, "reason_required"},
		{"a role change without a reason", "/staff/api/staff/suzuki/role", map[string]string{"role": "supervisor"}, http.StatusBadRequest, "reason_required"},
		{"a disable with a NUL in the reason", "/staff/api/staff/suzuki/disable", map[string]any{"reason": "退職\x00"}, http.StatusBadRequest, "invalid_request"},
		{"a name with an escape sequence", "/staff/api/staff", map[string]string{"login_id": "tanaka", "name": "\x1b[31m田中 花子", "role": "operator", "reason": "申請番号 S-12"}, http.StatusBadRequest, "invalid_request"},
		{"a name with a NUL", "/staff/api/staff", map[string]string{"login_id": "tanaka", "name": "田中\x00花子", "role": "operator", "reason": "申請番号 S-12"}, http.StatusBadRequest, "invalid_request"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.staffAudit()
			staffBefore := e.count(`SELECT count(*) FROM staff`)
			status, body, _ := boss.call("POST", c.path, c.body)
			expectStatus(t, c.path, status, body, c.want, c.code)
			if m, _ := body["message"].(string); m == "" {
				t.Fatalf("no message in %v", body)
			}
			if after := e.staffAudit(); !slices.Equal(before, after) {
				t.Fatalf("a refusal left %q in the trail", after[len(before):])
			}
			if n := e.count(`SELECT count(*) FROM staff`); n != staffBefore {
				t.Fatalf("a refusal changed the staff: %d members, were %d", n, staffBefore)
			}
		})
	}
	if n := e.count(`SELECT count(*) FROM staff WHERE login_id = 'boss' AND role = 'supervisor' AND disabled_at IS NULL`); n != 1 {
		t.Fatal("the refusals changed the supervisor")
	}
	if n := e.count(`SELECT count(*) FROM staff WHERE login_id = 'suzuki' AND role = 'operator'`); n != 1 {
		t.Fatal("the refused role changed suzuki")
	}
	status, body, _ := boss.call("POST", "/staff/api/staff/boss/disable", map[string]any{"reason": "申請番号 S-12"})
	if body["message"] != msgOwnAccount || status != http.StatusConflict {
		t.Fatalf("self-disable: %d %v", status, body)
	}
}

func TestReenabledStaffLogsInAsTheSameIdentity(t *testing.T) {
	t.Parallel()
	e, boss, suzuki := staffAdminEnv(t)
	id := e.staffID("suzuki")
	status, body, _ := boss.call("POST", "/staff/api/staff/suzuki/disable", map[string]any{"reason": "申請番号 S-12"})
	expectStatus(t, "disable", status, body, http.StatusOK, "")
	status, body = suzuki.login()
	expectStatus(t, "login while disabled", status, body, http.StatusUnauthorized, "passkey_failed")
	status, body, _ = boss.call("POST", "/staff/api/staff/suzuki/enable", map[string]any{"reason": "申請番号 S-12"})
	expectStatus(t, "enable", status, body, http.StatusOK, "")
	status, body = suzuki.login()
	expectStatus(t, "login after enabling", status, body, http.StatusOK, "")
	status, body = suzuki.me()
	expectStatus(t, "me after enabling", status, body, http.StatusOK, "")
	if body["login_id"] != "suzuki" || body["role"] != "operator" || e.staffID("suzuki") != id {
		t.Fatalf("after enabling suzuki is %v, staff row %d (was %d)", body, e.staffID("suzuki"), id)
	}
	var trail []string
	for _, l := range e.staffAudit() {
		if l == "staff:suzuki staff_login" || l == "staff:boss staff_disabled" || l == "staff:boss staff_enabled" ||
			l == "staff:suzuki staff_login_failed" {
			trail = append(trail, l)
		}
	}
	want := []string{"staff:boss staff_disabled", "staff:suzuki staff_login_failed", "staff:boss staff_enabled", "staff:suzuki staff_login"}
	if !slices.Equal(trail, want) {
		t.Fatalf("the trail reads %q, want %q: one identity before and after", trail, want)
	}
}

func TestOnlyASupervisorsPageShowsTheStaffManagement(t *testing.T) {
	t.Parallel()
	e, boss, suzuki := staffAdminEnv(t)
	for _, c := range []struct {
		who  string
		desk *staffDesk
		want bool
	}{{"supervisor", boss, true}, {"operator", suzuki, false}} {
		res, err := c.desk.c.Get(e.console.URL + "/staff/")
		if err != nil {
			t.Fatal(err)
		}
		page, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(page), `id="staff-admin"`); res.StatusCode != http.StatusOK || got != c.want {
			t.Fatalf("%s's page: %d, staff management shown %v, want %v", c.who, res.StatusCode, got, c.want)
		}
	}
}
