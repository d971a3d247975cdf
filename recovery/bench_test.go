package recovery

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/auth"
	"kagi/pgdb/pgtest"
)

// BenchmarkExpiry measures the expiry job (§3.4, §10): one run over a backlog of 100,000 due
// windows (each with a recovery-only session to end), and an idle run over a history of
// 1,000,000 closed windows, which must cost an index probe whatever the history's size.
//
//	go test -run '^$' -bench Expiry -benchtime 3x ./recovery/
func BenchmarkExpiry(b *testing.B) {
	ctx := context.Background()

	b.Run("due=100000", func(b *testing.B) {
		const due = 100_000
		pool := pgtest.New(b, auth.Migrations, Migrations)
		clock := &testClock{now: testStart}
		svc := newService(b, pool, clock)
		insertBulkAccounts(b, pool, due)
		for range b.N {
			b.StopTimer()
			insertDueWindows(b, pool, clock.Now())
			clock.Advance(time.Hour)
			if _, err := pool.Exec(ctx, `VACUUM ANALYZE fallback_windows`); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			res, err := svc.RunExpiry(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if res.Windows != due || res.Sessions != due {
				b.Fatalf("run %+v, want %d windows and sessions", res, due)
			}
		}
		b.ReportMetric(float64(due*b.N)/b.Elapsed().Seconds(), "windows/s")
	})

	b.Run("idle/closed=1000000", func(b *testing.B) {
		pool := pgtest.New(b, auth.Migrations, Migrations)
		clock := &testClock{now: testStart}
		svc := newService(b, pool, clock)
		insertBulkAccounts(b, pool, 10_000)
		insertClosedWindows(b, pool, 1_000_000, clock.Now())
		if _, err := pool.Exec(ctx, `VACUUM ANALYZE fallback_windows`); err != nil {
			b.Fatal(err)
		}
		b.Logf("idle expiry statement:\n%s", explainAnalyze(b, pool, clock.Now()))
		b.ResetTimer()
		for b.Loop() {
			res, err := svc.RunExpiry(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if res.Windows != 0 {
				b.Fatalf("idle run expired %d windows", res.Windows)
			}
		}
	})
}

// explainAnalyze runs the idle expiry run's statement under EXPLAIN (ANALYZE, BUFFERS) in a
// transaction it rolls back, and returns the plan with its buffer counts.
func explainAnalyze(b *testing.B, pool *pgxpool.Pool, now time.Time) string {
	b.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "+dueAccountsSQL, now, DefaultExpiryBatch)
	if err != nil {
		b.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
