package console

import (
	"context"
	"embed"
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"

	"kagi/auth"
	"kagi/staff"
	"kagi/web"
)

// The operator console's pages are server-rendered Japanese HTML, each loading the console's
// one script from /staff/static/ (the browser routes' CSP allows no inline script) and the
// reference pages' style sheet from /static/.

//go:embed pages/*.html
var staffPageFS embed.FS

//go:embed static
var staffStaticFS embed.FS

// StaffCookie is the staff session cookie's name over plain http (development); over https it
// carries the __Host- prefix (SecureStaffCookie), so the browser keeps it only when it was set
// Secure, for the whole origin and no other host. It is never the customers' cookie: a
// customer's session is no staff session.
const (
	StaffCookie       = "kagi_staff"
	SecureStaffCookie = "__Host-" + StaffCookie
)

func (s *Service) staffCookieName() string {
	if s.secure {
		return SecureStaffCookie
	}
	return StaffCookie
}

// The staff cookie is SameSite=Strict: the console is never entered from another site's link,
// so no cross-site request, not even a top-level navigation, carries the session.
func (s *Service) setStaffCookie(w http.ResponseWriter, login staff.Login) {
	http.SetCookie(w, &http.Cookie{
		Name: s.staffCookieName(), Value: login.Token, Path: "/", Expires: login.ExpiresAt,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode,
	})
}

func (s *Service) clearStaffCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: s.staffCookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteStrictMode,
	})
}

// Routes mounts the operator console on mux, the console's own listener (KAGI_CONSOLE_LISTEN,
// §6): its JSON API under /staff/api/ and its pages. All are browser routes, with the
// customers' CSP, framing and cross-origin rules, and their passkey ceremonies are the
// console's relying party's (staff.Config.WebAuthn), never the customers'.
func (s *Service) Routes(mux *http.ServeMux) {
	h := func(f web.HandlerFunc) http.Handler { return web.Browser(web.Handle(s.log, f)) }
	mux.Handle("POST /staff/api/enroll/begin", h(s.handleStaffEnrollBegin))
	mux.Handle("POST /staff/api/enroll/finish", h(s.handleStaffEnrollFinish))
	mux.Handle("POST /staff/api/login/begin", h(s.handleStaffLoginBegin))
	mux.Handle("POST /staff/api/login/finish", h(s.handleStaffLoginFinish))
	mux.Handle("POST /staff/api/logout", h(s.withStaffSession(s.handleStaffLogout)))
	mux.Handle("GET /staff/api/me", h(s.withStaff(staff.RoleOperator, s.handleStaffMe)))
	mux.Handle("GET /staff/{$}", h(s.handleStaffHome))
	mux.Handle("GET /staff/login", h(s.handleStaffLoginPage))
	mux.Handle("GET /staff/enroll", h(s.handleStaffEnrollPage))
	mux.Handle("GET /staff/static/{file}", h(staffAssets.Serve))
	s.accountRoutes(mux, h)
	s.staffAdminRoutes(mux, h)
	// The pages load the core's style sheet and shared script (auth.StaticURL) from /static/,
	// which on this origin only the console serves.
	mux.Handle("GET /static/{file}", h(auth.ServeStatic))
}

// sessionOf returns the request's live staff session. A customer's session cookie is never
// read here: only the staff cookie names a staff session.
func (s *Service) sessionOf(r *http.Request) (staff.Session, bool, error) {
	c, err := r.Cookie(s.staffCookieName())
	if err != nil {
		return staff.Session{}, false, nil
	}
	return s.staff.SessionOf(r.Context(), c.Value)
}

// staffHandler is a console route's handler, given the logged-in staff member.
type staffHandler func(w http.ResponseWriter, r *http.Request, st staff.Staff) error

// withStaff lets a request through only with a live staff session (else 401 unauthorized) of a
// staff member whose role covers role (else 403 forbidden). Every console route is built on it.
func (s *Service) withStaff(role staff.Role, h staffHandler) web.HandlerFunc {
	return s.withStaffSession(func(w http.ResponseWriter, r *http.Request, sess staff.Session) error {
		if !sess.Role.Covers(role) {
			return errStaffForbidden
		}
		return h(w, r, sess.Staff)
	})
}

// withStaffSession is withStaff for the routes that act on the session itself (logout), open to
// every role.
func (s *Service) withStaffSession(h func(http.ResponseWriter, *http.Request, staff.Session) error) web.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sess, ok, err := s.sessionOf(r)
		if err != nil {
			return err
		}
		if !ok {
			return errStaffUnauthorized
		}
		return h(w, r, sess)
	}
}

// staffJSON is a staff member as the console's API shows them.
func staffJSON(st staff.Staff) map[string]any {
	return map[string]any{"login_id": st.LoginID, "name": st.Name, "role": st.Role}
}

