package auth

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"kagi/auth/authtest"
	"kagi/notify"
	"kagi/pgdb/pgtest"
	"kagi/web"
)

// from sends a request as the client at addr (through the trusted test proxy).
func from(addr string) []string { return []string{"X-Forwarded-For", addr} }

func TestClientLimitsCountFailures(t *testing.T) {
	t.Parallel()
	three := ClientLimit{Max: 3, Period: time.Minute}
	for _, c := range []struct {
		name, path string
		body       any
		limits     ClientLimits
	}{
		{"failed passkey login", "/api/v1/passkeys/login/finish", map[string]string{"id": "x"}, ClientLimits{PasskeyFinish: three}},
		{"wrong password", "/api/v1/login/password", map[string]string{"login_id": "taro", "password": "wrong"}, ClientLimits{PasswordLogin: three}},
		{"unknown login ID", "/api/v1/login/password", map[string]string{"login_id": "nobody", "password": "wrong"}, ClientLimits{PasswordLogin: three}},
		{"email check that never was", "/api/v1/login/email-check", map[string]string{"id": "nothing", "choice": "🍎"}, ClientLimits{EmailCheck: three}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, func(cfg *Config) { cfg.ClientLimits = c.limits })
			e.addAccount(demoAccount)
			b := e.browser()
			for i := range 3 {
				if status, body := e.do(b, "POST", c.path, c.body, from("198.51.100.7")...); status == http.StatusTooManyRequests {
					t.Fatalf("failure %d of 3 refused: %v", i+1, body)
				}
			}
			status, body := e.do(b, "POST", c.path, c.body, from("198.51.100.7")...)
			if status != http.StatusTooManyRequests || body["error"] != "rate_limited" || body["message"] != msgClientLimited {
				t.Fatalf("after three failures: %d %v, want 429 rate_limited", status, body)
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

// An address over its passkey failures is refused at the finish, before anything is looked up;
// the begin, which sends no statement (§10), is not limited.
func TestPasskeyFinishRefusedOverTheFailures(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(cfg *Config) {
		cfg.ClientLimits = ClientLimits{PasskeyFinish: ClientLimit{Max: 2, Period: time.Minute}}
	})
	b := e.browser()
	for range 2 {
		e.do(b, "POST", "/api/v1/passkeys/login/finish", map[string]string{"id": "x"}, from("198.51.100.7")...)
	}
	if status, body := e.do(b, "POST", "/api/v1/passkeys/login/begin", map[string]string{}, from("198.51.100.7")...); status != http.StatusOK {
		t.Fatalf("begin over the failures: %d %v, want 200", status, body)
	}
	if status, body := e.do(b, "POST", "/api/v1/passkeys/login/finish", map[string]string{"id": "x"}, from("198.51.100.7")...); status != http.StatusTooManyRequests {
		t.Fatalf("finish over the failures: %d %v, want 429", status, body)
	}
	if status, body := e.do(b, "POST", "/api/v1/passkeys/login/finish", map[string]string{"id": "x"}, from("198.51.100.8")...); status != http.StatusUnauthorized {
		t.Fatalf("finish from another address: %d %v, want 401", status, body)
	}
}

// Successful logins never count against the address (§8, §10): however tight the limit, the
// customers behind it who log in right all get in, and nothing is written per address.
func TestSuccessfulLoginsAreNeverCounted(t *testing.T) {
	t.Parallel()
	one := ClientLimit{Max: 1, Period: time.Hour}
	e := newTestEnv(t, withEmailCheck, func(cfg *Config) {
		cfg.ClientLimits = ClientLimits{PasskeyFinish: one, PasswordLogin: one, EmailCheck: one}
	})
	ctx := context.Background()
	pwAcct := e.addAccount(demoAccount)
	pkAcct := e.addAccount(NewAccount{LoginID: "hanako", Password: "hanako-password-1", AccountNumber: "2000002",
		PIN: "2468", Phones: []string{"+818012345678"}, Email: "hanako@example.jp", Name: "佐藤 花子"})
	phone := e.registeredPhone(pkAcct, authtest.Config{})
	for i := range 10 {
		c := e.browser()
		id, _, mailed := e.startCheck(c, pwAcct, demoAccount.Password)
		if status, body := e.pick(c, id, mailed); status != http.StatusOK {
			t.Fatalf("password login %d: %d %v", i+1, status, body)
		}
		if _, err := phone.Login(ctx, e.browser(), ""); err != nil {
			t.Fatalf("passkey login %d: %v", i+1, err)
		}
	}
	var n int
	if err := e.svc.pool.QueryRow(ctx, `SELECT count(*) FROM client_limits`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d per-address counts (%v) after successful logins only, want none", n, err)
	}
}

// A carrier NAT at the market's opening (§8): hundreds of customers log in from one address
// under the default limits, some mistyping their password first, and all get in; one address
// spraying wrong passwords over many login IDs is stopped at the limit.
func TestDefaultLimitsServeACarrierNATAndStopASpray(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withEmailCheck, func(cfg *Config) { cfg.ClientLimits = DefaultClientLimits })
	const customers, typos = 300, 30 // one in ten mistypes once
	nat := from("198.51.100.20")
	for i := range customers {
		acct := e.addAccount(NewAccount{LoginID: fmt.Sprintf("nat%03d", i), Password: "nat-password-1", AccountNumber: fmt.Sprintf("3%06d", i),
			PIN: "1357", Phones: []string{"+819011112222"}, Email: fmt.Sprintf("nat%03d@example.jp", i), Name: "顧客"})
		c := e.browser()
		if i < typos {
			if status, body := e.do(c, "POST", "/api/v1/login/password", map[string]string{"login_id": acct.LoginID, "password": "nat-passwrod-1"}, nat...); status != http.StatusUnauthorized {
				t.Fatalf("customer %d's typo: %d %v", i, status, body)
			}
		}
		status, body := e.do(c, "POST", "/api/v1/login/password", map[string]string{"login_id": acct.LoginID, "password": "nat-password-1"}, nat...)
		if status != http.StatusOK || body["email_check"] == nil {
			t.Fatalf("customer %d behind the NAT: %d %v", i, status, body)
		}
		id := body["email_check"].(map[string]any)["id"].(string)
		var mailed string
		for _, m := range e.queuedMessages(acct.ID) {
			if m.Event.Kind == notify.KindEmailCheck {
				mailed = m.Event.Emoji
			}
		}
		if status, body := e.do(c, "POST", "/api/v1/login/email-check", map[string]string{"id": id, "choice": mailed}, nat...); status != http.StatusOK {
			t.Fatalf("customer %d's email check behind the NAT: %d %v", i, status, body)
		}
	}
	spray := from("203.0.113.66")
	tried := 0
	for i := range 1000 {
		status, _ := e.do(e.browser(), "POST", "/api/v1/login/password", map[string]string{"login_id": fmt.Sprintf("nat%03d", i%customers), "password": fmt.Sprintf("guess-%d", i)}, spray...)
		if status == http.StatusTooManyRequests {
			break
		}
		tried++
	}
	if tried != DefaultClientLimits.PasswordLogin.Max {
		t.Fatalf("the spraying address tried %d passwords before it was stopped, want %d", tried, DefaultClientLimits.PasswordLogin.Max)
	}
	t.Logf("%d customers (%d typos) behind one address all logged in; a spray was stopped after %d guesses an hour", customers, typos, tried)
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
		ClientLimits: ClientLimits{PasswordLogin: ClientLimit{Max: 5, Period: time.Minute}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Routes(mux)
	e := newTestEnvWithHandler(t, svc, web.WithClientAddr(nil, mux))
	refused := 0
	for i := range 10 {
		status, _ := e.do(e.browser(), "POST", "/api/v1/login/password", map[string]string{"login_id": "nobody", "password": "wrong"}, from("203.0.113."+string(rune('0'+i)))...)
		if status == http.StatusTooManyRequests {
			refused++
		}
	}
	if refused != 5 {
		t.Errorf("%d of 10 wrong passwords refused, want 5: a forged X-Forwarded-For made new clients", refused)
	}
}

func TestIPv6ClientsAreCountedByTheirSlash64(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(cfg *Config) {
		cfg.ClientLimits = ClientLimits{PasswordLogin: ClientLimit{Max: 2, Period: time.Minute}}
	})
	b := e.browser()
	wrong := map[string]string{"login_id": "nobody", "password": "wrong"}
	for _, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2"} {
		if status, _ := e.do(b, "POST", "/api/v1/login/password", wrong, from(a)...); status != http.StatusUnauthorized {
			t.Fatalf("wrong password from %s: %d", a, status)
		}
	}
	if status, _ := e.do(b, "POST", "/api/v1/login/password", wrong, from("2001:db8:1:2:ffff::9")...); status != http.StatusTooManyRequests {
		t.Errorf("a third address of the same /64: %d, want 429", status)
	}
	if status, _ := e.do(b, "POST", "/api/v1/login/password", wrong, from("2001:db8:1:3::1")...); status != http.StatusUnauthorized {
		t.Errorf("another /64: %d, want 401", status)
	}
}

