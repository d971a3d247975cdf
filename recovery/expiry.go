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

// jst is Japan Standard Time (auth.JST): the expiry job's schedule and the service API's times
// do not depend on the machine's time zone database.
var jst = auth.JST

// ownPurges are recovery's clean-ups (§3.4): texted codes and call backs past their time,
// voice-line failures, lock rows and second-channel sends that no longer count.
func (s *Service) ownPurges() []pgdb.Purge {
	return []pgdb.Purge{
		{Name: "voice_codes", Run: purgeVoiceCodes},
		{Name: "voice_callbacks", Run: purgeVoiceCallbacks},
		{Name: "voice_lockouts", Run: func(ctx context.Context, q pgdb.Querier, now time.Time, limit int) (int64, error) {
			return purgeLapsedLockouts(ctx, q, s.lockout, now, limit)
		}},
		{Name: "voice_sends", Run: func(ctx context.Context, q pgdb.Querier, now time.Time, limit int) (int64, error) {
			return purgeSends(ctx, q, s.sendLimits, now, limit)
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
	// Purged counts the rows each purge removed over its batches, by name.
	Purged map[string]int64
}

// expiryLockKey is the advisory lock that lets one replica at a time run the job ("kagiexpy").
const expiryLockKey int64 = 0x6b61676965787079

// dueAccountsSQL finds the accounts of up to $2 windows that ran out by $1, the oldest first:
// on an idle run, the one probe of fallback_windows_due that answers nothing.
const dueAccountsSQL = `
	SELECT account_id FROM fallback_windows
	WHERE closed_at IS NULL AND expires_at <= $1
	ORDER BY expires_at
	LIMIT $2`

// expireSQL closes the windows of the accounts $2 that ran out by $1, as expired at their end,
// through an index of the open windows. It asks again whether each is due: one restarted since
// dueAccountsSQL looked is left open.
const expireSQL = `
	UPDATE fallback_windows
	SET closed_at = expires_at, close_reason = 'expired'
	WHERE account_id = ANY ($2) AND closed_at IS NULL AND expires_at <= $1
	RETURNING id, account_id`

// expireBatch closes up to batch windows that ran out by now in tx, with their audit lines and
// the end of their accounts' recovery-only sessions, in four set-based statements whatever the
// batch's size (a backlog after an outage can be tens of thousands). It reports how many
// accounts had a due window (a full batch means there may be more), how many windows it closed
// and how many sessions ended.
//
// Like every transaction that changes an account's window or sessions, it locks the accounts
// first, in the one lock order (auth.LockAccount), then their windows; accounts an opening, a
// close, a login or a passkey change holds right now are skipped (that one records the expiry
// itself, or a later batch does). The accounts, audit lines and sessions are auth's tables,
// written by auth's functions; recovery's SQL touches only its windows.
func expireBatch(ctx context.Context, tx pgx.Tx, ends auth.SessionEnds, now time.Time, batch int) (due int, windows, sessions int64, err error) {
	rows, err := tx.Query(ctx, dueAccountsSQL, now, batch)
	if err != nil {
		return 0, 0, 0, err
	}
	accounts, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(accounts) == 0 {
		return 0, 0, 0, err
	}
	locked, err := auth.LockAccounts(ctx, tx, accounts)
	if err != nil || len(locked) == 0 {
		return len(accounts), 0, 0, err
	}
	rows, err = tx.Query(ctx, expireSQL, now, locked)
	if err != nil {
		return len(accounts), 0, 0, err
	}
	closed, err := pgx.CollectRows(rows, pgx.RowToStructByName[auth.ClosedWindow])
	if err != nil || len(closed) == 0 {
		return len(accounts), 0, 0, err
	}
	sessions, err = auth.WindowsClosed(ctx, tx, ends, now, actorExpiry, "expired", closed)
	return len(accounts), int64(len(closed)), sessions, err
}

// RunExpiry is one run of the expiry job (§3.4): if no other replica is running it, close the
// windows that ran out, then run the purges. An idle run is a probe of the index of open
// windows, and one short statement per purge. Tests and benchmarks call it directly;
// StartExpiry calls it on a schedule.
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
		var (
			due               int
			windows, sessions int64
		)
		locked, err := step(func(tx pgx.Tx) error {
			var err error
			due, windows, sessions, err = expireBatch(ctx, tx, s.sessionEnds, now, s.batch)
			return err
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
		// A batch that closed nothing found only accounts held by others: those record the
		// expiry themselves, or the next run does, instead of this one spinning on them.
		if due < s.batch || windows == 0 {
			break
		}
	}

	res.Purged = make(map[string]int64, len(s.purges))
	var errs []error
purges:
	for _, p := range s.purges {
		// Batch after batch, each its own transaction, so no statement holds more than
		// purgeBatch rows and the replicas' requests never wait long behind one.
		for {
			var n int64
			locked, err := step(func(tx pgx.Tx) error {
				var err error
				n, err = p.Run(ctx, tx, now, s.purgeBatch)
				return err
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("recovery: expiry: purge %s: %w", p.Name, err))
				break
			}
			if !locked {
				break purges
			}
			res.Purged[p.Name] += n
			if n < int64(s.purgeBatch) {
				break
			}
		}
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
