package devphone

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/auth"
	"kagi/hours"
	"kagi/ivr"
	"kagi/ivr/twiliosim"
	"kagi/notify"
	"kagi/pgdb/pgtest"
	"kagi/recovery"
	"kagi/web"
)

const (
	testToken = "twilio-test-token"
	regCaller = "+819012345678"
)

// wednesday10 is a weekday at 10:00 JST, inside business hours.
var wednesday10 = time.Date(2031, 6, 4, 1, 0, 0, 0, time.UTC)

// line is one test's voice line as kagi serve --dev mounts it: a fresh database, the auth
// core, recovery, the webhook and the keypad on one server, and the simulator the keypad plays
// Twilio with. Calls back land in the development mailbox.
type line struct {
	t     *testing.T
	pool  *pgxpool.Pool
	core  *auth.Service
	sim   *twiliosim.Simulator
	phone string // the server's URL
}

func newLine(t *testing.T, factor recovery.SecondFactor) *line {
	t.Helper()
	pool := pgtest.New(t, auth.Migrations, auth.NotifyMigrations, recovery.Migrations, ivr.Migrations)
	now := func() time.Time { return wednesday10 }
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	core, err := auth.New(auth.Config{
		Pool: pool, Log: log, Now: now,
		Passwords: auth.NewPasswordHasher(auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1}, 4),
		PINKey:    []byte("test-pin-key-0123456789abcdef0123"),
		WebAuthn:  &webauthn.Config{RPID: "kagi.test", RPDisplayName: "kagi", RPOrigins: []string{"https://kagi.test"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := recovery.New(recovery.Config{Pool: pool, Log: log, Now: now, SecondFactor: factor})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(web.WithRequestID(mux))
	t.Cleanup(srv.Close)
	h, err := ivr.NewHandler(ivr.HandlerConfig{
		Pool: pool, Log: log, Now: now, PublicURL: srv.URL, AuthToken: testToken,
		OperatorNumber: "+81300000000", Calendar: hours.Regular(), SupportEnabled: true,
		Verifier: recovery.NewVoiceVerifier(core, rec), Caller: notify.DevMailbox{Pool: pool},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Routes(mux)
	sim := &twiliosim.Simulator{BaseURL: srv.URL, PublicURL: srv.URL, Token: testToken}
	Routes(mux, log, sim, pool)
	return &line{t: t, pool: pool, core: core, sim: sim, phone: srv.URL}
}

// addCustomer adds an account with PIN 1234, phone regCaller and a passkey (its row written
// with SQL: the voice line only asks whether one exists).
func (l *line) addCustomer(number string) {
	l.t.Helper()
	a, err := l.core.CreateAccount(context.Background(), auth.NewAccount{
		LoginID: "u" + number, Password: "correct horse battery", AccountNumber: number, PIN: "1234",
		Phones: []string{regCaller}, Email: "u" + number + "@example.jp", Name: "山田 太郎",
	})
	if err != nil {
		l.t.Fatal(err)
	}
	_, err = l.pool.Exec(context.Background(), `
		INSERT INTO passkeys (account_id, credential_id, public_key, aaguid, backup_eligible, backup_state, created_at)
		VALUES ($1, $2, 'k', '00000000-0000-0000-0000-000000000000', true, true, $3)`, a.ID, []byte(rand.Text()), wednesday10)
	if err != nil {
		l.t.Fatal(err)
	}
}

func (l *line) openWindows() int {
	l.t.Helper()
	var n int
	if err := l.pool.QueryRow(context.Background(), `SELECT count(*) FROM fallback_windows WHERE closed_at IS NULL`).Scan(&n); err != nil {
		l.t.Fatal(err)
	}
	return n
}

func TestDevPhonePlaysACallThroughTheWebhook(t *testing.T) {
	t.Parallel()
	l := newLine(t, recovery.SecondFactorNone)
	l.addCustomer("1234567")

	res, err := http.Get(l.phone + "/dev/phone")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("page: %v %v", err, res)
	}
	res.Body.Close()
	post := func(path string, body any) map[string]any {
		status, out := postJSON(t, l.phone+path, body)
		if status != 200 {
			t.Fatalf("%s: %d %v", path, status, out)
		}
		return out
	}
	start := post("/dev/phone/start", map[string]string{"from": regCaller})
	sid := start["call_sid"].(string)
	turn := start["turn"].(map[string]any)
	for _, keys := range []string{"1", "1234567#", "1234"} {
		turn = post("/dev/phone/press", map[string]any{"call_sid": sid, "from": regCaller, "gather": turn["gather"], "keys": keys})["turn"].(map[string]any)
	}
	if turn["hung_up"] != true || !strings.Contains(turn["said"].([]any)[0].(string), "確認が取れました") {
		t.Fatalf("last turn %v", turn)
	}
	if n := l.openWindows(); n != 1 {
		t.Fatalf("open windows = %d", n)
	}
}

// In development mode the line's call back lands in the mailbox; the keypad page answers it.
func TestDevPhoneAnswersTheCallBack(t *testing.T) {
	t.Parallel()
	l := newLine(t, recovery.SecondFactorCallback)
	l.addCustomer("1234567")
	post := func(path string, body any) (int, map[string]any) { return postJSON(t, l.phone+path, body) }
	if status, out := post("/dev/phone/callback", map[string]any{"from": regCaller, "answer": true}); status != http.StatusNotFound {
		t.Fatalf("a call back before any was placed: %d %v", status, out)
	}
	err := l.sim.Call(context.Background(), twiliosim.NewCallSid(), regCaller, []string{"1", "1234567#", "1234"}, func(twiliosim.Turn) {})
	if err != nil {
		t.Fatal(err)
	}
	status, out := post("/dev/phone/callback", map[string]any{"from": regCaller, "answer": true})
	turn, _ := out["turn"].(map[string]any)
	if status != http.StatusOK || turn["waiting"] != true {
		t.Fatalf("answering the call back: %d %v", status, out)
	}
	status, out = post("/dev/phone/press", map[string]any{"call_sid": out["call_sid"], "from": regCaller, "gather": turn["gather"], "keys": "1"})
	if turn, _ := out["turn"].(map[string]any); status != http.StatusOK || turn["hung_up"] != true {
		t.Fatalf("pressing 1: %d %v", status, out)
	}
	if n := l.openWindows(); n != 1 {
		t.Fatalf("open windows = %d", n)
	}
}

// postJSON posts body as JSON to the keypad page's API and returns the status and the answer.
func postJSON(t *testing.T, url string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	res, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]any{}
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// The keypad page plays how an operator transfer ends: busy brings the caller back to the menu.
func TestDevPhonePlaysABusyOperator(t *testing.T) {
	t.Parallel()
	l := newLine(t, recovery.SecondFactorNone) // Wednesday 10:00 JST: the desk is open
	start := func() (string, map[string]any) {
		status, out := postJSON(t, l.phone+"/dev/phone/start", map[string]string{"from": regCaller})
		if status != 200 {
			t.Fatalf("start: %d %v", status, out)
		}
		sid := out["call_sid"].(string)
		status, out = postJSON(t, l.phone+"/dev/phone/press", map[string]any{"call_sid": sid, "from": regCaller, "gather": out["turn"].(map[string]any)["gather"], "keys": "0"})
		if status != 200 {
			t.Fatalf("0: %d %v", status, out)
		}
		return sid, out["turn"].(map[string]any)
	}
	sid, dialling := start()
	if dialling["dial_action"] == "" || dialling["dialled"] == "" {
		t.Fatalf("0 in hours: %v, want a transfer", dialling)
	}
	status, out := postJSON(t, l.phone+"/dev/phone/dial", map[string]any{"call_sid": sid, "from": regCaller, "action": dialling["dial_action"], "status": "busy"})
	turn, _ := out["turn"].(map[string]any)
	if status != 200 || turn["waiting"] != true || !strings.Contains(turn["said"].([]any)[0].(string), "混み合って") {
		t.Fatalf("busy: %d %v, want the busy sentence and the menu", status, out)
	}
	if status, out := postJSON(t, l.phone+"/dev/phone/dial", map[string]any{"call_sid": sid, "from": regCaller, "action": "/ivr/voice", "status": "busy"}); status != http.StatusBadRequest {
		t.Errorf("a transfer result for another path: %d %v, want 400", status, out)
	}
}
