package ivr

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/auth"
	"kagi/hours"
	"kagi/ivr/twiliosim"
	"kagi/pgdb/pgtest"
	"kagi/recovery"
	"kagi/web"
	"kagi/web/webtest"
)

const testToken = "twilio-test-token"

type lineClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *lineClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *lineClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// lineEnv is one test's voice line: a fresh database, the auth core, recovery and the
// webhook on an httptest server, and a simulator that plays Twilio.
type lineEnv struct {
	t     testing.TB
	pool  *pgxpool.Pool
	clock *lineClock
	core  *auth.Service
	rec   *recovery.Service
	srv   *httptest.Server
	sim   *twiliosim.Simulator
}

// testBrand is the brokerage's name (KAGI_BRAND_NAME) the tests' line gives.
const testBrand = "デモ証券"

// wednesday10 is a weekday at 10:00 JST, inside business hours.
var wednesday10 = time.Date(2031, 6, 4, 1, 0, 0, 0, time.UTC)

func newLineEnv(t testing.TB, edit ...func(*HandlerConfig)) *lineEnv {
	t.Helper()
	return newLineEnvWith(t, nil, edit...)
}

// newLineEnvWith is newLineEnv with recovery's configuration edited by recEdit.
func newLineEnvWith(t testing.TB, recEdit func(*recovery.Config), edit ...func(*HandlerConfig)) *lineEnv {
	t.Helper()
	pool := pgtest.New(t, auth.Migrations, auth.NotifyMigrations, recovery.Migrations, Migrations)
	clock := &lineClock{now: wednesday10}
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	core, err := auth.New(auth.Config{
		Pool: pool, Log: log, Now: clock.Now,
		Passwords: auth.NewPasswordHasher(auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1}, 4),
		PINKey:    []byte("test-pin-key-0123456789abcdef0123"),
		WebAuthn:  testRP(),
	})
	if err != nil {
		t.Fatal(err)
	}
	recCfg := recovery.Config{Pool: pool, Log: log, Now: clock.Now}
	if recEdit != nil {
		recEdit(&recCfg)
	}
	rec, err := recovery.New(recCfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	// As cmd/kagi serves it: every request has an id.
	srv := httptest.NewServer(web.WithRequestID(mux))
	t.Cleanup(srv.Close)
	cfg := HandlerConfig{
		Pool: pool, Log: log, Now: clock.Now, PublicURL: srv.URL, AuthToken: testToken,
		Voice: "Polly.Mizuki", OperatorNumber: "+81300000000", Calendar: hours.Regular(), SupportEnabled: true,
		Verifier: recovery.NewVoiceVerifier(core, rec), Brand: testBrand,
	}
	for _, e := range edit {
		e(&cfg)
	}
	h, err := NewHandler(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.Routes(mux)
	return &lineEnv{t: t, pool: pool, clock: clock, core: core, rec: rec, srv: srv,
		sim: &twiliosim.Simulator{BaseURL: srv.URL, PublicURL: srv.URL, Token: testToken}}
}

// addCustomer adds an account with PIN 1234 and phone +819012345678. With a passkey, the
// passkey row is written with SQL: the voice line only asks whether one exists.
func (e *lineEnv) addCustomer(number string, passkey bool) auth.Account {
	e.t.Helper()
	a, err := e.core.CreateAccount(context.Background(), auth.NewAccount{
		LoginID: "u" + number, Password: "correct horse battery", AccountNumber: number, PIN: "1234",
		Phones: []string{"+819012345678"}, Email: "u" + number + "@example.jp", Name: "山田 太郎",
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if passkey {
		_, err := e.pool.Exec(context.Background(), `
			INSERT INTO passkeys (account_id, credential_id, public_key, aaguid, backup_eligible, backup_state, created_at)
			VALUES ($1, $2, 'k', '00000000-0000-0000-0000-000000000000', true, true, $3)`, a.ID, []byte(rand.Text()), e.clock.Now())
		if err != nil {
			e.t.Fatal(err)
		}
	}
	return a
}

// call plays a whole call and returns its turns.
func (e *lineEnv) call(from string, keys ...string) []twiliosim.Turn {
	e.t.Helper()
	var turns []twiliosim.Turn
	if err := e.sim.Call(context.Background(), twiliosim.NewCallSid(), from, keys, func(t twiliosim.Turn) { turns = append(turns, t) }); err != nil {
		e.t.Fatal(err)
	}
	return turns
}

func (e *lineEnv) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func said(turns []twiliosim.Turn) string {
	var all []string
	for _, t := range turns {
		all = append(all, t.Said...)
	}
	return strings.Join(all, " / ")
}

const regCaller = "+819012345678"

func TestCallOpensWindow(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t)
	a := e.addCustomer("1234567", true)
	turns := e.call(regCaller, "1", "1234567#", "1234")
	last := turns[len(turns)-1]
	if !last.HungUp || !strings.Contains(said(turns[len(turns)-1:]), "確認が取れました。30分間、午前10時30分まで、ログインIDとパスワードを") ||
		!strings.Contains(last.Said[len(last.Said)-1], "パスキーを再作成") {
		t.Fatalf("last turn %+v: want the window's length and end (30分間, 午前10時30分 JST) and the advice to re-create the passkey", last)
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows WHERE account_id = $1 AND closed_at IS NULL AND opened_via = 'ivr'`, a.ID); n != 1 {
		t.Fatalf("open ivr windows = %d", n)
	}
	for _, tr := range turns {
		if strings.ContainsAny(strings.TrimPrefix(tr.Gather, GatherPath+"?seq="), "#") || strings.Contains(tr.Gather, "1234567") {
			t.Fatalf("regCaller input in an action URL: %q", tr.Gather)
		}
	}
}

func TestCallWithoutPasskeyOpensNoWindow(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t)
	e.addCustomer("1234567", false)
	turns := e.call(regCaller, "1", "1234567#", "1234")
	if !strings.Contains(said(turns), promptNoPasskey) {
		t.Fatalf("said %q", said(turns))
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows`); n != 0 {
		t.Fatalf("windows = %d", n)
	}
}

func TestEveryFailureSoundsTheSame(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t)
	e.addCustomer("1234567", true)
	cases := []struct{ name, from, number, pin string }{
		{"wrong PIN", regCaller, "1234567", "9999"},
		{"unknown account", regCaller, "7654321", "1234"},
		{"regCaller not registered", "+819099998888", "1234567", "1234"},
	}
	var first string
	for _, c := range cases {
		turns := e.call(c.from, "1", c.number+"#", c.pin)
		got := turns[len(turns)-1].Said
		if len(got) == 0 || !strings.HasPrefix(got[0], promptFailed) {
			t.Fatalf("%s: said %q", c.name, got)
		}
		if first == "" {
			first = strings.Join(got, "")
		} else if strings.Join(got, "") != first {
			t.Fatalf("%s: %q differs from %q", c.name, got, first)
		}
	}
}

func TestThreeTriesThenHangUp(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t)
	e.addCustomer("1234567", true)
	turns := e.call(regCaller, "1", "1234567#", "0000", "1234567#", "0000", "1234567#", "0000", "1234567#", "1234")
	last := turns[len(turns)-1]
	if !last.HungUp || last.Gather != "" {
		t.Fatalf("after 3 failures: %+v", last)
	}
	if len(turns) != 8 {
		t.Fatalf("%d turns: the 4th try must never be asked for", len(turns))
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows`); n != 0 {
		t.Fatal("a window opened")
	}
}

func TestAccountLockoutAcrossCalls(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t)
	e.addCustomer("1234567", true)
	e.call(regCaller, "1", "1234567#", "0000", "1234567#", "0000", "1234567#", "0000")
	turns := e.call("+819011110000", "1", "1234567#", "0000", "1234567#", "0000")
	if got := said(turns[len(turns)-1:]); !strings.Contains(got, promptLocked) {
		t.Fatalf("5th failure: %q, want the lockout sentence", got)
	}
	turns = e.call(regCaller, "1", "1234567#", "1234")
	if got := said(turns[len(turns)-1:]); !strings.Contains(got, "24時間停止") || !strings.Contains(got, "メニューで0を押して") ||
		!strings.Contains(got, "営業時間は、平日は午前8時30分から午後5時まで") || !turns[len(turns)-1].HungUp {
		t.Fatalf("right PIN while locked: %q, want the 24-hour lock, 0 at the menu and the hours", got)
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows`); n != 0 {
		t.Fatal("a window opened for a locked account")
	}
	t.Run("the lock ends after 24 hours", func(t *testing.T) {
		e.clock.Advance(24*time.Hour + time.Minute)
		turns := e.call(regCaller, "1", "1234567#", "1234")
		if !strings.Contains(said(turns), "まで、ログインIDとパスワード") {
			t.Fatalf("said %q", said(turns))
		}
	})
}

