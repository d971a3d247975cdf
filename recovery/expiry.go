package recovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/robfig/cron/v3"

	"kagi/auth"
	"kagi/pgdb"
)

// Purge is one clean-up the expiry job runs after closing the windows that ran out, on the
// job's connection while it holds the job's lock. It returns how many rows it removed.
type Purge struct {
	Name string
	Run  func(ctx context.Context, q pgdb.Querier, now time.Time) (int64, error)
}

// corePurges are the auth core's clean-ups (§3.4): ceremonies nobody finished, sessions past
// their end, throttle counts that no longer count.
func (s *Service) corePurges() []Purge {
	return []Purge{
		{Name: "ceremonies", Run: auth.PurgeCeremonies},
		{Name: "sessions", Run: auth.PurgeExpiredSessions},
		{Name: "email_checks", Run: auth.PurgeEmailChecks},
		{Name: "voice_codes", Run: purgeVoiceCodes},
		{Name: "voice_callbacks", Run: purgeVoiceCallbacks},
		{Name: "throttles", Run: func(ctx context.Context, q pgdb.Querier, now time.Time) (int64, error) {
			return auth.PurgeLapsedThrottles(ctx, q, s.throttle, now)
		}},
		{Name: "voice_lockouts", Run: func(ctx context.Context, q pgdb.Querier, now time.Time) (int64, error) {
			return purgeLapsedLockouts(ctx, q, s.lockout, now)
		}},
	}
}

// ExpiryResult is what one run of the expiry job did.
type ExpiryResult struct {
	// Skipped is set when another replica was running the job; nothing else was done.
	Skipped bool
	// Windows is the number of windows closed as expired.
	Windows int64
	// Sessions is the number of recovery-only sessions ended with them.
	Sessions int64
	// Purged counts the rows each Purge removed, by name.
	Purged map[string]int64
}

// expiryLockKey is the advisory lock that lets one replica at a time run the job ("kagiexpy").
const expiryLockKey int64 = 0x6b61676965787079

// expireBatchSQL closes up to $2 windows that ran out by $1, as one set-based statement: the
// windows, their audit lines and the end of their accounts' recovery-only sessions commit
// together.
//
// The statement writes two tables of package auth, which is otherwise done only through auth's
// functions: audit_log (the row auth.Audit would write, one per window) and sessions (what
// auth.EndRecoverySessions deletes, for all the accounts at once). Calling those per window
// would cost a round trip per window, and a backlog after an outage can be tens of thousands.
//
// The batch's rows are looked up as "= ANY (ARRAY(…))", which the planner answers with the
// primary key and sessions' account index; a join against the CTE tempts it into hashing the
// whole table, once per batch.
//
// Like every transaction that changes an account's window or sessions, it locks the accounts
// first (auth.LockAccount's lock), then their windows: the batch takes the accounts of the due
// windows, skipping any an opening, a close, a login or a passkey change holds right now (that
// one records the expiry itself, or the next run does).
const expireBatchSQL = `
	WITH accounts_due AS (
	    SELECT a.id FROM accounts a
	    WHERE a.id = ANY (ARRAY(
	        SELECT account_id FROM fallback_windows
	        WHERE closed_at IS NULL AND expires_at <= $1
	        ORDER BY expires_at
	        LIMIT $2))
	    FOR NO KEY UPDATE SKIP LOCKED
	), due AS (
	    SELECT id FROM fallback_windows
	    WHERE account_id = ANY (ARRAY(SELECT id FROM accounts_due)) AND closed_at IS NULL AND expires_at <= $1
	    FOR UPDATE
	), expired AS (
	    UPDATE fallback_windows w
	    SET closed_at = w.expires_at, close_reason = 'expired'
	    WHERE w.id = ANY (ARRAY(SELECT id FROM due)) AND w.closed_at IS NULL
	    RETURNING w.id, w.account_id
	), audited AS (
	    INSERT INTO audit_log (at, account_id, actor, event, detail)
	    SELECT $1, account_id, $3, 'window_closed', jsonb_build_object('window_id', id, 'close_reason', 'expired')
	    FROM expired
	), ended AS (
	    DELETE FROM sessions s
	    WHERE s.account_id = ANY (ARRAY(SELECT account_id FROM expired)) AND s.assurance = 'password_fallback'
	    RETURNING 1
	)
	SELECT (SELECT count(*) FROM expired), (SELECT count(*) FROM ended)`

