package recovery

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

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
				if _, err := e.svc.Open(context.Background(), acct.ID, ChannelIVR, fmt.Sprintf("ivr:CA%d%d", caller, i), ""); err != nil {
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