func TestCallerLockout(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t)
	for i := range 4 {
		e.call(regCaller, "1", "99999"+string(rune('0'+i))+"#", "0000", "99999"+string(rune('0'+i))+"#", "0000", "88888#", "0000")
	}
	// 12 failures from one number for unknown accounts: locked at the 10th.
	if n := e.count(`SELECT count(*) FROM voice_lockouts WHERE subject_kind = 'caller' AND locked_until IS NOT NULL`); n != 1 {
		t.Fatalf("caller locks = %d", n)
	}
	e.addCustomer("1234567", true)
	turns := e.call(regCaller, "1", "1234567#", "1234")
	if !strings.Contains(said(turns), promptLocked) {
		t.Fatalf("locked regCaller with the right PIN: %q", said(turns))
	}
}

// A made-up account number is counted and locked exactly like a real one, so nothing the caller
// hears, turn by turn, tells whether the number exists.
func TestUnknownAccountNumbersSoundLikeRealOnes(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t)
	e.addCustomer("1234567", true)
	play := func(number, from string) []string {
		var heard []string
		for _, keys := range [][]string{
			{"1", number + "#", "0000", number + "#", "0000", number + "#", "0000"},
			{"1", number + "#", "0000", number + "#", "0000", number + "#", "0000"},
			{"1", number + "#", "1234"},
		} {
			for _, turn := range e.call(from, keys...) {
				heard = append(heard, strings.Join(turn.Said, "")+fmt.Sprintf(" [gather %t, hung up %t]", turn.Gather != "", turn.HungUp))
			}
		}
		return heard
	}
	realHeard := play("1234567", "+819011110001")
	madeUp := play("7654321", "+819011110002")
	if !slices.Equal(realHeard, madeUp) {
		t.Fatalf("a real number is heard as\n%s\na made-up one as\n%s", strings.Join(realHeard, "\n"), strings.Join(madeUp, "\n"))
	}
	if locked := strings.Join(realHeard, "\n"); strings.Count(locked, promptLocked) != 2 {
		t.Fatalf("want the lockout sentence at the 5th failure and on the next call:\n%s", locked)
	}
}

