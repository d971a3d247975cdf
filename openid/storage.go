package openid

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"kagi/auth"
	"kagi/pgdb"
)

// storage is op's Storage over the provider's tables, the clients file, the key store and the
// core's sessions.
type storage struct {
	pool       *pgxpool.Pool
	log        *slog.Logger
	now        func() time.Time
	keys       *KeyStore
	auth       *auth.Service
	clients    map[string]Client
	subjectKey []byte
	emailCheck bool
}

var _ op.Storage = (*storage)(nil)
var _ op.CanSetUserinfoFromRequest = (*storage)(nil)

// subject is the account's sub (SPEC §11.4): stable, opaque, the same for every client — an
// HMAC of the account's id under a key derived from the server secret, so that it tells
// nothing of the login ID or account number and needs no table. It changes only with the
// server secret, which the PIN hashes depend on too.
func (s *storage) subject(accountID int64) string { return subjectOf(s.subjectKey, accountID) }

// amr are the methods (RFC 8176) of a login of assurance a. A passkey login is proof of
// possession of a key ("pop": hwk would overstate a synced passkey, whose key leaves the
// device) with the user verified by the device's unlock, a second factor ("mfa"); which
// unlock (PIN, fingerprint, face) the authenticator does not tell. A password login is "pwd",
// and with the email check a one-time code by mail besides ("otp"), which kagi does not count
// as a second factor.
func (s *storage) amr(a auth.Assurance) []string {
	switch {
	case a == auth.AssurancePasskey:
		return []string{"pop", "mfa"}
	case s.emailCheck:
		return []string{"pwd", "otp"}
	}
	return []string{"pwd"}
}

