package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"kagi/notify"
	"kagi/notify/notifytest"
	"kagi/pgdb/pgtest"
	"kagi/web"
	"kagi/web/webtest"
)

// testClock is the injected clock tests move by hand.
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

// testProxies trusts the loopback address, where the test server's requests come from.
var testProxies = web.TrustedProxies{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// testOrigin is the WebAuthn origin the tests' virtual authenticators sign for.
const testOrigin = "https://kagi.test"

// testEnv is one test's kagi: a fresh database, the auth service and its HTTP server.
type testEnv struct {
	t     testing.TB
	svc   *Service
	srv   *httptest.Server
	clock *testClock
}

// fastArgon keeps password hashing cheap in tests; production uses DefaultArgon2.
var fastArgon = Argon2Params{Memory: 1024, Time: 1, Threads: 1}

func newTestEnv(t testing.TB, edit ...func(*Config)) *testEnv {
	t.Helper()
	pool := pgtest.New(t, Migrations, NotifyMigrations)
	// Years ahead: the browsers' cookie jars read the real clock and would drop a session
	// cookie that expires in the past.
	clock := &testClock{now: time.Date(2031, 6, 4, 1, 0, 0, 0, time.UTC)}
	// An outbox that only enqueues: the tests read what it was given from river's job table
	// (queuedMessages); package notify's tests deliver.
	outbox, err := notify.New(notify.Config{Pool: pool, Log: testLogger(t), Now: clock.Now, SMS: true, Audit: NotifyAudit(clock.Now)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Outbox:    outbox,
		Pool:      pool,
		Log:       testLogger(t),
		Now:       clock.Now,
		Passwords: NewPasswordHasher(fastArgon, 4),
		PINKey:    []byte("test-pin-key-0123456789abcdef0123"),
		WebAuthn:  &webauthn.Config{RPID: "kagi.test", RPDisplayName: "kagi", RPOrigins: []string{testOrigin}},

		ServiceKeys: testServiceKeys(t),
	}
	for _, e := range edit {
		e(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Routes(mux)
	svc.BackOfficeRoutes(mux)
	// The tests' requests come from the loopback address, which is trusted as a proxy, so a
	// test can be many clients by the X-Forwarded-For it sends.
	srv := httptest.NewServer(web.WithRequestID(web.WithClientAddr(testProxies, mux)))
	t.Cleanup(srv.Close)
	return &testEnv{t: t, svc: svc, srv: srv, clock: clock}
}

// newTestEnvWithHandler serves a service built by the test itself through h.
func newTestEnvWithHandler(t testing.TB, svc *Service, h http.Handler) *testEnv {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testEnv{t: t, svc: svc, srv: srv, clock: &testClock{now: time.Now()}}
}

// The back office's service keys in the tests, by name.
var testKeys = map[string]string{"backoffice": "back-office-key-0123456789", "crm": "crm-service-key-9876543210"}

func testServiceKeys(t testing.TB) *web.ServiceKeys {
	t.Helper()
	keys, err := web.NewServiceKeys([]web.ServiceKey{{Name: "backoffice", Key: testKeys["backoffice"]}, {Name: "crm", Key: testKeys["crm"]}})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// browser is a customer's browser: its own cookie jar.
func (e *testEnv) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

var demoAccount = NewAccount{
	LoginID: "taro", Password: "correct horse battery", AccountNumber: "1234567", PIN: "1234",
	Phones: []string{"+819012345678"}, Email: "taro@example.jp", Name: "山田 太郎",
}

func (e *testEnv) addAccount(n NewAccount) Account {
	e.t.Helper()
	a, err := e.svc.CreateAccount(context.Background(), n)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// do sends a JSON request and returns the status and the decoded JSON body.
func (e *testEnv) do(c *http.Client, method, path string, body any, header ...string) (int, map[string]any) {
	e.t.Helper()
	if body == nil {
		body = []byte(nil) // no body, still application/json
	}
	status, out, _ := webtest.Do(e.t, c, e.srv.URL, method, path, body, header...)
	return status, out
}

// doRaw sends body as it is, for input no JSON encoder would write.
func (e *testEnv) doRaw(c *http.Client, method, path string, body []byte, header ...string) (int, map[string]any) {
	e.t.Helper()
	return e.do(c, method, path, body, header...)
}

func (e *testEnv) passwordLogin(c *http.Client, loginID, password string) (int, map[string]any) {
	e.t.Helper()
	return e.do(c, "POST", "/api/v1/login/password", map[string]string{"login_id": loginID, "password": password})
}

// auditEvents returns the events recorded for an account, oldest first.
func (e *testEnv) auditEvents(accountID int64) []string {
	e.t.Helper()
	rows, err := e.svc.pool.Query(context.Background(), `SELECT event FROM audit_log WHERE account_id = $1 ORDER BY id`, accountID)
	if err != nil {
		e.t.Fatal(err)
	}
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

func jsonBody(t *testing.T, v any) io.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

// queuedMessages returns the messages enqueued for the account, oldest first.
func (e *testEnv) queuedMessages(accountID int64) []notifytest.Queued {
	e.t.Helper()
	return notifytest.Messages(e.t, e.svc.pool, accountID)
}

// queuedKinds lists the account's queued messages as "channel:kind".
func (e *testEnv) queuedKinds(accountID int64) []string {
	e.t.Helper()
	return notifytest.Kinds(e.t, e.svc.pool, accountID)
}

// loginWrites is what a passkey login of an account writes: its passkey sessions, its
// login_succeeded lines, whether its passkey was used, the challenges used up and the jobs
// enqueued (the login notice).
type loginWrites struct{ Sessions, Succeeded, PasskeyUsed, UsedChallenges, Jobs int }

func (e *testEnv) loginWrites(accountID int64) loginWrites {
	e.t.Helper()
	var n loginWrites
	err := e.svc.pool.QueryRow(context.Background(), `
		SELECT (SELECT count(*) FROM sessions WHERE account_id = $1 AND assurance = 'passkey'),
		       (SELECT count(*) FROM audit_log WHERE account_id = $1 AND event = 'login_succeeded'),
		       (SELECT count(*) FROM passkeys WHERE account_id = $1 AND last_used_at IS NOT NULL),
		       (SELECT count(*) FROM used_challenges), (SELECT count(*) FROM river_job)`, accountID).
		Scan(&n.Sessions, &n.Succeeded, &n.PasskeyUsed, &n.UsedChallenges, &n.Jobs)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}
