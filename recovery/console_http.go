package recovery

import (
	"net/http"
	"strconv"

	"kagi/auth"
	"kagi/web"
)

// consoleRoutes mounts the console's account API (§6), each behind the role its action needs.
func (s *Service) consoleRoutes(mux *http.ServeMux, h func(web.HandlerFunc) http.Handler) {
	mux.Handle("GET /staff/api/accounts", h(s.withStaff(RoleOperator, s.handleFindAccounts)))
	mux.Handle("POST /staff/api/accounts/{number}/window/open", h(s.withStaff(RoleOperator, s.handleOpenWindow)))
	mux.Handle("POST /staff/api/accounts/{number}/window/close", h(s.withStaff(RoleOperator, s.handleCloseWindow)))
	mux.Handle("POST /staff/api/accounts/{number}/lockout/clear", h(s.withStaff(RoleSupervisor, s.handleClearLockout)))
	mux.Handle("POST /staff/api/accounts/{number}/passkey/delete", h(s.withStaff(RoleSupervisor, s.handleDeletePasskey)))
	mux.Handle("GET /staff/api/audit", h(s.withStaff(RoleOperator, s.handleStaffAudit)))
}

func (s *Service) handleFindAccounts(w http.ResponseWriter, r *http.Request, st Staff) error {
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

func (s *Service) handleOpenWindow(w http.ResponseWriter, r *http.Request, st Staff) error {
	a, err := decodeAction(w, r)
	if err != nil {
		return err
	}
	win, err := s.OpenForStaff(r.Context(), st, r.PathValue("number"), a.Reason)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, map[string]any{"expires_at": win.ExpiresAt})
}

func (s *Service) handleCloseWindow(w http.ResponseWriter, r *http.Request, st Staff) error {
	a, err := decodeAction(w, r)
	if err != nil {
		return err
	}
	if err := s.CloseForStaff(r.Context(), st, r.PathValue("number"), a.Reason); err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, map[string]any{"closed": true})
}

func (s *Service) handleClearLockout(w http.ResponseWriter, r *http.Request, st Staff) error {
	a, err := decodeAction(w, r)
	if err != nil {
		return err
	}
	n, err := s.ClearLockouts(r.Context(), st, r.PathValue("number"), a.Reason)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, map[string]any{"cleared": n})
}

func (s *Service) handleDeletePasskey(w http.ResponseWriter, r *http.Request, st Staff) error {
	a, err := decodeAction(w, r)
	if err != nil {
		return err
	}
	if err := s.DeletePasskeyForStaff(r.Context(), st, r.PathValue("number"), a.Reason); err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, map[string]any{"deleted": true})
}

// handleStaffAudit answers a page of the audit trail. before is the previous page's next: a
// positive integer, as a string (so no JSON client rounds it).
func (s *Service) handleStaffAudit(w http.ResponseWriter, r *http.Request, st Staff) error {
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
