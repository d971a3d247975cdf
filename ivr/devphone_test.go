package ivr

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"kagi/notify"
	"kagi/recovery"
)

func TestDevPhonePlaysACallThroughTheWebhook(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t)
	e.addCustomer("1234567", true)
	mux := http.NewServeMux()
	DevPhoneRoutes(mux, slog.New(slog.NewTextHandler(t.Output(), nil)), e.sim, e.pool)
	phone := httptest.NewServer(mux)
	t.Cleanup(phone.Close)

	res, err := http.Get(phone.URL + "/dev/phone")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("page: %v %v", err, res)
	}
	res.Body.Close()
	post := func(path string, body any) map[string]any {
		status, out := postJSON(t, phone.URL+path, body)
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
	if n := e.count(`SELECT count(*) FROM fallback_windows WHERE closed_at IS NULL`); n != 1 {
		t.Fatalf("open windows = %d", n)
	}
}

// In development mode the line's call back lands in the mailbox; the keypad page answers it.
func TestDevPhoneAnswersTheCallBack(t *testing.T) {
	t.Parallel()
	var e *lineEnv
	box := &lazyMailbox{}
	e = newLineEnvWith(t, func(c *recovery.Config) { c.SecondFactor = recovery.SecondFactorCallback },
		func(c *HandlerConfig) { c.Caller = box })
	box.DevMailbox = notify.DevMailbox{Pool: e.pool}
	e.addCustomer("1234567", true)
	mux := http.NewServeMux()
	DevPhoneRoutes(mux, slog.New(slog.NewTextHandler(t.Output(), nil)), e.sim, e.pool)
	phone := httptest.NewServer(mux)
	t.Cleanup(phone.Close)
	post := func(path string, body any) (int, map[string]any) { return postJSON(t, phone.URL+path, body) }
	if status, out := post("/dev/phone/callback", map[string]any{"from": regCaller, "answer": true}); status != http.StatusNotFound {
		t.Fatalf("a call back before any was placed: %d %v", status, out)
	}
	e.call(regCaller, "1", "1234567#", "1234")
	status, out := post("/dev/phone/callback", map[string]any{"from": regCaller, "answer": true})
	turn, _ := out["turn"].(map[string]any)
	if status != http.StatusOK || turn["waiting"] != true {
		t.Fatalf("answering the call back: %d %v", status, out)
	}
	status, out = post("/dev/phone/press", map[string]any{"call_sid": out["call_sid"], "from": regCaller, "gather": turn["gather"], "keys": "1"})
	if turn, _ := out["turn"].(map[string]any); status != http.StatusOK || turn["hung_up"] != true {
		t.Fatalf("pressing 1: %d %v", status, out)
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows WHERE closed_at IS NULL`); n != 1 {
		t.Fatalf("open windows = %d", n)
	}
}

// lazyMailbox is a DevMailbox whose pool is set once the environment that makes it exists.
type lazyMailbox struct{ notify.DevMailbox }

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
	e := newLineEnv(t) // Wednesday 10:00 JST: the desk is open
	mux := http.NewServeMux()
	DevPhoneRoutes(mux, slog.New(slog.NewTextHandler(t.Output(), nil)), e.sim, e.pool)
	phone := httptest.NewServer(mux)
	t.Cleanup(phone.Close)
	start := func() (string, map[string]any) {
		status, out := postJSON(t, phone.URL+"/dev/phone/start", map[string]string{"from": regCaller})
		if status != 200 {
			t.Fatalf("start: %d %v", status, out)
		}
		sid := out["call_sid"].(string)
		status, out = postJSON(t, phone.URL+"/dev/phone/press", map[string]any{"call_sid": sid, "from": regCaller, "gather": out["turn"].(map[string]any)["gather"], "keys": "0"})
		if status != 200 {
			t.Fatalf("0: %d %v", status, out)
		}
		return sid, out["turn"].(map[string]any)
	}
	sid, dialling := start()
	if dialling["dial_action"] == "" || dialling["dialled"] == "" {
		t.Fatalf("0 in hours: %v, want a transfer", dialling)
	}
	status, out := postJSON(t, phone.URL+"/dev/phone/dial", map[string]any{"call_sid": sid, "from": regCaller, "action": dialling["dial_action"], "status": "busy"})
	turn, _ := out["turn"].(map[string]any)
	if status != 200 || turn["waiting"] != true || !strings.Contains(turn["said"].([]any)[0].(string), "混み合って") {
		t.Fatalf("busy: %d %v, want the busy sentence and the menu", status, out)
	}
	if status, out := postJSON(t, phone.URL+"/dev/phone/dial", map[string]any{"call_sid": sid, "from": regCaller, "action": "/ivr/voice", "status": "busy"}); status != http.StatusBadRequest {
		t.Errorf("a transfer result for another path: %d %v, want 400", status, out)
	}
}
