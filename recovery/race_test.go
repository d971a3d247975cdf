package recovery

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/pgdb"
)

// §4 and §3 at once, as an outside review tried them: calls restarting an account's window
// while the customer logs in through it. Every transaction takes the account's row first, so
// they queue up: no request fails and PostgreSQL aborts nothing for a deadlock (InTx would
// retry it, which is why the test counts retries instead of failures alone).
func TestWindowRestartsRaceWindowLoginsWithoutDeadlock(t *testing.T) {
	// Not parallel: pgdb.Retried counts the whole process, and another test of the package
	// makes a deadlock on purpose (parallel tests run only after this one).
	e := newTestEnv(t)
	acct := e.addPasskeyAccount("taro", "1234567")
	e.open(acct.ID, ChannelIVR, "ivr:CA00", "")
	before := pgdb.Retried()
	const rounds = 25
	errs := make(chan error, 4*rounds)
	var wg sync.WaitGroup
	for caller := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				if _, err := e.openErr(context.Background(), acct.ID, ChannelIVR, fmt.Sprintf("ivr:CA%d%d", caller, i), ""); err != nil {
					errs <- fmt.Errorf("restart %d/%d: %w", caller, i, err)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range rounds {
			if status, body := e.passwordLogin(e.browser(), "taro"); status != http.StatusOK {
				errs <- fmt.Errorf("window login %d: %d %v", i, status, body)
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := pgdb.Retried() - before; n != 0 {
		t.Errorf("PostgreSQL aborted %d transactions for a deadlock or conflict", n)
	}
	if ws := e.windows(acct.ID); len(ws) != 1 || ws[0].UsedCount != rounds || ws[0].RestartedCount != 3*rounds {
		t.Errorf("window %+v, want one window used %d times and restarted %d times", ws, rounds, 3*rounds)
	}
}

// §3.4 against §3.2 and §4: the expiry job, run by two replicas again and again, while calls
// open and restart windows, customers log in through them and the clock runs them out under
// everyone. The job takes the accounts first like every other transaction (skipping those
// held), so nothing deadlocks, no side fails, and each window is recorded as expired exactly
// once, by the job or by the opening that found it run out.
func TestExpiryRacesWindowsAndLoginsWithoutDeadlock(t *testing.T) {
	// Not parallel: pgdb.Retried counts the whole process (see the test above).
	const (
		customers = 4
		rounds    = 20
		// Each round starts a jump later, which leaves windows just due to everyone at once;
		// replica one moves the clock a tick before each of its runs, so a window can run out
		// between a login's check and its use.
		jump = 15 * time.Minute
		tick = time.Minute
	)
	e := newTestEnv(t)
	ctx := context.Background()
	pool2, err := pgxpool.New(ctx, e.pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer pool2.Close()
	replicas := []*Service{e.svc, newService(t, pool2, e.clock)}
	var accounts [customers]int64
	for i := range accounts {
		accounts[i] = e.addPasskeyAccount(fmt.Sprintf("taro%d", i), fmt.Sprintf("100000%d", i)).ID
		if _, err := e.openErr(ctx, accounts[i], ChannelIVR, "ivr:CA-start", ""); err != nil {
			t.Fatal(err)
		}
	}
	deadlocksBefore := deadlocks(t, e.pool, pool2)
	retriedBefore := pgdb.Retried()

	var expired, runs, skipped, loggedIn, refused atomic.Int64
	errs := make(chan error, 1000)
	for round := range rounds {
		e.clock.Advance(jump)
		var wg sync.WaitGroup
		for r, svc := range replicas {
			wg.Go(func() {
				for range 3 {
					if r == 0 {
						e.clock.Advance(tick)
					}
					res, err := svc.RunExpiry(ctx)
					if err != nil {
						errs <- fmt.Errorf("round %d: replica %d: %w", round, r, err)
						return
					}
					runs.Add(1)
					expired.Add(res.Windows)
					if res.Skipped {
						skipped.Add(1)
					}
				}
			})
		}
		for i, id := range accounts {
			// Customer i calls every i+1 rounds, twice (an opening or a restart, then a
			// restart): the first keeps a window open throughout, the others' windows run out
			// between calls.
			if round%(i+1) == 0 {
				wg.Go(func() {
					for call := range 2 {
						if _, err := e.openErr(ctx, id, ChannelIVR, fmt.Sprintf("ivr:CA%d-%d-%d", i, round, call), ""); err != nil {
							errs <- fmt.Errorf("round %d: opening for customer %d: %w", round, i, err)
						}
					}
				})
			}
			wg.Go(func() {
				for range 2 {
					switch status, body := e.passwordLogin(e.browser(), fmt.Sprintf("taro%d", i)); {
					case status == http.StatusOK:
						loggedIn.Add(1)
					case status == http.StatusForbidden && body["error"] == "passkey_required":
						refused.Add(1) // no window open at that moment: the right answer
					default:
						errs <- fmt.Errorf("round %d: login of customer %d: %d %v", round, i, status, body)
					}
				}
			})
		}
		wg.Wait()
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.clock.Advance(time.Hour)
	last := e.runExpiry()
	windows := e.count(`SELECT count(*) FROM fallback_windows`)
	t.Logf("%d windows; the job expired %d of them during the race and %d after it, in %d runs (%d skipped); %d logins through a window, %d refused without one",
		windows, expired.Load(), last.Windows, runs.Load(), skipped.Load(), loggedIn.Load(), refused.Load())

	if n := deadlocks(t, e.pool, pool2) - deadlocksBefore; n != 0 {
		t.Errorf("PostgreSQL detected %d deadlocks", n)
	}
	if n := pgdb.Retried() - retriedBefore; n != 0 {
		t.Errorf("PostgreSQL aborted %d transactions for a deadlock or conflict", n)
	}
	if expired.Load() == 0 || windows <= customers || loggedIn.Load() == 0 {
		t.Errorf("the race did not race: the job expired %d windows of %d, %d logins went through", expired.Load(), windows, loggedIn.Load())
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows WHERE closed_at IS NULL OR close_reason <> 'expired'`); n != 0 {
		t.Errorf("%d windows not closed as expired", n)
	}
	if n := e.count(`
		SELECT count(*) FROM fallback_windows w
		WHERE (SELECT count(*) FROM audit_log a
		       WHERE a.event = 'window_closed' AND (a.detail->>'window_id')::bigint = w.id) <> 1`); n != 0 {
		t.Errorf("%d windows without exactly one window_closed audit line", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE event = 'window_closed'`); n != windows {
		t.Errorf("%d window_closed audit lines for %d windows", n, windows)
	}
	if n := e.count(`SELECT count(*) FROM sessions WHERE assurance = 'password_fallback'`); n != 0 {
		t.Errorf("%d recovery-only sessions outlived their windows", n)
	}
}

// deadlocks is pg_stat_database's count of the deadlocks PostgreSQL detected in the test's
// database. A backend publishes its counts only from time to time while idle, so every idle
// connection of the pools is made to publish them first.
func deadlocks(t *testing.T, pools ...*pgxpool.Pool) int64 {
	t.Helper()
	ctx := context.Background()
	for _, pool := range pools {
		for _, c := range pool.AcquireAllIdle(ctx) {
			_, err := c.Exec(ctx, `SELECT pg_stat_force_next_flush()`)
			c.Release()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	var n int64
	err := pools[0].QueryRow(ctx, `SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
