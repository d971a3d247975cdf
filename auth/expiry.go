package auth

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"kagi/pgdb"
)

// PurgeConfig is what the core's purges need of the policies the core itself is given.
type PurgeConfig struct {
	// Throttle is Config.Throttle; zero means DefaultThrottle there and here.
	Throttle ThrottlePolicy
	// SessionIdle is Config.SessionIdle; zero means DefaultSessionIdle there and here.
	SessionIdle time.Duration
	// SessionEnds is Config.SessionEnds: told of the sessions the purge ends.
	SessionEnds SessionEnds
}

// Purges are the core's clean-ups for the expiry job (§3.4), which package recovery runs:
// ceremonies nobody finished, sessions past their lifetime or idle timeout and email checks
// past their end, failed checks that no longer count toward a pause, per-address counts
// whose period is over, and password throttle counts that no longer count under the throttle
// policy. It is a function of the policies, not a method, because the job is built before the
// core, which needs recovery's windows.
func Purges(cfg PurgeConfig) []pgdb.Purge {
	throttle, idle := cfg.Throttle, cfg.SessionIdle
	if throttle == (ThrottlePolicy{}) {
		throttle = DefaultThrottle
	}
	if idle <= 0 {
		idle = DefaultSessionIdle
	}
	return []pgdb.Purge{
		{Name: "ceremonies", Run: PurgeCeremonies},
		{Name: "used_challenges", Run: PurgeUsedChallenges},
		{Name: "sessions", Run: func(ctx context.Context, q pgdb.Querier, now time.Time, limit int) (int64, error) {
			return purgeEndedSessions(ctx, q, cfg.SessionEnds, idle, now, limit)
		}},
		{Name: "email_checks", Run: PurgeEmailChecks},
		{Name: "email_check_failures", Run: PurgeCheckFailures},
		{Name: "client_limits", Run: PurgeClientLimits},
		{Name: "throttles", Run: func(ctx context.Context, q pgdb.Querier, now time.Time, limit int) (int64, error) {
			return PurgeLapsedThrottles(ctx, q, throttle, now, limit)
		}},
	}
}

// ClosedWindow is a fallback window package recovery closed: the audit line names it, and its
// account's recovery-only sessions end with it.
type ClosedWindow struct {
	ID        int64 `db:"id"`
	AccountID int64 `db:"account_id"`
}

// windowsClosedSQL audits each window of the batch ($3 ids, $4 their accounts) as the line
// Audit would write, and ends the recovery-only sessions of the accounts through
// sessions_account: one statement whatever the batch's size.
const windowsClosedSQL = `
	WITH audited AS (
	    INSERT INTO audit_log (at, account_id, actor, event, detail)
	    SELECT $1, w.account_id, $2, 'window_closed', jsonb_build_object('window_id', w.id, 'close_reason', $5::text)
	    FROM unnest($3::bigint[], $4::bigint[]) AS w (id, account_id)
	)
	DELETE FROM sessions WHERE account_id = ANY ($4) AND assurance = 'password_fallback'
	RETURNING token_hash, account_id`

// WindowsClosed records, in the transaction that closed them, a batch of windows closed for
// reason by actor: each one's audit line and the end of its account's password_fallback
// sessions (§2.11), told to ends, as EndRecoverySessions does for one. The expiry job closes thousands at a
// time after an outage, which a round trip per window would turn into minutes; the caller
// holds the accounts' locks (LockAccounts), as for every change of an account's sessions. It
// returns how many sessions ended.
func WindowsClosed(ctx context.Context, tx pgx.Tx, ends SessionEnds, at time.Time, actor string, reason CloseReason, windows []ClosedWindow) (int64, error) {
	ids := make([]int64, len(windows))
	accounts := make([]int64, len(windows))
	for i, w := range windows {
		ids[i], accounts[i] = w.ID, w.AccountID
	}
	return endSessions(ctx, tx, ends, windowsClosedSQL, at, actor, ids, accounts, string(reason))
}
