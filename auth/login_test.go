package auth

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kagi"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/pgdb"
	"kagi/pgdb/pgtest"
	"kagi/web"
	"kagi/web/webtest"
)

func TestPasswordLoginWithoutPasskey(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addAccount(demoAccount)
	c := e.browser()

	status, body := e.passwordLogin(c, "taro", demoAccount.Password)
	if status != http.StatusOK || body["assurance"] != "password" || body["via_fallback_window"] != false {
		t.Fatalf("login: %d %v", status, body)
	}
	status, body = e.do(c, "GET", "/api/v1/session", nil)
	if status != http.StatusOK || body["login_id"] != "taro" || body["assurance"] != "password" {
		t.Fatalf("session: %d %v", status, body)
	}
	if status, _ := e.do(c, "POST", "/api/v1/logout", nil); status != http.StatusOK {
		t.Fatalf("logout: %d", status)
	}
	if status, body := e.do(c, "GET", "/api/v1/session", nil); status != http.StatusUnauthorized || body["error"] != "unauthorized" {
		t.Fatalf("session after logout: %d %v", status, body)
	}
	if got, want := e.auditEvents(acct.ID), []string{"account_created", "login_succeeded", "logout"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("audit = %v, want %v", got, want)
	}
}

func TestSessionCookieFlags(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{true, false} {
		e := newTestEnv(t, func(c *Config) { c.SecureCookies = secure })
		e.addAccount(demoAccount)
		res, err := http.Post(e.srv.URL+"/api/v1/login/password", "application/json",
			jsonBody(t, map[string]string{"login_id": "taro", "password": demoAccount.Password}))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		var found bool
		name := map[bool]string{true: "__Host-kagi_session", false: "kagi_session"}[secure]
		for _, c := range res.Cookies() {
			if c.Name != name {
				continue
			}
			found = true
			if !c.HttpOnly || c.Secure != secure || c.SameSite != http.SameSiteLaxMode || len(c.Value) < 40 || c.Path != "/" || c.Domain != "" {
				t.Errorf("cookie %+v: want HttpOnly, Secure=%v, SameSite=Lax, a long random token", c, secure)
			}
		}
		if !found {
			t.Fatal("no session cookie")
		}
	}
}

func TestWrongPasswordAndUnknownIDAnswerAlike(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addAccount(demoAccount)
	s1, b1 := e.passwordLogin(e.browser(), "taro", "wrong password!")
	s2, b2 := e.passwordLogin(e.browser(), "nobody", "wrong password!")
	if s1 != http.StatusUnauthorized || b1["error"] != "invalid_credentials" {
		t.Fatalf("wrong password: %d %v", s1, b1)
	}
	if s1 != s2 || !reflect.DeepEqual(b1, b2) {
		t.Fatalf("wrong password %d %v differs from unknown ID %d %v", s1, b1, s2, b2)
	}
}

func TestPasswordLoginBadInput(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	for name, body := range map[string]any{
		"empty object":   map[string]string{},
		"empty password": map[string]string{"login_id": "taro", "password": ""},
		"not an object":  []int{1, 2},
		"wrong types":    map[string]int{"login_id": 1},
	} {
		status, got := e.do(e.browser(), "POST", "/api/v1/login/password", body)
		if status != http.StatusBadRequest || got["error"] != "invalid_request" || got["message"] == "" {
			t.Errorf("%s: %d %v, want 400 invalid_request with a message", name, status, got)
		}
	}
}

func TestPasswordThrottle(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addAccount(demoAccount)
	for i := range DefaultThrottle.Max {
		if status, _ := e.passwordLogin(e.browser(), "taro", "wrong password!"); status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, status)
		}
	}
	t.Run("locked even with the right password", func(t *testing.T) {
		status, body := e.passwordLogin(e.browser(), "taro", demoAccount.Password)
		if status != http.StatusTooManyRequests || body["error"] != "rate_limited" {
			t.Fatalf("%d %v", status, body)
		}
	})
	t.Run("unknown IDs are throttled alike", func(t *testing.T) {
		for range DefaultThrottle.Max {
			e.passwordLogin(e.browser(), "ghost", "wrong password!")
		}
		if status, _ := e.passwordLogin(e.browser(), "ghost", "wrong password!"); status != http.StatusTooManyRequests {
			t.Fatalf("unknown ID not throttled: %d", status)
		}
	})
	t.Run("lockout ends", func(t *testing.T) {
		e.clock.Advance(DefaultThrottle.Lockout + 1)
		if status, body := e.passwordLogin(e.browser(), "taro", demoAccount.Password); status != http.StatusOK {
			t.Fatalf("%d %v", status, body)
		}
	})
}

