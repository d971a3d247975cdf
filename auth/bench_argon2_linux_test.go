package auth

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"golang.org/x/crypto/argon2"

	"kagi/notify"
	"kagi/pgdb/pgtest"
	"kagi/web"
)

// usage is what this process has used so far: CPU time, user and system, and page faults
// (minor: a page the kernel gave it, mapped and zeroed).
type usage struct {
	cpu    time.Duration
	faults int64
}

func usageNow(b *testing.B) usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return usage{cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), faults: ru.Minflt}
}

func (u usage) since(start usage) usage {
	return usage{cpu: u.cpu - start.cpu, faults: u.faults - start.faults}
}

func (u usage) add(v usage) usage { return usage{cpu: u.cpu + v.cpu, faults: u.faults + v.faults} }

// BenchmarkPasswordLoginVsArgon2 sets password logins against the hashes they cannot do
// without, in one run and so under the same load from elsewhere on the machine: each iteration
// alternates, a few times, a second of raw hashing (DefaultArgon2 on HashSlots() goroutines in
// a loop: what the cores kagi allows itself can do) with a second of browsers logging in over
// HTTP (accounts without a passkey, the right password, the email check off, login notices on,
// the production hasher and per-address limits). Figures: raw hashes/s and logins/s and their
// ratio, the process's CPU and page faults per hash and per login (the login figures include
// the benchmark's own HTTP clients), statements, commits and round trips per login. Run it with
// go test -run '^$' -bench PasswordLoginVsArgon2 -benchtime 3x ./auth/
// and profile the logins alone with -cpuprofile and pprof's -tagignore phase=raw.
func BenchmarkPasswordLoginVsArgon2(b *testing.B) {
	pool, counter := pgtest.NewCounted(b, Migrations, NotifyMigrations)
	outbox, err := notify.New(notify.Config{Pool: pool, Audit: NotifyAudit(time.Now)})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := New(Config{
		Pool: pool, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Passwords:    NewPasswordHasher(DefaultArgon2, HashSlots()),
		PINKey:       []byte("test-pin-key-0123456789abcdef0123"),
		WebAuthn:     &webauthn.Config{RPID: "kagi.test", RPDisplayName: "kagi", RPOrigins: []string{testOrigin}},
		ClientLimits: DefaultClientLimits, Outbox: outbox, LoginNotice: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	const accounts = 8
	for i := range accounts {
		n := demoAccount
		n.LoginID, n.AccountNumber = fmt.Sprintf("bench%d", i), fmt.Sprintf("%07d", 2000000+i)
		if _, err := svc.CreateAccount(context.Background(), n); err != nil {
			b.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	svc.Routes(mux)
	srv := httptest.NewServer(web.WithRequestID(web.WithClientAddr(web.TrustedProxies{}, mux)))
	b.Cleanup(srv.Close)

	// raw hashes on HashSlots() goroutines for about d; it returns how many, for how long and
	// what they used.
	raw := func(d time.Duration) (int64, time.Duration, usage) {
		var n atomic.Int64
		var wg sync.WaitGroup
		start, t0 := usageNow(b), time.Now()
		stop := t0.Add(d)
		for range HashSlots() {
			wg.Go(func() {
				pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("phase", "raw")))
				p, salt := DefaultArgon2, randomBytes(16)
				for time.Now().Before(stop) {
					argon2.IDKey([]byte(demoAccount.Password), salt, p.Time, p.Memory, p.Threads, 32)
					n.Add(1)
				}
			})
		}
		wg.Wait()
		return n.Load(), time.Since(t0), usageNow(b).since(start)
	}
	// logins has clients browsers log in for about d (the logins under way then finish); it
	// returns how many did, for how long and what it used.
	logins := func(clients int, d time.Duration) (int64, time.Duration, usage) {
		var n atomic.Int64
		var wg sync.WaitGroup
		start, t0 := usageNow(b), time.Now()
		stop := t0.Add(d)
		for i := range clients {
			wg.Go(func() {
				client := &http.Client{Transport: &http.Transport{}}
				defer client.CloseIdleConnections()
				body := fmt.Sprintf(`{"login_id":"bench%d","password":%q}`, i%accounts, demoAccount.Password)
				for time.Now().Before(stop) {
					res, err := client.Post(srv.URL+"/api/v1/login/password", "application/json", strings.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					switch res.StatusCode {
					case http.StatusOK:
						n.Add(1)
					case http.StatusTooManyRequests:
					default:
						b.Errorf("login: %s", res.Status)
						return
					}
				}
			})
		}
		wg.Wait()
		return n.Load(), time.Since(t0), usageNow(b).since(start)
	}

	// Each iteration alternates the two a few times, so both meet the same load from elsewhere.
	const (
		phase  = time.Second
		rounds = 4
	)
	for _, clients := range []int{2, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			var (
				hashes, done        int64
				hashTime, loginTime time.Duration
				hashUse, loginUse   usage
				statements, commits int64
				trips               int64
			)
			for b.Loop() {
				for range rounds {
					n, t, u := raw(phase)
					hashes, hashTime, hashUse = hashes+n, hashTime+t, hashUse.add(u)
					counter.Reset()
					n, t, u = logins(clients, phase)
					done, loginTime, loginUse = done+n, loginTime+t, loginUse.add(u)
					statements, commits = statements+counter.Statements.Load(), commits+counter.Commits.Load()
					trips += counter.RoundTrips.Load()
				}
			}
			hashRate, loginRate := float64(hashes)/hashTime.Seconds(), float64(done)/loginTime.Seconds()
			b.ReportMetric(hashRate, "hashes/s")
			b.ReportMetric(loginRate, "logins/s")
			b.ReportMetric(loginRate/hashRate, "ratio")
			b.ReportMetric(float64(hashUse.cpu.Microseconds())/1000/float64(hashes), "cpu-ms/hash")
			b.ReportMetric(float64(loginUse.cpu.Microseconds())/1000/float64(done), "cpu-ms/login")
			b.ReportMetric(float64(hashUse.faults)/float64(hashes), "faults/hash")
			b.ReportMetric(float64(loginUse.faults)/float64(done), "faults/login")
			b.ReportMetric(float64(statements)/float64(done), "statements/login")
			b.ReportMetric(float64(commits)/float64(done), "commits/login")
			b.ReportMetric(float64(trips)/float64(done), "round-trips/login")
		})
	}
}
