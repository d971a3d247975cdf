package openid

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"kagi/auth"
	"kagi/pgdb"
)

// The authentication context classes kagi tells (SPEC §11.4): a passkey login, or a password
// login (with the email check when it applies).
const (
	ACRPasskey  = "urn:kagi:acr:passkey"
	ACRPassword = "urn:kagi:acr:password"
)

// Lifetimes of the provider's short-lived state.
const (
	// AuthRequestLifetime is how long a login may take to answer an authorization request.
	AuthRequestLifetime = 10 * time.Minute
	// CodeLifetime is how long an authorization code may wait for its exchange.
	CodeLifetime = time.Minute
)

// unmetAuthenticationRequirements is the OAuth error of an authorization whose step-up the
// account cannot meet (OpenID Connect Core 1.0 Errata / unmet_authentication_requirements).
const unmetAuthenticationRequirements = "unmet_authentication_requirements"

// authRequest is a stored authorization request, as op reads it (op.AuthRequest).
type authRequest struct {
	ID            string     `db:"id"`
	ClientID      string     `db:"client_id"`
	RedirectURI   string     `db:"redirect_uri"`
	Scopes        []string   `db:"scopes"`
	State         string     `db:"state"`
	Nonce         string     `db:"nonce"`
	ResponseMode  string     `db:"response_mode"`
	CodeChallenge string     `db:"code_challenge"`
	ACRValues     []string   `db:"acr_values"`
	MaxAge        *int32     `db:"max_age"`
	Prompt        []string   `db:"prompt"`
	CreatedAt     time.Time  `db:"created_at"`
	ExpiresAt     time.Time  `db:"expires_at"`
	AccountID     *int64     `db:"account_id"`
	SessionHash   []byte     `db:"session_hash"`
	AuthTime      *time.Time `db:"auth_time"`
	Assurance     *string    `db:"assurance"`
	Failure       *string    `db:"failure"`

	// subject is the account's sub, set by the provider when the request is answered.
	subject string
	// amr are the methods of the login that answered it.
	amr []string
	// session is the login's session, live when the code was redeemed.
	session *auth.Session
}

const authRequestColumns = `id, client_id, redirect_uri, scopes, state, nonce, response_mode, code_challenge,
	acr_values, max_age, prompt, created_at, expires_at, account_id, session_hash, auth_time, assurance, failure`

func (a *authRequest) GetID() string         { return a.ID }
func (a *authRequest) GetAMR() []string      { return a.amr }
func (a *authRequest) GetAudience() []string { return []string{a.ClientID} }
func (a *authRequest) GetClientID() string   { return a.ClientID }
func (a *authRequest) GetNonce() string      { return a.Nonce }
func (a *authRequest) GetRedirectURI() string {
	return a.RedirectURI
}
func (a *authRequest) GetResponseType() oidc.ResponseType { return oidc.ResponseTypeCode }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return oidc.ResponseMode(a.ResponseMode) }
func (a *authRequest) GetScopes() []string                { return a.Scopes }
func (a *authRequest) GetState() string                   { return a.State }
func (a *authRequest) GetSubject() string                 { return a.subject }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	return &oidc.CodeChallenge{Challenge: a.CodeChallenge, Method: oidc.CodeChallengeMethodS256}
}

func (a *authRequest) GetACR() string {
	if a.Assurance == nil {
		return ""
	}
	return acrOf(auth.Assurance(*a.Assurance))
}

func (a *authRequest) GetAuthTime() time.Time {
	if a.AuthTime == nil {
		return time.Time{}
	}
	return *a.AuthTime
}

// Done reports whether a login answered the request and it may be given a code.
func (a *authRequest) Done() bool { return a.AccountID != nil && a.Failure == nil }

// LogValue logs the request without its secrets (op logs the requests it refuses).
func (a *authRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", a.ID), slog.String("client_id", a.ClientID), slog.String("redirect_uri", a.RedirectURI))
}

// acrOf is the acr of a session's assurance. A recovery-only session answers no request.
func acrOf(a auth.Assurance) string {
	if a == auth.AssurancePasskey {
		return ACRPasskey
	}
	return ACRPassword
}

// verdict is what a session is worth to an authorization request.
type verdict struct {
	// ok: the session answers the request.
	ok bool
	// failure: the request ends with this OAuth error, sent to the client.
	failure string
	// Neither: the browser must log in (again), on the login page.
}

// judge decides whether sess (nil: none) answers req at now (SPEC §11.3, §11.4):
//   - a recovery-only session never does: the browser logs in otherwise;
//   - acr_values asking for urn:kagi:acr:passkey alone is a step-up: a password session does
//     not answer it, and an account without a passkey (hasPasskey false) never can, which
//     ends the request with unmet_authentication_requirements;
//   - max_age (0 for prompt=login) asks for a login no older than that, or made for this
//     very request;
//   - with prompt=none whatever needs the login page ends the request with login_required.
func judge(req *authRequest, sess *auth.Session, hasPasskey bool, now time.Time) verdict {
	v := func() verdict {
		if sess == nil || sess.Assurance == auth.AssurancePasswordFallback {
			return verdict{}
		}
		if wantsPasskey(req.ACRValues) && sess.Assurance != auth.AssurancePasskey {
			if !hasPasskey {
				return verdict{failure: unmetAuthenticationRequirements}
			}
			return verdict{}
		}
		fresh := !sess.AuthenticatedAt.Before(req.CreatedAt)
		if req.MaxAge != nil && !fresh && now.Sub(sess.AuthenticatedAt) > time.Duration(*req.MaxAge)*time.Second {
			return verdict{}
		}
		return verdict{ok: true}
	}()
	if !v.ok && v.failure == "" && slices.Contains(req.Prompt, oidc.PromptNone) {
		v.failure = string(oidc.LoginRequired)
	}
	return v
}