func TestParallelGuessesCannotPassTheLimit(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addAccount(demoAccount)
	var wg sync.WaitGroup
	var mu sync.Mutex
	counts := map[int]int{}
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, _ := e.passwordLogin(e.browser(), "taro", "wrong password!")
			mu.Lock()
			counts[status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if counts[http.StatusUnauthorized] != DefaultThrottle.Max || counts[http.StatusTooManyRequests] != 20-DefaultThrottle.Max {
		t.Fatalf("statuses %v: want exactly %d password checks", counts, DefaultThrottle.Max)
	}
	if got := e.auditDetails(acct.ID, "login_throttled"); len(got) != 1 {
		t.Fatalf("login_throttled %v, want the one lockout audited once", got)
	}
}

// The line in front of the hashes is bounded: a hash that finds it full, or waits past its
// bound, is refused at once with ErrBusy instead of queueing without end.
func TestPasswordHasherBoundsItsQueue(t *testing.T) {
	h := NewPasswordHasher(fastArgon, 1)
	h.maxWaited = 50 * time.Millisecond
	h.sem <- struct{}{} // the only slot is taken
	h.queue <- struct{}{}
	if _, err := h.Verify(context.Background(), "pw", ""); !errors.Is(err, ErrBusy) {
		t.Fatalf("a hash waiting past its bound: %v, want ErrBusy", err)
	}
	for len(h.queue) < cap(h.queue) {
		h.queue <- struct{}{}
	}
	if _, err := h.Verify(context.Background(), "pw", ""); !errors.Is(err, ErrBusy) {
		t.Fatalf("a hash finding the line full: %v, want ErrBusy", err)
	}
	if HashSlots() < 1 || HashSlots() > max(1, runtime.GOMAXPROCS(0)-1) {
		t.Fatalf("HashSlots() = %d with GOMAXPROCS %d", HashSlots(), runtime.GOMAXPROCS(0))
	}
}

// A login that finds the hashing line full answers 429 in Japanese, never a 500.
func TestPasswordLoginWhenHashingIsBusy(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addAccount(demoAccount)
	h := e.svc.passwords
	for len(h.queue) < cap(h.queue) {
		h.queue <- struct{}{}
	}
	status, body := e.passwordLogin(e.browser(), demoAccount.LoginID, demoAccount.Password)
	if status != http.StatusTooManyRequests || body["error"] != "rate_limited" || body["message"] != msgBusy {
		t.Fatalf("%d %v", status, body)
	}
	res, err := http.Post(e.srv.URL+"/api/v1/login/password", "application/json",
		strings.NewReader(`{"login_id":"taro","password":"`+demoAccount.Password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "1" {
		t.Errorf("busy: %d Retry-After %q, want 429 with Retry-After 1", res.StatusCode, res.Header.Get("Retry-After"))
	}
}

func TestPasswordHasherBoundsConcurrency(t *testing.T) {
	h := NewPasswordHasher(fastArgon, 1)
	h.sem <- struct{}{} // the only slot is taken
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Verify(ctx, "pw", ""); err == nil {
		t.Fatal("Verify ran while the only hashing slot was taken")
	}
	<-h.sem
	phc, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := h.Verify(context.Background(), "pw", phc); !ok {
		t.Fatal("right password refused")
	}
	if ok, _ := h.Verify(context.Background(), "px", phc); ok {
		t.Fatal("wrong password accepted")
	}
	if ok, _ := h.Verify(context.Background(), "kagi-dummy-password", ""); ok {
		t.Fatal("the dummy hash must never verify")
	}
}

func TestPasskeyRequiredHidesWhetherThePasswordWasRight(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withDesk(openDesk))
	acct := e.addAccount(demoAccount)
	e.insertPasskey(acct.ID, e.clock.Now(), e.clock.Now())
	s1, b1 := e.passwordLogin(e.browser(), "taro", demoAccount.Password)
	s2, b2 := e.passwordLogin(e.browser(), "taro", "wrong password!")
	if s1 != http.StatusForbidden || b1["error"] != "passkey_required" || b1["message"] != msgPasskeyRequired(Support(openDesk)) ||
		b1["voice_line"] != openDesk.VoiceLine || b1["support_hours"] != openDesk.Hours {
		t.Fatalf("right password: %d %v, want 403 passkey_required", s1, b1)
	}
	if s1 != s2 || !reflect.DeepEqual(b1, b2) {
		t.Fatalf("right password %d %v differs from wrong password %d %v", s1, b1, s2, b2)
	}
}

func TestLoginIDLookupable(t *testing.T) {
	for _, c := range []struct {
		id   string
		want bool
	}{
		{"taro", true},
		{"山田", true},
		{strings.Repeat("x", 256), true},
		{"", false},
		{"a\x00b", false},
		{"a\xffb", false},
		{"\xed\xa0\x80", false}, // a UTF-16 surrogate encoded as if it were UTF-8
		{strings.Repeat("x", 257), false},
	} {
		if got := LoginIDLookupable(c.id); got != c.want {
			t.Errorf("LoginIDLookupable(%.20q) = %v, want %v", c.id, got, c.want)
		}
	}
}

func TestUnlookupableLoginIDAnswersLikeAnUnknownOne(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addAccount(demoAccount)
	ctx := context.Background()
	unknownStatus, unknown := e.passwordLogin(e.browser(), "nobody", "wrong password!")
	if unknownStatus != http.StatusUnauthorized {
		t.Fatalf("unknown ID: %d %v", unknownStatus, unknown)
	}
	for name, body := range map[string]string{
		"NUL":                 `{"login_id":"a\u0000b","password":"wrong password!"}`,
		"NUL after a real ID": `{"login_id":"taro\u0000","password":"correct horse battery"}`,
		"invalid UTF-8":       "{\"login_id\":\"a\xff\xfeb\",\"password\":\"wrong password!\"}",
		"lone surrogate":      `{"login_id":"a\ud800b","password":"wrong password!"}`,
		"too long":            `{"login_id":"` + strings.Repeat("x", 5000) + `","password":"wrong password!"}`,
	} {
		t.Run(name, func(t *testing.T) {
			status, got := e.doRaw(e.browser(), "POST", "/api/v1/login/password", []byte(body))
			if status != unknownStatus || !reflect.DeepEqual(got, unknown) {
				t.Errorf("password login: %d %v, want %d %v like an unknown ID", status, got, unknownStatus, unknown)
			}
			status, got = e.doRaw(e.browser(), "POST", "/api/v1/passkeys/login/begin", []byte(body))
			if status != http.StatusOK || got["publicKey"] == nil {
				t.Errorf("passkey login begin: %d %v, want the discoverable options", status, got)
			}
		})
	}

	// Callers in Go can pass what JSON cannot carry: bytes that are no UTF-8 at all.
	t.Run("invalid UTF-8 from Go", func(t *testing.T) {
		_, err := e.svc.LoginWithPassword(ctx, "taro\xff", demoAccount.Password, "")
		if we := (*kagi.Error)(nil); !errors.As(err, &we) || we.Code != "invalid_credentials" {
			t.Errorf("LoginWithPassword: %v, want invalid_credentials", err)
		}
		if _, err := e.svc.BeginLogin(ctx, "taro\xff"); err != nil {
			t.Errorf("BeginLogin: %v", err)
		}
		if _, found, err := e.svc.AccountByLoginID(ctx, e.svc.pool, "taro\xff"); found || err != nil {
			t.Errorf("AccountByLoginID: %v %v, want not found", found, err)
		}
	})
	// Such an ID is still throttled like any other.
	t.Run("throttled", func(t *testing.T) {
		body := []byte(`{"login_id":"x\u0000y","password":"wrong password!"}`)
		for i := range DefaultThrottle.Max {
			if status, got := e.doRaw(e.browser(), "POST", "/api/v1/login/password", body); status != http.StatusUnauthorized {
				t.Fatalf("attempt %d: %d %v", i+1, status, got)
			}
		}
		if status, got := e.doRaw(e.browser(), "POST", "/api/v1/login/password", body); status != http.StatusTooManyRequests {
			t.Fatalf("attempt %d: %d %v, want 429", DefaultThrottle.Max+1, status, got)
		}
	})
}

// checkedWindow is a FallbackWindows with one window, counting how often the core asks for
// it. Closing it (closed) makes WindowUsed refuse as package recovery does, while OpenWindow
// still reports it: the window closed between the core's check and its transaction.
type checkedWindow struct {
	mu     sync.Mutex
	win    Window
	checks int
	closed bool
}

func (w *checkedWindow) OpenWindow(_ context.Context, _ pgdb.Querier, accountID int64, now time.Time) (Window, bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if accountID != 0 {
		w.checks++
	}
	return w.win, accountID != 0 && w.win.ExpiresAt.After(now), nil
}

func (w *checkedWindow) WindowUsed(context.Context, pgx.Tx, Window, time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return kagi.Errorf(kagi.Forbidden, "passkey_required", "closed")
	}
	return nil
}

func (w *checkedWindow) CloseWindow(context.Context, pgx.Tx, int64, CloseReason, time.Time) error {
	return nil
}

func (w *checkedWindow) set(f func(*checkedWindow)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(w)
}

func TestFallbackLoginChecksTheWindowOnceBeforeItsTransaction(t *testing.T) {
	t.Parallel()
	w := &checkedWindow{}
	e := newTestEnv(t, func(c *Config) { c.Windows = w })
	acct := e.addAccount(demoAccount)
	e.insertPasskey(acct.ID, e.clock.Now(), e.clock.Now())
	w.set(func(w *checkedWindow) {
		w.win = Window{ID: 3, ExpiresAt: e.clock.Now().Add(30 * time.Minute), OpenedVia: "ivr"}
	})

	status, body := e.passwordLogin(e.browser(), "taro", demoAccount.Password)
	if status != http.StatusOK || body["via_fallback_window"] != true {
		t.Fatalf("login through the window: %d %v", status, body)
	}
	var checks int
	w.set(func(w *checkedWindow) { checks = w.checks })
	if checks != 1 {
		t.Errorf("the window was checked %d times, want once: WindowUsed checks it again in the transaction", checks)
	}

	t.Run("closed before the session is made", func(t *testing.T) {
		w.set(func(w *checkedWindow) { w.closed = true })
		c := e.browser()
		status, body := e.passwordLogin(c, "taro", demoAccount.Password)
		if status != http.StatusForbidden || body["error"] != "passkey_required" {
			t.Fatalf("login through a window that just closed: %d %v, want 403 passkey_required", status, body)
		}
		if status, _ := e.do(c, "GET", "/api/v1/session", nil); status != http.StatusUnauthorized {
			t.Fatalf("a session was made: %d", status)
		}
		var sessions int
		if err := e.svc.pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions`).Scan(&sessions); err != nil || sessions != 1 {
			t.Fatalf("%d sessions (%v), want only the first login's", sessions, err)
		}
	})
}

// FuzzPasswordLoginBody posts arbitrary bytes to the login endpoints that take a body from
// anyone: whatever arrives, the answer is the client's problem (4xx), never a 500, and nothing
// is logged as an error (an operator's alert).
func FuzzPasswordLoginBody(f *testing.F) {
	var logs webtest.LogBuffer
	e := newTestEnv(f, func(c *Config) {
		c.Log = logs.Logger()
	})
	e.addAccount(demoAccount)
	for _, seed := range []string{
		``,
		`{}`,
		`null`,
		`[]`,
		`{"login_id":"taro","password":"correct horse battery"}`,
		`{"login_id":"taro","password":"wrong password!"}`,
		`{"login_id":"a\u0000b","password":"x"}`,
		"{\"login_id\":\"a\xffb\",\"password\":\"x\"}",
		`{"login_id":"a\ud800b","password":"x"}`,
		`{"login_id":"taro","password":"` + strings.Repeat("p", 2000) + `"}`,
		`{"login_id":1e999,"password":{}}`,
		`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"","signature":""}}`,
		`{"id":"AQID","rawId":"AQID","type":"public-key","response":{"clientDataJSON":"eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiQUFBQSIsIm9yaWdpbiI6Imh0dHBzOi8va2FnaS50ZXN0In0","authenticatorData":"AAAA","signature":"AAAA","userHandle":"AA"}}`,
	} {
		f.Add([]byte(seed))
	}
	client := &http.Client{}
	f.Fuzz(func(t *testing.T, body []byte) {
		logs.Reset()
		for _, path := range []string{"/api/v1/login/password", "/api/v1/passkeys/login/finish"} {
			res, err := client.Post(e.srv.URL+path, "application/json", bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode >= 500 {
				t.Fatalf("POST %s %q: %d %s", path, body, res.StatusCode, answer)
			}
		}
		if logs.LoggedError() {
			t.Fatalf("%q: a caller's mistake logged as an error: %s", body, logs.String())
		}
	})
}

// passkeyArrives is another request creating a passkey for the account the moment a password
// login counts its attempt (a tracer of the login's pool): after the login read "no passkey",
// before its transaction.
type passkeyArrives struct {
	pool      *pgxpool.Pool
	accountID int64
	armed     atomic.Bool
	err       error
}

func (p *passkeyArrives) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if d.SQL == reserveSQL && p.armed.CompareAndSwap(true, false) {
		_, p.err = p.pool.Exec(ctx, `
			INSERT INTO passkeys (account_id, credential_id, public_key, aaguid, backup_eligible, backup_state, created_at)
			VALUES ($1, 'cred', 'key', '00000000-0000-0000-0000-000000000000', true, true, now())`, p.accountID)
	}
	return ctx
}

func (p *passkeyArrives) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// A password login asks "no passkey?" again inside its own transaction, under the account's
// lock: a passkey created a moment after the password was checked shuts the password out.
func TestPasswordLoginRechecksThePasskeyInItsTransaction(t *testing.T) {
	t.Parallel()
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t, Migrations, NotifyMigrations))
	if err != nil {
		t.Fatal(err)
	}
	arrives := &passkeyArrives{}
	cfg.ConnConfig.Tracer = arrives
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	svc, err := New(Config{
		Pool: pool, Log: testLogger(t), Passwords: NewPasswordHasher(fastArgon, 4),
		PINKey:   []byte("test-pin-key-0123456789abcdef0123"),
		WebAuthn: &webauthn.Config{RPID: "kagi.test", RPDisplayName: "kagi", RPOrigins: []string{testOrigin}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Routes(mux)
	e := newTestEnvWithHandler(t, svc, mux)
	acct := e.addAccount(demoAccount)
	arrives.pool, arrives.accountID = pool, acct.ID
	arrives.armed.Store(true)
	status, body := e.passwordLogin(e.browser(), acct.LoginID, demoAccount.Password)
	if arrives.armed.Load() || arrives.err != nil {
		t.Fatalf("no passkey arrived during the login (%v)", arrives.err)
	}
	if status != http.StatusForbidden || body["error"] != "passkey_required" {
		t.Fatalf("password login as the passkey arrived: %d %v", status, body)
	}
	var n int
	if err := e.svc.pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d sessions made (%v)", n, err)
	}
}

// TestPasswordLoginDatabaseWork counts what a password login of an account without a passkey
// sends PostgreSQL with the login notice and the per-address limits on and the email check off:
// a success its statements, round trips and commits, which fail the test when they grow; and a
// wrong password the same statements as a login ID no account has, so the two cannot be told
// apart by the work they cause (go test ./auth -run PasswordLoginDatabaseWork -v logs them).
func TestPasswordLoginDatabaseWork(t *testing.T) {
	t.Parallel()
	svc, counter := countedService(t, func(c *Config) { c.ClientLimits = DefaultClientLimits })
	mux := http.NewServeMux()
	svc.Routes(mux)
	e := newTestEnvWithHandler(t, svc, web.WithClientAddr(nil, mux))
	e.addAccount(demoAccount)
	type work struct{ statements, roundTrips, commits int64 }
	login := func(loginID, password string, want int) work {
		t.Helper()
		counter.Reset()
		if status, body := e.passwordLogin(e.browser(), loginID, password); status != want {
			t.Fatalf("login %q: %d %v, want %d", loginID, status, body, want)
		}
		w := work{counter.Statements.Load(), counter.RoundTrips.Load(), counter.Commits.Load()}
		t.Logf("login %q, %d: %d statements, %d round trips, %d commits", loginID, want, w.statements, w.roundTrips, w.commits)
		return w
	}
	// One batch (the address's limit, the account), the attempt counted, then the transaction in
	// two: BEGIN with the account's lock, the session, the counts cleared and the audit line;
	// the login notice's enqueue with the COMMIT. The outbox's river also asks the server's
	// version at its first enqueue and wakes its workers now and then (PGNotifyMany, after the
	// commit), so the second login is counted, with room for the wake-up.
	login(demoAccount.LoginID, demoAccount.Password, http.StatusOK)
	if w := login(demoAccount.LoginID, demoAccount.Password, http.StatusOK); w.statements > 9 || w.roundTrips > 5 || w.commits > 1 {
		t.Errorf("login: %+v; want at most 9 statements, 5 round trips and 1 commit", w)
	}
	if wrong, unknown := login(demoAccount.LoginID, "wrong password", http.StatusUnauthorized), login("nobody", "wrong password", http.StatusUnauthorized); wrong != unknown {
		t.Errorf("a wrong password sent %+v, a login ID no account has %+v", wrong, unknown)
	}
}

// TestEmailCheckDatabaseWork counts what a password login that the email check (§2.12)
// follows sends PostgreSQL. The right password: the batch of the address's limit and the
// account, the attempt counted, then the check's transaction in two round trips — BEGIN with the
// check, the attempt's refund and the audit line; the emoji's email with the COMMIT. The right
// pick: the address's limit, then BEGIN with the account's lock and the check taken out; the
// session, the counts cleared, the audit line and the login notice with the COMMIT. It fails
// when they grow: 7 statements each, with room for one more statement and round trip — river's
// wake-up of its workers (PGNotifyMany), sent after a commit at most once per 100 ms.
func TestEmailCheckDatabaseWork(t *testing.T) {
	t.Parallel()
	svc, counter := countedService(t, func(c *Config) { c.ClientLimits, c.EmailCheck = DefaultClientLimits, true })
	mux := http.NewServeMux()
	svc.Routes(mux)
	e := newTestEnvWithHandler(t, svc, web.WithClientAddr(nil, mux))
	acct := e.addAccount(demoAccount)
	type work struct{ statements, roundTrips, commits int64 }
	counted := func(what string, f func(), want work) {
		t.Helper()
		counter.Reset()
		f()
		w := work{counter.Statements.Load(), counter.RoundTrips.Load(), counter.Commits.Load()}
		t.Logf("%s: %d statements, %d round trips, %d commits", what, w.statements, w.roundTrips, w.commits)
		if w.statements > want.statements || w.roundTrips > want.roundTrips || w.commits > want.commits {
			t.Errorf("%s: %+v, want at most %+v", what, w, want)
		}
	}
	// A first login before the counted ones: river asks the server's version at its first enqueue.
	e.startCheck(e.browser(), acct, demoAccount.Password)
	c := e.browser()
	var id string
	counted("the right password", func() {
		status, body := e.passwordLogin(c, acct.LoginID, demoAccount.Password)
		check, _ := body["email_check"].(map[string]any)
		if id, _ = check["id"].(string); status != http.StatusOK || id == "" {
			t.Fatalf("login: %d %v, want the email check", status, body)
		}
	}, work{8, 5, 1})
	mailed := e.mailedEmoji(acct)
	counted("the right pick", func() {
		if status, body := e.pick(c, id, mailed); status != http.StatusOK {
			t.Fatalf("pick: %d %v", status, body)
		}
	}, work{8, 4, 1})
}
