// Package pgdb opens kagi's PostgreSQL pool and applies the schema migrations that each domain
// package embeds next to the SQL that uses its tables.
package pgdb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Querier is what both a pool and a transaction offer, so a helper can run inside the caller's
// transaction or on its own.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Purge is one clean-up of the expiry job (SPEC §3.4), declared by the package that owns the
// table, so that only it writes SQL against its rows; package recovery runs them all. Run
// removes (or, for state kept a while longer, marks) what is due at now, at most limit rows per
// statement, and reports how many rows it changed: the job runs it again, each time in a short
// transaction of its own, until it reports fewer than limit, so a backlog is worked off without
// one statement holding many rows locked.
type Purge struct {
	Name string
	Run  func(ctx context.Context, q Querier, now time.Time, limit int) (int64, error)
}

// Migrations is one package's embedded schema: files named 001_*.sql, 002_*.sql, … applied in
// order and recorded in the version table schema_version_<Name>, so each package evolves its
// own tables without coordinating version numbers with the others.
type Migrations struct {
	Name string
	FS   fs.FS
	// Then, when set, runs after the set's files: the schema of a library that migrates its
	// own tables (river's job tables). It must be idempotent.
	Then func(ctx context.Context, pool *pgxpool.Pool) error
}

// Embedded names the migrations in folder dir of an embedded file system. It panics when dir
// is not there: that is a build mistake, found by the first test.
func Embedded(name string, fsys fs.FS, dir string) Migrations {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(fmt.Sprintf("pgdb: migrations of %s: %v", name, err))
	}
	return Migrations{Name: name, FS: sub}
}

// ConnDefaults are set on every connection unless DATABASE_URL sets them: a name that shows in
// pg_stat_activity, a bound on any one statement, and a bound on waiting for a lock, so a stuck
// query or a lock held too long fails the request (the voice line then answers its apology)
// instead of piling up connections. The pool's size is pgx's (pool_max_conns in the URL sets it).
var ConnDefaults = map[string]string{
	"application_name":  "kagi",
	"statement_timeout": "15s",
	"lock_timeout":      "4s",
}

// Pooler says what stands between kagi and PostgreSQL.
type Pooler int

const (
	// Direct: kagi's connections are PostgreSQL's own sessions.
	Direct Pooler = iota
	// TransactionPooler: a pooler in transaction mode (PgBouncer's pool_mode = transaction), which
	// hands each transaction any server connection. Statements are then sent without prepared
	// statements of kagi's naming (pgx's exec mode: each one parsed, bound and run in one round
	// trip), and no session setting is sent at startup — a pooler such as PgBouncer 1.18 refuses
	// statement_timeout and lock_timeout there: set them on the serving role instead (README).
	TransactionPooler
)

// Open connects a pool and checks the database answers, so a wrong DATABASE_URL fails at start.
func Open(ctx context.Context, url string, pooler Pooler) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pgdb: parse database url: %w", err)
	}
	for k, v := range ConnDefaults {
		if _, set := cfg.ConnConfig.RuntimeParams[k]; !set && (pooler == Direct || k == "application_name") {
			cfg.ConnConfig.RuntimeParams[k] = v
		}
	}
	if pooler == TransactionPooler && !strings.Contains(url, "default_query_exec_mode") {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgdb: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgdb: connect: %w", err)
	}
	return pool, nil
}

// Migrate applies every set in order (callers list packages before the ones that reference
// their tables). It is idempotent, and tern serialises concurrent runs from several replicas
// with an advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool, sets ...Migrations) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgdb: migrate: %w", err)
	}
	defer conn.Release()
	for _, set := range sets {
		m, err := migrate.NewMigrator(ctx, conn.Conn(), "schema_version_"+set.Name)
		if err != nil {
			return fmt.Errorf("pgdb: migrate %s: %w", set.Name, err)
		}
		if err := m.LoadMigrations(set.FS); err != nil {
			return fmt.Errorf("pgdb: migrate %s: load: %w", set.Name, err)
		}
		if err := m.Migrate(ctx); err != nil {
			return fmt.Errorf("pgdb: migrate %s: %w", set.Name, err)
		}
		if set.Then != nil {
			if err := set.Then(ctx, pool); err != nil {
				return fmt.Errorf("pgdb: migrate %s: %w", set.Name, err)
			}
		}
	}
	return nil
}