// wantsPasskey reports whether acr_values accept a passkey login only.
func wantsPasskey(acrValues []string) bool {
	return slices.Contains(acrValues, ACRPasskey) && !slices.Contains(acrValues, ACRPassword)
}

// maxClaimsParameter bounds the claims parameter kagi reads.
const maxClaimsParameter = 4096

// essentialACR is the acr the claims parameter of an authorization request (OpenID Connect
// Core 1.0 §5.5.1.1) asks for as essential, in the ID token or from userinfo: its value or
// values, which kagi takes as the request's acr_values — urn:kagi:acr:passkey alone is a
// step-up. It is nil when the parameter asks for no essential acr; the other claims asked for
// are ignored (kagi's claims follow the scopes). A parameter that is not a JSON object of
// objects is an error.
func essentialACR(raw string) ([]string, error) {
	if raw == "" {
		return nil, nil
	}
	if len(raw) > maxClaimsParameter {
		return nil, errors.New("claims parameter too long")
	}
	var members map[string]map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &members); err != nil {
		return nil, err
	}
	var acr []string
	for _, m := range []string{"id_token", "userinfo"} {
		rawACR, ok := members[m]["acr"]
		if !ok {
			continue
		}
		var c *struct {
			Essential bool     `json:"essential"`
			Value     *string  `json:"value"`
			Values    []string `json:"values"`
		}
		if err := json.Unmarshal(rawACR, &c); err != nil {
			return nil, err
		}
		if c == nil || !c.Essential {
			continue
		}
		if c.Value != nil {
			acr = append(acr, *c.Value)
		}
		acr = append(acr, c.Values...)
	}
	return acr, nil
}

// Authorizations answers, after a login, the authorization request the login was made for
// (auth.Authorizations). It stands on the provider's tables alone, so the core can be given it
// before the provider, which needs the core, is built.
type Authorizations struct {
	Pool *pgxpool.Pool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// CallbackPath is where a browser whose login answered an authorization request goes on to:
// the provider gives it the code, or the OAuth error, for the client.
const CallbackPath = "/oauth2/callback"

// callbackURL is the URL on kagi that finishes the authorization request id.
func callbackURL(id string) string { return CallbackPath + "?id=" + url.QueryEscape(id) }

// loginURL is the login page, opened for the authorization request id.
func loginURL(id string) string { return "/login?auth_request=" + url.QueryEscape(id) }

// LoggedIn binds a session that just logged in to the authorization request id when it
// answers it, or ends the request with the OAuth error it must have, and returns the URL that
// finishes the authorization. A fresh password session is of an account without a passkey —
// the core lets no other password login make one — so a step-up it cannot meet ends the
// request. A recovery-only session answers nothing: "" and the request stays pending, until
// it expires or the customer, the passkey re-created, logs in with it.
func (az Authorizations) LoggedIn(ctx context.Context, id string, sess auth.Session) (string, error) {
	now := time.Now
	if az.Now != nil {
		now = az.Now
	}
	req, ok, err := loadAuthRequest(ctx, az.Pool, id, now())
	if err != nil || !ok {
		return "", err
	}
	v := judge(req, &sess, sess.Assurance == auth.AssurancePasskey, now())
	if !v.ok && v.failure == "" {
		return "", nil
	}
	if err := answer(ctx, az.Pool, req.ID, sess, v.failure); err != nil {
		return "", err
	}
	return callbackURL(req.ID), nil
}

// loadAuthRequest reads a request that is still waiting for its login or its code.
func loadAuthRequest(ctx context.Context, q pgdb.Querier, id string, now time.Time) (*authRequest, bool, error) {
	if !wellFormedID(id) {
		return nil, false, nil
	}
	rows, err := q.Query(ctx, `SELECT `+authRequestColumns+` FROM oidc_auth_requests
		WHERE id = $1 AND expires_at > $2 AND code_hash IS NULL`, id, now)
	if err != nil {
		return nil, false, err
	}
	req, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[authRequest])
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	return req, err == nil, err
}

// answer records that sess answered the request, or that it ends with failure. A request
// given its code already is not answered again.
func answer(ctx context.Context, q pgdb.Querier, id string, sess auth.Session, failure string) error {
	var f *string
	if failure != "" {
		f = &failure
	}
	_, err := q.Exec(ctx, `UPDATE oidc_auth_requests
		SET account_id = $2, session_hash = $3, auth_time = $4, assurance = $5, failure = $6
		WHERE id = $1 AND code_hash IS NULL`,
		id, sess.AccountID, sess.TokenHash, sess.AuthenticatedAt, string(sess.Assurance), f)
	return err
}

// hashToken is how codes and refresh tokens are stored and looked up.
func hashToken(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// newID draws a random identifier: 128 bits, base64url.
func newID() string { return base64.RawURLEncoding.EncodeToString(randomBytes(16)) }

// wellFormedID reports whether id, from a browser's query, could be one newID drew: anything
// else (a NUL or bytes that are not UTF-8, which PostgreSQL refuses to compare) names no request
// without a query.
func wellFormedID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