// RunExpiry is one run of the expiry job (§3.4): if no other replica is running it, close the
// windows that ran out, then run the purges. An idle run is a probe of the index of open
// windows. Tests and benchmarks call it directly; StartExpiry calls it on a schedule.
func (s *Service) RunExpiry(ctx context.Context) (res ExpiryResult, err error) {
	now := s.now()
	// Each step is a transaction that first takes the job's advisory lock for its own length
	// (pg_try_advisory_xact_lock): nothing is held between transactions, so the job works
	// behind PgBouncer in transaction mode as well as on a direct connection. A replica that
	// finds the lock taken skips (its first step) or stops (a later one): another replica is
	// running the job.
	step := func(fn func(tx pgx.Tx) error) (bool, error) {
		var locked bool
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, expiryLockKey).Scan(&locked); err != nil || !locked {
				return err
			}
			return fn(tx)
		})
		return locked, err
	}
	for first := true; ; first = false {
		var windows, sessions int64
		locked, err := step(func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, expireBatchSQL, now, s.batch, actorExpiry).Scan(&windows, &sessions)
		})
		if err != nil {
			return res, fmt.Errorf("recovery: expiry: close windows: %w", err)
		}
		if !locked {
			res.Skipped = first
			return res, nil
		}
		res.Windows += windows
		res.Sessions += sessions
		if windows < int64(s.batch) {
			break
		}
	}

	res.Purged = make(map[string]int64, len(s.purges))
	var errs []error
	for _, p := range s.purges {
		var n int64
		locked, err := step(func(tx pgx.Tx) error {
			var err error
			n, err = p.Run(ctx, tx, now)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("recovery: expiry: purge %s: %w", p.Name, err))
			continue
		}
		if !locked {
			break
		}
		res.Purged[p.Name] = n
	}
	return res, errors.Join(errs...)
}

// scheduleParser reads KAGI_EXPIRY_SCHEDULE: five cron fields with an optional leading seconds
// field, or a descriptor such as "@every 1m".
var scheduleParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ValidateSchedule checks a KAGI_EXPIRY_SCHEDULE spec, so a bad one stops the start with the
// other configuration problems instead of when the job is scheduled.
func ValidateSchedule(spec string) error {
	_, err := scheduleParser.Parse(spec)
	return err
}

// StartExpiry runs the expiry job on the cron schedule spec (JST) until stop is called. A run
// that would overlap the previous one is skipped and a panic in a run is logged, not fatal
// (§3.4). stop waits for a run in progress, which it cancels, to finish.
func (s *Service) StartExpiry(spec string) (stop func(), err error) {
	if err := ValidateSchedule(spec); err != nil {
		return nil, fmt.Errorf("recovery: expiry schedule %q: %w", spec, err)
	}
	jobLog := cronLogger{log: s.log, info: slog.LevelInfo}
	c := cron.New(
		cron.WithLocation(jst),
		cron.WithParser(scheduleParser),
		cron.WithLogger(cronLogger{log: s.log, info: slog.LevelDebug}),
		cron.WithChain(cron.SkipIfStillRunning(jobLog), cron.Recover(jobLog)),
	)
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := c.AddFunc(spec, func() { s.runScheduled(ctx) }); err != nil {
		cancel()
		return nil, fmt.Errorf("recovery: expiry schedule %q: %w", spec, err)
	}
	c.Start()
	s.log.Info("expiry job started", "schedule", spec)
	return func() {
		cancel()
		<-c.Stop().Done()
	}, nil
}

func (s *Service) runScheduled(ctx context.Context) {
	start := time.Now()
	res, err := s.RunExpiry(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
		s.log.InfoContext(ctx, "expiry run cut short: the job is stopping", "err", err)
		return
	case err != nil:
		s.log.ErrorContext(ctx, "expiry run failed", "err", err)
	}
	if res.Skipped {
		s.log.DebugContext(ctx, "expiry run skipped: another replica holds the lock")
		return
	}
	attrs := []any{"windows", res.Windows, "sessions", res.Sessions, "elapsed_ms", time.Since(start).Milliseconds()}
	level, total := slog.LevelDebug, res.Windows+res.Sessions
	for _, p := range s.purges {
		attrs = append(attrs, "purged_"+p.Name, res.Purged[p.Name])
		total += res.Purged[p.Name]
	}
	if total > 0 {
		level = slog.LevelInfo // an idle run every minute is not news
	}
	s.log.Log(ctx, level, "expiry run", attrs...)
}

// cronLogger is cron's logger on slog. The scheduler's chatter goes to debug; the job chain's
// "skip" is worth info, its recovered panics are errors.
type cronLogger struct {
	log  *slog.Logger
	info slog.Level
}

func (l cronLogger) Info(msg string, kv ...any) {
	l.log.Log(context.Background(), l.info, "expiry job: "+msg, kv...)
}

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("expiry job: "+msg, append(kv, "err", err)...)
}
