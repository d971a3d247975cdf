package auth

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/pgdb/pgtest"
	"kagi/web"
)

// from sends a request as the client at addr (through the trusted test proxy).
func from(addr string) []string { return []string{"X-Forwarded-For", addr} }

func TestClientLimitsPerAddress(t *testing.T) {
	t.Parallel()
	three := ClientLimit{Max: 3, Period: time.Minute}
	for _, c := range []struct {
		name, path string
		body       any
		limits     ClientLimits
	}{
		{"passkey login begin", "/api/v1/passkeys/login/begin", map[string]string{}, ClientLimits{PasskeyBegin: three}},
		{"passkey login finish", "/api/v1/passkeys/login/finish", map[string]string{"id": "x"}, ClientLimits{PasskeyFinish: three}},
		{"password login", "/api/v1/login/password", map[string]string{"login_id": "taro", "password": "wrong"}, ClientLimits{PasswordLogin: three}},
		{"email check", "/api/v1/login/email-check", map[string]string{"id": "nothing", "choice": "🍎"}, ClientLimits{EmailCheck: three}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, func(cfg *Config) { cfg.ClientLimits = c.limits })
			e.addAccount(demoAccount)
			b := e.browser()
			for i := range 3 {
				if status, body := e.do(b, "POST", c.path, c.body, from("198.51.100.7")...); status == http.StatusTooManyRequests {
					t.Fatalf("request %d of 3 refused: %v", i+1, body)
				}
			}
			status, body := e.do(b, "POST", c.path, c.body, from("198.51.100.7")...)
			if status != http.StatusTooManyRequests || body["error"] != "rate_limited" || body["message"] != msgClientLimited {
				t.Fatalf("4th request: %d %v, want 429 rate_limited", status, body)
			}
			if status, _ := e.do(b, "POST", c.path, c.body, from("198.51.100.8")...); status == http.StatusTooManyRequests {
				t.Error("another address was refused with the first")
			}
			e.clock.Advance(time.Minute)
			if status, _ := e.do(b, "POST", c.path, c.body, from("198.51.100.7")...); status == http.StatusTooManyRequests {
				t.Error("the address is still refused after its period")
			}
		})
	}
}

func TestClientLimitSaysWhenToComeBack(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(cfg *Config) {
		cfg.ClientLimits = ClientLimits{PasswordLogin: ClientLimit{Max: 1, Period: time.Hour}}
	})
	e.passwordLogin(e.browser(), "taro", "wrong")
	e.clock.Advance(20 * time.Minute)
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/login/password", strings.NewReader(`{"login_id":"taro","password":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "2400" {
		t.Errorf("%d Retry-After %q, want 429 after 2400 s", res.StatusCode, res.Header.Get("Retry-After"))
	}
}

