package auth

import (
	"context"
	"net/http"
	"time"
)

// Authorizations is the seam through which a login made for an OpenID Connect authorization
// request (SPEC §11.3) finishes it: the login page was opened as /login?auth_request=ID, and
// each login API called with ?auth_request=ID tells the provider about the session it made.
// Package openid implements it; the core knows nothing of clients or tokens.
type Authorizations interface {
	// LoggedIn tells that the browser of authorization request id logged in and now holds
	// sess. It returns the URL on kagi that finishes the authorization — a 302 to the
	// application with a code, or with an OAuth error when the request cannot be met — or ""
	// when the request is unknown, ended, or not answered by sess (a recovery-only session
	// never completes one): the login then answers as without it.
	LoggedIn(ctx context.Context, id string, sess Session) (string, error)
}

// maxAuthRequestID bounds the auth_request parameter worth passing on.
const maxAuthRequestID = 128

// authRequestOf is the authorization request a login API was called for, "" for none.
func (s *Service) authRequestOf(r *http.Request) string {
	id := r.URL.Query().Get("auth_request")
	if s.authz == nil || len(id) > maxAuthRequestID {
		return ""
	}
	return id
}

// redirectFor asks the provider where the browser goes after a login that made the session
// of token for the authorization request id: "" for nowhere in particular. The login has
// committed; a failure here leaves the customer logged in, and is logged, not answered.
func (s *Service) redirectFor(ctx context.Context, id string, accountID int64, token string, a Assurance, expires time.Time) string {
	if id == "" {
		return ""
	}
	now := s.now()
	to, err := s.authz.LoggedIn(ctx, id, Session{
		TokenHash: TokenHash(token), AccountID: accountID, Assurance: a,
		CreatedAt: now, AuthenticatedAt: now, ExpiresAt: expires,
	})
	if err != nil {
		s.log.ErrorContext(ctx, "authorization request after login", "err", err)
		return ""
	}
	return to
}

// SessionByTokenHash returns the live session whose token hashes to h, as SessionFromRequest
// does for a cookie, and marks it used: the OpenID Provider asks it of the session its tokens
// came from, which they never outlive (SPEC §11.2).
func (s *Service) SessionByTokenHash(ctx context.Context, h []byte) (Session, bool, error) {
	return s.sessionByHash(ctx, s.pool, h)
}

// HoldOf is the hold an account in state st is under now, with this deployment's hold length.
func (s *Service) HoldOf(st HoldState) RecoveryHold { return HoldOf(st, s.hold, s.now()) }
