package pgdb_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/pgdb"
	"kagi/pgdb/pgtest"
)

// countedPool is a pool on a fresh database with a table item (n unique) whose statements,
// round trips and commits counter counts.
func countedPool(t *testing.T) (*pgxpool.Pool, *pgtest.Counter) {
	t.Helper()
	pool, counter := pgtest.NewCounted(t)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE item (n int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	counter.Reset()
	return pool, counter
}

// items lists the table's rows, and fails the test when the pool has a connection still taken.
func items(t *testing.T, pool *pgxpool.Pool) []int {
	t.Helper()
	if n := pool.Stat().AcquiredConns(); n != 0 {
		t.Errorf("%d connections still taken after the transaction", n)
	}
	rows, err := pool.Query(context.Background(), `SELECT n FROM item ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// wantWork fails the test unless the counter counted these statements (BEGIN and COMMIT not
// among them), round trips and commits.
func wantWork(t *testing.T, counter *pgtest.Counter, statements, roundTrips, commits int64) {
	t.Helper()
	got := [3]int64{counter.Statements.Load(), counter.RoundTrips.Load(), counter.Commits.Load()}
	if got != [3]int64{statements, roundTrips, commits} {
		t.Errorf("%d statements, %d round trips, %d commits; want %d, %d and %d", got[0], got[1], got[2], statements, roundTrips, commits)
	}
}

// insertItem is a write queued on a batch or a transaction.
const insertItem = `INSERT INTO item (n) VALUES ($1::int)`

// The transaction begins in its first batch's round trip, its queued writes go with the next
// statement (which sees them) and the rest with the commit: three round trips, one commit.
func TestInTxBatchSendsBeginAndWritesWithOtherStatements(t *testing.T) {
	t.Parallel()
	pool, counter := countedPool(t)
	ctx := context.Background()
	var before int
	var seen []int
	err := pgdb.InTxBatch(ctx, pool, func(b *pgx.Batch) {
		b.Queue(`SELECT count(*) FROM item`).QueryRow(func(row pgx.Row) error { return row.Scan(&before) })
	}, func(tx *pgdb.Tx) error {
		tx.Queue(insertItem, 1)
		tx.Queue(insertItem, 2)
		rows, err := tx.Query(ctx, `SELECT n FROM item ORDER BY n`)
		if err != nil {
			return err
		}
		if seen, err = pgx.CollectRows(rows, pgx.RowTo[int]); err != nil {
			return err
		}
		tx.Queue(insertItem, 3)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if before != 0 || !slices.Equal(seen, []int{1, 2}) {
		t.Errorf("the first batch counted %d rows, the query saw %v; want 0 and the queued [1 2]", before, seen)
	}
	wantWork(t, counter, 5, 3, 1)
	if got := items(t, pool); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("committed %v, want [1 2 3]", got)
	}
}

// A queued write that fails fails whatever it went with — a query, an exec, a batch or the
// commit — and the transaction writes nothing, the first batch's writes included.
func TestTxQueuedWriteFailingWritesNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		then func(ctx context.Context, tx *pgdb.Tx) error
	}{
		{"with a query", func(ctx context.Context, tx *pgdb.Tx) error {
			rows, err := tx.Query(ctx, `SELECT n FROM item`)
			if err == nil {
				_, err = pgx.CollectRows(rows, pgx.RowTo[int])
			}
			return err
		}},
		{"with a query row", func(ctx context.Context, tx *pgdb.Tx) error {
			var n int
			return tx.QueryRow(ctx, `SELECT count(*) FROM item`).Scan(&n)
		}},
		{"with an exec", func(ctx context.Context, tx *pgdb.Tx) error {
			_, err := tx.Exec(ctx, insertItem, 5)
			return err
		}},
		{"with a batch", func(ctx context.Context, tx *pgdb.Tx) error {
			b := &pgx.Batch{}
			b.Queue(insertItem, 5)
			return tx.SendBatch(ctx, b).Close()
		}},
		{"with the commit", func(context.Context, *pgdb.Tx) error { return nil }},
		{"with the commit, as a queued exec", func(ctx context.Context, tx *pgdb.Tx) error {
			tx.CommitWith(func(string) bool { return false })
			if tag, err := tx.Exec(ctx, insertItem, 1); err != nil || tag.RowsAffected() != 0 {
				return errors.New("a queued exec was sent at once")
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool, _ := countedPool(t)
			ctx := context.Background()
			ran := false
			err := pgdb.InTxBatch(ctx, pool, func(b *pgx.Batch) { b.Queue(insertItem, 1) }, func(tx *pgdb.Tx) error {
				tx.Queue(insertItem, 2)
				tx.Queue(insertItem, 2) // the primary key refuses it
				tx.Queue(insertItem, 3)
				err := tc.then(ctx, tx)
				ran = err != nil
				return err
			})
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
				t.Fatalf("err = %v, want the queued write's unique violation", err)
			}
			if tc.name != "with the commit" && tc.name != "with the commit, as a queued exec" && !ran {
				t.Error("the statement the queued writes went with did not fail")
			}
			if got := items(t, pool); len(got) != 0 {
				t.Errorf("a failed transaction wrote %v", got)
			}
		})
	}
}

// From CommitWith on, Execs are queued and go with the commit when no statement carried it;
// with nothing else to send, the commit is one round trip with them.
func TestTxQueuedExecsGoWithTheCommit(t *testing.T) {
	t.Parallel()
	pool, counter := countedPool(t)
	ctx := context.Background()
	err := pgdb.InTxBatch(ctx, pool, func(b *pgx.Batch) { b.Queue(insertItem, 1) }, func(tx *pgdb.Tx) error {
		tx.CommitWith(func(string) bool { return false })
		_, err := tx.Exec(ctx, insertItem, 2)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wantWork(t, counter, 2, 2, 1)
	if got := items(t, pool); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("committed %v, want [1 2]", got)
	}
}

// A caller's batch sent after queued writes reads its own results, by callback or by hand.
func TestTxSendBatchAfterQueuedWrites(t *testing.T) {
	t.Parallel()
	pool, counter := countedPool(t)
	ctx := context.Background()
	var byCallback, byHand int
	err := pgdb.InTxBatch(ctx, pool, func(*pgx.Batch) {}, func(tx *pgdb.Tx) error {
		tx.Queue(insertItem, 1)
		b := &pgx.Batch{}
		b.Queue(`SELECT count(*) FROM item`).QueryRow(func(row pgx.Row) error { return row.Scan(&byCallback) })
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		tx.Queue(insertItem, 2)
		b = &pgx.Batch{}
		b.Queue(`SELECT count(*) FROM item`)
		br := tx.SendBatch(ctx, b)
		if err := br.QueryRow().Scan(&byHand); err != nil {
			br.Close()
			return err
		}
		return br.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	if byCallback != 1 || byHand != 2 {
		t.Errorf("the batches counted %d and %d rows, want 1 and 2", byCallback, byHand)
	}
	// The begin's batch, two batches, the commit.
	if roundTrips := counter.RoundTrips.Load(); roundTrips != 4 {
		t.Errorf("%d round trips, want 4", roundTrips)
	}
}

// A refusal through Keep commits what was queued before it; an error of the first batch rolls
// back without running fn.
func TestInTxBatchKeepingAndAFailedFirstBatch(t *testing.T) {
	t.Parallel()
	pool, _ := countedPool(t)
	ctx := context.Background()
	refusal := errors.New("refused")
	err := pgdb.InTxBatchKeeping(ctx, pool, func(b *pgx.Batch) { b.Queue(insertItem, 1) }, func(tx *pgdb.Tx) error {
		tx.Queue(insertItem, 2)
		return pgdb.Keep(refusal)
	})
	if !errors.Is(err, refusal) {
		t.Fatalf("err = %v, want the refusal", err)
	}
	if got := items(t, pool); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("a kept refusal committed %v, want [1 2]", got)
	}
	ran := false
	err = pgdb.InTxBatch(ctx, pool, func(b *pgx.Batch) {
		b.Queue(insertItem, 3)
		b.Queue(insertItem, 1) // there already
	}, func(*pgdb.Tx) error {
		ran = true
		return nil
	})
	if err == nil || ran {
		t.Fatalf("a failed first batch: err %v, fn ran %v", err, ran)
	}
	if got := items(t, pool); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("after a failed first batch the table holds %v, want [1 2]", got)
	}
}

// isLast picks the statement that carries the COMMIT in the CommitWith tests.
func isLast(sql string) bool { return sql == lastInsert }

const lastInsert = `INSERT INTO item (n) VALUES ($1::int) RETURNING n`

// insertLast is what a library does as a transaction's last step: a query, read to its end,
// then an Exec it reads for its error only.
func insertLast(ctx context.Context, tx *pgdb.Tx, n int) error {
	rows, err := tx.Query(ctx, lastInsert, n)
	if err != nil {
		return err
	}
	if _, err := pgx.CollectRows(rows, pgx.RowTo[int]); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, insertItem, n+100)
	return err
}

// With CommitWith, the COMMIT goes in the round trip of the statement it picks, after the
// queued writes and before anything else: the statements before that one go as usual, and an
// Exec after it goes after the commit, on its own.
func TestTxCommitWithSendsTheCommitWithTheLastStatement(t *testing.T) {
	t.Parallel()
	pool, counter := countedPool(t)
	ctx := context.Background()
	err := pgdb.InTxBatch(ctx, pool, func(b *pgx.Batch) { b.Queue(insertItem, 1) }, func(tx *pgdb.Tx) error {
		tx.CommitWith(isLast)
		tx.Queue(insertItem, 2)
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM item`).Scan(&n); err != nil || n != 2 {
			return fmt.Errorf("an earlier statement saw %d rows (%v), want the 2 written so far", n, err)
		}
		tx.Queue(insertItem, 3)
		return insertLast(ctx, tx, 4)
	})
	if err != nil {
		t.Fatal(err)
	}
	// BEGIN+1 | 2+count | 3+4+COMMIT | 104 (BEGIN and COMMIT are not counted as statements)
	wantWork(t, counter, 6, 4, 1)
	if got := items(t, pool); !slices.Equal(got, []int{1, 2, 3, 4, 104}) {
		t.Errorf("committed %v, want [1 2 3 4 104]", got)
	}
}

