package pgdb_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"

	"kagi/pgdb"
	"kagi/pgdb/pgtest"
)

// Two transactions that lock two rows in opposite orders deadlock; PostgreSQL aborts one of
// them, and InTx runs it again, so both callers succeed.
func TestInTxRetriesADeadlock(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `CREATE TABLE pair (id int PRIMARY KEY, n int NOT NULL); INSERT INTO pair VALUES (1, 0), (2, 0)`); err != nil {
		t.Fatal(err)
	}
	var barrier sync.WaitGroup
	barrier.Add(2)
	first := sync.OnceFunc(barrier.Done)
	second := sync.OnceFunc(barrier.Done)
	lockBoth := func(a, b int, arrived func()) error {
		return pgdb.InTx(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `UPDATE pair SET n = n + 1 WHERE id = $1`, a); err != nil {
				return err
			}
			arrived()
			barrier.Wait() // both hold their first row: the second UPDATEs deadlock
			_, err := tx.Exec(ctx, `UPDATE pair SET n = n + 1 WHERE id = $1`, b)
			return err
		})
	}
	errs := make(chan error, 2)
	go func() { errs <- lockBoth(1, 2, first) }()
	go func() { errs <- lockBoth(2, 1, second) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("a deadlocked transaction was not run again: %v", err)
		}
	}
	var total int
	if err := pool.QueryRow(ctx, `SELECT sum(n) FROM pair`).Scan(&total); err != nil || total != 4 {
		t.Fatalf("sum = %d (%v), want each transaction applied exactly once", total, err)
	}
}

func TestRetryableOnlyForDeadlocksAndSerialization(t *testing.T) {
	if pgdb.Retryable(errors.New("deadlock detected")) {
		t.Fatal("a plain error is not PostgreSQL's abort")
	}
}

// A database migrated with fewer files than the binary embeds is reported behind, with how far;
// one at the binary's version, or a set never migrated at all, is told apart.
func TestBehind(t *testing.T) {
	t.Parallel()
	older := fstest.MapFS{
		"001_a.sql": {Data: []byte(`CREATE TABLE a (id int)`)},
		"002_b.sql": {Data: []byte(`CREATE TABLE b (id int)`)},
	}
	newer := fstest.MapFS{"003_c.sql": {Data: []byte(`CREATE TABLE c (id int)`)}}
	for k, v := range older {
		newer[k] = v
	}
	pool := pgtest.New(t, pgdb.Migrations{Name: "demo", FS: older})
	ctx := context.Background()
	if got, err := pgdb.Behind(ctx, pool, pgdb.Migrations{Name: "demo", FS: older}); err != nil || len(got) != 0 {
		t.Fatalf("current schema reported behind: %v %v", got, err)
	}
	got, err := pgdb.Behind(ctx, pool, pgdb.Migrations{Name: "demo", FS: newer}, pgdb.Migrations{Name: "never", FS: older})
	if err != nil || !slices.Equal(got, []string{"demo: at 2 of 3", "never: at 0 of 2"}) {
		t.Fatalf("behind = %v, %v", got, err)
	}
}

// Every connection of a pool Open makes names itself and bounds statements and lock waits,
// unless the URL says otherwise.
func TestOpenSetsConnectionDefaults(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	ctx := context.Background()
	for _, tc := range []struct {
		url, wantLockTimeout string
	}{{url, "4s"}, {url + "&lock_timeout=1500ms", "1500ms"}} {
		pool, err := pgdb.Open(ctx, tc.url, pgdb.Direct)
		if err != nil {
			t.Fatal(err)
		}
		var app, stmt, lock string
		err = pool.QueryRow(ctx, `SELECT current_setting('application_name'), current_setting('statement_timeout'), current_setting('lock_timeout')`).Scan(&app, &stmt, &lock)
		pool.Close()
		if err != nil || app != "kagi" || stmt != "15s" || lock != tc.wantLockTimeout {
			t.Errorf("%s: application_name %q statement_timeout %q lock_timeout %q (%v)", tc.url, app, stmt, lock, err)
		}
	}
}