// limitedCeremony runs a step of a staff ceremony under the core's limit of failed passkey
// logins per client address (KAGI_LIMIT_PASSKEY_FINISH): anyone may call these routes.
func (s *Service) limitedCeremony(ctx context.Context, step func() error) error {
	return s.core.LimitedPasskeyStep(ctx, step)
}

func (s *Service) handleStaffEnrollBegin(w http.ResponseWriter, r *http.Request) error {
	return s.limitedCeremony(r.Context(), func() error {
		var req struct {
			Code string `json:"code"`
		}
		if err := web.DecodeJSON(w, r, &req); err != nil {
			return err
		}
		creation, err := s.staff.BeginEnrollment(r.Context(), req.Code)
		if err != nil {
			return err
		}
		return web.JSON(w, http.StatusOK, creation)
	})
}

func (s *Service) handleStaffEnrollFinish(w http.ResponseWriter, r *http.Request) error {
	return s.limitedCeremony(r.Context(), func() error {
		var req struct {
			Code       string          `json:"code"`
			Credential json.RawMessage `json:"credential"`
		}
		if err := web.DecodeJSON(w, r, &req); err != nil {
			return err
		}
		login, err := s.staff.FinishEnrollment(r.Context(), req.Code, req.Credential)
		if err != nil {
			return err
		}
		s.setStaffCookie(w, login)
		return web.JSON(w, http.StatusOK, map[string]any{"staff": staffJSON(login.Staff), "expires_at": login.ExpiresAt})
	})
}

// handleStaffLoginBegin sends no statement, as the customers' begin: the ceremony is sealed
// into its challenge, so there is nothing for an address's limit to guard; the finish is
// limited.
func (s *Service) handleStaffLoginBegin(w http.ResponseWriter, r *http.Request) error {
	// Nothing is asked of the body: the login is always discoverable.
	if _, err := web.ReadBody(w, r); err != nil {
		return err
	}
	assertion, err := s.staff.BeginLogin(r.Context())
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, assertion)
}

func (s *Service) handleStaffLoginFinish(w http.ResponseWriter, r *http.Request) error {
	return s.limitedCeremony(r.Context(), func() error {
		body, err := web.ReadBody(w, r)
		if err != nil {
			return err
		}
		login, err := s.staff.FinishLogin(r.Context(), body)
		if err != nil {
			return err
		}
		s.setStaffCookie(w, login)
		return web.JSON(w, http.StatusOK, map[string]any{"staff": staffJSON(login.Staff), "expires_at": login.ExpiresAt})
	})
}

func (s *Service) handleStaffLogout(w http.ResponseWriter, r *http.Request, sess staff.Session) error {
	if err := s.staff.EndSession(r.Context(), sess); err != nil {
		return err
	}
	s.clearStaffCookie(w)
	return web.JSON(w, http.StatusOK, map[string]any{})
}

func (s *Service) handleStaffMe(w http.ResponseWriter, r *http.Request, st staff.Staff) error {
	return web.JSON(w, http.StatusOK, staffJSON(st))
}

// staffHomeView is what the console's home page shows: who is logged in. The console's search
// and actions add their own fields.
type staffHomeView struct {
	Staff    staff.Staff
	RoleName string
	// Supervisor shows the staff management, which only a supervisor may use (the API checks
	// again).
	Supervisor bool
}

func (s *Service) handleStaffHome(w http.ResponseWriter, r *http.Request) error {
	sess, ok, err := s.sessionOf(r)
	if err != nil {
		return err
	}
	if !ok {
		http.Redirect(w, r, "/staff/login", http.StatusSeeOther)
		return nil
	}
	return web.Page(w, staffHomePage, staffHomeView{Staff: sess.Staff, RoleName: staffRoleNames[sess.Role],
		Supervisor: sess.Role.Covers(staff.RoleSupervisor)})
}

func (s *Service) handleStaffLoginPage(w http.ResponseWriter, r *http.Request) error {
	_, ok, err := s.sessionOf(r)
	if err != nil {
		return err
	}
	if ok {
		http.Redirect(w, r, "/staff/", http.StatusSeeOther)
		return nil
	}
	return web.Page(w, staffLoginPage, nil)
}

// handleStaffEnrollPage asks for the code on the page itself, never in the URL: a code in a
// query string would be written to every proxy's and server's access log.
func (s *Service) handleStaffEnrollPage(w http.ResponseWriter, r *http.Request) error {
	return web.Page(w, staffEnrollPage, nil)
}

// staffAssets are the console's scripts, served under /staff/static/.
var staffAssets = func() *web.Assets {
	a, err := web.LoadAssets(staffStaticFS, "static", "/staff/static/")
	if err != nil {
		panic(err)
	}
	return a
}()

func parseStaffPage(name string) *template.Template {
	return template.Must(template.New(name).Funcs(template.FuncMap{"static": staffAssets.URL, "core": auth.StaticURL}).
		ParseFS(staffPageFS, "pages/staff_layout.html", "pages/"+name))
}

