package auth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
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

// KeepSession reports, in tx, whether the session whose token hashes to h is live, and if it
// is, keeps it so until tx ends (FOR SHARE): a statement that ends it waits for tx, so the
// OpenID Provider's tokens issued in tx are in the database when SessionEnds is told of its
// end, and are revoked with it.
func (s *Service) KeepSession(ctx context.Context, tx pgx.Tx, h []byte) (bool, error) {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM sessions WHERE token_hash = $1 AND expires_at > $2 AND last_seen_at > $2::timestamptz - $3::interval FOR SHARE`,
		h, s.now(), s.idle).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// HoldOf is the hold an account in state st is under now, with this deployment's hold length.
func (s *Service) HoldOf(st HoldState) RecoveryHold { return HoldOf(st, s.hold, s.now()) }
