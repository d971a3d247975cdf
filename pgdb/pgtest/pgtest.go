// Package pgtest gives each test its own freshly migrated PostgreSQL database, cloned from a
// migrated template database so that a test pays for CREATE DATABASE, not for the migrations.
//
// The server comes from KAGI_TEST_DATABASE_URL (scripts/test starts a private cluster and sets
// it). Without it the tests fail: kagi's tests never run against a mock of its own store.
package pgtest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", used by pgtestdb
	"github.com/peterldowns/pgtestdb"

	"kagi/pgdb"
)

// New returns a pool on a new database with the given migration sets applied. The database is
// dropped when the test passes and kept for inspection when it fails.
func New(t testing.TB, sets ...pgdb.Migrations) *pgxpool.Pool {
	t.Helper()
	return connect(t, URL(t, sets...), nil)
}

// NewCounted is New with a Counter tracing the pool, for tests that count what a request sends
// PostgreSQL.
func NewCounted(t testing.TB, sets ...pgdb.Migrations) (*pgxpool.Pool, *Counter) {
	t.Helper()
	counter := &Counter{}
	return connect(t, URL(t, sets...), counter), counter
}

// connect opens a pool on url, traced by tracer when it is not nil, closed when the test ends.
func connect(t testing.TB, url string, tracer pgx.QueryTracer) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if tracer != nil {
		cfg.ConnConfig.Tracer = tracer
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// URL returns a connection string for a new migrated database, for tests that start processes.
func URL(t testing.TB, sets ...pgdb.Migrations) string {
	t.Helper()
	return pgtestdb.Custom(t, ServerConfig(t), migrator{sets: sets}).URL()
}

// ServerConfig reads KAGI_TEST_DATABASE_URL.
func ServerConfig(t testing.TB) pgtestdb.Config {
	t.Helper()
	raw := os.Getenv("KAGI_TEST_DATABASE_URL")
	if raw == "" {
		t.Fatal("KAGI_TEST_DATABASE_URL is not set: run the tests with scripts/test, which starts PostgreSQL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("KAGI_TEST_DATABASE_URL: %v", err)
	}
	pw, _ := u.User.Password()
	return pgtestdb.Config{
		DriverName: "pgx",
		User:       u.User.Username(),
		Password:   pw,
		Host:       u.Hostname(),
		Port:       u.Port(),
		Database:   strings.TrimPrefix(u.Path, "/"),
		Options:    u.RawQuery,
		// A test that ends with a connection still open (a server under test shutting down)
		// must not fail on DROP DATABASE.
		ForceTerminateConnections: true,
	}
}

type migrator struct{ sets []pgdb.Migrations }

func (m migrator) Hash() (string, error) {
	h := sha256.New()
	for _, set := range m.sets {
		h.Write([]byte(set.Name + "\x00"))
		err := fs.WalkDir(set.FS, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(set.FS, path)
			if err != nil {
				return err
			}
			h.Write([]byte(path + "\x00"))
			h.Write(b)
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (m migrator) Migrate(ctx context.Context, _ *sql.DB, conf pgtestdb.Config) error {
	pool, err := pgxpool.New(ctx, conf.URL())
	if err != nil {
		return err
	}
	defer pool.Close()
	return pgdb.Migrate(ctx, pool, m.sets...)
}
