package openid

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/zitadel/oidc/v3/pkg/crypto"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"kagi/auth"
	"kagi/notify"
)

// LogoutTokenLifetime is how long a back-channel logout token may be accepted: it is made
// right before each try of its delivery, so it need not outlive one.
const LogoutTokenLifetime = 2 * time.Minute

// logoutAttempts bounds the tries of a logout token's delivery: with river's backoff
// (attempt⁴ seconds) about four hours of an application being down are ridden out.
const logoutAttempts = 10

// logoutTimeout bounds one try of a delivery.
const logoutTimeout = 10 * time.Second

// logoutArgs is a back-channel logout waiting for its delivery (OpenID Back-Channel Logout
// 1.0): to which client, of which account's session. The token itself is made and signed at
// each try, with the key of that moment.
type logoutArgs struct {
	ClientID string `json:"client_id"`
	Subject  string `json:"sub"`
	SID      string `json:"sid"`
}

func (logoutArgs) Kind() string { return "oidc_backchannel_logout" }

func (logoutArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: logoutAttempts} }

// sessionID is the sid of a kagi session (its token hash) as the applications see it, in the ID
// tokens and the logout tokens: an HMAC under the subjects' key, so it tells nothing of the
// session's token and needs no table.
func sessionID(key, tokenHash []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("session:"))
	m.Write(tokenHash)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// subjectOf is the account's sub (storage.subject).