var (
	staffHomePage   = parseStaffPage("staff_home.html")
	staffLoginPage  = parseStaffPage("staff_login.html")
	staffEnrollPage = parseStaffPage("staff_enroll.html")
)

// accountRoutes mounts the console's account API (§6), each behind the role its action needs.
func (s *Service) accountRoutes(mux *http.ServeMux, h func(web.HandlerFunc) http.Handler) {
	mux.Handle("GET /staff/api/accounts", h(s.withStaff(staff.RoleOperator, s.handleFindAccounts)))
	mux.Handle("POST /staff/api/accounts/{number}/window/open", h(s.withStaff(staff.RoleOperator, s.handleOpenWindow)))
	mux.Handle("POST /staff/api/accounts/{number}/window/close", h(s.withStaff(staff.RoleOperator, s.handleCloseWindow)))
	mux.Handle("POST /staff/api/accounts/{number}/lockout/clear", h(s.withStaff(staff.RoleSupervisor, s.handleClearLockout)))
	mux.Handle("POST /staff/api/accounts/{number}/passkey/delete", h(s.withStaff(staff.RoleSupervisor, s.handleDeletePasskey)))
	mux.Handle("GET /staff/api/audit", h(s.withStaff(staff.RoleOperator, s.handleStaffAudit)))
}

func (s *Service) handleFindAccounts(w http.ResponseWriter, r *http.Request, st staff.Staff) error {
	q := r.URL.Query().Get("q")
	if q == "" {
		return errQueryRequired
	}
	accounts, err := s.FindAccounts(r.Context(), st, q)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, map[string]any{"accounts": accounts})
}

// staffAction is the body every console action takes.
type staffAction struct {
	Reason string `json:"reason"`
}

func decodeAction(w http.ResponseWriter, r *http.Request) (staffAction, error) {
	var a staffAction
	err := web.DecodeJSON(w, r, &a)
	return a, err
}

func (s *Service) handleOpenWindow(w http.ResponseWriter, r *http.Request, st staff.Staff) error {
	a, err := decodeAction(w, r)
	if err != nil {
		return err
	}
	win, err := s.OpenForStaff(r.Context(), st, r.PathValue("number"), a.Reason)
	if err != nil {
		return err
	}
	return s.actionJSON(w, r, map[string]any{"expires_at": win.ExpiresAt})
}

func (s *Service) handleCloseWindow(w http.ResponseWriter, r *http.Request, st staff.Staff) error {
	a, err := decodeAction(w, r)
	if err != nil {
		return err
	}
	if err := s.CloseForStaff(r.Context(), st, r.PathValue("number"), a.Reason); err != nil {
		return err
	}
	return s.actionJSON(w, r, map[string]any{"closed": true})
}

func (s *Service) handleClearLockout(w http.ResponseWriter, r *http.Request, st staff.Staff) error {
	a, err := decodeAction(w, r)
	if err != nil {
		return err
	}
	n, err := s.ClearLockouts(r.Context(), st, r.PathValue("number"), a.Reason)
	if err != nil {
		return err
	}
	return s.actionJSON(w, r, map[string]any{"cleared": n})
}

func (s *Service) handleDeletePasskey(w http.ResponseWriter, r *http.Request, st staff.Staff) error {
	a, err := decodeAction(w, r)
	if err != nil {
		return err
	}
	if err := s.DeletePasskeyForStaff(r.Context(), st, r.PathValue("number"), a.Reason); err != nil {
		return err
	}
	return s.actionJSON(w, r, map[string]any{"deleted": true})
}

// actionJSON answers an account action that committed with its result and the account as it is
// now ("account", the search's card), so the page draws the card again without searching: a
// search is a read of its own, audited and counted (§6), which the action's own audit line
// already covers.
func (s *Service) actionJSON(w http.ResponseWriter, r *http.Request, result map[string]any) error {
	card, err := s.cardByNumber(r.Context(), r.PathValue("number"))
	if err != nil {
		return err
	}
	result["account"] = card
	return web.JSON(w, http.StatusOK, result)
}

// handleStaffAudit answers a page of the audit trail. before is the previous page's next: a
// positive integer, as a string (so no JSON client rounds it).
func (s *Service) handleStaffAudit(w http.ResponseWriter, r *http.Request, st staff.Staff) error {
	v := r.URL.Query()
	f := StaffAuditQuery{AccountNumber: v.Get("account_number"), Staff: v.Get("staff")}
	if b := v.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return errBadCursor
		}
		f.Before = n
	}
	lines, next, err := s.StaffAudit(r.Context(), st, f)
	if err != nil {
		return err
	}
	var cursor *string
	if next != 0 {
		c := strconv.FormatInt(next, 10)
		cursor = &c
	}
	return web.JSON(w, http.StatusOK, struct {
		Events []auth.AuditLine `json:"events"`
		Next   *string          `json:"next"`
	}{lines, cursor})
}