func TestForgedForwardedForDoesNotEscapeTheLimit(t *testing.T) {
	t.Parallel()
	// A peer that is not a trusted proxy: its X-Forwarded-For is the client's own writing.
	pool := pgtest.New(t, Migrations, NotifyMigrations)
	svc, err := New(Config{
		Pool: pool, Log: testLogger(t), Passwords: NewPasswordHasher(fastArgon, 4),
		PINKey:       []byte("test-pin-key-0123456789abcdef0123"),
		WebAuthn:     &webauthn.Config{RPID: "kagi.test", RPDisplayName: "kagi", RPOrigins: []string{testOrigin}},
		ClientLimits: ClientLimits{PasskeyBegin: ClientLimit{Max: 5, Period: time.Minute}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Routes(mux)
	e := newTestEnvWithHandler(t, svc, web.WithClientAddr(nil, mux))
	refused := 0
	for i := range 10 {
		status, _ := e.do(e.browser(), "POST", "/api/v1/passkeys/login/begin", map[string]string{}, from("203.0.113."+string(rune('0'+i)))...)
		if status == http.StatusTooManyRequests {
			refused++
		}
	}
	if refused != 5 {
		t.Errorf("%d of 10 begins refused, want 5: a forged X-Forwarded-For made new clients", refused)
	}
}

func TestIPv6ClientsAreCountedByTheirSlash64(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(cfg *Config) {
		cfg.ClientLimits = ClientLimits{PasskeyBegin: ClientLimit{Max: 2, Period: time.Minute}}
	})
	b := e.browser()
	for _, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2"} {
		if status, _ := e.do(b, "POST", "/api/v1/passkeys/login/begin", map[string]string{}, from(a)...); status != http.StatusOK {
			t.Fatalf("begin from %s: %d", a, status)
		}
	}
	if status, _ := e.do(b, "POST", "/api/v1/passkeys/login/begin", map[string]string{}, from("2001:db8:1:2:ffff::9")...); status != http.StatusTooManyRequests {
		t.Errorf("a third address of the same /64: %d, want 429", status)
	}
	if status, _ := e.do(b, "POST", "/api/v1/passkeys/login/begin", map[string]string{}, from("2001:db8:1:3::1")...); status != http.StatusOK {
		t.Errorf("another /64: %d, want 200", status)
	}
}

// TestDefaultLimitsServeACarrierNAT: many customers behind one address each begin a passkey
// login; at least 60 a minute must always be served, and the ceremonies one address can store
// stay bounded.
func TestDefaultLimitsServeACarrierNAT(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(cfg *Config) { cfg.ClientLimits = DefaultClientLimits })
	b := e.browser()
	served := 0
	for range DefaultClientLimits.PasskeyBegin.Max + 10 {
		status, _ := e.do(b, "POST", "/api/v1/passkeys/login/begin", map[string]string{}, from("198.51.100.20")...)
		if status == http.StatusOK {
			served++
		}
	}
	if served < 60 || served != DefaultClientLimits.PasskeyBegin.Max {
		t.Errorf("%d begins served in a minute, want the limit (%d, at least 60)", served, DefaultClientLimits.PasskeyBegin.Max)
	}
	var stored int
	if err := e.svc.pool.QueryRow(context.Background(), `SELECT count(*) FROM webauthn_ceremonies`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != served {
		t.Errorf("%d ceremonies stored for %d served begins: refused begins must store nothing", stored, served)
	}
}

// TestLimitedPasskeyBeginIsOneStatement keeps §10's budget with the limit on: the count and
// the ceremony are one statement.
func TestLimitedPasskeyBeginIsOneStatement(t *testing.T) {
	t.Parallel()
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t, Migrations, NotifyMigrations))
	if err != nil {
		t.Fatal(err)
	}
	counter := &statementCounter{}
	cfg.ConnConfig.Tracer = counter
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	svc, err := New(Config{
		Pool: pool, Log: testLogger(t), Passwords: NewPasswordHasher(fastArgon, 4),
		PINKey:       []byte("test-pin-key-0123456789abcdef0123"),
		WebAuthn:     &webauthn.Config{RPID: "kagi.test", RPDisplayName: "kagi", RPOrigins: []string{testOrigin}},
		ClientLimits: DefaultClientLimits,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Routes(mux)
	e := newTestEnvWithHandler(t, svc, web.WithClientAddr(nil, mux))
	counter.statements.Store(0)
	if status, _ := e.do(e.browser(), "POST", "/api/v1/passkeys/login/begin", map[string]string{"login_id": "taro"}); status != http.StatusOK {
		t.Fatalf("begin: %d", status)
	}
	if n := counter.statements.Load(); n != 1 {
		t.Errorf("passkey login begin sent %d statements, want 1", n)
	}
	var hits int
	if err := pool.QueryRow(context.Background(), `SELECT hits FROM client_limits WHERE kind = 'passkey_begin'`).Scan(&hits); err != nil || hits != 1 {
		t.Errorf("the begin was not counted: hits %d, %v", hits, err)
	}
}

func TestParseClientLimit(t *testing.T) {
	for _, s := range []string{"0", "120/1m", "100/1h", "5/30s"} {
		l, err := ParseClientLimit(s)
		if err != nil || l.String() != s {
			t.Errorf("ParseClientLimit(%q) = %v (%q), %v", s, l, l.String(), err)
		}
	}
	for _, s := range []string{"", "-1/1m", "10", "10/0s", "10/48h", "x/1m", "10/soon"} {
		if _, err := ParseClientLimit(s); err == nil {
			t.Errorf("ParseClientLimit(%q) accepted it", s)
		}
	}
}
