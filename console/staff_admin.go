package console

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"kagi"

	"kagi/staff"
	"kagi/web"
)

// Refusals of the console's staff management. The staff identity refuses a change as a plain
// error (staff.ErrExists and the rest), as the command line wants it; staffRefusal says it
// in the console's JSON.
var (
	errStaffExists   = kagi.Errorf(kagi.Conflict, "staff_exists", msgStaffExists)
	errStaffNotFound = kagi.Errorf(kagi.NotFound, "not_found", msgStaffNotFound)
	errStaffDisabled = kagi.Errorf(kagi.Conflict, "staff_disabled", msgStaffDisabled)
	errOwnAccount    = kagi.Errorf(kagi.Conflict, "own_account", msgOwnAccount)
	errStaffInvalid  = kagi.Errorf(kagi.Invalid, "invalid_request", msgStaffInvalid)
	errRoleInvalid   = kagi.Errorf(kagi.Invalid, "invalid_request", msgRoleInvalid)
)

// staffRefusal turns a refusal of a staff change into the console's answer; invalid is the
// refusal of what the supervisor entered (staff.ErrInvalid). Who acts is the logged-in
// supervisor, so a refusal of them (staff.ErrBy…) means their session no longer stands for an
// enrolled, enabled supervisor: 403, as withStaff says it. Any other error is the server's.
func staffRefusal(err, invalid error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, staff.ErrInvalid):
		return invalid
	case errors.Is(err, staff.ErrExists):
		return errStaffExists
	case errors.Is(err, staff.ErrUnknown):
		return errStaffNotFound
	case errors.Is(err, staff.ErrDisabled):
		return errStaffDisabled
	case errors.Is(err, staff.ErrSelf):
		return errOwnAccount
	case errors.Is(err, staff.ErrByRequired), errors.Is(err, staff.ErrByUnknown), errors.Is(err, staff.ErrByNotSupervisor),
		errors.Is(err, staff.ErrByDisabled), errors.Is(err, staff.ErrByNotEnrolled):
		return errStaffForbidden
	}
	return err
}

// staffAdminRoutes mounts the staff management (§6 "Staff lifecycle"): supervisors only, each
// change named after the logged-in supervisor, as `kagi staff … --by` names one.
func (s *Service) staffAdminRoutes(mux *http.ServeMux, h func(web.HandlerFunc) http.Handler) {
	sup := func(f staffHandler) http.Handler { return h(s.withStaff(staff.RoleSupervisor, f)) }
	mux.Handle("GET /staff/api/staff", sup(s.handleListStaff))
	mux.Handle("POST /staff/api/staff", sup(s.handleAddStaff))
	mux.Handle("POST /staff/api/staff/{login_id}/code", sup(s.handleReissueCode))
	mux.Handle("POST /staff/api/staff/{login_id}/disable", sup(s.handleDisableStaff))
	mux.Handle("POST /staff/api/staff/{login_id}/enable", sup(s.handleEnableStaff))
	mux.Handle("POST /staff/api/staff/{login_id}/role", sup(s.handleSetStaffRole))
}

// staffMember is a staff member as the console's staff list shows them.
type staffMember struct {
	LoginID    string     `json:"login_id"`
	Name       string     `json:"name"`
	Role       staff.Role `json:"role"`
	Enabled    bool       `json:"enabled"`
	DisabledAt *time.Time `json:"disabled_at"`
	Enrolled   bool       `json:"enrolled"`
	CreatedAt  time.Time  `json:"created_at"`
}

// handleListStaff answers every staff member. The list holds no customer's data, so it does
// not count against the read limit; it is audited as staff_list_read all the same, one line
// after the read, since it says who may use the console.
func (s *Service) handleListStaff(w http.ResponseWriter, r *http.Request, st staff.Staff) error {
	members, err := s.staff.Members(r.Context())
	if err != nil {
		return err
	}
	out := make([]staffMember, 0, len(members))
	for _, m := range members {
		out = append(out, staffMember{LoginID: m.LoginID, Name: m.Name, Role: m.Role, Enabled: m.DisabledAt == nil,
			DisabledAt: m.DisabledAt, Enrolled: m.Enrolled, CreatedAt: m.CreatedAt})
	}
	if err := s.auditStaffRead(r.Context(), st, "staff_list_read", 0, map[string]any{"results": len(out)}); err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, map[string]any{"staff": out})
}

