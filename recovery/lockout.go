package recovery

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"kagi/pgdb"
)

// LockoutPolicy is §4.4: so many failed verifications of one account, or from one caller
// number, within Window lock that subject out of the voice line for Lockout.
type LockoutPolicy struct {
	AccountMax int
	CallerMax  int
	Window     time.Duration
	Lockout    time.Duration
}

// DefaultLockout is §4.4's 5 per account and 10 per caller number in 24 hours, for 24 hours.
var DefaultLockout = LockoutPolicy{AccountMax: 5, CallerMax: 10, Window: 24 * time.Hour, Lockout: 24 * time.Hour}

type subjectKind string

const (
	subjectAccount subjectKind = "account"
	subjectCaller  subjectKind = "caller"
)

// lockoutRow is one subject's count, locked FOR UPDATE for the rest of the transaction.
type lockoutRow struct {
	kind        subjectKind
	subject     string
	failures    int
	lockedUntil *time.Time
}

func (r lockoutRow) locked(now time.Time) bool {
	return r.lockedUntil != nil && r.lockedUntil.After(now)
}

// lockSubject fetches and row-locks a subject's count, creating it, and starts a new count
// when the previous window has passed (and no lockout is running).
func lockSubject(ctx context.Context, tx pgx.Tx, kind subjectKind, subject string, p LockoutPolicy, now time.Time) (lockoutRow, error) {
	r := lockoutRow{kind: kind, subject: subject}
	err := tx.QueryRow(ctx, `
		INSERT INTO voice_lockouts AS v (subject_kind, subject, failures, window_start)
		VALUES ($1, $2, 0, $3)
		ON CONFLICT (subject_kind, subject) DO UPDATE SET
		    failures = CASE WHEN v.locked_until > $3 OR v.window_start > $3 - $4::interval
		                    THEN v.failures ELSE 0 END,
		    window_start = CASE WHEN v.locked_until > $3 OR v.window_start > $3 - $4::interval
		                        THEN v.window_start ELSE $3 END,
		    locked_until = CASE WHEN v.locked_until > $3 THEN v.locked_until END
		RETURNING failures, locked_until`, kind, subject, now, p.Window).Scan(&r.failures, &r.lockedUntil)
	return r, err
}

// recordFailure counts one failure and reports whether it started a lockout.
func recordFailure(ctx context.Context, tx pgx.Tx, r lockoutRow, max int, p LockoutPolicy, now time.Time) (bool, error) {
	var locked bool
	err := tx.QueryRow(ctx, `
		UPDATE voice_lockouts SET
		    failures = failures + 1,
		    locked_until = CASE WHEN failures + 1 >= $3 THEN $4 ELSE locked_until END
		WHERE subject_kind = $1 AND subject = $2
		RETURNING locked_until IS NOT NULL`, r.kind, r.subject, max, now.Add(p.Lockout)).Scan(&locked)
	return locked, err
}

// clearFailures forgets a subject's failures after a successful verification.
func clearFailures(ctx context.Context, tx pgx.Tx, r lockoutRow) error {
	_, err := tx.Exec(ctx, `DELETE FROM voice_lockouts WHERE subject_kind = $1 AND subject = $2`, r.kind, r.subject)
	return err
}

func accountSubject(id int64) string { return strconv.FormatInt(id, 10) }

// purgeLapsedLockouts removes counts whose window and lockout are both over.
func purgeLapsedLockouts(ctx context.Context, q pgdb.Querier, p LockoutPolicy, now time.Time) (int64, error) {
	tag, err := q.Exec(ctx, `
		DELETE FROM voice_lockouts
		WHERE window_start <= $1::timestamptz - $2::interval AND (locked_until IS NULL OR locked_until <= $1)`, now, p.Window)
	return tag.RowsAffected(), err
}
