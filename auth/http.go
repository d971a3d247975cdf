package auth

import (
	"context"
	"net/http"

	"github.com/jackc/pgx/v5"

	"kagi/pgdb"
	"kagi/web"
)

// Routes mounts the core's JSON API and pages on mux.
func (s *Service) Routes(mux *http.ServeMux) {
	h := func(f web.HandlerFunc) http.Handler { return web.Browser(web.Handle(s.log, f)) }
	mux.Handle("POST /api/v1/login/password", h(s.handlePasswordLogin))
	mux.Handle("POST /api/v1/login/email-check", h(s.handleEmailCheck))
	mux.Handle("GET /api/v1/session", h(s.withSession(s.handleSession)))
	mux.Handle("POST /api/v1/logout", h(s.withSession(s.handleLogout)))
	mux.Handle("POST /api/v1/password", h(s.withSession(s.handleChangePassword)))
	s.passkeyRoutes(mux, h)
	s.pageRoutes(mux)
}

func (s *Service) handlePasswordLogin(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		LoginID  string `json:"login_id"`
		Password string `json:"password"`
	}
	if err := web.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	res, err := s.LoginWithPassword(r.Context(), req.LoginID, req.Password, s.deviceCookieOf(r))
	if err != nil {
		return err
	}
	if res.EmailCheck != nil {
		return web.JSON(w, http.StatusOK, map[string]any{"email_check": res.EmailCheck})
	}
	return s.loggedIn(w, r, res)
}

func (s *Service) handleEmailCheck(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		ID     string `json:"id"`
		Choice string `json:"choice"`
	}
	if err := web.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	res, err := s.FinishEmailCheck(r.Context(), req.ID, req.Choice)
	if err != nil {
		return err
	}
	return s.loggedIn(w, r, res)
}

// loggedIn answers a password login that made a session: its cookie, the browser's device
// cookie, and what it is; and, for a login made for an authorization request, where the
// browser goes on to ("redirect").
func (s *Service) loggedIn(w http.ResponseWriter, r *http.Request, res PasswordLogin) error {
	s.setSessionCookie(w, res.Token, res.ExpiresAt)
	s.setDeviceCookie(w, res.LoginID)
	out := map[string]any{
		"assurance":           res.Assurance,
		"expires_at":          res.ExpiresAt,
		"via_fallback_window": res.ViaFallbackWindow,
	}
	if to := s.redirectFor(r.Context(), s.authRequestOf(r), res.AccountID, res.Token, res.Assurance, res.ExpiresAt); to != "" {
		out["redirect"] = to
	}
	return web.JSON(w, http.StatusOK, out)
}

func (s *Service) handleSession(w http.ResponseWriter, r *http.Request, sess Session) error {
	hold := HoldOf(sess.HoldState, s.hold, s.now()).Fields()
	return web.JSON(w, http.StatusOK, map[string]any{
		"login_id":         sess.LoginID,
		"account_number":   sess.AccountNumber,
		"name":             sess.Name,
		"assurance":        sess.Assurance,
		"authenticated_at": sess.AuthenticatedAt,
		"expires_at":       sess.ExpiresAt,
		"recovered_at":     hold.RecoveredAt,
		"hold_until":       hold.HoldUntil,
		"hold_reason":      hold.HoldReason,
	})
}

func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request, sess Session) error {
	if err := s.logout(r.Context(), w, sess); err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, map[string]any{})
}

// Logout ends the session the browser holds, if any, as POST /api/v1/logout does: an
// application's RP-initiated logout (SPEC §11.5) ends it this way. It reports whether there
// was one.
func (s *Service) Logout(ctx context.Context, w http.ResponseWriter, r *http.Request) (bool, error) {
	sess, ok, err := s.SessionFromRequest(ctx, r)
	if err != nil || !ok {
		return false, err
	}
	return true, s.logout(ctx, w, sess)
}

// logout ends sess, audited as the customer's logout, and clears its cookie.
func (s *Service) logout(ctx context.Context, w http.ResponseWriter, sess Session) error {
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := endSessions(ctx, tx, s.ends, `DELETE FROM sessions WHERE token_hash = $1 RETURNING token_hash, account_id`, sess.TokenHash); err != nil {
			return err
		}
		return Audit(ctx, tx, AuditEvent{At: s.now(), AccountID: sess.AccountID, Actor: "customer", Event: "logout"})
	})
	if err != nil {
		return err
	}
	s.clearSessionCookie(w)
	return nil
}
