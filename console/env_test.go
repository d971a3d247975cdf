package console

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"kagi/auth"
	"kagi/notify"
	"kagi/pgdb"
	"kagi/pgdb/pgtest"
	"kagi/recovery"
	"kagi/staff"
	"kagi/web"
	"kagi/web/webtest"
)

// testClock is the injected clock the tests move.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testEnv is one test's kagi: a fresh database; the auth core wired to recovery's windows; the
// customers' routes on one HTTP server and the operator console on another, as kagi serve has
// them on two listeners.
type testEnv struct {
	t          testing.TB
	pool       *pgxpool.Pool
	clock      *testClock
	svc        *recovery.Service
	auth       *auth.Service
	staff      *staff.Service
	consoleSvc *Service
	srv        *httptest.Server
	// console serves the console's Routes on consoleMux: the console's own listener.
	console    *httptest.Server
	consoleMux *http.ServeMux
	log        *slog.Logger
	// statements counts what the pool sends PostgreSQL.
	statements *pgtest.Counter
}

// setup is what a test may change of its kagi before it starts: the console's Config (its Log
// is every service's) and the staff identity's.
type setup struct {
	Config
	Staff staff.Config
	Core  func(*auth.Config)
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// jst is the support desk's time zone.
var jst = auth.JST

// testStart is the tests' "now", a weekday morning in JST, within the desk's hours. It lies
// years ahead because the browsers' cookie jars read the real clock and would drop a session
// cookie that expires in the past.
var testStart = time.Date(2031, 6, 4, 10, 0, 0, 0, jst)

// The tests' WebAuthn relying parties: the customers' (the core's), and the console's, the
// staff passkeys', on its own origin as kagi serve has it (KAGI_CONSOLE_URL, §6).
const (
	testRPID      = "kagi.test"
	testOrigin    = "https://kagi.test"
	consoleRPID   = "console.kagi.test"
	consoleOrigin = "https://console.kagi.test"
)

func newTestEnv(t testing.TB, edit ...func(*setup)) *testEnv {
	t.Helper()
	pool, statements := pgtest.NewCounted(t, auth.Migrations, auth.NotifyMigrations, staff.Migrations, recovery.Migrations)
	clock := &testClock{now: testStart}
	cfg := setup{
		Config: Config{Log: testLogger(t), SupportEnabled: true},
		Staff:  staff.Config{WebAuthn: &webauthn.Config{RPID: consoleRPID, RPDisplayName: "kagi", RPOrigins: []string{consoleOrigin}}},
	}
	for _, e := range edit {
		e(&cfg)
	}
	log := cfg.Log
	outbox, err := notify.New(notify.Config{Pool: pool, Log: log, Now: clock.Now, SMS: true, Audit: auth.NotifyAudit(clock.Now)})
	if err != nil {
		t.Fatal(err)
	}
	windows, err := recovery.New(recovery.Config{Pool: pool, Log: log, Now: clock.Now, Outbox: outbox,
		Purges: append(auth.Purges(auth.PurgeConfig{}), staff.Purges()...)})
	if err != nil {
		t.Fatal(err)
	}
	coreCfg := auth.Config{
		Pool:      pool,
		Log:       log,
		Now:       clock.Now,
		Passwords: auth.NewPasswordHasher(auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1}, 4),
		PINKey:    []byte("test-pin-key-0123456789abcdef0123"),
		WebAuthn:  &webauthn.Config{RPID: testRPID, RPDisplayName: "kagi", RPOrigins: []string{testOrigin}},
		Windows:   windows.ForAuth(),
		Outbox:    outbox,
	}
	if cfg.Core != nil {
		cfg.Core(&coreCfg)
	}
	core, err := auth.New(coreCfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Staff.Pool, cfg.Staff.Log, cfg.Staff.Now, cfg.Staff.Secret = pool, log, clock.Now, []byte("test-pin-key-0123456789abcdef0123")
	people, err := staff.New(cfg.Staff)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	c.Pool, c.Now, c.Core, c.Staff, c.Windows, c.Voice = pool, clock.Now, core, people, windows, recovery.NewVoiceVerifier(core, windows)
	svc, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	core.Routes(mux)
	windows.Routes(mux)
	consoleMux := http.NewServeMux()
	svc.Routes(consoleMux)
	// Requests are counted by client address as kagi serve counts them (the limits are off
	// unless a test sets them).
	srv := httptest.NewServer(web.WithClientAddr(nil, mux))
	t.Cleanup(srv.Close)
	console := httptest.NewServer(web.WithClientAddr(nil, consoleMux))
	t.Cleanup(console.Close)
	return &testEnv{t: t, pool: pool, statements: statements, clock: clock, svc: windows, auth: core, staff: people, consoleSvc: svc,
		srv: srv, console: console, consoleMux: consoleMux, log: log}
}

const testPassword = "correct horse battery"

func (e *testEnv) addAccount(loginID, number string) auth.Account {
	e.t.Helper()
	a, err := e.auth.CreateAccount(context.Background(), auth.NewAccount{
		LoginID: loginID, Password: testPassword, AccountNumber: number, PIN: "1234",
		Phones: []string{"+819012345678"}, Email: loginID + "@example.jp", Name: "山田 太郎",
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// addPasskey gives the account a passkey row (not one any authenticator holds), for the tests
// that only need the account to have one.
func (e *testEnv) addPasskey(accountID int64) {
	e.t.Helper()
	_, err := e.pool.Exec(context.Background(), `
		INSERT INTO passkeys (account_id, credential_id, public_key, aaguid, backup_eligible, backup_state, created_at)
		VALUES ($1, $2, $3, '00000000-0000-0000-0000-000000000000', true, true, $4)`,
		accountID, []byte(rand.Text()), []byte("not a real key"), e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

// do sends a request to the public listener (a JSON body when body is not nil) and returns the
// status, the decoded JSON object and the raw body.
func (e *testEnv) do(c *http.Client, method, path string, body any, header ...string) (int, map[string]any, []byte) {
	e.t.Helper()
	return e.doAt(e.srv, c, method, path, body, header...)
}

// doConsole is do on the console's listener.
func (e *testEnv) doConsole(c *http.Client, method, path string, body any, header ...string) (int, map[string]any, []byte) {
	e.t.Helper()
	return e.doAt(e.console, c, method, path, body, header...)
}

func (e *testEnv) doAt(srv *httptest.Server, c *http.Client, method, path string, body any, header ...string) (int, map[string]any, []byte) {
	e.t.Helper()
	return webtest.Do(e.t, c, srv.URL, method, path, body, header...)
}

func (e *testEnv) passwordLogin(c *http.Client, loginID string) (int, map[string]any) {
	e.t.Helper()
	status, body, _ := e.do(c, "POST", "/api/v1/login/password", map[string]string{"login_id": loginID, "password": testPassword})
	return status, body
}

func (e *testEnv) runExpiry() recovery.ExpiryResult {
	e.t.Helper()
	res, err := e.svc.RunExpiry(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// count runs a SELECT count(*) … and returns the number.
func (e *testEnv) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// readsLimited is kagi_staff_reads_limited_total now.
func readsLimited() float64 {
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "kagi_staff_reads_limited_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// windowState is a window's row as the tests check it.
type windowState struct {
	ID             int64
	Closed         bool
	CloseReason    string
	ExpiresAt      time.Time
	RestartedCount int
	UsedCount      int
}

func (e *testEnv) windows(accountID int64) []windowState {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `
		SELECT id, closed_at IS NOT NULL, coalesce(close_reason, ''), expires_at, restarted_count, used_count
		FROM fallback_windows WHERE account_id = $1 ORDER BY id`, accountID)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []windowState
	for rows.Next() {
		var w windowState
		if err := rows.Scan(&w.ID, &w.Closed, &w.CloseReason, &w.ExpiresAt, &w.RestartedCount, &w.UsedCount); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// open opens (or restarts) the account's window as the voice line or `kagi window open` does.
func (e *testEnv) open(accountID int64, via recovery.Channel, actor, reason string) auth.Window {
	e.t.Helper()
	var w auth.Window
	err := pgdb.InTx(context.Background(), e.pool, func(tx pgx.Tx) error {
		var err error
		w, err = e.svc.OpenTx(context.Background(), tx, accountID, via, actor, reason)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return w
}

// addPasskeySession stores a full (passkey) session for the account, as auth stores one (the
// cookie token's hash), and returns a browser holding it.
func (e *testEnv) addPasskeySession(accountID int64) *http.Client {
	e.t.Helper()
	token := "passkey-session-token-for-tests-0123456789"
	now := e.clock.Now()
	_, err := e.pool.Exec(context.Background(), `
		INSERT INTO sessions (token_hash, account_id, assurance, created_at, authenticated_at, expires_at, last_seen_at)
		VALUES ($1, $2, 'passkey', $3, $3, $4, $3)`, auth.TokenHash(token), accountID, now, now.Add(12*time.Hour))
	if err != nil {
		e.t.Fatal(err)
	}
	c := e.browser()
	u, _ := url.Parse(e.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: auth.SessionCookie, Value: token, Path: "/"}})
	return c
}

// wrongPIN is a PIN no test account has.
const wrongPIN = "0000"

// verify runs one voice-line verification of the caller in its own transaction, as the voice
// line's step does, and returns its outcome.
func (e *testEnv) verify(number, caller, pin string) recovery.VoiceOutcome {
	e.t.Helper()
	var out recovery.VoiceOutcome
	err := pgdb.InTx(context.Background(), e.pool, func(tx pgx.Tx) error {
		res, err := e.consoleSvc.voice.Verify(context.Background(), tx, recovery.VoiceAttempt{
			CallSid: "CA" + rand.Text(), AccountNumber: number, Caller: caller, PIN: pin})
		out = res.Outcome
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// expectOutcome checks one verification's outcome.
func (e *testEnv) expectOutcome(what string, got, want recovery.VoiceOutcome) {
	e.t.Helper()
	if got != want {
		e.t.Fatalf("%s: outcome %d, want %d", what, got, want)
	}
}