// An error of any statement in the COMMIT's round trip — a queued write, the picked statement
// itself — makes it a rollback: nothing of the transaction is written, nor what would have
// gone after the commit, and Commit reports the error.
func TestTxCommitWithRollsBackOnAnErrorInItsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		queue []int
		last  int
	}{
		{"a queued write fails", []int{2, 2}, 3},
		{"the picked statement fails", []int{2}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool, _ := countedPool(t)
			ctx := context.Background()
			var lastErr error
			err := pgdb.InTxBatch(ctx, pool, func(b *pgx.Batch) { b.Queue(insertItem, 1) }, func(tx *pgdb.Tx) error {
				tx.CommitWith(isLast)
				for _, n := range tc.queue {
					tx.Queue(insertItem, n)
				}
				lastErr = insertLast(ctx, tx, tc.last)
				return nil // as if the caller had missed it: the commit must not happen anyway
			})
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
				t.Fatalf("err = %v, want the unique violation", err)
			}
			if !errors.As(lastErr, &pgErr) {
				t.Errorf("the last statement returned %v, want the unique violation", lastErr)
			}
			if got := items(t, pool); len(got) != 0 {
				t.Errorf("a failed transaction wrote %v", got)
			}
		})
	}
}

// After the COMMIT went with the picked statement, a query, a batch or a queued statement would
// run outside the transaction: all are refused, and the transaction stays committed.
func TestTxCommitWithRefusesStatementsAfterTheCommit(t *testing.T) {
	t.Parallel()
	pool, _ := countedPool(t)
	ctx := context.Background()
	var queryErr, batchErr error
	err := pgdb.InTxBatch(ctx, pool, func(b *pgx.Batch) { b.Queue(insertItem, 1) }, func(tx *pgdb.Tx) error {
		tx.CommitWith(isLast)
		rows, err := tx.Query(ctx, lastInsert, 2)
		if err != nil {
			return err
		}
		rows.Close()
		_, queryErr = tx.Query(ctx, `SELECT n FROM item`)
		b := &pgx.Batch{}
		b.Queue(insertItem, 3)
		batchErr = tx.SendBatch(ctx, b).Close()
		tx.Queue(insertItem, 4)
		return nil
	})
	if err == nil {
		t.Error("Commit accepted a statement queued after the commit")
	}
	if queryErr == nil || batchErr == nil {
		t.Errorf("after the commit a query returned %v and a batch %v, want both refused", queryErr, batchErr)
	}
	if got := items(t, pool); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("committed %v, want [1 2]", got)
	}
}

// A statement that is not the picked one goes as usual, and without one the commit does.
func TestTxCommitWithoutTheStatementCommitsAsUsual(t *testing.T) {
	t.Parallel()
	pool, counter := countedPool(t)
	ctx := context.Background()
	err := pgdb.InTxBatch(ctx, pool, func(b *pgx.Batch) { b.Queue(insertItem, 1) }, func(tx *pgdb.Tx) error {
		tx.CommitWith(func(string) bool { return false })
		return insertLast(ctx, tx, 2)
	})
	if err != nil {
		t.Fatal(err)
	}
	// BEGIN+1 | 2 | 102+COMMIT
	wantWork(t, counter, 3, 3, 1)
	if got := items(t, pool); !slices.Equal(got, []int{1, 2, 102}) {
		t.Errorf("committed %v, want [1 2 102]", got)
	}
}
