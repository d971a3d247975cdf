package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"time"

	"kagi"

	"github.com/jackc/pgx/v5"

	"kagi/pgdb"
	"kagi/web"
)

// SessionCookie is the customer session cookie's name over plain http (development); over
// https it carries the __Host- prefix (SecureSessionCookie), so the browser keeps it only when
// it was set Secure, for the whole origin and no other host.
const (
	SessionCookie       = "kagi_session"
	SecureSessionCookie = "__Host-" + SessionCookie
)

// cookieName is the session cookie's name on this deployment.
func (s *Service) cookieName() string {
	if s.secure {
		return SecureSessionCookie
	}
	return SessionCookie
}

// Session is a logged-in customer.
type Session struct {
	TokenHash       []byte    `db:"token_hash"`
	AccountID       int64     `db:"account_id"`
	LoginID         string    `db:"login_id"`
	AccountNumber   string    `db:"account_number"`
	Name            string    `db:"name"`
	Assurance       Assurance `db:"assurance"`
	CreatedAt       time.Time `db:"created_at"`
	AuthenticatedAt time.Time `db:"authenticated_at"`
	ExpiresAt       time.Time `db:"expires_at"`
	// HoldState is the account's hold (§2.11, §2.13), read with the session.
	HoldState
}

// TokenHash is how a session token (a customer's or a staff member's, NewSessionToken) or an
// email check's ID is stored and looked up: its SHA-256. The token carries 256 random bits, so
// no key is needed to make the hash useless to whoever reads the table.
func TokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// createSessionSQL stores a session: $1 token hash, $2 account, $3 assurance, $4 now, $5 end.
const createSessionSQL = `
	INSERT INTO sessions (token_hash, account_id, assurance, created_at, authenticated_at, expires_at, last_seen_at)
	VALUES ($1, $2, $3, $4, $4, $5, $4)`

// createSession stores a new session in tx and returns its cookie token. A session never
// outlives until (the fallback window's end) when until is non-zero.
func (s *Service) createSession(ctx context.Context, tx pgx.Tx, accountID int64, a Assurance, until time.Time) (string, time.Time, error) {
	token, expires, args := s.newSession(accountID, a, until)
	_, err := tx.Exec(ctx, createSessionSQL, args...)
	return token, expires, err
}

// queueSession is createSession queued on b (a batch, or a pgdb.Tx that sends it with its next
// statement), for a transaction that sends its writes together.
func (s *Service) queueSession(b pgdb.Queuer, accountID int64, a Assurance, until time.Time) (string, time.Time) {
	token, expires, args := s.newSession(accountID, a, until)
	b.Queue(createSessionSQL, args...)
	return token, expires
}

// newSession draws a session's token and returns it, its end and createSessionSQL's arguments.
func (s *Service) newSession(accountID int64, a Assurance, until time.Time) (string, time.Time, []any) {
	now := s.now()
	expires := now.Add(s.ttl)
	if !until.IsZero() && until.Before(expires) {
		expires = until
	}
	token, hash := NewSessionToken()
	return token, expires, []any{hash, accountID, a, now, expires}
}

func (s *Service) setSessionCookie(w http.ResponseWriter, token string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(), Value: token, Path: "/", Expires: expires,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
}

func (s *Service) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	})
}

// SessionFromRequest returns the request's live session — not past its end, and used within
// the idle timeout — and marks it used, in one statement on the primary key.
func (s *Service) SessionFromRequest(ctx context.Context, r *http.Request) (Session, bool, error) {
	c, err := r.Cookie(s.cookieName())
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return Session{}, false, nil
	}
	return s.sessionByHash(ctx, s.pool, TokenHash(c.Value))
}

// sessionSQL finds a live session and, when its last use is over touchAfter old, records this
// one, so a session in use is written at most once a minute.
const sessionSQL = `
	WITH live AS (
	    SELECT s.token_hash, s.account_id, a.login_id, a.account_number, a.name, s.assurance,
	           s.created_at, s.authenticated_at, s.expires_at, a.recovered_at, a.hold_from, a.hold_reason
	    FROM sessions s JOIN accounts a ON a.id = s.account_id
	    WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $2::timestamptz - $3::interval
	      AND a.suspended_at IS NULL
	), touched AS (
	    UPDATE sessions SET last_seen_at = $2
	    WHERE token_hash = $1 AND last_seen_at <= $2::timestamptz - $4::interval AND EXISTS (SELECT 1 FROM live)
	)
	SELECT * FROM live`