func TestParallelWrongPINsRecordExactlyTheLimit(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t)
	a := e.addCustomer("1234567", true)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := "+8190" + strings.Repeat("0", 7) + string(rune('0'+i%10))
			if i >= 10 {
				from = "+8180" + strings.Repeat("0", 7) + string(rune('0'+i%10))
			}
			var turns []twiliosim.Turn
			if err := e.sim.Call(context.Background(), twiliosim.NewCallSid(), from, []string{"1", "1234567#", "0000"}, func(t twiliosim.Turn) { turns = append(turns, t) }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := e.count(`SELECT count(*) FROM audit_log WHERE account_id = $1 AND event = 'voice_verification_failed'`, a.ID); n != recovery.DefaultLockout.AccountMax {
		t.Fatalf("failures recorded = %d, want exactly %d", n, recovery.DefaultLockout.AccountMax)
	}
	if n := e.count(`SELECT count(*) FROM voice_failures WHERE subject_kind = 'account'`); n != recovery.DefaultLockout.AccountMax {
		t.Fatalf("account count = %d", n)
	}
}

// post sends one signed webhook request by hand.
func (e *lineEnv) post(path string, form url.Values, sign bool) (int, twiliosim.Turn) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sign {
		req.Header.Set("X-Twilio-Signature", twiliosim.Sign(testToken, e.srv.URL+path, form))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var buf strings.Builder
	_, _ = io.Copy(&buf, res.Body)
	if res.StatusCode != http.StatusOK {
		return res.StatusCode, twiliosim.Turn{}
	}
	turn, err := twiliosim.ParseTwiML([]byte(buf.String()))
	if err != nil {
		e.t.Fatalf("%s: %v", path, err)
	}
	return res.StatusCode, turn
}

func TestReplayedStepDoesNotResetAttempts(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t)
	e.addCustomer("1234567", true)
	sid := twiliosim.NewCallSid()
	form := func(digits string) url.Values {
		return url.Values{"CallSid": {sid}, "From": {regCaller}, "Digits": {digits}}
	}
	_, t0 := e.post("/ivr/voice", url.Values{"CallSid": {sid}, "From": {regCaller}}, true)
	_, t1 := e.post(t0.Gather, form("1"), true)
	_, t2 := e.post(t1.Gather, form("1234567"), true)
	_, t3 := e.post(t2.Gather, form("0000"), true) // first failure
	if !strings.Contains(strings.Join(t3.Said, ""), promptFailed) {
		t.Fatalf("said %q", t3.Said)
	}
	attempts := func() int {
		return e.count(`SELECT (state->>'attempts')::int FROM ivr_calls WHERE call_sid = $1`, sid)
	}
	before := attempts()
	// Replays: the call start, the menu and the PIN request again (Twilio retries, or an attacker).
	e.post("/ivr/voice", url.Values{"CallSid": {sid}, "From": {regCaller}}, true)
	e.post(t0.Gather, form("1"), true)
	e.post(t2.Gather, form("1234"), true)
	if got := attempts(); got != before {
		t.Fatalf("attempts %d → %d after replays", before, got)
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows`); n != 0 {
		t.Fatal("a replayed PIN request opened a window")
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE event = 'voice_verification_failed'`); n != 1 {
		t.Fatalf("failures recorded = %d, want 1", n)
	}
}

