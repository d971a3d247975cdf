package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"kagi/auth"
	"kagi/auth/authtest"
	"kagi/pgdb"
	"kagi/staff"
	"kagi/web"
	"kagi/web/webtest"
)

// aaguidWindowsHello is the AAGUID of Windows Hello's hardware authenticator.
const aaguidWindowsHello = "08987058-cadc-4b81-b6e1-30de50dcbe96"

// staffDesk is a staff member's desktop browser: a cookie jar, and a platform authenticator
// (authtest's virtual one, on a Windows PC: staff need no smartphone) whose create() and get()
// the console's pages would call. The requests are the pages' own, same-origin. The
// authenticator is device-bound, as Windows Hello is (§6): staff passkeys never sync.
type staffDesk struct {
	e   *testEnv
	c   *http.Client
	key *authtest.Phone
}

func (e *testEnv) staffDesk(edit ...func(*authtest.Config)) *staffDesk {
	cfg := authtest.Config{BaseURL: e.console.URL, Origin: consoleOrigin, RPID: consoleRPID, UserAgent: authtest.UAWindows,
		AAGUID: aaguidWindowsHello, DeviceBound: true}
	for _, f := range edit {
		f(&cfg)
	}
	return &staffDesk{e: e, c: e.browser(), key: authtest.NewPhone(cfg)}
}

// call sends a request as the console's pages do and returns the status and decoded answer.
func (d *staffDesk) call(method, path string, body any) (int, map[string]any, []byte) {
	d.e.t.Helper()
	return d.e.doConsole(d.c, method, path, body, "Sec-Fetch-Site", "same-origin", "User-Agent", authtest.UAWindows)
}

// enroll runs the enrollment page with code: begin, the authenticator's create(), finish. It
// returns the status and answer of the step that refused, or of the finish.
func (d *staffDesk) enroll(code string) (int, map[string]any) {
	d.e.t.Helper()
	return d.enrollAttested(code, nil)
}

// enrollAttested is enroll with the authenticator's attestation rewritten by attest (nil: as
// the virtual authenticator makes it, self-attested), as another authenticator would make it.
func (d *staffDesk) enrollAttested(code string, attest func(json.RawMessage) json.RawMessage) (int, map[string]any) {
	d.e.t.Helper()
	status, body, raw := d.call("POST", "/staff/api/enroll/begin", map[string]string{"code": code})
	if status != http.StatusOK {
		return status, body
	}
	cred, err := d.key.Create(raw)
	if err != nil {
		d.e.t.Fatal(err)
	}
	if attest != nil {
		cred = attest(cred)
	}
	status, body, _ = d.call("POST", "/staff/api/enroll/finish", map[string]any{"code": code, "credential": cred})
	return status, body
}

// login runs the login page: begin, get(), finish.
func (d *staffDesk) login() (int, map[string]any) {
	d.e.t.Helper()
	status, body, raw := d.call("POST", "/staff/api/login/begin", map[string]any{})
	if status != http.StatusOK {
		return status, body
	}
	assertion, err := d.key.Get(raw)
	if err != nil {
		d.e.t.Fatal(err)
	}
	status, body, _ = d.call("POST", "/staff/api/login/finish", json.RawMessage(assertion))
	return status, body
}

func (d *staffDesk) me() (int, map[string]any) {
	d.e.t.Helper()
	status, body, _ := d.call("GET", "/staff/api/me", nil)
	return status, body
}

// staffCookie is the desk's staff session token, "" without one.
func (d *staffDesk) staffCookie() string {
	u, _ := url.Parse(d.e.console.URL)
	for _, c := range d.c.Jar.Cookies(u) {
		if c.Name == StaffCookie {
			return c.Value
		}
	}
	return ""
}

