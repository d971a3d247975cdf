package auth

import (
	"context"
	"crypto/sha256"
	"time"

	"kagi/pgdb"
)

// ThrottlePolicy limits password attempts per login ID: after Max failures within Window the
// login ID is refused for Lockout. Stored in Postgres so it holds across replicas.
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

// reserveAttempt counts an attempt before the password is checked, atomically, so parallel
// guesses cannot slip past the limit; a successful login clears the count. It reports false
// when the login ID is locked out.
func (s *Service) reserveAttempt(ctx context.Context, q pgdb.Querier, loginID string) (bool, error) {
	now := s.now()
	p := s.throttle
	var failures int
	var lockedUntil *time.Time
	err := q.QueryRow(ctx, `
		INSERT INTO login_throttle AS t (login_key, failures, window_start)
		VALUES ($1, 1, $2)
		ON CONFLICT (login_key) DO UPDATE SET
		    failures = CASE
		        WHEN t.locked_until > $2 THEN t.failures
		        WHEN t.window_start <= $2 - $3::interval OR t.locked_until IS NOT NULL THEN 1
		        ELSE t.failures + 1 END,
		    window_start = CASE
		        WHEN t.locked_until > $2 THEN t.window_start
		        WHEN t.window_start <= $2 - $3::interval OR t.locked_until IS NOT NULL THEN $2
		        ELSE t.window_start END,
		    locked_until = CASE WHEN t.locked_until > $2 THEN t.locked_until END
		RETURNING failures, locked_until`,
		throttleKey(loginID), now, p.Window).Scan(&failures, &lockedUntil)
	if err != nil {
		return false, err
	}
	if lockedUntil != nil {
		return false, nil
	}
	if failures > p.Max {
		_, err := q.Exec(ctx, `UPDATE login_throttle SET locked_until = $2 WHERE login_key = $1`,
			throttleKey(loginID), now.Add(p.Lockout))
		return false, err
	}
	return true, nil
}

// clearAttempts forgets the failures of a login ID after a successful login.
func clearAttempts(ctx context.Context, q pgdb.Querier, loginID string) error {
	_, err := q.Exec(ctx, `DELETE FROM login_throttle WHERE login_key = $1`, throttleKey(loginID))
	return err
}

// PurgeLapsedThrottles deletes throttle rows whose window and lockout are over.
func PurgeLapsedThrottles(ctx context.Context, q pgdb.Querier, p ThrottlePolicy, now time.Time) (int64, error) {
	tag, err := q.Exec(ctx, `
		DELETE FROM login_throttle
		WHERE window_start <= $1::timestamptz - $2::interval AND (locked_until IS NULL OR locked_until <= $1)`, now, p.Window)
	return tag.RowsAffected(), err
}
