package auth

import (
	"context"
	"encoding/base64"
	"net/http"

	"kagi"

	"github.com/go-webauthn/webauthn/protocol"

	"kagi/web"
)

// passkeyRoutes mounts the passkey ceremonies and the passkey of the logged-in customer. A
// recovery-only session may use all of them but the login (§2.11): it exists to replace or
// delete the passkey.
func (s *Service) passkeyRoutes(mux *http.ServeMux, h func(web.HandlerFunc) http.Handler) {
	mux.Handle("POST /api/v1/passkeys/register/begin", h(s.withSession(s.handleRegisterBegin)))
	mux.Handle("POST /api/v1/passkeys/register/finish", h(s.withSession(s.handleRegisterFinish)))
	mux.Handle("POST /api/v1/passkeys/login/begin", h(s.handleLoginBegin))
	mux.Handle("POST /api/v1/passkeys/login/finish", h(s.handleLoginFinish))
	mux.Handle("GET /api/v1/passkeys/current", h(s.withSession(s.handleCurrentPasskey)))
	mux.Handle("DELETE /api/v1/passkeys/current", h(s.withSession(s.handleDeletePasskey)))
}

func (s *Service) handleRegisterBegin(w http.ResponseWriter, r *http.Request, sess Session) error {
	// The body is optional: {} or nothing begins the ordinary ceremony, {"mediation":
	// "conditional"} the post-recovery offer.
	var req struct {
		Mediation string `json:"mediation"`
	}
	if r.ContentLength != 0 {
		if err := web.DecodeJSON(w, r, &req); err != nil {
			return err
		}
	}
	if req.Mediation != "" && req.Mediation != string(protocol.MediationConditional) {
		return kagi.Errorf(kagi.Invalid, "invalid_request", msgBadMediation)
	}
	creation, err := s.BeginRegistration(r.Context(), sess, r.UserAgent(), req.Mediation != "")
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, creation)
}

func (s *Service) handleRegisterFinish(w http.ResponseWriter, r *http.Request, sess Session) error {
	body, err := web.ReadBody(w, r)
	if err != nil {
		return err
	}
	pk, err := s.FinishRegistration(r.Context(), sess, r.UserAgent(), body)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, map[string]any{"passkey": passkeyJSON(pk)})
}

func (s *Service) handleLoginBegin(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		LoginID string `json:"login_id"`
	}
	if err := web.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	assertion, err := s.BeginLogin(r.Context(), req.LoginID)
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, assertion)
}

func (s *Service) handleLoginFinish(w http.ResponseWriter, r *http.Request) error {
	body, err := web.ReadBody(w, r)
	if err != nil {
		return err
	}
	res, err := s.FinishLogin(r.Context(), body)
	if err != nil {
		return err
	}
	s.setSessionCookie(w, res.Token, res.ExpiresAt)
	s.setDeviceCookie(w, res.LoginID)
	out := map[string]any{"assurance": AssurancePasskey, "expires_at": res.ExpiresAt}
	// Beyond the login's transaction (§10), and only for a login made for an authorization
	// request: the provider binds the session to it.
	if to := s.redirectFor(r.Context(), s.authRequestOf(r), res.AccountID, res.Token, AssurancePasskey, res.ExpiresAt); to != "" {
		out["redirect"] = to
	}
	return web.JSON(w, http.StatusOK, out)
}

// currentPasskey is what the settings page and GET /api/v1/passkeys/current show of the
// logged-in customer: the passkey, if any, and the account as the authenticator knows it,
// which both hand to the WebAuthn Signal API so the password manager keeps only the one
// current passkey under the current names.
type currentPasskey struct {
	Passkey *Passkey
	// The WebAuthn identity: the user handle (base64url), the login ID and the name.
	UserID, UserName, DisplayName string
}

// currentPasskeyOf loads the session's currentPasskey; false when the account is gone.
func (s *Service) currentPasskeyOf(ctx context.Context, sess Session) (currentPasskey, bool, error) {
	acct, ok, err := s.AccountByLoginID(ctx, s.pool, sess.LoginID)
	if err != nil || !ok {
		return currentPasskey{}, false, err
	}
	cur := currentPasskey{
		UserID:      base64.RawURLEncoding.EncodeToString(acct.UserHandle),
		UserName:    acct.LoginID,
		DisplayName: acct.Name,
	}
	pk, ok, err := s.PasskeyOf(ctx, s.pool, sess.AccountID)
	if err != nil {
		return currentPasskey{}, false, err
	}
	if ok {
		cur.Passkey = &pk
	}
	return cur, true, nil
}

// handleCurrentPasskey shows the session's currentPasskey.
func (s *Service) handleCurrentPasskey(w http.ResponseWriter, r *http.Request, sess Session) error {
	cur, ok, err := s.currentPasskeyOf(r.Context(), sess)
	if err != nil {
		return err
	}
	if !ok {
		return kagi.Errorf(kagi.Unauthorized, "unauthorized", msgUnauthorized)
	}
	var pk any
	if cur.Passkey != nil {
		pk = passkeyJSON(*cur.Passkey)
	}
	return web.JSON(w, http.StatusOK, map[string]any{
		"passkey": pk,
		"user": map[string]any{
			"id":           cur.UserID,
			"name":         cur.UserName,
			"display_name": cur.DisplayName,
		},
		"rp_id": s.webauthn.Config.RPID,
	})
}

func (s *Service) handleDeletePasskey(w http.ResponseWriter, r *http.Request, sess Session) error {
	if err := s.DeleteOwnPasskey(r.Context(), sess); err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, map[string]any{})
}

// passkeyJSON is the passkey as the API shows it.
func passkeyJSON(p Passkey) map[string]any {
	return map[string]any{
		"credential_id":   base64.RawURLEncoding.EncodeToString(p.CredentialID),
		"created_at":      p.CreatedAt,
		"last_used_at":    p.LastUsedAt,
		"backup_eligible": p.BackupEligible,
		"synced":          p.Synced(),
		"provider":        p.Provider(),
		"aaguid":          p.AAGUID,
	}
}