func subjectOf(key []byte, accountID int64) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "account:%d", accountID)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// SessionEndsConfig is what SessionEnds needs, loaded once at start.
type SessionEndsConfig struct {
	// Secret is the server secret (KAGI_PIN_KEY), which the subjects and sids derive from.
	Secret  []byte
	Clients []Client
	// Outbox takes the logout tokens' deliveries in the transaction that ends the session; its
	// river client must have LogoutSender's worker (notify.Config.Workers).
	Outbox *notify.Outbox
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// SessionEnds is the provider's side of a kagi session's end (auth.SessionEnds, SPEC §11.5):
// in the transaction that ends the session, the grants its applications got from it are
// revoked with their access and refresh tokens, and each of those applications that has a
// backchannel_logout_uri is sent a logout token through the outbox.
type SessionEnds struct {
	clients    map[string]Client
	subjectKey []byte
	outbox     *notify.Outbox
	now        func() time.Time
}

var _ auth.SessionEnds = (*SessionEnds)(nil)

// NewSessionEnds checks cfg and builds the provider's SessionEnds.
func NewSessionEnds(cfg SessionEndsConfig) (*SessionEnds, error) {
	if len(cfg.Secret) < 16 || cfg.Outbox == nil {
		return nil, errors.New("openid: SessionEnds needs a server secret of at least 16 bytes and an Outbox")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &SessionEnds{clients: clientMap(cfg.Clients), subjectKey: subjectKeyFrom(cfg.Secret), outbox: cfg.Outbox, now: cfg.Now}, nil
}

func clientMap(list []Client) map[string]Client {
	m := make(map[string]Client, len(list))
	for _, c := range list {
		m[c.ID] = c
	}
	return m
}

// revokeSessionsSQL revokes the grants of the sessions $1 (token hashes) at $2, deletes their
// access tokens, and returns each client and session that had one.
const revokeSessionsSQL = `
	WITH g AS (
	    UPDATE oidc_grants SET revoked_at = COALESCE(revoked_at, $2)
	    WHERE session_hash = ANY ($1)
	    RETURNING id, client_id, account_id, session_hash
	), a AS (
	    DELETE FROM oidc_access_tokens WHERE grant_id IN (SELECT id FROM g)
	)
	SELECT DISTINCT client_id, account_id, session_hash FROM g`

// SessionsEnded revokes what the applications got from the ended sessions and enqueues their
// logout tokens, in tx.
func (e *SessionEnds) SessionsEnded(ctx context.Context, tx pgx.Tx, ended []auth.EndedSession) error {
	hashes := make([][]byte, len(ended))
	for i, s := range ended {
		hashes[i] = s.TokenHash
	}
	rows, err := tx.Query(ctx, revokeSessionsSQL, hashes, e.now())
	if err != nil {
		return err
	}
	type clientSession struct {
		ClientID    string `db:"client_id"`
		AccountID   int64  `db:"account_id"`
		SessionHash []byte `db:"session_hash"`
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByName[clientSession])
	if err != nil {
		return err
	}
	var jobs []river.InsertManyParams
	for _, g := range got {
		if e.clients[g.ClientID].BackchannelLogoutURI == "" {
			continue
		}
		jobs = append(jobs, river.InsertManyParams{Args: logoutArgs{ClientID: g.ClientID,
			Subject: subjectOf(e.subjectKey, g.AccountID), SID: sessionID(e.subjectKey, g.SessionHash)}})
	}
	return e.outbox.EnqueueJobs(ctx, tx, jobs)
}

// LogoutSenderConfig is what LogoutSender needs, loaded once at start.
type LogoutSenderConfig struct {
	// Issuer is KAGI_PUBLIC_URL, the logout tokens' iss.
	Issuer  string
	Keys    *KeyStore
	Clients []Client
	Log     *slog.Logger
	// HTTP is the client the tokens are posted with; nil means one with logoutTimeout. It
	// never follows a redirect.
	HTTP *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// LogoutSender delivers the back-channel logout tokens SessionEnds enqueued: the outbox's
// river client works them (Register), retrying an application that does not answer.
type LogoutSender struct {
	issuer  string
	keys    *KeyStore
	clients map[string]Client
	log     *slog.Logger
	http    *http.Client
	now     func() time.Time
}

// NewLogoutSender checks cfg and builds the sender.
func NewLogoutSender(cfg LogoutSenderConfig) (*LogoutSender, error) {
	if cfg.Issuer == "" || cfg.Keys == nil {
		return nil, errors.New("openid: a LogoutSender needs Issuer and Keys")
	}
	l := &LogoutSender{issuer: cfg.Issuer, keys: cfg.Keys, clients: clientMap(cfg.Clients), log: cfg.Log, http: cfg.HTTP, now: cfg.Now}
	if l.log == nil {
		l.log = slog.Default()
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.http == nil {
		l.http = &http.Client{Timeout: logoutTimeout}
	}
	noRedirect := *l.http
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	l.http = &noRedirect
	return l, nil
}

// Register adds the sender's worker to the outbox's river workers (notify.Config.Workers).
func (l *LogoutSender) Register(w *river.Workers) { river.AddWorker(w, &logoutWorker{l: l}) }

// logoutWorker posts one logout token.
type logoutWorker struct {
	river.WorkerDefaults[logoutArgs]
	l *LogoutSender
}

func (w *logoutWorker) Timeout(*river.Job[logoutArgs]) time.Duration {
	return logoutTimeout + 5*time.Second
}

// Work signs a logout token and posts it to the client's backchannel_logout_uri, form-encoded
// as logout_token (§2.5). An answer of 2xx delivers it; a refusal the application would repeat
// (a 4xx but 408 and 429) ends the delivery; anything else is tried again later.
func (w *logoutWorker) Work(ctx context.Context, job *river.Job[logoutArgs]) error {
	l, a := w.l, job.Args
	c, ok := l.clients[a.ClientID]
	if !ok || c.BackchannelLogoutURI == "" {
		return river.JobCancel(fmt.Errorf("client %q takes no back-channel logout now", a.ClientID))
	}
	token, err := l.token(ctx, a)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelLogoutURI,
		strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		return river.JobCancel(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := l.http.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
	res.Body.Close()
	switch s := res.StatusCode; {
	case s >= 200 && s < 300:
		l.log.InfoContext(ctx, "openid: back-channel logout delivered", "client", a.ClientID)
		return nil
	case s >= 400 && s < 500 && s != http.StatusRequestTimeout && s != http.StatusTooManyRequests:
		return river.JobCancel(fmt.Errorf("client %q refused the logout token: %d", a.ClientID, s))
	default:
		return fmt.Errorf("client %q answered the logout token with %d", a.ClientID, s)
	}
}

// token makes and signs a logout token (§2.4) with the key store's current key: iss, aud, iat,
// exp, jti, sub, sid and the back-channel logout event, no nonce, typed logout+jwt (§2.4,
// RFC 8725 §3.11) so that no application takes it for an ID token.
func (l *LogoutSender) token(ctx context.Context, a logoutArgs) (string, error) {
	k, err := l.keys.Current(ctx)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: &jose.JSONWebKey{Key: k.PrivateKey, KeyID: k.ID}},
		(&jose.SignerOptions{}).WithType("logout+jwt"))
	if err != nil {
		return "", err
	}
	now := l.now()
	claims := &oidc.LogoutTokenClaims{
		Issuer: l.issuer, Subject: a.Subject, Audience: oidc.Audience{a.ClientID},
		IssuedAt: oidc.FromTime(now), Expiration: oidc.FromTime(now.Add(LogoutTokenLifetime)), JWTID: newID(),
		Events:    map[string]any{backchannelLogoutEvent: struct{}{}},
		SessionID: a.SID,
	}
	return crypto.Sign(claims, signer)
}

// backchannelLogoutEvent is the event a logout token carries (§2.4).
const backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"