func TestSignatureRequired(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t)
	form := url.Values{"CallSid": {twiliosim.NewCallSid()}, "From": {regCaller}}
	for _, path := range []string{"/ivr/voice", GatherPath + "?seq=1", DialPath + "?seq=2", "/ivr/status", "/ivr/fallback", "/ivr/", "/ivr/other", "/ivr/voice/x"} {
		if status, _ := e.post(path, form, false); status != http.StatusForbidden {
			t.Errorf("%s unsigned: %d", path, status)
		}
	}
	for _, method := range []string{"GET", "PUT", "DELETE"} {
		for _, path := range []string{"/ivr/voice", "/ivr/other"} {
			if status, _ := e.request(method, path, nil, false); status != http.StatusForbidden {
				t.Errorf("%s %s unsigned: %d", method, path, status)
			}
		}
	}
	t.Run("forged", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.srv.URL+"/ivr/voice", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twiliosim.Sign("another-token", e.srv.URL+"/ivr/voice", form))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("forged: %d", res.StatusCode)
		}
	})
	t.Run("signed for other parameters", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.srv.URL+"/ivr/voice", strings.NewReader(form.Encode()+"&Digits=1"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twiliosim.Sign(testToken, e.srv.URL+"/ivr/voice", form))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Fatalf("tampered body: %d", res.StatusCode)
		}
	})
	if n := e.count(`SELECT count(*) FROM ivr_calls`); n != 0 {
		t.Fatalf("unsigned requests left %d calls", n)
	}
}

// request sends a webhook request of any method, signed for its URL and form when sign is set.
func (e *lineEnv) request(method, path string, form url.Values, sign bool) (int, twiliosim.Turn) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(form.Encode()))
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if sign {
		req.Header.Set("X-Twilio-Signature", twiliosim.Sign(testToken, e.srv.URL+path, form))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return res.StatusCode, twiliosim.Turn{}
	}
	turn, err := twiliosim.ParseTwiML(body)
	if err != nil {
		e.t.Fatalf("%s %s: %v\n%s", method, path, err, body)
	}
	return res.StatusCode, turn
}

// Anything else under /ivr/ is a Twilio route too: refused unsigned (above), and when signed it
// ends the call the way the fallback URL does, in TwiML.
func TestOtherIVRPathsAnswerUnavailable(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t)
	form := url.Values{"CallSid": {twiliosim.NewCallSid()}, "From": {regCaller}}
	for _, c := range []struct{ method, path string }{
		{"POST", "/ivr/"}, {"POST", "/ivr/other"}, {"POST", "/ivr/voice/x"}, {"GET", "/ivr/voice"}, {"GET", "/ivr/other?x=1"},
	} {
		status, turn := e.request(c.method, c.path, form, true)
		if status != http.StatusOK || len(turn.Said) != 1 || turn.Said[0] != promptUnavailable || !turn.HungUp {
			t.Errorf("%s %s signed: %d %+v, want the unavailable TwiML", c.method, c.path, status, turn)
		}
	}
	if n := e.count(`SELECT count(*) FROM ivr_calls`); n != 0 {
		t.Fatalf("other paths started %d calls", n)
	}
}

func TestDatabaseDownAnswersTwiML(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t, func(c *HandlerConfig) {
		dead, err := pgxpool.New(context.Background(), "postgres://kagi@127.0.0.1:1/none?connect_timeout=1")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(dead.Close)
		c.Pool = dead
	})
	status, turn := e.post("/ivr/voice", url.Values{"CallSid": {twiliosim.NewCallSid()}, "From": {regCaller}}, true)
	if status != http.StatusOK || !turn.HungUp || len(turn.Said) != 1 || turn.Said[0] != promptUnavailable {
		t.Fatalf("database down: %d %+v", status, turn)
	}
	status, turn = e.post("/ivr/fallback", url.Values{"CallSid": {twiliosim.NewCallSid()}}, true)
	if status != http.StatusOK || turn.Said[0] != promptUnavailable {
		t.Fatalf("fallback: %d %+v", status, turn)
	}
}

func TestOperatorOnlyDuringBusinessHours(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t)
	turns := e.call(regCaller, "0")
	if turns[len(turns)-1].Dialled != "+81300000000" {
		t.Fatalf("in hours: %+v", turns[len(turns)-1])
	}
	e.clock.Advance(9 * time.Hour) // 19:00 JST
	turns = e.call(regCaller, "0")
	last := turns[len(turns)-1]
	if last.Dialled != "" || last.Gather == "" || !strings.Contains(said(turns[1:]),
		promptClosed+"営業時間は、平日は午前8時30分から午後5時まで、土曜日・日曜日は午前9時から午後5時までです。次の受付開始は、6月5日の午前8時30分です。") {
		t.Fatalf("after hours: %q %+v", said(turns[1:]), last)
	}
}