// addStaff adds a staff member as `kagi staff add` does and returns the enrollment code: by the
// first enrolled supervisor, or as the bootstrap when there is none.
func (e *testEnv) addStaff(loginID string, role staff.Role) string {
	e.t.Helper()
	ctx := context.Background()
	var by string
	err := e.pool.QueryRow(ctx, `
		SELECT coalesce(min(login_id), '') FROM staff s
		WHERE role = 'supervisor' AND disabled_at IS NULL AND EXISTS (SELECT 1 FROM staff_credentials c WHERE c.staff_id = s.id)`).Scan(&by)
	if err != nil {
		e.t.Fatal(err)
	}
	en, err := e.staff.Add(ctx, staff.NewStaff{LoginID: loginID, Name: "鈴木 一郎", Role: role}, by, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return en.Code
}

// enrolledStaff adds a staff member and enrolls their passkey on a desk, logged in.
func (e *testEnv) enrolledStaff(loginID string, role staff.Role) *staffDesk {
	e.t.Helper()
	d := e.staffDesk()
	if status, body := d.enroll(e.addStaff(loginID, role)); status != http.StatusOK {
		e.t.Fatalf("enroll %s: %d %v", loginID, status, body)
	}
	return d
}

// staffAudit lists the staff audit trail oldest first as "actor event".
func (e *testEnv) staffAudit() []string {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT actor || ' ' || event FROM audit_log WHERE event LIKE 'staff%' ORDER BY id`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func expectStatus(t *testing.T, what string, status int, body map[string]any, want int, code string) {
	t.Helper()
	if status != want || (code != "" && body["error"] != code) {
		t.Fatalf("%s: %d %v, want %d %s", what, status, body, want, code)
	}
}

func TestStaffEnrollsAndLogsInWithTheirPasskey(t *testing.T) {
	t.Parallel()
	var logs webtest.LogBuffer
	e := newTestEnv(t, func(c *setup) {
		c.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	code := e.addStaff("suzuki", staff.RoleOperator)
	if n := e.count(`SELECT count(*) FROM staff_enrollment_codes WHERE code_hash = $1 AND expires_at = $2`,
		auth.TokenHash(code), e.clock.Now().Add(24*time.Hour)); n != 1 {
		t.Fatalf("%d codes stored as the hash, valid 24 h; want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM staff_enrollment_codes WHERE position(convert_to($1, 'UTF8') IN code_hash) > 0`, code); n != 0 {
		t.Fatal("the code is stored in the clear")
	}

	desk := e.staffDesk()
	// A code is forgiven the way a person copies it: lower case, with a hyphen.
	status, body := desk.enroll(strings.ToLower(code[:8]) + "-" + code[8:])
	expectStatus(t, "enroll", status, body, http.StatusOK, "")
	if staff, _ := body["staff"].(map[string]any); staff["login_id"] != "suzuki" || staff["role"] != "operator" {
		t.Fatalf("enroll answered %v", body)
	}
	status, body = desk.me()
	expectStatus(t, "me after enrolling", status, body, http.StatusOK, "")
	if body["login_id"] != "suzuki" || body["name"] != "鈴木 一郎" || body["role"] != "operator" {
		t.Fatalf("me = %v", body)
	}
	token := desk.staffCookie()
	if token == "" {
		t.Fatalf("no %s cookie after enrolling", StaffCookie)
	}
	for _, c := range []struct {
		sql  string
		want int
	}{
		{`SELECT count(*) FROM staff_enrollment_codes`, 0},
		{`SELECT count(*) FROM staff_credentials c JOIN staff s ON s.id = c.staff_id WHERE s.login_id = 'suzuki' AND NOT c.backup_eligible`, 1},
		{`SELECT count(*) FROM staff_sessions WHERE token_hash = sha256(convert_to('` + token + `', 'UTF8'))`, 1},
		// Nothing of the staff member's lands in the customers' tables.
		{`SELECT count(*) FROM sessions`, 0},
		{`SELECT count(*) FROM webauthn_ceremonies`, 0},
		{`SELECT count(*) FROM passkeys`, 0},
	} {
		if n := e.count(c.sql); n != c.want {
			t.Errorf("%s = %d, want %d", c.sql, n, c.want)
		}
	}

	status, body, _ = desk.call("POST", "/staff/api/logout", nil)
	expectStatus(t, "logout", status, body, http.StatusOK, "")
	status, body = desk.me()
	expectStatus(t, "me after logout", status, body, http.StatusUnauthorized, "unauthorized")
	if n := e.count(`SELECT count(*) FROM staff_sessions`); n != 0 {
		t.Fatalf("%d staff sessions after logout", n)
	}

	// The same PC's passkey in a fresh browser, with no cookie: a discoverable login.
	other := &staffDesk{e: e, c: e.browser(), key: desk.key}
	status, body = other.login()
	expectStatus(t, "login", status, body, http.StatusOK, "")
	status, body = other.me()
	expectStatus(t, "me after login", status, body, http.StatusOK, "")
	if n := e.count(`SELECT count(*) FROM staff_credentials WHERE last_used_at = $1`, e.clock.Now()); n != 1 {
		t.Fatal("the login did not record the passkey's use")
	}

	want := []string{"cli staff_added", "staff:suzuki staff_enrolled", "staff:suzuki staff_logout", "staff:suzuki staff_login"}
	if got := e.staffAudit(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("audit %v, want %v", got, want)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE event LIKE 'staff%' AND account_id IS NOT NULL`); n != 0 {
		t.Fatalf("%d staff audit lines name a customer account", n)
	}
	for _, secret := range []string{code, strings.ToLower(code[:8]), token, other.staffCookie()} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("the log shows a code or session token:\n%s", logs.String())
		}
	}
}

func TestStaffEnrollmentCodeIsSingleUse(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	code := e.addStaff("suzuki", staff.RoleOperator)
	first, second := e.staffDesk(), e.staffDesk()
	// Both begin before either finishes: the code is used up by the first finish, not by a
	// begin, and the second finish finds it gone.
	_, _, raw1 := first.call("POST", "/staff/api/enroll/begin", map[string]string{"code": code})
	status, body, raw2 := second.call("POST", "/staff/api/enroll/begin", map[string]string{"code": code})
	expectStatus(t, "second begin", status, body, http.StatusOK, "")
	for i, c := range []struct {
		desk *staffDesk
		raw  []byte
		want int
		code string
	}{{first, raw1, http.StatusOK, ""}, {second, raw2, http.StatusUnauthorized, "invalid_code"}} {
		cred, err := c.desk.key.Create(c.raw)
		if err != nil {
			t.Fatal(err)
		}
		status, body, _ := c.desk.call("POST", "/staff/api/enroll/finish", map[string]any{"code": code, "credential": cred})
		expectStatus(t, []string{"first finish", "second finish"}[i], status, body, c.want, c.code)
	}
	status, body = e.staffDesk().enroll(code)
	expectStatus(t, "a used code", status, body, http.StatusUnauthorized, "invalid_code")
	if n := e.count(`SELECT count(*) FROM staff_credentials`); n != 1 {
		t.Fatalf("%d staff passkeys, want the first desk's only", n)
	}
	if _, body := second.me(); body["error"] != "unauthorized" {
		t.Fatalf("the refused desk has a staff session: %v", body)
	}
	status, body = e.staffDesk().enroll("NOT-A-CODE-AT-ALL")
	expectStatus(t, "a wrong code", status, body, http.StatusUnauthorized, "invalid_code")
}

func TestStaffEnrollmentCodeExpiresAfter24Hours(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	late := e.addStaff("suzuki", staff.RoleOperator)
	expired := e.addStaff("tanaka", staff.RoleOperator)
	e.clock.Advance(24*time.Hour - time.Minute)
	desk := e.staffDesk()
	status, body, raw := desk.call("POST", "/staff/api/enroll/begin", map[string]string{"code": late})
	expectStatus(t, "begin a minute before the end", status, body, http.StatusOK, "")
	e.clock.Advance(2 * time.Minute)
	cred, err := desk.key.Create(raw)
	if err != nil {
		t.Fatal(err)
	}
	status, body, _ = desk.call("POST", "/staff/api/enroll/finish", map[string]any{"code": late, "credential": cred})
	expectStatus(t, "finish a minute after the end", status, body, http.StatusUnauthorized, "invalid_code")
	status, body = e.staffDesk().enroll(expired)
	expectStatus(t, "begin after the end", status, body, http.StatusUnauthorized, "invalid_code")
	if n := e.count(`SELECT count(*) FROM staff_credentials`) + e.count(`SELECT count(*) FROM staff_sessions`); n != 0 {
		t.Fatalf("an expired code enrolled a passkey or made a session (%d rows)", n)
	}
}

// A passkey without user verification (a security key with no PIN) is refused, as customers'
// are, and the refusal does not use the code up.
func TestStaffEnrollmentRequiresUserVerification(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	code := e.addStaff("suzuki", staff.RoleOperator)
	status, body := e.staffDesk(func(c *authtest.Config) { c.UserNotVerified = true }).enroll(code)
	expectStatus(t, "enroll without user verification", status, body, http.StatusBadRequest, "passkey_failed")
	status, body = e.staffDesk().enroll(code)
	expectStatus(t, "enroll again with the same code", status, body, http.StatusOK, "")
	var opts struct {
		PublicKey struct {
			AuthenticatorSelection struct {
				ResidentKey      string `json:"residentKey"`
				UserVerification string `json:"userVerification"`
			} `json:"authenticatorSelection"`
		} `json:"publicKey"`
	}
	_, _, raw := e.staffDesk().call("POST", "/staff/api/enroll/begin", map[string]string{"code": e.addStaff("tanaka", staff.RoleOperator)})
	if err := json.Unmarshal(raw, &opts); err != nil {
		t.Fatal(err)
	}
	if sel := opts.PublicKey.AuthenticatorSelection; sel.ResidentKey != "required" || sel.UserVerification != "required" {
		t.Fatalf("creation options ask %+v, want a resident key and user verification required", sel)
	}
}

// A synced passkey (backup eligible: kept in a personal cloud account) is refused with
// device_bound_required; nothing is stored and the code stays usable for a device-bound one.
func TestStaffEnrollmentRefusesSyncedPasskeys(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	code := e.addStaff("suzuki", staff.RoleOperator)
	// Google Password Manager's passkey, as the staff member's personal Google account keeps it.
	d := e.staffDesk(func(c *authtest.Config) { c.DeviceBound = false; c.AAGUID = authtest.AAGUIDGooglePasswordManager })
	status, body := d.enroll(code)
	expectStatus(t, "enroll a synced passkey", status, body, http.StatusBadRequest, "device_bound_required")
	if msg, _ := body["message"].(string); !strings.Contains(msg, "Windows Hello") {
		t.Fatalf("message %q names no device-bound alternative", msg)
	}
	if _, body := d.me(); body["error"] != "unauthorized" {
		t.Fatalf("the refused desk has a staff session: %v", body)
	}
	if n := e.count(`SELECT count(*) FROM staff_credentials`) + e.count(`SELECT count(*) FROM staff_sessions`); n != 0 {
		t.Fatalf("a synced passkey was stored or made a session (%d rows)", n)
	}
	if got := e.staffAudit(); strings.Join(got, ",") != "cli staff_added" {
		t.Fatalf("audit %v, want the addition only", got)
	}
	status, body = e.staffDesk().enroll(code)
	expectStatus(t, "a device-bound passkey with the same code", status, body, http.StatusOK, "")
}

func TestStaffRoutesNeedAStaffSession(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	staff := e.enrolledStaff("suzuki", staff.RoleSupervisor)
	e.addAccount("taro", "1234567")
	customer := e.browser()
	if status, body := e.passwordLogin(customer, "taro"); status != http.StatusOK {
		t.Fatalf("customer login: %d %v", status, body)
	}
	u, _ := url.Parse(e.srv.URL)
	var customerToken string
	for _, c := range customer.Jar.Cookies(u) {
		if c.Name == "kagi_session" {
			customerToken = c.Value
		}
	}
	if customerToken == "" {
		t.Fatal("the customer has no session cookie")
	}
	// The customer's token under the staff cookie's name is no staff session either.
	forged := e.browser()
	cu, _ := url.Parse(e.console.URL)
	forged.Jar.SetCookies(cu, []*http.Cookie{{Name: StaffCookie, Value: customerToken}})

	for _, c := range []struct {
		name   string
		client *http.Client
	}{{"no session", e.browser()}, {"a customer's session", customer}, {"a customer's token as the staff cookie", forged}} {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range []struct{ method, path string }{{"GET", "/staff/api/me"}, {"POST", "/staff/api/logout"}} {
				status, body, _ := e.doConsole(c.client, r.method, r.path, nil, "Sec-Fetch-Site", "same-origin")
				expectStatus(t, r.method+" "+r.path, status, body, http.StatusUnauthorized, "unauthorized")
			}
		})
	}
	// And the other way round: a staff session is no customer's.
	if status, _, _ := e.do(staff.c, "GET", "/api/v1/session", nil); status != http.StatusUnauthorized {
		t.Fatalf("a staff session reads a customer session: %d", status)
	}
	if status, _ := staff.me(); status != http.StatusOK {
		t.Fatalf("the staff member's own session: %d", status)
	}
}

func TestStaffRoutesRefuseCrossSiteRequests(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	staff := e.enrolledStaff("suzuki", staff.RoleOperator)
	for _, path := range []string{"/staff/api/login/begin", "/staff/api/logout", "/staff/api/enroll/begin"} {
		status, body, _ := e.doConsole(staff.c, "POST", path, map[string]any{}, "Sec-Fetch-Site", "cross-site")
		expectStatus(t, path+" from another site", status, body, http.StatusForbidden, "cross_origin")
	}
	if status, _ := staff.me(); status != http.StatusOK {
		t.Fatal("a refused cross-site logout ended the session")
	}
}

func TestStaffSessionEndsAfter30IdleMinutesOr8Hours(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	idle := e.enrolledStaff("suzuki", staff.RoleOperator)
	busy := &staffDesk{e: e, c: e.browser(), key: idle.key}
	if status, body := busy.login(); status != http.StatusOK {
		t.Fatalf("login: %d %v", status, body)
	}
	expectOK := func(what string, d *staffDesk) {
		t.Helper()
		status, body := d.me()
		expectStatus(t, what, status, body, http.StatusOK, "")
	}
	// Both use the console at 20 and 49 minutes; then only busy does, every 10 or 20 minutes.
	e.clock.Advance(20 * time.Minute)
	expectOK("busy at 20m", busy)
	expectOK("idle at 20m", idle)
	e.clock.Advance(29 * time.Minute)
	expectOK("busy at 49m", busy)
	expectOK("idle after 29 minutes without a request", idle)
	e.clock.Advance(20 * time.Minute)
	expectOK("busy at 69m", busy)
	e.clock.Advance(10 * time.Minute)
	status, body := idle.me()
	expectStatus(t, "idle after 30 minutes without a request", status, body, http.StatusUnauthorized, "unauthorized")
	expectOK("busy at 79m", busy)
	elapsed := 79 * time.Minute
	for ; elapsed+20*time.Minute < 8*time.Hour; elapsed += 20 * time.Minute {
		e.clock.Advance(20 * time.Minute)
		expectOK("busy at "+(elapsed+20*time.Minute).String(), busy)
	}
	e.clock.Advance(8*time.Hour - elapsed)
	status, body = busy.me()
	expectStatus(t, "busy 8 hours after logging in", status, body, http.StatusUnauthorized, "unauthorized")
}

func TestDisablingStaffEndsTheirSessionsAtOnce(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.enrolledStaff("boss", staff.RoleSupervisor)
	first := e.enrolledStaff("suzuki", staff.RoleSupervisor)
	second := &staffDesk{e: e, c: e.browser(), key: first.key}
	if status, body := second.login(); status != http.StatusOK {
		t.Fatalf("login: %d %v", status, body)
	}
	colleague := e.enrolledStaff("tanaka", staff.RoleOperator)
	pending := e.addStaff("sato", staff.RoleOperator)

	ctx := context.Background()
	res, err := e.staff.Disable(ctx, "suzuki", "boss", "")
	if err != nil || res.SessionsEnded != 2 || res.AlreadyDisabled {
		t.Fatalf("disable: %+v, %v; want 2 sessions ended", res, err)
	}
	for i, d := range []*staffDesk{first, second} {
		status, body := d.me()
		expectStatus(t, []string{"first desk", "second desk"}[i]+" after disabling", status, body, http.StatusUnauthorized, "unauthorized")
	}
	status, body := (&staffDesk{e: e, c: e.browser(), key: first.key}).login()
	expectStatus(t, "login after disabling", status, body, http.StatusUnauthorized, "passkey_failed")
	if status, _ := colleague.me(); status != http.StatusOK {
		t.Fatal("disabling one staff member ended another's session")
	}

	if _, err := e.staff.Disable(ctx, "sato", "boss", ""); err != nil {
		t.Fatal(err)
	}
	status, body = e.staffDesk().enroll(pending)
	expectStatus(t, "a disabled staff member's code", status, body, http.StatusUnauthorized, "invalid_code")

	if res, err := e.staff.Disable(ctx, "suzuki", "boss", ""); err != nil || !res.AlreadyDisabled {
		t.Fatalf("disabling again: %+v, %v; want already disabled", res, err)
	}
	if _, err := e.staff.Disable(ctx, "nobody", "boss", ""); !errors.Is(err, staff.ErrUnknown) {
		t.Fatalf("disabling an unknown login ID: %v", err)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE actor = 'staff:boss' AND event = 'staff_disabled'
		AND detail->>'staff' = 'suzuki' AND detail->>'sessions_ended' = '2'`); n != 1 {
		t.Fatalf("%d audit lines of the disabling, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE actor = 'staff:suzuki' AND event = 'staff_login_failed'
		AND detail->>'reason' = 'disabled'`); n != 1 {
		t.Fatalf("%d audit lines of the refused login, want 1", n)
	}
}

func TestStaffRoleCheck(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	h := func(role staff.Role) http.Handler {
		return web.Browser(web.Handle(e.log, e.consoleSvc.withStaff(role, func(w http.ResponseWriter, r *http.Request, st staff.Staff) error {
			return web.JSON(w, http.StatusOK, map[string]any{"by": st.LoginID})
		})))
	}
	e.consoleMux.Handle("GET /staff/api/test/supervisor", h(staff.RoleSupervisor))
	e.consoleMux.Handle("GET /staff/api/test/operator", h(staff.RoleOperator))
	operator := e.enrolledStaff("suzuki", staff.RoleOperator)
	supervisor := e.enrolledStaff("tanaka", staff.RoleSupervisor)
	for _, c := range []struct {
		name string
		desk *staffDesk
		path string
		want int
		code string
	}{
		{"operator on a supervisor route", operator, "/staff/api/test/supervisor", http.StatusForbidden, "forbidden"},
		{"operator on an operator route", operator, "/staff/api/test/operator", http.StatusOK, ""},
		{"supervisor on a supervisor route", supervisor, "/staff/api/test/supervisor", http.StatusOK, ""},
		{"supervisor on an operator route", supervisor, "/staff/api/test/operator", http.StatusOK, ""},
		{"nobody on an operator route", e.staffDesk(), "/staff/api/test/operator", http.StatusUnauthorized, "unauthorized"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body, _ := c.desk.call("GET", c.path, nil)
			expectStatus(t, c.path, status, body, c.want, c.code)
		})
	}
}

func TestStaffPages(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	noRedirect := func(c *http.Client) *http.Client {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return c
	}
	get := func(c *http.Client, path string) *http.Response {
		t.Helper()
		res, err := c.Get(e.console.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}
	body := func(res *http.Response) string {
		t.Helper()
		var b bytes.Buffer
		if _, err := b.ReadFrom(res.Body); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}

	anon := noRedirect(e.browser())
	if res := get(anon, "/staff/"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/staff/login" {
		t.Fatalf("home without a session: %d → %q, want the login page", res.StatusCode, res.Header.Get("Location"))
	}
	for _, c := range []struct{ path, want string }{
		{"/staff/login", `id="staff-login"`},
		{"/staff/enroll", `id="enroll-form"`},
	} {
		res := get(anon, c.path)
		page := body(res)
		if res.StatusCode != http.StatusOK || !strings.Contains(page, c.want) || !strings.Contains(page, `lang="ja"`) {
			t.Fatalf("%s: %d\n%s", c.path, res.StatusCode, page)
		}
		if !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") || strings.Contains(page, "<script>") {
			t.Fatalf("%s: its script must come from a file under the CSP", c.path)
		}
		script, _ := staffAssets.URL("staff.js")
		if !strings.Contains(page, `src="`+script+`"`) {
			t.Fatalf("%s does not load %s", c.path, script)
		}
		js := get(anon, script)
		if js.StatusCode != http.StatusOK || !strings.HasPrefix(js.Header.Get("Content-Type"), "text/javascript") ||
			!strings.Contains(js.Header.Get("Cache-Control"), "immutable") || !strings.Contains(body(js), "/staff/api/login/begin") {
			t.Fatalf("%s: %d %s", script, js.StatusCode, js.Header.Get("Content-Type"))
		}
	}

	desk := e.enrolledStaff("suzuki", staff.RoleSupervisor)
	noRedirect(desk.c)
	res := get(desk.c, "/staff/")
	if page := body(res); res.StatusCode != http.StatusOK || !strings.Contains(page, "鈴木 一郎 さん(suzuki、スーパーバイザー)") ||
		!strings.Contains(page, `id="staff-logout"`) {
		t.Fatalf("home: %d\n%s", res.StatusCode, page)
	}
	if res := get(desk.c, "/staff/login"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/staff/" {
		t.Fatalf("login page with a session: %d → %q, want home", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestStaffCookieIsHostPrefixedOnHTTPS(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		secure bool
		want   []string
	}{
		{true, []string{"__Host-kagi_staff=tok", "Path=/", "HttpOnly", "Secure", "SameSite=Strict"}},
		{false, []string{"kagi_staff=tok", "Path=/", "HttpOnly", "SameSite=Strict"}},
	} {
		s := &Service{secure: c.secure}
		w := httptest.NewRecorder()
		s.setStaffCookie(w, staff.Login{Token: "tok", ExpiresAt: testStart.Add(8 * time.Hour)})
		got := w.Header().Get("Set-Cookie")
		for _, want := range c.want {
			if !strings.Contains(got, want) {
				t.Errorf("secure=%v: Set-Cookie %q lacks %q", c.secure, got, want)
			}
		}
		if !c.secure && strings.Contains(got, "Secure") {
			t.Errorf("Set-Cookie %q is Secure over plain http", got)
		}
	}
}

func TestExpiryPurgesStaffRowsPastTheirEnd(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	desk := e.enrolledStaff("suzuki", staff.RoleOperator)      // a session
	if status, body := desk.login(); status != http.StatusOK { // a used login challenge, and a second session
		t.Fatalf("login: %d %v", status, body)
	}
	e.staffDesk().call("POST", "/staff/api/enroll/begin", map[string]string{"code": e.addStaff("tanaka", staff.RoleOperator)}) // an unused code, an unfinished enrollment
	e.clock.Advance(24 * time.Hour)
	later := e.staffDesk()
	later.call("POST", "/staff/api/enroll/begin", map[string]string{"code": e.addStaff("sato", staff.RoleOperator)}) // live: a new code and enrollment
	later.key = desk.key
	if status, body := later.login(); status != http.StatusOK { // live: a new session, a used challenge
		t.Fatalf("login: %d %v", status, body)
	}

	res := e.runExpiry()
	for name, want := range map[string]int64{"staff_sessions": 2, "staff_ceremonies": 1, "staff_enrollment_codes": 1, "used_challenges": 1} {
		if res.Purged[name] != want {
			t.Errorf("purged %d rows of %s, want the %d past their end (%v)", res.Purged[name], name, want, res.Purged)
		}
	}
	for _, table := range []string{"staff_sessions", "staff_ceremonies", "staff_enrollment_codes", "used_challenges"} {
		if n := e.count(`SELECT count(*) FROM ` + table); n != 1 {
			t.Errorf("%d rows left in %s, want the live one", n, table)
		}
	}
	if status, _ := later.me(); status != http.StatusOK {
		t.Fatal("the purge ended a live staff session")
	}
}

// A staff passkey offered on the customers' login page (they share the relying party) is
// refused there, but never as an unknown credential: the page would have the password manager
// forget it, locking the staff member out of the console.
func TestStaffPasskeyOnTheCustomerLoginIsNotForgotten(t *testing.T) {
	t.Parallel()
	// In --dev both relying parties are localhost, the console and the customers' site differing
	// only in their port: the browser offers a staff passkey on the customers' login page too.
	const devConsole = "https://kagi.test:8081"
	e := newTestEnv(t, func(c *setup) {
		c.Staff.WebAuthn = &webauthn.Config{RPID: testRPID, RPDisplayName: "kagi", RPOrigins: []string{devConsole}}
	})
	desk := e.staffDesk(func(c *authtest.Config) { c.RPID, c.Origin = testRPID, devConsole })
	if status, body := desk.enroll(e.addStaff("sato", staff.RoleOperator)); status != http.StatusOK {
		t.Fatalf("enroll: %d %v", status, body)
	}
	onCustomerPage := desk.key.Sync(func(c *authtest.Config) { c.BaseURL, c.Origin = e.srv.URL, testOrigin })
	_, err := onCustomerPage.Login(context.Background(), e.browser(), "")
	var apiErr *authtest.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Fatalf("a staff passkey on the customer login: %v, want a 401 refusal", err)
	}
	if apiErr.Body["credential_unknown"] != nil {
		t.Errorf("refusal %v marks the staff passkey unknown: the page would have it forgotten", apiErr.Body)
	}
}

// The console is its own relying party (§6): staff passkeys are made for its RP ID, so the
// customers' login never asks for one, and a staff ceremony signed on the customers' origin or
// for the customers' RP ID is refused.
func TestStaffPasskeysBelongToTheConsolesRelyingParty(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	desk := e.enrolledStaff("sato", staff.RoleOperator)
	if _, err := desk.key.Sync(func(c *authtest.Config) { c.BaseURL, c.Origin, c.RPID = e.srv.URL, testOrigin, testRPID }).
		Login(context.Background(), e.browser(), ""); !errors.Is(err, authtest.ErrNoPasskey) {
		t.Fatalf("the customers' login with only a staff passkey: %v, want none offered", err)
	}
	for _, c := range []struct {
		name, staff string
		edit        func(*authtest.Config)
	}{
		{"on the customers' origin", "kato", func(c *authtest.Config) { c.Origin = testOrigin }},
		{"for the customers' RP ID", "ito", func(c *authtest.Config) { c.AuthenticatorRPID = testRPID }},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := e.staffDesk(c.edit).enroll(e.addStaff(c.staff, staff.RoleOperator))
			expectStatus(t, "enrollment "+c.name, status, body, http.StatusBadRequest, "passkey_failed")
			status, body = (&staffDesk{e: e, c: e.browser(), key: desk.key.Sync(c.edit)}).login()
			expectStatus(t, "login "+c.name, status, body, http.StatusUnauthorized, "passkey_failed")
		})
	}
	if status, body := desk.login(); status != http.StatusOK {
		t.Fatalf("the staff member's own login on the console: %d %v", status, body)
	}
}

// The customers' site serves no console: /staff/ is on the console's listener alone.
func TestPublicRoutesServeNoConsole(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	for _, path := range []string{"/staff/", "/staff/login", "/staff/enroll", "/staff/api/me", "/staff/static/staff.js"} {
		if status, _, _ := e.do(e.browser(), "GET", path, nil); status != http.StatusNotFound {
			t.Errorf("GET %s on the public routes: %d, want 404", path, status)
		}
		if status, _, _ := e.doConsole(e.browser(), "GET", path, nil); status == http.StatusNotFound {
			t.Errorf("GET %s on the console: 404", path)
		}
	}
	if status, _, _ := e.do(e.browser(), "POST", "/staff/api/login/begin", map[string]any{}, "Sec-Fetch-Site", "same-origin"); status != http.StatusNotFound {
		t.Errorf("POST /staff/api/login/begin on the public routes: %d, want 404", status)
	}
}

// The staff login and enrollment ceremonies, which anyone may call, count their failures
// against the client address's passkey limit like the customers': an address over it is
// refused every step.
func TestStaffCeremoniesCountAgainstTheAddressLimits(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *setup) {
		c.Core = func(c *auth.Config) {
			c.ClientLimits = auth.ClientLimits{PasskeyFinish: auth.ClientLimit{Max: 2, Period: time.Minute}}
		}
	})
	d := e.staffDesk()
	for range 3 {
		if status, body, _ := d.call("POST", "/staff/api/login/begin", map[string]any{}); status != http.StatusOK {
			t.Fatalf("a begin before any failure: %d %v", status, body)
		}
	}
	for i := range 2 {
		if status, body, _ := d.call("POST", "/staff/api/enroll/begin", map[string]any{"code": "whatever"}); status != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: %d %v, want 401", i+1, status, body)
		}
	}
	// The login's begin sends no statement and is not limited; its finish is.
	if status, body, _ := d.call("POST", "/staff/api/login/begin", map[string]any{}); status != http.StatusOK {
		t.Errorf("login begin over the failures: %d %v, want 200", status, body)
	}
	if status, body, _ := d.call("POST", "/staff/api/login/finish", map[string]any{"id": "x"}); status != http.StatusTooManyRequests {
		t.Errorf("login finish over the failures: %d %v, want 429", status, body)
	}
	if status, body, _ := d.call("POST", "/staff/api/enroll/begin", map[string]any{"code": "whatever"}); status != http.StatusTooManyRequests {
		t.Errorf("enroll begin over the failures: %d %v, want 429", status, body)
	}
}

// A staff member who lost their device gets a new code: their earlier code stops working, and
// enrolling with the new one replaces the lost passkey and ends the sessions it made.
func TestStaffCodeReissuedForALostDevice(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx := context.Background()
	e.enrolledStaff("tanaka", staff.RoleSupervisor)
	lost := e.enrolledStaff("sato", staff.RoleOperator)

	en, err := e.staff.ReissueCode(ctx, "sato", "tanaka", "")
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.staff.ReissueCode(ctx, "sato", "tanaka", "")
	if err != nil {
		t.Fatal(err)
	}
	newDevice := e.staffDesk()
	if status, body := newDevice.enroll(en.Code); status != http.StatusUnauthorized || body["error"] != "invalid_code" {
		t.Fatalf("the earlier of two reissued codes: %d %v, want 401 invalid_code", status, body)
	}
	if status, body := newDevice.enroll(second.Code); status != http.StatusOK {
		t.Fatalf("enroll with the new code: %d %v", status, body)
	}
	if status, _ := lost.me(); status != http.StatusUnauthorized {
		t.Errorf("the lost device's session: %d, want 401", status)
	}
	if status, _ := lost.login(); status == http.StatusOK {
		t.Error("the lost device's passkey still logs in")
	}
	if status, body := newDevice.login(); status != http.StatusOK {
		t.Errorf("the new device's passkey: %d %v", status, body)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE event = 'staff_code_issued' AND actor = 'staff:tanaka' AND detail->>'staff' = 'sato'`); n != 2 {
		t.Errorf("code issues audited: %d, want 2", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE event = 'staff_enrolled' AND (detail->>'replaced_passkeys')::int = 1`); n != 1 {
		t.Errorf("the replacing enrollment is not audited as one: %d", n)
	}

	if _, err := e.staff.ReissueCode(ctx, "nobody", "tanaka", ""); !errors.Is(err, staff.ErrUnknown) {
		t.Errorf("unknown staff: %v", err)
	}
	if _, err := e.staff.Disable(ctx, "sato", "tanaka", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.staff.ReissueCode(ctx, "sato", "tanaka", ""); !errors.Is(err, staff.ErrDisabled) {
		t.Errorf("a disabled member got a code: %v", err)
	}
}

// A new code or a disable while the staff member's enrollment finishes (§6): every change of a
// staff member takes the staff row first, the enrollment's finish too, so they queue up and
// PostgreSQL aborts nothing for a deadlock. Either the enrollment wins and the change follows
// it, or the change wins and the enrollment is refused as its code or ceremony is gone.
func TestStaffChangesRaceEnrollmentWithoutDeadlock(t *testing.T) {
	// Not parallel: pgdb.Retried counts the whole process (see race_test.go).
	e := newTestEnv(t)
	ctx := context.Background()
	e.enrolledStaff("boss", staff.RoleSupervisor)
	e.addStaff("sato", staff.RoleOperator)
	before := pgdb.Retried()
	const rounds = 30
	for i := range rounds {
		en, err := e.staff.ReissueCode(ctx, "sato", "boss", "")
		if err != nil {
			t.Fatal(err)
		}
		d := e.staffDesk()
		status, body, raw := d.call("POST", "/staff/api/enroll/begin", map[string]string{"code": en.Code})
		if status != http.StatusOK {
			t.Fatalf("round %d: enroll begin: %d %v", i, status, body)
		}
		cred, err := d.key.Create(raw)
		if err != nil {
			t.Fatal(err)
		}
		var (
			wg        sync.WaitGroup
			enrolled  int
			changeErr error
		)
		wg.Add(2)
		go func() {
			defer wg.Done()
			var body map[string]any
			enrolled, body, _ = d.call("POST", "/staff/api/enroll/finish", map[string]any{"code": en.Code, "credential": cred})
			if enrolled != http.StatusOK && body["error"] != "invalid_code" && body["error"] != "passkey_failed" {
				t.Errorf("round %d: enroll finish: %d %v", i, enrolled, body)
			}
		}()
		go func() {
			defer wg.Done()
			if i == rounds-1 {
				_, changeErr = e.staff.Disable(ctx, "sato", "boss", "")
			} else {
				_, changeErr = e.staff.ReissueCode(ctx, "sato", "boss", "")
			}
		}()
		wg.Wait()
		if changeErr != nil {
			t.Fatalf("round %d: change: %v", i, changeErr)
		}
	}
	if n := pgdb.Retried() - before; n != 0 {
		t.Errorf("PostgreSQL aborted %d transactions for a deadlock", n)
	}
	if n := e.count(`SELECT count(*) FROM staff_sessions ss JOIN staff s ON s.id = ss.staff_id WHERE s.login_id = 'sato'`); n != 0 {
		t.Errorf("the disabled member kept %d sessions", n)
	}
}

// Enabled again, a disabled member logs in with the passkey they had, as the same identity,
// and a role change reaches their console at its next request (§6 "Staff lifecycle").
func TestEnabledStaffLogInAsTheSameIdentityAndSeeTheirNewRole(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx := context.Background()
	e.enrolledStaff("boss", staff.RoleSupervisor)
	sato := e.enrolledStaff("sato", staff.RoleSupervisor)
	_, before := sato.me()
	if _, err := e.staff.Disable(ctx, "sato", "boss", ""); err != nil {
		t.Fatal(err)
	}
	if status, _ := sato.login(); status == http.StatusOK {
		t.Fatal("a disabled member logged in")
	}
	res, err := e.staff.Enable(ctx, "sato", "boss", "")
	if err != nil || res.AlreadyEnabled || !res.Enrolled {
		t.Fatalf("enable: %+v, %v", res, err)
	}
	if status, body := sato.login(); status != http.StatusOK {
		t.Fatalf("login after enabling: %d %v", status, body)
	}
	status, after := sato.me()
	if status != http.StatusOK || after["login_id"] != "sato" || fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("me after enabling: %d %v, want %v", status, after, before)
	}
	if _, err := e.staff.SetRole(ctx, "sato", staff.RoleOperator, "sato", ""); !errors.Is(err, staff.ErrSelf) {
		t.Fatalf("self-demotion: %v", err)
	}
	if _, err := e.staff.Disable(ctx, "sato", "sato", ""); !errors.Is(err, staff.ErrSelf) {
		t.Fatalf("self-disable: %v", err)
	}
	if res, err := e.staff.SetRole(ctx, "sato", staff.RoleOperator, "boss", ""); err != nil || !res.Changed() || res.From != staff.RoleSupervisor {
		t.Fatalf("demote: %+v, %v", res, err)
	}
	if _, body := sato.me(); body["role"] != "operator" {
		t.Fatalf("me after the demotion: %v", body)
	}
	if _, err := e.staff.ReissueCode(ctx, "boss", "sato", ""); !errors.Is(err, staff.ErrByNotSupervisor) {
		t.Fatalf("a demoted supervisor acted: %v", err)
	}
	want := []string{"staff:boss staff_disabled", "staff:sato staff_login_failed", "staff:boss staff_enabled",
		"staff:sato staff_login", "staff:boss staff_role_changed"}
	got := e.staffAudit()
	if len(got) < len(want) || strings.Join(got[len(got)-len(want):], ",") != strings.Join(want, ",") {
		t.Fatalf("trail %v, want it to end %v", got, want)
	}
}

// A login ID that is a staff member's is said to exist before anything else is asked, so
// scripts/run, which adds its demo supervisor at every start, goes on once that supervisor has
// enrolled (when a new member needs --by).
func TestAddStaffSaysAnExistingMemberExistsFirst(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.enrolledStaff("tanaka", staff.RoleSupervisor)
	ctx := context.Background()
	if _, err := e.staff.Add(ctx, staff.NewStaff{LoginID: "tanaka", Name: "田中 一郎", Role: staff.RoleSupervisor}, "", ""); !errors.Is(err, staff.ErrExists) {
		t.Fatalf("adding the enrolled supervisor again without --by: %v, want staff.ErrExists", err)
	}
	if _, err := e.staff.Add(ctx, staff.NewStaff{LoginID: "sato", Name: "佐藤 一郎", Role: staff.RoleOperator}, "", ""); !errors.Is(err, staff.ErrByRequired) {
		t.Fatalf("a new member without --by after the bootstrap: %v, want staff.ErrByRequired", err)
	}
}

// A staff key whose counter went back (a copy in use somewhere) is refused with a message of
// its own: a retry cannot help, a new enrollment can (§6). Nothing of the copy gets a session.
func TestStaffLoginWithACopiedKeySaysNotToRetry(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	code := e.addStaff("suzuki", staff.RoleOperator)
	d := e.staffDesk(func(c *authtest.Config) { c.Counting = true })
	if status, body := d.enroll(code); status != http.StatusOK {
		t.Fatalf("enroll: %d %v", status, body)
	}
	for range 2 {
		if status, body := d.login(); status != http.StatusOK {
			t.Fatalf("login: %d %v", status, body)
		}
	}
	d.key.SetCounter(0)
	copied := &staffDesk{e: e, c: e.browser(), key: d.key}
	status, body := copied.login()
	expectStatus(t, "login with a lagging counter", status, body, http.StatusUnauthorized, "passkey_cloned")
	if msg, _ := body["message"].(string); !strings.Contains(msg, "再試行せず") || !strings.Contains(msg, "登録コード") {
		t.Fatalf("message %q does not say what to do instead", msg)
	}
	if status, _ := copied.me(); status != http.StatusUnauthorized {
		t.Fatalf("the copy got a session: %d", status)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE event = 'staff_login_failed' AND detail->>'reason' = 'clone_warning'`); n != 1 {
		t.Fatalf("%d clone warnings audited, want 1", n)
	}
}

// A staff login's challenge is sealed like a customer's: an assertion is accepted once, and a
// customer's login challenge (sealed for the customers' RP ID) is no staff member's.
func TestStaffLoginChallengeIsSealedAndSingleUse(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	d := e.enrolledStaff("suzuki", staff.RoleOperator)
	status, body, raw := d.call("POST", "/staff/api/login/begin", map[string]any{})
	expectStatus(t, "begin", status, body, http.StatusOK, "")
	if n := e.count(`SELECT count(*) FROM staff_ceremonies`); n != 0 {
		t.Fatalf("the login's begin stored %d ceremonies", n)
	}
	assertion, err := d.key.Get(raw)
	if err != nil {
		t.Fatal(err)
	}
	first := &staffDesk{e: e, c: e.browser(), key: d.key}
	status, body, _ = first.call("POST", "/staff/api/login/finish", json.RawMessage(assertion))
	expectStatus(t, "finish", status, body, http.StatusOK, "")
	replay := &staffDesk{e: e, c: e.browser(), key: d.key}
	status, body, _ = replay.call("POST", "/staff/api/login/finish", json.RawMessage(assertion))
	expectStatus(t, "the same assertion again", status, body, http.StatusUnauthorized, "passkey_failed")
	if status, _ := replay.me(); status != http.StatusUnauthorized {
		t.Fatalf("the replay got a staff session: %d", status)
	}

	// The customers' begin, answered on the public listener, seals for their RP ID.
	_, _, customer := e.do(e.browser(), "POST", "/api/v1/passkeys/login/begin", map[string]any{})
	var o map[string]map[string]any
	if err := json.Unmarshal(customer, &o); err != nil {
		t.Fatal(err)
	}
	var staffOptions map[string]map[string]any
	if err := json.Unmarshal(raw, &staffOptions); err != nil {
		t.Fatal(err)
	}
	staffOptions["publicKey"]["challenge"] = o["publicKey"]["challenge"]
	swapped, _ := json.Marshal(staffOptions)
	assertion, err = d.key.Get(swapped)
	if err != nil {
		t.Fatal(err)
	}
	other := &staffDesk{e: e, c: e.browser(), key: d.key}
	status, body, _ = other.call("POST", "/staff/api/login/finish", json.RawMessage(assertion))
	expectStatus(t, "a customer's challenge", status, body, http.StatusUnauthorized, "passkey_failed")
}
