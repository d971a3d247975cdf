package auth

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/notify"
	"kagi/pgdb/pgtest"
)

// statementCounter counts what a pool sends PostgreSQL: statements (begin and commit not
// counted), commits, and round trips (each statement sent alone, begin and commit included,
// and each batch).
type statementCounter struct{ statements, commits, roundTrips atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.roundTrips.Add(1)
	switch sql := strings.ToLower(strings.TrimSpace(d.SQL)); {
	case sql == "commit":
		c.commits.Add(1)
	case sql == "begin" || strings.HasPrefix(sql, "begin "):
	default:
		c.statements.Add(1)
	}
	return ctx
}

func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *statementCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.roundTrips.Add(1)
	return ctx
}

func (c *statementCounter) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	if strings.EqualFold(strings.TrimSpace(d.SQL), "commit") {
		c.commits.Add(1)
		return
	}
	c.statements.Add(1)
}

func (c *statementCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// countedService is an auth service with the login notice on, over a pool of its own fresh
// database whose statements, round trips and commits counter counts; change adjusts its
// configuration.
func countedService(tb testing.TB, change func(*Config)) (*Service, *statementCounter) {
	cfg, err := pgxpool.ParseConfig(pgtest.URL(tb, Migrations, NotifyMigrations))
	if err != nil {
		tb.Fatal(err)
	}
	counter := &statementCounter{}
	cfg.ConnConfig.Tracer = counter
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	outbox, err := notify.New(notify.Config{Pool: pool, Audit: NotifyAudit(time.Now)})
	if err != nil {
		tb.Fatal(err)
	}
	c := Config{
		Pool: pool, Log: testLogger(tb), Passwords: NewPasswordHasher(fastArgon, 4),
		PINKey:   []byte("test-pin-key-0123456789abcdef0123"),
		WebAuthn: &webauthn.Config{RPID: "kagi.test", RPDisplayName: "kagi", RPOrigins: []string{testOrigin}},
		Outbox:   outbox, LoginNotice: true,
	}
	if change != nil {
		change(&c)
	}
	svc, err := New(c)
	if err != nil {
		tb.Fatal(err)
	}
	return svc, counter
}

func (c *statementCounter) reset() {
	c.statements.Store(0)
	c.commits.Store(0)
	c.roundTrips.Store(0)
}

// BenchmarkPasswordLoginDatabaseWork counts the database work of one password login of an
// account without a passkey (§2.12): with the email check, the password request and the pick
// together; without it, the password request alone. Figures: statements (begin and commit not
// counted) and commits per login.
func BenchmarkPasswordLoginDatabaseWork(b *testing.B) {
	for _, check := range []bool{false, true} {
		name := map[bool]string{false: "email_check=off", true: "email_check=on"}[check]
		b.Run(name, func(b *testing.B) {
			svc, counter := countedService(b, func(c *Config) { c.EmailCheck = check })
			pool := svc.pool
			ctx := context.Background()
			if _, err := svc.CreateAccount(ctx, demoAccount); err != nil {
				b.Fatal(err)
			}
			counter.statements.Store(0)
			counter.commits.Store(0)
			b.ResetTimer()
			for b.Loop() {
				res, err := svc.LoginWithPassword(ctx, demoAccount.LoginID, demoAccount.Password, "")
				if err != nil {
					b.Fatal(err)
				}
				if check {
					var answer string
					if err := pool.QueryRow(ctx, `SELECT args->'event'->>'emoji' FROM river_job WHERE kind = 'notify_message' ORDER BY id DESC LIMIT 1`).Scan(&answer); err != nil {
						b.Fatal(err)
					}
					counter.statements.Add(-1) // the benchmark's own peek at the mailed answer
					if res, err = svc.FinishEmailCheck(ctx, res.EmailCheck.ID, answer); err != nil {
						b.Fatal(err)
					}
				}
				if res.Token == "" {
					b.Fatal("no session")
				}
			}
			b.ReportMetric(float64(counter.statements.Load())/float64(b.N), "statements/login")
			b.ReportMetric(float64(counter.commits.Load())/float64(b.N), "commits/login")
		})
	}
}