// The transfer's action brings the caller back to the menu when the operator did not take the
// call, and ends it after a conversation; a replayed report changes nothing.
func TestOperatorTransferThroughTheWebhook(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		status string
		want   string
		back   bool
	}{
		{"busy", promptOperatorBusy + promptMenu, true},
		{"no-answer", promptOperatorBusy + promptMenu, true},
		{"failed", promptOperatorBusy + promptMenu, true},
		{"canceled", promptOperatorBusy + promptMenu, true},
		{"completed", promptGoodbye, false},
	} {
		t.Run(tt.status, func(t *testing.T) {
			t.Parallel()
			e := newLineEnv(t) // Wednesday 10:00 JST: the desk is open
			ctx := context.Background()
			sid := twiliosim.NewCallSid()
			turn, err := e.sim.Start(ctx, sid, regCaller)
			if err != nil {
				t.Fatal(err)
			}
			dialling, err := e.sim.Press(ctx, sid, regCaller, turn, "0")
			if err != nil || dialling.Dialled != "+81300000000" || !strings.HasPrefix(dialling.DialAction, DialPath+"?seq=") {
				t.Fatalf("0: %v %+v, want a transfer with its action under %s", err, dialling, DialPath)
			}
			after, err := e.sim.DialEnded(ctx, sid, regCaller, dialling, tt.status)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(after.Said, ""); got != tt.want || after.HungUp == tt.back || (after.Gather != "") != tt.back {
				t.Fatalf("after %s: said %q (%+v), want %q", tt.status, got, after, tt.want)
			}
			step := func() string {
				var s string
				if err := e.pool.QueryRow(ctx, `SELECT state->>'step' FROM ivr_calls WHERE call_sid = $1`, sid).Scan(&s); err != nil {
					t.Fatal(err)
				}
				return s
			}
			before := step()
			// Twilio retrying the report, or anyone replaying it: the call stays where it is.
			again, err := e.sim.DialEnded(ctx, sid, regCaller, dialling, "busy")
			if err != nil || step() != before {
				t.Fatalf("replayed report: %v, step %q → %q", err, before, step())
			}
			if !tt.back {
				if !again.HungUp {
					t.Errorf("replayed report after the end: %+v", again)
				}
				return
			}
			if strings.Join(again.Said, "") != promptMenu || again.Gather != after.Gather {
				t.Errorf("replayed report: %+v, want the menu of %s again", again, after.Gather)
			}
			if next, err := e.sim.Press(ctx, sid, regCaller, after, "1"); err != nil || strings.Join(next.Said, "") != promptAccount {
				t.Errorf("1 after the transfer: %v %+v", err, next)
			}
		})
	}
}

// The window opened at 23:33 JST ends on the next day, and the caller hears so.
func TestWindowNearMidnightSaysTomorrow(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t)
	e.clock.Advance(13*time.Hour + 33*time.Minute) // Wednesday 23:33 JST
	e.addCustomer("1234567", true)
	turns := e.call(regCaller, "1", "1234567#", "1234")
	if got := said(turns[len(turns)-1:]); !strings.Contains(got, "確認が取れました。30分間、明日の午前0時3分まで、ログインIDとパスワードを") {
		t.Fatalf("said %q, want 30分間、明日の午前0時3分まで", got)
	}
}

// Every log line of the voice line carries the id of its request (X-Request-Id), like the
// lines of the other route kinds, so a call's requests can be found in the log — once, whether
// the log adds request ids itself (kagi serve's, web.RequestIDLogs) or not.
func TestLogsCarryTheRequestID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		log  func(io.Writer) *slog.Logger
	}{
		{"plain log", func(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }},
		{"kagi serve's log", func(w io.Writer) *slog.Logger { return slog.New(web.RequestIDLogs(slog.NewJSONHandler(w, nil))) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs webtest.LogBuffer
			e := newLineEnv(t, func(c *HandlerConfig) { c.Log = tc.log(&logs) })
			send := func(path string, form url.Values, sign bool) string {
				req, _ := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if sign {
					req.Header.Set("X-Twilio-Signature", twiliosim.Sign(testToken, e.srv.URL+path, form))
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				return res.Header.Get("X-Request-Id")
			}
			sid := twiliosim.NewCallSid()
			ids := []string{
				send("/ivr/voice", url.Values{"CallSid": {sid}, "From": {regCaller}}, true),
				send(GatherPath+"?seq=1", url.Values{"CallSid": {sid}, "From": {regCaller}, "Digits": {"0"}}, true),
				send(DialPath+"?seq=2", url.Values{"CallSid": {sid}, "From": {regCaller}, "DialCallStatus": {"busy"}}, true),
				send("/ivr/voice", url.Values{"CallSid": {sid}}, false),
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			if len(lines) != len(ids) {
				t.Fatalf("%d log lines for %d requests:\n%s", len(lines), len(ids), logs.String())
			}
			for i, line := range lines {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatal(err)
				}
				if ids[i] == "" || rec["request_id"] != ids[i] {
					t.Errorf("log line %s has request_id %v, want the X-Request-Id %q", line, rec["request_id"], ids[i])
				}
				if n := strings.Count(line, `"request_id"`); n != 1 {
					t.Errorf("log line %s names request_id %d times, want once", line, n)
				}
			}
			if !strings.Contains(lines[0], `"msg":"ivr: step"`) {
				t.Errorf("the first line is not a step's: %s", lines[0])
			}
			if !strings.Contains(lines[2], `"dial_status":"busy"`) {
				t.Errorf("the transfer's end is not logged with its status: %s", lines[2])
			}
		})
	}
}