// CreateAuthRequest stores an authorization request op has checked against its client, with
// kagi's own rules on top: the redirect URI matches one of the client's exactly, PKCE with
// S256 is always required, the scopes are cut to the client's, and an essential acr of the
// claims parameter is taken as the acr_values. The browser's session (put
// in the context by Provider.withSession) is judged at once: a session good enough answers
// the request, and the browser is sent on without the login page; a request no login could
// answer ends at the client at once.
func (s *storage) CreateAuthRequest(ctx context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	c, ok := s.clients[r.ClientID]
	if !ok || !c.RedirectURIAllowed(r.RedirectURI) {
		return nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("the redirect_uri is not one of the client's")
	}
	if r.CodeChallenge == "" || r.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE with code_challenge_method S256 is required")
	}
	scopes := slices.DeleteFunc(slices.Clone(r.Scopes), func(sc string) bool { return !c.ScopeAllowed(sc) })
	if !slices.Contains(scopes, oidc.ScopeOpenID) {
		return nil, oidc.ErrInvalidScope().WithDescription("the openid scope is required")
	}
	now := s.now()
	req := &authRequest{
		ID: newID(), ClientID: c.ID, RedirectURI: r.RedirectURI, Scopes: scopes, State: r.State, Nonce: r.Nonce,
		ResponseMode: string(r.ResponseMode), CodeChallenge: r.CodeChallenge, ACRValues: nonNil(r.ACRValues),
		Prompt: nonNil(r.Prompt), CreatedAt: now.Truncate(time.Microsecond), ExpiresAt: now.Add(AuthRequestLifetime),
	}
	if r.MaxAge != nil {
		m := int32(min(*r.MaxAge, 1<<30))
		req.MaxAge = &m
	}
	st := stateOf(ctx)
	var v verdict
	if st != nil {
		acr, err := essentialACR(st.claims)
		if err != nil {
			return nil, oidc.ErrInvalidRequest().WithDescription("the claims parameter is not a JSON object of OpenID Connect Core 1.0 section 5.5")
		}
		if acr != nil {
			req.ACRValues = acr
		}
		hasPasskey := false
		if sess := st.session; sess != nil && wantsPasskey(req.ACRValues) && sess.Assurance == auth.AssurancePassword {
			var err error
			if _, hasPasskey, err = s.auth.PasskeyOf(ctx, s.pool, sess.AccountID); err != nil {
				return nil, err
			}
		}
		v = judge(req, st.session, hasPasskey, now)
	}
	if v.failure != "" {
		// The client is told at once: nothing to wait for.
		return nil, oauthError(v.failure)
	}
	if v.ok {
		sess := st.session
		a := string(sess.Assurance)
		req.AccountID, req.SessionHash, req.AuthTime, req.Assurance = &sess.AccountID, sess.TokenHash, &sess.AuthenticatedAt, &a
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO oidc_auth_requests (`+authRequestColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		req.ID, req.ClientID, req.RedirectURI, req.Scopes, req.State, req.Nonce, req.ResponseMode, req.CodeChallenge,
		req.ACRValues, req.MaxAge, req.Prompt, req.CreatedAt, req.ExpiresAt, req.AccountID, req.SessionHash, req.AuthTime,
		req.Assurance, req.Failure)
	if err != nil {
		return nil, err
	}
	if st != nil {
		st.next = loginURL(req.ID)
		if v.ok {
			st.next = callbackURL(req.ID)
		}
	}
	return req, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// AuthRequestByID reads a request still waiting for its login or code.
func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	req, ok, err := loadAuthRequest(ctx, s.pool, id, s.now())
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("no such authorization request")
	}
	return req, nil
}

// SaveAuthCode gives an answered request its code, once: a request yields one code
// (RFC 6749 §4.1.2), so a second visit to the callback is refused.
func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	now := s.now()
	tag, err := s.pool.Exec(ctx, `UPDATE oidc_auth_requests SET code_hash = $2, code_expires_at = $3
		WHERE id = $1 AND code_hash IS NULL AND account_id IS NOT NULL AND failure IS NULL AND expires_at > $4`,
		id, hashToken(code), now.Add(CodeLifetime), now)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return oidc.ErrInvalidRequest().WithDescription("the authorization request was answered already")
	}
	return nil
}

// AuthRequestByCode redeems a code: it is used up by this very statement, whatever follows
// (a wrong verifier, another client), so it works once. A code used before revokes the grant
// its first use made (RFC 6749 §4.1.2): someone else holds it. The login's session must still
// be live: the tokens never outlive it.
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	now := s.now()
	h := hashToken(code)
	rows, err := s.pool.Query(ctx, `UPDATE oidc_auth_requests SET code_used_at = $2
		WHERE code_hash = $1 AND code_used_at IS NULL AND code_expires_at > $2
		RETURNING `+authRequestColumns, h, now)
	if err != nil {
		return nil, err
	}
	req, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[authRequest])
	if errors.Is(err, pgx.ErrNoRows) {
		tag, err := s.pool.Exec(ctx, `UPDATE oidc_grants SET revoked_at = $2
			WHERE revoked_at IS NULL AND auth_request_id = (SELECT id FROM oidc_auth_requests WHERE code_hash = $1 AND code_used_at IS NOT NULL)`, h, now)
		if err != nil {
			return nil, err
		}
		if tag.RowsAffected() > 0 {
			s.log.WarnContext(ctx, "openid: an authorization code used twice; its tokens are revoked")
		}
		return nil, errors.New("unknown, expired or used code")
	}
	if err != nil {
		return nil, err
	}
	sess, ok, err := s.auth.SessionByTokenHash(ctx, req.SessionHash)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("the session of the login has ended")
	}
	req.session = &sess
	req.subject = s.subject(*req.AccountID)
	req.amr = s.amr(auth.Assurance(*req.Assurance))
	return req, nil
}

// DeleteAuthRequest keeps the request: its used code must be known as used (AuthRequestByCode).
// The expiry job purges it.
func (s *storage) DeleteAuthRequest(context.Context, string) error { return nil }

// grant is one redeemed code's family of tokens.
type grant struct {
	ID               string    `db:"id"`
	ClientID         string    `db:"client_id"`
	AccountID        int64     `db:"account_id"`
	SessionHash      []byte    `db:"session_hash"`
	SessionExpiresAt time.Time `db:"session_expires_at"`
	Scopes           []string  `db:"scopes"`
	AuthTime         time.Time `db:"auth_time"`
	Assurance        string    `db:"assurance"`
}

// refreshRequest is a refresh token's grant, as op reads it (op.RefreshTokenRequest).
type refreshRequest struct {
	grant
	subject string
	amr     []string
	session auth.Session
	scopes  []string
}

func (r *refreshRequest) GetAMR() []string            { return r.amr }
func (r *refreshRequest) GetAudience() []string       { return []string{r.ClientID} }
func (r *refreshRequest) GetAuthTime() time.Time      { return r.AuthTime }
func (r *refreshRequest) GetClientID() string         { return r.ClientID }
func (r *refreshRequest) GetScopes() []string         { return r.scopes }
func (r *refreshRequest) GetSubject() string          { return r.subject }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.scopes = s }

// CreateAccessToken issues the access token of a code redeemed without offline_access.
func (s *storage) CreateAccessToken(ctx context.Context, tr op.TokenRequest) (string, time.Time, error) {
	req, ok := tr.(*authRequest)
	if !ok {
		return "", time.Time{}, oidc.ErrUnsupportedGrantType()
	}
	var (
		id  string
		exp time.Time
	)
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.keepSession(ctx, tx, req.SessionHash); err != nil {
			return err
		}
		g, err := s.newGrant(ctx, tx, req)
		if err != nil {
			return err
		}
		id, exp, err = s.newAccessToken(ctx, tx, g)
		return err
	})
	return id, exp, err
}

// CreateAccessAndRefreshTokens issues an access and a refresh token: for a code redeemed with
// offline_access, a new grant; for a refresh token, the next of its grant, the one presented
// used up in the same statement that finds it unused — if another request used it first, the
// token was used twice and the grant is revoked.
func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, tr op.TokenRequest, current string) (string, string, time.Time, error) {
	var (
		id, refresh string
		exp         time.Time
	)
	reused := false
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var g grant
		switch req := tr.(type) {
		case *authRequest:
			if err := s.keepSession(ctx, tx, req.SessionHash); err != nil {
				return err
			}
			var err error
			if g, err = s.newGrant(ctx, tx, req); err != nil {
				return err
			}
		case *refreshRequest:
			if err := s.keepSession(ctx, tx, req.SessionHash); err != nil {
				return err
			}
			// The grant was revoked (its session ended) since TokenRequestByRefreshToken read it:
			// the token is refused, not counted as used twice.
			var live bool
			if err := tx.QueryRow(ctx, `SELECT revoked_at IS NULL FROM oidc_grants WHERE id = $1`, req.ID).Scan(&live); err != nil {
				return err
			}
			if !live {
				return oidc.ErrInvalidGrant().WithDescription("the session of the login has ended")
			}
			tag, err := tx.Exec(ctx, `UPDATE oidc_refresh_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND grant_id = $3`,
				hashToken(current), s.now(), req.ID)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				reused = true
				return nil
			}
			g = req.grant
		default:
			return oidc.ErrUnsupportedGrantType()
		}
		var err error
		if id, exp, err = s.newAccessToken(ctx, tx, g); err != nil {
			return err
		}
		refresh, err = s.newRefreshToken(ctx, tx, g)
		return err
	})
	if err == nil && reused {
		err = s.revokeReused(ctx, tr.(*refreshRequest).ID)
	}
	return id, refresh, exp, err
}

// keepSession keeps the session of the tokens tx issues live until tx ends (auth.KeepSession),
// or refuses them if it has ended: a session's end revokes every token issued from it.
func (s *storage) keepSession(ctx context.Context, tx pgx.Tx, h []byte) error {
	live, err := s.auth.KeepSession(ctx, tx, h)
	if err == nil && !live {
		err = oidc.ErrInvalidGrant().WithDescription("the session of the login has ended")
	}
	return err
}

// revokeReused revokes a grant one of whose refresh tokens was used twice.
func (s *storage) revokeReused(ctx context.Context, grantID string) error {
	if err := s.revokeGrant(ctx, grantID); err != nil {
		return err
	}
	s.log.WarnContext(ctx, "openid: a refresh token used twice; its grant is revoked", "grant", grantID)
	return oidc.ErrInvalidGrant().WithDescription("the refresh token was used already")
}

func (s *storage) revokeGrant(ctx context.Context, grantID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE oidc_grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, grantID, s.now())
	return err
}

// newGrant stores the grant a redeemed code makes: one per authorization request.
func (s *storage) newGrant(ctx context.Context, tx pgx.Tx, req *authRequest) (grant, error) {
	if req.session == nil {
		return grant{}, errors.New("openid: a grant of a request without its session")
	}
	g := grant{
		ID: newID(), ClientID: req.ClientID, AccountID: *req.AccountID, SessionHash: req.SessionHash,
		SessionExpiresAt: req.session.ExpiresAt, Scopes: req.Scopes, AuthTime: *req.AuthTime, Assurance: *req.Assurance,
	}
	_, err := tx.Exec(ctx, `INSERT INTO oidc_grants (id, auth_request_id, client_id, account_id, session_hash, session_expires_at,
		scopes, auth_time, assurance, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		g.ID, req.ID, g.ClientID, g.AccountID, g.SessionHash, g.SessionExpiresAt, g.Scopes, g.AuthTime, g.Assurance, s.now())
	return g, err
}

// newAccessToken stores an access token of g, living AccessTokenLifetime or until the session's end.
func (s *storage) newAccessToken(ctx context.Context, tx pgx.Tx, g grant) (string, time.Time, error) {
	exp := s.now().Add(AccessTokenLifetime)
	if g.SessionExpiresAt.Before(exp) {
		exp = g.SessionExpiresAt
	}
	id := newID()
	_, err := tx.Exec(ctx, `INSERT INTO oidc_access_tokens (id, grant_id, expires_at) VALUES ($1, $2, $3)`, id, g.ID, exp)
	return id, exp, err
}

// newRefreshToken stores a refresh token of g: 256 random bits, kept as a hash, living until
// the session's end at the latest.
func (s *storage) newRefreshToken(ctx context.Context, tx pgx.Tx, g grant) (string, error) {
	token := base64.RawURLEncoding.EncodeToString(randomBytes(32))
	_, err := tx.Exec(ctx, `INSERT INTO oidc_refresh_tokens (token_hash, grant_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		hashToken(token), g.ID, s.now(), g.SessionExpiresAt)
	return token, err
}

const grantColumns = `g.id, g.client_id, g.account_id, g.session_hash, g.session_expires_at, g.scopes, g.auth_time, g.assurance`

// refreshRow is a refresh token with its grant.
type refreshRow struct {
	grant
	UsedAt    *time.Time `db:"used_at"`
	ExpiresAt time.Time  `db:"expires_at"`
	RevokedAt *time.Time `db:"revoked_at"`
}

// TokenRequestByRefreshToken finds a refresh token's grant. A token used before is a token
// used twice: its grant is revoked. So is a grant whose kagi session has ended.
func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	row, ok, err := s.refreshRow(ctx, token)
	if err != nil {
		return nil, err
	}
	now := s.now()
	switch {
	case !ok || row.RevokedAt != nil || !row.ExpiresAt.After(now):
		return nil, op.ErrInvalidRefreshToken
	case row.UsedAt != nil:
		return nil, s.revokeReused(ctx, row.ID)
	}
	sess, live, err := s.auth.SessionByTokenHash(ctx, row.SessionHash)
	if err != nil {
		return nil, err
	}
	if !live {
		if err := s.revokeGrant(ctx, row.ID); err != nil {
			return nil, err
		}
		return nil, oidc.ErrInvalidGrant().WithDescription("the session of the login has ended")
	}
	return &refreshRequest{grant: row.grant, subject: s.subject(row.AccountID), amr: s.amr(auth.Assurance(row.Assurance)),
		session: sess, scopes: row.Scopes}, nil
}

func (s *storage) refreshRow(ctx context.Context, token string) (refreshRow, bool, error) {
	if token == "" || len(token) > 128 {
		return refreshRow{}, false, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+grantColumns+`, r.used_at, r.expires_at, g.revoked_at
		FROM oidc_refresh_tokens r JOIN oidc_grants g ON g.id = r.grant_id WHERE r.token_hash = $1`, hashToken(token))
	if err != nil {
		return refreshRow{}, false, err
	}
	row, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[refreshRow])
	if errors.Is(err, pgx.ErrNoRows) {
		return refreshRow{}, false, nil
	}
	return row, err == nil, err
}

// TerminateSession is op's own end_session handler's, which kagi does not mount: the
// browser's session is ended by Provider.endSession, which needs the browser's cookie.
func (s *storage) TerminateSession(context.Context, string, string) error {
	return oidc.ErrServerError().WithDescription("logout is served by the provider's own handler")
}

// refreshTokenIDPrefix marks a grant's id handed to RevokeToken for a refresh token.
const refreshTokenIDPrefix = "refresh:"

// GetRefreshTokenInfo names a refresh token of the client for its revocation (RFC 7009).
func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	row, ok, err := s.refreshRow(ctx, token)
	if err != nil {
		return "", "", err
	}
	if !ok || row.ClientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return s.subject(row.AccountID), refreshTokenIDPrefix + row.ID, nil
}

// RevokeToken revokes, for the client that holds it, a refresh token — its whole grant — or
// an access token. A token that is not the client's is left alone, and answered as revoked
// (RFC 7009 §2.2).
func (s *storage) RevokeToken(ctx context.Context, tokenOrID, _, clientID string) *oidc.Error {
	var err error
	if grantID, ok := strings.CutPrefix(tokenOrID, refreshTokenIDPrefix); ok {
		_, err = s.pool.Exec(ctx, `UPDATE oidc_grants SET revoked_at = $3 WHERE id = $1 AND client_id = $2 AND revoked_at IS NULL`,
			grantID, clientID, s.now())
	} else {
		_, err = s.pool.Exec(ctx, `DELETE FROM oidc_access_tokens a USING oidc_grants g
			WHERE a.id = $1 AND g.id = a.grant_id AND g.client_id = $2`, tokenOrID, clientID)
	}
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

// opKey is a key of the key store as op signs with or publishes it.
type opKey struct {
	id  string
	key any
}

func (k opKey) ID() string                                  { return k.id }
func (k opKey) Key() any                                    { return k.key }
func (k opKey) Algorithm() jose.SignatureAlgorithm          { return jose.ES256 }
func (k opKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (k opKey) Use() string                                 { return "sig" }

// SigningKey is the key store's current key.
func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	k, err := s.keys.Current(ctx)
	if err != nil {
		return nil, err
	}
	return opKey{id: k.ID, key: k.PrivateKey}, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.ES256}, nil
}

// KeySet is the key store's published keys: the JWKS.
func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) {
	pub, err := s.keys.Published(ctx)
	if err != nil {
		return nil, err
	}
	keys := make([]op.Key, len(pub))
	for i, k := range pub {
		keys[i] = opKey{id: k.ID, key: k.PublicKey}
	}
	return keys, nil
}

// GetClientByClientID finds a client of the clients file. The client carries the
// authorization's state, when there is one, for op.Client.LoginURL. An unknown client is
// OAuth's invalid_client, which op answers as the caller's mistake (an error of another kind it
// answers as its own: 500 server_error).
func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, ok := s.clients[id]
	if !ok {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
	}
	return &opClient{Client: c, state: stateOf(ctx)}, nil
}

// AuthorizeClientIDSecret checks a confidential client's secret.
func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	c, ok := s.clients[id]
	if !ok || !c.CheckSecret(secret) {
		return oidc.ErrInvalidClient().WithDescription("unknown client or wrong secret")
	}
	return nil
}

// SetUserinfoFromScopes is op's deprecated way; SetUserinfoFromRequest does the work.
func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest writes the ID token's claims of a redeemed code or a refresh, with the
// sid of the kagi session (OpenID Back-Channel Logout 1.0 §2.1) that its logout token names.
func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, r op.IDTokenRequest, scopes []string) error {
	switch req := r.(type) {
	case *authRequest:
		s.claims(info, req.subject, *req.session, scopes)
		info.AppendClaims("sid", sessionID(s.subjectKey, req.session.TokenHash))
	case *refreshRequest:
		s.claims(info, req.subject, req.session, scopes)
		info.AppendClaims("sid", sessionID(s.subjectKey, req.session.TokenHash))
		// op sets acr only from an authorization request; a refreshed ID token tells the same
		// login's, as its amr and auth_time do.
		info.AppendClaims("acr", acrOf(auth.Assurance(req.Assurance)))
	default:
		return errors.New("openid: claims of an unknown request")
	}
	return nil
}

// SetUserinfoFromToken answers the userinfo endpoint for a live access token of a grant
// whose session is live.
func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	rows, err := s.pool.Query(ctx, `SELECT `+grantColumns+` FROM oidc_access_tokens a JOIN oidc_grants g ON g.id = a.grant_id
		WHERE a.id = $1 AND a.expires_at > $2 AND g.revoked_at IS NULL`, tokenID, s.now())
	if err != nil {
		return err
	}
	g, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[grant])
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && s.subject(g.AccountID) != subject) {
		return oidc.ErrAccessDenied().WithDescription("the access token is not valid")
	}
	if err != nil {
		return err
	}
	sess, live, err := s.auth.SessionByTokenHash(ctx, g.SessionHash)
	if err != nil {
		return err
	}
	if !live {
		return oidc.ErrAccessDenied().WithDescription("the session of the login has ended")
	}
	s.claims(info, subject, sess, g.Scopes)
	return nil
}

// claims writes the account's claims (SPEC §11.4): sub; name with profile; account_number
// with account; and always the hold, as kagi_hold_until (seconds since the epoch, as exp and
// auth_time) and kagi_hold_reason, both null when no hold applies.
func (s *storage) claims(info *oidc.UserInfo, subject string, sess auth.Session, scopes []string) {
	info.Subject = subject
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.Name = sess.Name
	}
	if slices.Contains(scopes, "account") {
		info.AppendClaims("account_number", sess.AccountNumber)
	}
	hold := s.auth.HoldOf(sess.HoldState)
	var until, reason any
	if hold.HoldUntil != nil && hold.Reason != nil {
		until, reason = hold.HoldUntil.Unix(), *hold.Reason
	}
	info.AppendClaims("kagi_hold_until", until)
	info.AppendClaims("kagi_hold_reason", reason)
}

func (s *storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errors.New("introspection is not served")
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("no client keys: JWT assertions are not accepted")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the JWT profile grant is not served")
}

func (s *storage) Health(ctx context.Context) error { return s.pool.Ping(ctx) }

// opClient is a Client as op reads it.
type opClient struct {
	Client
	state *authorizeState
}

func (c *opClient) GetID() string                    { return c.ID }
func (c *opClient) RedirectURIs() []string           { return c.Client.RedirectURIs }
func (c *opClient) PostLogoutRedirectURIs() []string { return c.Client.PostLogoutRedirectURIs }

// ApplicationType: a public client is a native app (or a page's script) proving itself by
// PKCE alone; kagi still matches its redirect URIs exactly (CreateAuthRequest).
func (c *opClient) ApplicationType() op.ApplicationType {
	if c.Public {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

func (c *opClient) AuthMethod() oidc.AuthMethod {
	if c.Public {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

func (c *opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *opClient) GrantTypes() []oidc.GrantType {
	g := []oidc.GrantType{oidc.GrantTypeCode}
	if c.ScopeAllowed(oidc.ScopeOfflineAccess) {
		g = append(g, oidc.GrantTypeRefreshToken)
	}
	return g
}

// LoginURL is where op sends the browser after storing its request: the login page, or — the
// browser's session answered the request already — on to the callback.
func (c *opClient) LoginURL(id string) string {
	if c.state != nil && c.state.next != "" {
		return c.state.next
	}
	return loginURL(id)
}

func (c *opClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *opClient) IDTokenLifetime() time.Duration      { return IDTokenLifetime }
func (c *opClient) DevMode() bool                       { return false }
func (c *opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *opClient) IsScopeAllowed(scope string) bool { return c.ScopeAllowed(scope) }

// IDTokenUserinfoClaimsAssertion puts the claims of the scopes (name) in the ID token too, so
// that an application reads the login from one token.
func (c *opClient) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *opClient) ClockSkew() time.Duration             { return 0 }
