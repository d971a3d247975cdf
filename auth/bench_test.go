package auth

import (
	"context"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"kagi/notify"
	"kagi/pgdb/pgtest"
)

// countedService is an auth service with the login notice on, over a pool of its own fresh
// database whose statements, round trips and commits counter counts; change adjusts its
// configuration.
func countedService(tb testing.TB, change func(*Config)) (*Service, *pgtest.Counter) {
	pool, counter := pgtest.NewCounted(tb, Migrations, NotifyMigrations)
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
			counter.Statements.Store(0)
			counter.Commits.Store(0)
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
					counter.Statements.Add(-1) // the benchmark's own peek at the mailed answer
					if res, err = svc.FinishEmailCheck(ctx, res.EmailCheck.ID, answer); err != nil {
						b.Fatal(err)
					}
				}
				if res.Token == "" {
					b.Fatal("no session")
				}
			}
			b.ReportMetric(float64(counter.Statements.Load())/float64(b.N), "statements/login")
			b.ReportMetric(float64(counter.Commits.Load())/float64(b.N), "commits/login")
		})
	}
}