// On a closed day of the calendar the caller hears the regular hours and when the desk really
// opens next, which corrects them; with support switched off, that it is not available, not
// that it is outside hours.
func TestOperatorOptionFollowsTheCalendarAndTheSwitch(t *testing.T) {
	t.Parallel()
	cal, err := hours.Parse([]byte(`{"closed":["2031-06-04","2031-06-05"],"special":[{"date":"2031-06-06","open":"10:00","close":"15:00"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		edit    func(*HandlerConfig)
		want    string
		notWant string
	}{
		{"closed day", func(c *HandlerConfig) { c.Calendar = cal },
			promptClosed + "営業時間は、" + regularHours + "。次の受付開始は、6月6日の午前10時です。", "次の受付開始は、6月4日"},
		{"support switched off", func(c *HandlerConfig) { c.SupportEnabled = false },
			promptUnavailable, promptClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newLineEnv(t, tt.edit) // Wednesday 10:00 JST, regular hours
			turns := e.call(regCaller, "0")
			last := turns[len(turns)-1]
			got := strings.Join(last.Said, "")
			if last.Dialled != "" || last.Gather == "" || !strings.HasPrefix(got, tt.want+promptMenu) || strings.Contains(got, tt.notWant) {
				t.Fatalf("said %q (%+v), want %q then the menu", got, last, tt.want)
			}
		})
	}
}

func TestStatusCallbackEndsTheCall(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t)
	e.call(regCaller, "9")
	if n := e.count(`SELECT count(*) FROM ivr_calls WHERE ended_at IS NOT NULL AND end_status = 'completed' AND state->>'step' = 'done'`); n != 1 {
		t.Fatalf("ended calls = %d", n)
	}
	t.Run("a gather after the end moves nothing", func(t *testing.T) {
		e.addCustomer("1234567", true)
		sid := twiliosim.NewCallSid()
		form := func(digits string) url.Values {
			return url.Values{"CallSid": {sid}, "From": {regCaller}, "Digits": {digits}}
		}
		_, t0 := e.post("/ivr/voice", url.Values{"CallSid": {sid}, "From": {regCaller}}, true)
		_, t1 := e.post(t0.Gather, form("1"), true)
		_, t2 := e.post(t1.Gather, form("1234567"), true)
		if status, _ := e.post("/ivr/status", url.Values{"CallSid": {sid}, "CallStatus": {"completed"}}, true); status != http.StatusNoContent {
			t.Fatalf("status callback: %d", status)
		}
		status, t3 := e.post(t2.Gather, form("1234"), true)
		if status != http.StatusOK || len(t3.Said) != 1 || t3.Said[0] != promptUnavailable || !t3.HungUp {
			t.Fatalf("PIN after the end: %d %+v, want the unavailable TwiML", status, t3)
		}
		if n := e.count(`SELECT count(*) FROM fallback_windows`) + e.count(`SELECT count(*) FROM audit_log WHERE event LIKE 'voice_%'`); n != 0 {
			t.Fatal("a gather after the end was verified")
		}
		if n := e.count(`SELECT count(*) FROM ivr_calls WHERE call_sid = $1 AND state->>'step' = 'done'`, sid); n != 1 {
			t.Fatal("the ended call's state is not done")
		}
	})
	t.Run("a status before the end ends nothing", func(t *testing.T) {
		sid := twiliosim.NewCallSid()
		_, t0 := e.post("/ivr/voice", url.Values{"CallSid": {sid}, "From": {regCaller}}, true)
		for _, status := range []string{"queued", "initiated", "ringing", "in-progress", "answered"} {
			e.post("/ivr/status", url.Values{"CallSid": {sid}, "CallStatus": {status}}, true)
		}
		if n := e.count(`SELECT count(*) FROM ivr_calls WHERE call_sid = $1 AND ended_at IS NULL`, sid); n != 1 {
			t.Fatal("a status of a call in progress ended it")
		}
		if _, t1 := e.post(t0.Gather, url.Values{"CallSid": {sid}, "From": {regCaller}, "Digits": {"1"}}, true); !strings.Contains(strings.Join(t1.Said, ""), promptAccount) {
			t.Fatalf("the call did not go on: %+v", t1)
		}
	})
	// A day on, the call still in progress is abandoned; the ended calls are remembered.
	e.clock.Advance(25 * time.Hour)
	if n, err := PurgeCalls(context.Background(), e.pool, e.clock.Now(), 2); err != nil || n != 1 {
		t.Fatalf("purged %d, %v, want the one abandoned call", n, err)
	}
	if n := e.count(`SELECT count(*) FROM ivr_calls WHERE ended_at IS NOT NULL AND state = '{"step":"done"}'`); n != 3 {
		t.Fatalf("%d calls remembered as ended without their state, want 3", n)
	}
	// Thirty days after their end they go, at most a batch (here 2) at a time.
	e.clock.Advance(30 * 24 * time.Hour)
	for i, want := range []int64{2, 1, 0} {
		if n, err := PurgeCalls(context.Background(), e.pool, e.clock.Now(), 2); err != nil || n != want {
			t.Fatalf("batch %d purged %d, %v, want %d", i+1, n, err, want)
		}
	}
}

// A signed request sequence recorded from a call that opened a window, replayed after the call
// ended — a day later, past the old 24-hour purge — opens nothing, and the keyed-in account
// number did not outlive the call.
func TestReplayedCallAfterItEndedOpensNothing(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t)
	e.addCustomer("1234567", true)
	sid := twiliosim.NewCallSid()
	ctx := context.Background()
	start := url.Values{"CallSid": {sid}, "From": {regCaller}}
	_, t0 := e.post("/ivr/voice", start, true)
	_, t1 := e.post(t0.Gather, url.Values{"CallSid": {sid}, "From": {regCaller}, "Digits": {"1"}}, true)
	_, t2 := e.post(t1.Gather, url.Values{"CallSid": {sid}, "From": {regCaller}, "Digits": {"1234567"}}, true)
	if n := e.count(`SELECT count(*) FROM ivr_calls WHERE call_sid = $1 AND state->>'account_number' = '1234567'`, sid); n != 1 {
		t.Fatal("the call does not hold the account number while it goes on")
	}
	// The caller hangs up before the PIN.
	e.post("/ivr/status", url.Values{"CallSid": {sid}, "CallStatus": {"completed"}}, true)
	if n := e.count(`SELECT count(*) FROM ivr_calls WHERE call_sid = $1 AND state ? 'account_number'`, sid); n != 0 {
		t.Fatal("the account number outlived the call")
	}
	e.clock.Advance(25 * time.Hour)
	if _, err := PurgeCalls(ctx, e.pool, e.clock.Now(), recovery.DefaultPurgeBatch); err != nil {
		t.Fatal(err)
	}
	for _, replay := range []struct {
		path string
		form url.Values
	}{
		{"/ivr/voice", start},
		{t2.Gather, url.Values{"CallSid": {sid}, "From": {regCaller}, "Digits": {"1234"}}},
	} {
		if status, turn := e.post(replay.path, replay.form, true); status != http.StatusOK || !strings.Contains(strings.Join(turn.Said, ""), promptUnavailable) {
			t.Fatalf("replayed %s: %d %+v", replay.path, status, turn)
		}
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows`); n != 0 {
		t.Fatal("a replayed call opened a window")
	}
}

// The expiry job runs PurgeCalls every minute: with many calls in progress and none due, it
// must find the due ones through ivr_calls' indexes, never by reading the table.
func TestCallPurgeUsesTheIndexes(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t)
	now := e.clock.Now()
	_, err := e.pool.Exec(context.Background(), `
		INSERT INTO ivr_calls (call_sid, caller, state, started_at, updated_at, ended_at, end_status)
		SELECT 'CA' || md5(g::text), '+819012345678', '{}', $1, $1,
		       CASE WHEN g % 2 = 0 THEN $1::timestamptz END, CASE WHEN g % 2 = 0 THEN 'completed' END
		FROM generate_series(1, 20000) g`, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(context.Background(), `ANALYZE ivr_calls`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sql   string
		args  []any
		index string
	}{
		{abandonCallsSQL, []any{now, now.Add(-abandonedAfter), recovery.DefaultPurgeBatch}, "ivr_calls_open"},
		{purgeCallsSQL, []any{now.Add(-endedCallsKept), recovery.DefaultPurgeBatch}, "ivr_calls_ended"},
	} {
		var plan []byte
		if err := e.pool.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+c.sql, c.args...).Scan(&plan); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(plan), `"Seq Scan"`) || !strings.Contains(string(plan), c.index) {
			t.Fatalf("the purge does not go through %s:\n%s", c.index, plan)
		}
	}
}