// TestPasskeyBeginSendsNoStatement keeps §10's budget with the limits on: the ceremony is
// sealed into the challenge, so the begin is CPU only and writes no count.
func TestPasskeyBeginSendsNoStatement(t *testing.T) {
	t.Parallel()
	pool, counter := pgtest.NewCounted(t, Migrations, NotifyMigrations)
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
	counter.Statements.Store(0)
	if status, _ := e.do(e.browser(), "POST", "/api/v1/passkeys/login/begin", map[string]string{"login_id": "taro"}); status != http.StatusOK {
		t.Fatalf("begin: %d", status)
	}
	if n := counter.Statements.Load(); n != 0 {
		t.Errorf("passkey login begin sent %d statements, want none", n)
	}
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM client_limits`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the begin wrote %d per-address counts (%v), want none", n, err)
	}
}

// TestPasskeyLoginFinishWritesNothingWhenTheNoticeFails: the finish's writes go with the login
// notice's enqueue, so when that fails, nothing is written — no session, no audit line, no use
// of the passkey — and the challenge is not used up, so the same assertion finishes once the
// outbox takes jobs again.
func TestPasskeyLoginFinishWritesNothingWhenTheNoticeFails(t *testing.T) {
	t.Parallel()
	svc, _ := countedService(t, nil)
	mux := http.NewServeMux()
	svc.Routes(mux)
	e := newTestEnvWithHandler(t, svc, mux)
	acct := e.addAccount(demoAccount)
	phone := e.registeredPhone(acct, authtest.Config{})
	ctx := context.Background()
	assertion, err := phone.Assert(ctx, e.browser(), "")
	if err != nil {
		t.Fatal(err)
	}
	before := e.loginWrites(acct.ID)
	if _, err := svc.pool.Exec(ctx, `ALTER TABLE river_job ADD CONSTRAINT no_jobs CHECK (false) NOT VALID`); err != nil {
		t.Fatal(err)
	}
	if _, err := phone.FinishLogin(ctx, e.browser(), assertion); err == nil {
		t.Fatal("the finish succeeded without its login notice")
	}
	if got := e.loginWrites(acct.ID); got != before {
		t.Fatalf("a finish whose notice failed wrote: %+v before, %+v after", before, got)
	}
	if _, err := svc.pool.Exec(ctx, `ALTER TABLE river_job DROP CONSTRAINT no_jobs`); err != nil {
		t.Fatal(err)
	}
	if _, err := phone.FinishLogin(ctx, e.browser(), assertion); err != nil {
		t.Fatalf("the same assertion, once the outbox takes jobs again: %v", err)
	}
	want := before
	want.Sessions, want.Succeeded, want.PasskeyUsed, want.UsedChallenges, want.Jobs = before.Sessions+1, before.Succeeded+1, 1, before.UsedChallenges+1, before.Jobs+1
	if got := e.loginWrites(acct.ID); got != want {
		t.Fatalf("the finish wrote %+v, want %+v", got, want)
	}
}

func TestParseClientLimit(t *testing.T) {
	for _, s := range []string{"0", "120/1m", "50/1h", "5/30s"} {
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

// TestPasskeyLoginDatabaseWork counts what a passkey login sends PostgreSQL with every feature
// on (the login notice, device cookies, the per-address limits at their defaults): the begin
// nothing; the finish its statements, round trips and commits. It fails when they grow, and
// logs them (go test ./auth -run PasskeyLoginDatabaseWork -v).
func TestPasskeyLoginDatabaseWork(t *testing.T) {
	t.Parallel()
	svc, counter := countedService(t, func(c *Config) { c.ClientLimits = DefaultClientLimits })
	mux := http.NewServeMux()
	svc.Routes(mux)
	e := newTestEnvWithHandler(t, svc, web.WithClientAddr(nil, mux))
	phone := e.registeredPhone(e.addAccount(demoAccount), authtest.Config{})
	ctx := context.Background()
	for _, loginID := range []string{"", "taro"} {
		counter.Reset()
		options, err := phone.BeginLogin(ctx, e.browser(), loginID)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("begin (login ID %q): %d statements, %d round trips, %d commits", loginID, counter.Statements.Load(), counter.RoundTrips.Load(), counter.Commits.Load())
		if n := counter.RoundTrips.Load(); n != 0 {
			t.Errorf("begin (login ID %q) made %d round trips, want none", loginID, n)
		}
		assertion, err := phone.Get(options)
		if err != nil {
			t.Fatal(err)
		}
		counter.Reset()
		if _, err := phone.FinishLogin(ctx, e.browser(), assertion); err != nil {
			t.Fatal(err)
		}
		statements, roundTrips, commits := counter.Statements.Load(), counter.RoundTrips.Load(), counter.Commits.Load()
		wakeups := counter.Wakeups.Load()
		t.Logf("finish (login ID %q): %d statements (%d river wake-ups), %d round trips, %d commits", loginID, statements, wakeups, roundTrips, commits)
		// One batch with the begin (the address's limit, the challenge used up, the credential
		// locked), one batch with the commit (counter, session, audit line, the login notice's
		// enqueue, COMMIT); river's wake-up of its workers, when it sends one, goes after the
		// commit, in a round trip of its own.
		if statements-wakeups > 7 || wakeups > 1 || roundTrips-wakeups > 2 || commits > 1 {
			t.Errorf("finish: %d statements (%d wake-ups), %d round trips, %d commits; want at most 7 (and 1), 2 (and 1) and 1", statements, wakeups, roundTrips, commits)
		}
	}
}
