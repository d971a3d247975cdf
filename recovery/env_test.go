package recovery

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/auth"
	"kagi/notify"
	"kagi/pgdb"
	"kagi/pgdb/pgtest"
	"kagi/staff"
	"kagi/web"
	"kagi/web/webtest"
)

// testClock is the injected clock tests move by hand; recovery and auth share it.
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

// The service API keys of the tests: two, so a test can use the one that is not first.
const (
	testAPIKey  = "service-key-0123456789"
	otherAPIKey = "second-service-key-9876543210"
)

// testServiceKeys are the two keys, named as KAGI_API_KEYS would name them.
func testServiceKeys(t testing.TB) *web.ServiceKeys {
	t.Helper()
	keys, err := web.NewServiceKeys([]web.ServiceKey{{Name: "weblogin", Key: testAPIKey}, {Name: "backoffice", Key: otherAPIKey}})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// testEnv is one test's kagi: a fresh database, the auth core wired to recovery's windows, and
// both packages' public routes on one HTTP server, as kagi serve has them.
type testEnv struct {
	t     *testing.T
	pool  *pgxpool.Pool
	clock *testClock
	svc   *Service
	auth  *auth.Service
	srv   *httptest.Server
	// mux is the server's, for tests that mount a route of their own.
	mux *http.ServeMux
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testStart is the tests' "now", a morning in JST. It lies years ahead because the browsers'
// cookie jars read the real clock and would drop a session cookie that expires in the past.
var testStart = time.Date(2031, 6, 4, 10, 0, 0, 0, jst)

// The tests' WebAuthn relying party: the customers' (the core's), for which the virtual
// authenticators sign as if on testOrigin.
const (
	testRPID   = "kagi.test"
	testOrigin = "https://kagi.test"
)

func testRelyingParty() *webauthn.Config {
	return &webauthn.Config{RPID: testRPID, RPDisplayName: "kagi", RPOrigins: []string{testOrigin}}
}

func newService(t testing.TB, pool *pgxpool.Pool, clock *testClock, edit ...func(*Config)) *Service {
	t.Helper()
	// The expiry job gets the core's purges as kagi serve hands them over.
	cfg := Config{Pool: pool, Log: testLogger(t), Now: clock.Now, APIKeys: testServiceKeys(t),
		Purges: append(auth.Purges(auth.PurgeConfig{}), staff.Purges()...)}
	for _, e := range edit {
		e(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func newTestEnv(t *testing.T, edit ...func(*Config)) *testEnv {
	t.Helper()
	return newTestEnvWithCore(t, nil, edit...)
}

// newTestEnvWithCore is newTestEnv with the auth core's configuration edited by coreEdit.
func newTestEnvWithCore(t *testing.T, coreEdit func(*auth.Config), edit ...func(*Config)) *testEnv {
	t.Helper()
	pool := pgtest.New(t, auth.Migrations, auth.NotifyMigrations, staff.Migrations, Migrations)
	clock := &testClock{now: testStart}
	// An outbox that only enqueues, texts included: the tests read what it was given.
	outbox, err := notify.New(notify.Config{Pool: pool, Log: testLogger(t), Now: clock.Now, SMS: true, Audit: auth.NotifyAudit(clock.Now)})
	if err != nil {
		t.Fatal(err)
	}
	svc := newService(t, pool, clock, append([]func(*Config){func(c *Config) { c.Outbox = outbox }}, edit...)...)
	coreCfg := auth.Config{
		Pool:      pool,
		Log:       testLogger(t),
		Now:       clock.Now,
		Passwords: auth.NewPasswordHasher(auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1}, 4),
		PINKey:    []byte("test-pin-key-0123456789abcdef0123"),
		WebAuthn:  testRelyingParty(),
		Windows:   svc.ForAuth(),
		Outbox:    outbox,

		ServiceKeys: testServiceKeys(t),
	}
	if coreEdit != nil {
		coreEdit(&coreCfg)
	}
	core, err := auth.New(coreCfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	core.Routes(mux)
	core.BackOfficeRoutes(mux)
	svc.Routes(mux)
	// Requests are counted by client address as kagi serve counts them (the limits are off
	// unless a test sets them).
	srv := httptest.NewServer(web.WithClientAddr(nil, mux))
	t.Cleanup(srv.Close)
	return &testEnv{t: t, pool: pool, clock: clock, svc: svc, auth: core, srv: srv, mux: mux}
}

const testPassword = "correct horse battery"

// addAccount adds a customer with loginID and account number.
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

// addPasskey gives the account a passkey, so that only a window lets its password in. The row
// is written with SQL because auth's passkey registration API is being written at the same
// time as this package; once it exists, this should register through it with the virtual
// authenticator instead.
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

// addPasskeyAccount is addAccount + addPasskey: the customer a window is for.
func (e *testEnv) addPasskeyAccount(loginID, number string) auth.Account {
	e.t.Helper()
	a := e.addAccount(loginID, number)
	e.addPasskey(a.ID)
	return a
}

// browser is a customer's browser: its own cookie jar.
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

func (e *testEnv) doAt(srv *httptest.Server, c *http.Client, method, path string, body any, header ...string) (int, map[string]any, []byte) {
	e.t.Helper()
	return webtest.Do(e.t, c, srv.URL, method, path, body, header...)
}

func (e *testEnv) passwordLogin(c *http.Client, loginID string) (int, map[string]any) {
	e.t.Helper()
	status, body, _ := e.do(c, "POST", "/api/v1/login/password", map[string]string{"login_id": loginID, "password": testPassword})
	return status, body
}

func (e *testEnv) open(accountID int64, via Channel, actor, reason string) auth.Window {
	e.t.Helper()
	w, err := e.openErr(context.Background(), accountID, via, actor, reason)
	if err != nil {
		e.t.Fatal(err)
	}
	return w
}

// openErr opens (or restarts) the account's window with OpenTx in a transaction of its own, as
// `kagi window open` does.
func (e *testEnv) openErr(ctx context.Context, accountID int64, via Channel, actor, reason string) (auth.Window, error) {
	var w auth.Window
	err := pgdb.InTx(ctx, e.pool, func(tx pgx.Tx) error {
		var err error
		w, err = e.svc.OpenTx(ctx, tx, accountID, via, actor, reason)
		return err
	})
	return w, err
}

// closeByStaff closes the account's window as an operator of the console does, in a
// transaction of its own.
func (e *testEnv) closeByStaff(ctx context.Context, accountID int64, actor, reason string) (bool, error) {
	var closed bool
	err := pgdb.InTx(ctx, e.pool, func(tx pgx.Tx) error {
		var err error
		closed, err = e.svc.CloseByStaff(ctx, tx, accountID, actor, "operator", reason)
		return err
	})
	return closed, err
}

func (e *testEnv) runExpiry() ExpiryResult {
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
	return countRows(e.t, e.pool, sql, args...)
}

func countRows(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
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

// auditEvents returns the account's audit trail oldest first, each event with its close reason
// when it has one ("window_closed:expired").
func (e *testEnv) auditEvents(accountID int64) []string {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `
		SELECT event || coalesce(':' || (detail->>'close_reason'), '') FROM audit_log WHERE account_id = $1 ORDER BY id`, accountID)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}