// enrollmentJSON is a new one-time code as the supervisor sees it, once: the server keeps only
// its hash, and web.JSON's answers are never cached.
// decodeReason reads the body every change of a member takes, {"reason":"…"}, and refuses a
// missing or overlong reason as the account actions do (§6).
func decodeReason(w http.ResponseWriter, r *http.Request) (string, error) {
	a, err := decodeAction(w, r)
	if err != nil {
		return "", err
	}
	return staffReason(a.Reason)
}

func enrollmentJSON(en staff.Enrollment) map[string]any {
	return map[string]any{"staff": staffJSON(en.Staff), "code": en.Code, "expires_at": en.ExpiresAt}
}

func (s *Service) handleAddStaff(w http.ResponseWriter, r *http.Request, st staff.Staff) error {
	var req struct {
		LoginID string `json:"login_id"`
		Name    string `json:"name"`
		Role    string `json:"role"`
		Reason  string `json:"reason"`
	}
	if err := web.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	reason, err := staffReason(req.Reason)
	if err != nil {
		return err
	}
	n := staff.NewStaff{LoginID: strings.TrimSpace(req.LoginID), Name: strings.TrimSpace(req.Name), Role: staff.Role(req.Role)}
	en, err := s.staff.Add(r.Context(), n, st.LoginID, reason)
	if err != nil {
		return staffRefusal(err, errStaffInvalid)
	}
	return web.JSON(w, http.StatusOK, enrollmentJSON(en))
}

func (s *Service) handleReissueCode(w http.ResponseWriter, r *http.Request, st staff.Staff) error {
	a, err := decodeReason(w, r)
	if err != nil {
		return err
	}
	en, err := s.staff.ReissueCode(r.Context(), r.PathValue("login_id"), st.LoginID, a)
	if err != nil {
		return staffRefusal(err, errStaffInvalid)
	}
	return web.JSON(w, http.StatusOK, enrollmentJSON(en))
}

func (s *Service) handleDisableStaff(w http.ResponseWriter, r *http.Request, st staff.Staff) error {
	a, err := decodeReason(w, r)
	if err != nil {
		return err
	}
	res, err := s.staff.Disable(r.Context(), r.PathValue("login_id"), st.LoginID, a)
	if err != nil {
		return staffRefusal(err, errStaffInvalid)
	}
	return web.JSON(w, http.StatusOK, map[string]any{"staff": staffJSON(res.Staff),
		"already_disabled": res.AlreadyDisabled, "sessions_ended": res.SessionsEnded})
}

func (s *Service) handleEnableStaff(w http.ResponseWriter, r *http.Request, st staff.Staff) error {
	a, err := decodeReason(w, r)
	if err != nil {
		return err
	}
	res, err := s.staff.Enable(r.Context(), r.PathValue("login_id"), st.LoginID, a)
	if err != nil {
		return staffRefusal(err, errStaffInvalid)
	}
	return web.JSON(w, http.StatusOK, map[string]any{"staff": staffJSON(res.Staff),
		"already_enabled": res.AlreadyEnabled, "enrolled": res.Enrolled})
}

func (s *Service) handleSetStaffRole(w http.ResponseWriter, r *http.Request, st staff.Staff) error {
	var req struct {
		Role   string `json:"role"`
		Reason string `json:"reason"`
	}
	if err := web.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	reason, err := staffReason(req.Reason)
	if err != nil {
		return err
	}
	res, err := s.staff.SetRole(r.Context(), r.PathValue("login_id"), staff.Role(req.Role), st.LoginID, reason)
	if err != nil {
		return staffRefusal(err, errRoleInvalid)
	}
	return web.JSON(w, http.StatusOK, map[string]any{"staff": staffJSON(res.Staff), "from": res.From, "changed": res.Changed()})
}
