package auth

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"kagi/auth/authtest"
	"kagi/pgdb"
)

// recordedEnds is a SessionEnds that remembers what it was told.
type recordedEnds struct {
	mu    sync.Mutex
	ended []EndedSession
}

func (r *recordedEnds) SessionsEnded(_ context.Context, _ pgx.Tx, ended []EndedSession) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended = append(r.ended, ended...)
	return nil
}

// take returns what was told since the last take.
func (r *recordedEnds) take() []EndedSession {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.ended
	r.ended = nil
	return got
}

// Every way a customer's session ends is told to SessionEnds in its transaction — the OpenID
// Provider's back-channel logout hangs on it (SPEC §11.5) — naming the sessions that ended and
// no other.
func TestEverySessionEndIsTold(t *testing.T) {
	ends := &recordedEnds{}
	e := newTestEnv(t, func(c *Config) { c.SessionEnds = ends })
	acct := e.addAccount(demoAccount)
	ctx := context.Background()
	want := func(t *testing.T, n int) {
		t.Helper()
		got := ends.take()
		if len(got) != n {
			t.Fatalf("told of %d ended sessions, want %d", len(got), n)
		}
		for _, s := range got {
			if s.AccountID != acct.ID || len(s.TokenHash) == 0 {
				t.Errorf("told of %+v", s)
			}
		}
	}
	inTx := func(t *testing.T, f func(tx pgx.Tx) error) {
		t.Helper()
		if err := pgdb.InTx(ctx, e.svc.pool, f); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("logout", func(t *testing.T) {
		c := e.loggedIn(acct, AssurancePassword)
		if status, _ := e.do(c, http.MethodPost, "/api/v1/logout", nil); status != http.StatusOK {
			t.Fatalf("logout: %d", status)
		}
		want(t, 1)
	})
	t.Run("a first passkey ends the other sessions", func(t *testing.T) {
		e.loggedIn(acct, AssurancePassword)
		e.loggedIn(acct, AssurancePassword)
		if _, err := e.newPhone(authtest.Config{}).Register(ctx, e.loggedIn(acct, AssurancePassword)); err != nil {
			t.Fatal(err)
		}
		want(t, 2)
	})
	t.Run("a window's end ends the recovery-only sessions", func(t *testing.T) {
		e.loggedIn(acct, AssurancePasswordFallback)
		inTx(t, func(tx pgx.Tx) error { return EndRecoverySessions(ctx, tx, ends, acct.ID) })
		want(t, 1)
		e.loggedIn(acct, AssurancePasswordFallback)
		inTx(t, func(tx pgx.Tx) error {
			_, err := WindowsClosed(ctx, tx, ends, e.clock.Now(), "system:expiry", "expired", []ClosedWindow{{ID: 1, AccountID: acct.ID}})
			return err
		})
		want(t, 1)
	})
	t.Run("the expiry job ends the idle sessions", func(t *testing.T) {
		var purge func(context.Context, pgdb.Querier, time.Time, int) (int64, error)
		for _, p := range Purges(PurgeConfig{SessionEnds: ends}) {
			if p.Name == "sessions" {
				purge = p.Run
			}
		}
		run := func() {
			inTx(t, func(tx pgx.Tx) error {
				_, err := purge(ctx, tx, e.clock.Now(), 100)
				return err
			})
		}
		run()
		want(t, 0)
		e.clock.Advance(DefaultSessionIdle)
		run()
		// The session the first passkey was bound with, idle now.
		want(t, 1)
	})
}