// touchAfter is how stale a session's last use may be before a request records it again.
const touchAfter = time.Minute

func (s *Service) sessionByHash(ctx context.Context, q pgdb.Querier, h []byte) (Session, bool, error) {
	rows, err := q.Query(ctx, sessionSQL, h, s.now(), s.idle, touchAfter)
	if err != nil {
		return Session{}, false, err
	}
	sess, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Session])
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, false, nil
	}
	return sess, err == nil, err
}

var errSessionEnded = kagi.Errorf(kagi.Unauthorized, "unauthorized", msgUnauthorized)

// lockSession re-reads the session inside a transaction that acts on it and locks its row
// until commit, so a recovery session whose window closed a moment ago (EndRecoverySessions
// deletes it) cannot still create or delete the passkey. The account is locked first (see
// LockAccount).
func (s *Service) lockSession(ctx context.Context, tx pgx.Tx, sess Session) error {
	if err := LockAccount(ctx, tx, sess.AccountID); err != nil {
		return err
	}
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM sessions WHERE token_hash = $1 AND expires_at > $2 AND last_seen_at > $2::timestamptz - $3::interval FOR UPDATE`,
		sess.TokenHash, s.now(), s.idle).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return errSessionEnded
	}
	return err
}

// EndRecoverySessions ends the account's password_fallback sessions in tx, telling ends (nil
// for no one): a recovery-only session lives no longer than its window (§2.11). Package
// recovery calls it when a window ends.
func EndRecoverySessions(ctx context.Context, tx pgx.Tx, ends SessionEnds, accountID int64) error {
	_, err := endSessions(ctx, tx, ends, `DELETE FROM sessions WHERE account_id = $1 AND assurance = 'password_fallback'
		RETURNING token_hash, account_id`, accountID)
	return err
}

// purgeSessionsSQL deletes up to $2 sessions past their end ($1 now) — their lifetime, or $3
// the idle timeout since their last use — the oldest first, found through sessions_expires and
// sessions_last_seen.
const purgeSessionsSQL = `
	DELETE FROM sessions
	WHERE token_hash = ANY (ARRAY(
	    SELECT token_hash FROM (
	        (SELECT token_hash FROM sessions WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)
	        UNION
	        (SELECT token_hash FROM sessions WHERE last_seen_at <= $1::timestamptz - $3::interval ORDER BY last_seen_at LIMIT $2)
	    ) due LIMIT $2))
	  AND (expires_at <= $1 OR last_seen_at <= $1::timestamptz - $3::interval)
	RETURNING token_hash, account_id`

// purgeEndedSessions deletes up to limit sessions past their lifetime or idle timeout, for the
// expiry job, telling ends: until then an idle session is refused but kept, and the
// applications that got tokens from it learn of its end only here.
func purgeEndedSessions(ctx context.Context, q pgdb.Querier, ends SessionEnds, idle time.Duration, now time.Time, limit int) (int64, error) {
	tx, ok := q.(pgx.Tx)
	if !ok {
		return 0, errNoTx
	}
	return endSessions(ctx, tx, ends, purgeSessionsSQL, now, limit, idle)
}

// sessionHandler is a handler that needs a logged-in customer.
type sessionHandler func(w http.ResponseWriter, r *http.Request, sess Session) error

// withSession loads the session or answers 401. The routes of the core are open to a
// recovery-only session (its assurance tells the brokerage's apps what it may do): the
// passkey's creation and deletion are what it is for. The password change alone refuses it
// (ChangePassword).
func (s *Service) withSession(h sessionHandler) web.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		sess, ok, err := s.SessionFromRequest(r.Context(), r)
		if err != nil {
			return err
		}
		if !ok {
			return kagi.Errorf(kagi.Unauthorized, "unauthorized", msgUnauthorized)
		}
		return h(w, r, sess)
	}
}