func testRP() *webauthn.Config {
	return &webauthn.Config{RPID: "kagi.test", RPDisplayName: "kagi", RPOrigins: []string{"https://kagi.test"}}
}

func TestPanicAndDeadlineAnswerTwiML(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t, func(c *HandlerConfig) { c.Deadline = time.Nanosecond })
	status, turn := e.post("/ivr/voice", url.Values{"CallSid": {twiliosim.NewCallSid()}, "From": {regCaller}}, true)
	if status != http.StatusOK || len(turn.Said) != 1 || turn.Said[0] != promptUnavailable || !turn.HungUp {
		t.Fatalf("past the deadline: %d %+v", status, turn)
	}

	h, err := NewHandler(HandlerConfig{Pool: e.pool, PublicURL: "https://kagi.test", AuthToken: testToken,
		Calendar: hours.Regular(), Verifier: recovery.NewVoiceVerifier(e.core, e.rec), Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	boom := h.twilio(func(http.ResponseWriter, *http.Request, url.Values) { panic("boom") })
	form := url.Values{"CallSid": {twiliosim.NewCallSid()}}
	req := httptest.NewRequest("POST", "/ivr/voice", strings.NewReader(form.Encode()))
	req.Header.Set("X-Twilio-Signature", twiliosim.Sign(testToken, "https://kagi.test/ivr/voice", form))
	rec := httptest.NewRecorder()
	boom.ServeHTTP(rec, req)
	if got, err := twiliosim.ParseTwiML(rec.Body.Bytes()); rec.Code != http.StatusOK || err != nil || got.Said[0] != promptUnavailable {
		t.Fatalf("panic: %d %q", rec.Code, rec.Body)
	}
}

// Nothing the caller keys in, and no full caller number, ever reaches the log.
func TestLogsHoldNoDigits(t *testing.T) {
	t.Parallel()
	var logs webtest.LogBuffer
	e := newLineEnv(t, func(c *HandlerConfig) { c.Log = slog.New(slog.NewJSONHandler(&logs, nil)) })
	e.addCustomer("7654321", true)
	e.call(regCaller, "1", "7654321#", "9876", "7654321#", "4321", "9999999#", "1234")
	e.call("anonymous")
	out := logsWithoutIDs(t, &logs)
	if !strings.Contains(out, "ivr: step") {
		t.Fatalf("no step was logged: %s", out)
	}
	for _, secret := range []string{"7654321", "9876", "4321", "9999999", regCaller, "12345678"} {
		if strings.Contains(out, secret) {
			t.Fatalf("log contains %q:\n%s", secret, out)
		}
	}
}

// logsWithoutIDs is the JSON log without the fields that may hold any digits (the time and the
// random CallSids), for a test to look for what must never be logged.
func logsWithoutIDs(t *testing.T, logs *webtest.LogBuffer) string {
	t.Helper()
	var out strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		rec := map[string]any{}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		delete(rec, "time")
		delete(rec, "call_sid")
		delete(rec, "callback_sid")
		b, _ := json.Marshal(rec)
		out.Write(append(b, '\n'))
	}
	return out.String()
}

// A simulated call (kagi call, the dev phone) plays how an operator transfer ends from its keys:
// busy brings the caller back to the menu, where the call goes on.
func TestSimulatedCallPlaysABusyOperator(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t) // Wednesday 10:00 JST: the desk is open
	var turns []twiliosim.Turn
	if err := e.sim.Call(context.Background(), twiliosim.NewCallSid(), regCaller, []string{"0", "dial:busy", "0", "dial:completed"},
		func(t twiliosim.Turn) { turns = append(turns, t) }); err != nil {
		t.Fatal(err)
	}
	if len(turns) != 5 {
		t.Fatalf("%d turns, want 5 (answer, transfer, busy, transfer, done): %+v", len(turns), turns)
	}
	if busy := strings.Join(turns[2].Said, ""); busy != promptOperatorBusy+promptMenu || turns[2].Keys != "dial:busy" || !turns[2].Waiting() {
		t.Errorf("after a busy transfer: %q %+v, want the busy sentence and the menu", busy, turns[2])
	}
	if last := turns[4]; !last.HungUp || strings.Join(last.Said, "") != promptGoodbye {
		t.Errorf("after a completed transfer: %+v, want goodbye", last)
	}
}
