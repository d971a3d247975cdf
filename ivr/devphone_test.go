package ivr

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDevPhonePlaysACallThroughTheWebhook(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t)
	e.addCustomer("1234567", true)
	mux := http.NewServeMux()
	DevPhoneRoutes(mux, slog.New(slog.NewTextHandler(t.Output(), nil)), e.sim)
	phone := httptest.NewServer(mux)
	t.Cleanup(phone.Close)

	res, err := http.Get(phone.URL + "/dev/phone")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("page: %v %v", err, res)
	}
	res.Body.Close()
	post := func(path string, body any) map[string]any {
		b, _ := json.Marshal(body)
		res, err := http.Post(phone.URL+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out := map[string]any{}
		json.NewDecoder(res.Body).Decode(&out)
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d %v", path, res.StatusCode, out)
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