// kept is a refusal decided inside a transaction after which the transaction still commits
// what it recorded (Keep).
type kept struct{ refusal error }

func (k kept) Error() string { return k.refusal.Error() }

// Keep marks a refusal of the client decided inside InTxKeeping's transaction after which the
// transaction must still commit what it recorded: a consumed ceremony stays consumed, the
// audit line of a failed login or a clone warning stays written.
func Keep(refusal error) error { return kept{refusal} }

// InTxKeeping is InTx, with its retries, except that a refusal fn returns through Keep commits
// the transaction and is then returned. Any other error rolls back. Only the refusal of the
// run that committed is returned.
func InTxKeeping(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	return keeping(fn, func(fn func(pgx.Tx) error) error { return InTx(ctx, pool, fn) })
}

// keeping runs fn through inTx, committing when fn returns a refusal through Keep, and returns
// the refusal of the run that committed.
func keeping[T any](fn func(T) error, inTx func(func(T) error) error) error {
	var refusal error
	err := inTx(func(tx T) error {
		refusal = nil
		err := fn(tx)
		if k, ok := err.(kept); ok {
			refusal = k.refusal
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	return refusal
}

// InTx runs fn in one transaction: committed when fn returns nil, rolled back otherwise, so a
// multi-step state change is never left half-written. When PostgreSQL aborts the transaction
// to break a deadlock or a serialization conflict, fn runs again (at most maxTries in all):
// fn must therefore do nothing outside the transaction that cannot be repeated.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	return retrying(func() error { return pgx.BeginFunc(ctx, pool, fn) })
}

// retrying runs a transaction, again while PostgreSQL aborts it to break a deadlock or a
// serialization conflict, at most maxTries times in all.
func retrying(run func() error) error {
	var err error
	for range maxTries {
		err = run()
		if !Retryable(err) {
			return err
		}
		retried.Add(1)
	}
	return err
}

// retried counts the transactions PostgreSQL aborted for a deadlock or a serialization failure
// and InTx ran again: kagi's one lock order should keep it at zero, so it is exported as a
// metric and tests that race transactions assert it does not move.
var retried atomic.Int64

var _ = promauto.NewCounterFunc(prometheus.CounterOpts{
	Name: "kagi_db_transactions_retried_total",
	Help: "Transactions PostgreSQL aborted for a deadlock or serialization failure and kagi ran again.",
}, func() float64 { return float64(retried.Load()) })

// Retried is how many transactions InTx has run again in this process (see retried).
func Retried() int64 { return retried.Load() }

// maxTries bounds InTx's runs of one transaction.
const maxTries = 3

// Retryable reports whether err is PostgreSQL giving up a transaction that may well succeed
// when run again: a deadlock (40P01) or a serialization failure (40001).
func Retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

// migrationFile is the name tern gives a migration: its version, an underscore, a name.
var migrationFile = regexp.MustCompile(`^([0-9]+)_.*\.sql$`)

// Behind lists the sets whose schema in the database is older than the migrations this binary
// embeds (as "name: at N of M"), so a replica started before `kagi migrate` ran is not sent
// traffic. A set's Then (a library's own schema) is not compared.
func Behind(ctx context.Context, q Querier, sets ...Migrations) ([]string, error) {
	var behind []string
	for _, set := range sets {
		if set.FS == nil {
			continue
		}
		entries, err := fs.ReadDir(set.FS, ".")
		if err != nil {
			return nil, fmt.Errorf("pgdb: migrations of %s: %w", set.Name, err)
		}
		want := 0
		for _, e := range entries {
			if m := migrationFile.FindStringSubmatch(e.Name()); m != nil {
				if v, _ := strconv.Atoi(m[1]); v > want {
					want = v
				}
			}
		}
		var have int
		err = q.QueryRow(ctx, `SELECT COALESCE((SELECT version FROM `+pgx.Identifier{"schema_version_" + set.Name}.Sanitize()+` LIMIT 1), 0)`).Scan(&have)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // no version table: never migrated
			have, err = 0, nil
		}
		if err != nil {
			return nil, fmt.Errorf("pgdb: schema version of %s: %w", set.Name, err)
		}
		if have < want {
			behind = append(behind, fmt.Sprintf("%s: at %d of %d", set.Name, have, want))
		}
	}
	return behind, nil
}
