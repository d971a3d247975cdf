package auth

import (
	"context"
	"crypto/sha256"
	"strconv"
	"time"

	"kagi/pgdb"
)

// ThrottlePolicy limits password attempts per login ID: after Max failures within Window the
// login ID is refused for Lockout. While a fallback window is open for the login ID's account
// the attempts are counted apart, per window (windowThrottleKey). Stored in Postgres so it
// holds across replicas.
type ThrottlePolicy struct {
	Max     int
	Window  time.Duration
	Lockout time.Duration
}

// DefaultThrottle allows 5 failures in 15 minutes, then refuses for 15 minutes.
var DefaultThrottle = ThrottlePolicy{Max: 5, Window: 15 * time.Minute, Lockout: 15 * time.Minute}

// throttleKey hashes the login ID as typed: unknown IDs are throttled exactly like known ones,
// and a password mistyped into the ID field is not stored in the clear.
func throttleKey(loginID string) []byte {
	h := sha256.Sum256([]byte("kagi-login-throttle\x00" + loginID))
	return h[:]
}

// windowThrottleKey counts the attempts on a login ID while one fallback window is open for
// its account, from its latest (re)opening. Failures from before the window (anyone can type
// a customer's login ID) then cannot keep the customer from the recovery login the window is
// for, while guesses during the window are limited as before; and an attacker who locks the
// window's count is undone by the customer's next verification, which restarts the window
// with a new end and so a fresh count. Its prefix differs from throttleKey's, so no login ID
// typed into the form can name a window's count.
func windowThrottleKey(loginID string, w Window) []byte {
	h := sha256.Sum256([]byte("kagi-login-throttle-window\x00" + strconv.FormatInt(w.ID, 10) + "\x00" +
		strconv.FormatInt(w.ExpiresAt.UnixNano(), 10) + "\x00" + loginID))
	return h[:]
}

// reserveSQL counts one attempt on a key in one statement, so parallel guesses cannot slip
// past the limit: a lapsed window or lockout starts the count again, and the attempt that
// goes over the limit starts the lockout. Attempts during a lockout still count, so
// lock_started (the count is exactly one over the limit) is true for one attempt only.
const reserveSQL = `
	INSERT INTO login_throttle AS t (login_key, failures, window_start)
	VALUES ($1, 1, $2)
	ON CONFLICT (login_key) DO UPDATE SET
	    failures = CASE
	        WHEN t.locked_until > $2 THEN t.failures + 1
	        WHEN t.window_start <= $2 - $3::interval OR t.locked_until IS NOT NULL THEN 1
	        ELSE t.failures + 1 END,
	    window_start = CASE
	        WHEN t.locked_until > $2 THEN t.window_start
	        WHEN t.window_start <= $2 - $3::interval OR t.locked_until IS NOT NULL THEN $2
	        ELSE t.window_start END,
	    locked_until = CASE
	        WHEN t.locked_until > $2 THEN t.locked_until
	        WHEN t.window_start <= $2 - $3::interval OR t.locked_until IS NOT NULL THEN NULL
	        WHEN t.failures + 1 > $4 THEN $2 + $5::interval END
	RETURNING locked_until, (locked_until IS NOT NULL AND failures = $4 + 1) AS lock_started`

// attempt is the outcome of reserving a password attempt.
type attempt struct {
	allowed bool
	// lockStarted marks the attempt that started a lockout: it is audited.
	lockStarted bool
	lockedUntil time.Time
}

// reserveAttempt counts an attempt under key before the password is checked; a successful
// login clears the count. The attempt is not allowed while the key is locked out, nor when it
// starts the lockout.
func (s *Service) reserveAttempt(ctx context.Context, q pgdb.Querier, key []byte) (attempt, error) {
	p := s.throttle
	var (
		lockedUntil *time.Time
		started     bool
	)
	err := q.QueryRow(ctx, reserveSQL, key, s.now(), p.Window, p.Max, p.Lockout).Scan(&lockedUntil, &started)
	if err != nil {
		return attempt{}, err
	}
	if lockedUntil != nil {
		return attempt{lockStarted: started, lockedUntil: *lockedUntil}, nil
	}
	return attempt{allowed: true}, nil
}

// refundAttempt gives back an attempt reserved under key that was no failure: the right
// password that starts an email check (§2.12). A lockout that began meanwhile stays.
func refundAttempt(ctx context.Context, q pgdb.Querier, key []byte) error {
	_, err := q.Exec(ctx, refundAttemptSQL, key)
	return err
}

// refundAttemptSQL is refundAttempt's statement, for a batch.
const refundAttemptSQL = `UPDATE login_throttle SET failures = failures - 1 WHERE login_key = $1 AND failures > 0 AND locked_until IS NULL`

// clearAttemptsSQL forgets the failures counted under the keys $1 after a successful login.
const clearAttemptsSQL = `DELETE FROM login_throttle WHERE login_key = ANY($1)`

// purgeThrottlesSQL deletes up to $3 lapsed rows, the oldest first, found through the index on
// window_start (migration 002). The outer condition is asked again of a row an attempt counted
// on meanwhile, so a count that started again is kept.
const purgeThrottlesSQL = `
	DELETE FROM login_throttle
	WHERE login_key = ANY (ARRAY(
	    SELECT login_key FROM login_throttle
	    WHERE window_start <= $1::timestamptz - $2::interval AND (locked_until IS NULL OR locked_until <= $1)
	    ORDER BY window_start LIMIT $3))
	  AND window_start <= $1::timestamptz - $2::interval AND (locked_until IS NULL OR locked_until <= $1)`

// PurgeLapsedThrottles deletes up to limit throttle rows whose window and lockout are over.
func PurgeLapsedThrottles(ctx context.Context, q pgdb.Querier, p ThrottlePolicy, now time.Time, limit int) (int64, error) {
	tag, err := q.Exec(ctx, purgeThrottlesSQL, now, p.Window, limit)
	return tag.RowsAffected(), err
}
