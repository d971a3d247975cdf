package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"kagi"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func serve(t *testing.T, h http.Handler, req *http.Request) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body := map[string]any{}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
	}
	return rec, body
}

func TestHandleTurnsErrorsIntoJSON(t *testing.T) {
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	cases := []struct {
		name    string
		err     error
		status  int
		code    string
		message string
	}{
		{"client error", kagi.Errorf(kagi.Forbidden, "passkey_required", "パスキーでログインしてください。"), 403, "passkey_required", "パスキーでログインしてください。"},
		{"wrapped client error", errors.Join(errors.New("context"), kagi.Errorf(kagi.Conflict, "passkey_exists", "既にあります。")), 409, "passkey_exists", "既にあります。"},
		{"internal error hides its cause", errors.New("pq: password authentication failed for user kagi"), 500, "internal", internalMessage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec, body := serve(t, Handle(log, func(w http.ResponseWriter, r *http.Request) error { return c.err }), httptest.NewRequest("GET", "/", nil))
			if rec.Code != c.status || body["error"] != c.code || body["message"] != c.message {
				t.Fatalf("%d %v", rec.Code, body)
			}
			if strings.Contains(rec.Body.String(), "pq:") {
				t.Fatal("internal cause leaked to the client")
			}
		})
	}
	if !strings.Contains(logged.String(), "password authentication failed") {
		t.Fatal("internal cause not logged")
	}
}

func TestHandleRecoversPanics(t *testing.T) {
	log := slog.New(slog.NewTextHandler(&strings.Builder{}, nil))
	rec, body := serve(t, Handle(log, func(w http.ResponseWriter, r *http.Request) error { panic("boom") }), httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || body["error"] != "internal" {
		t.Fatalf("%d %v", rec.Code, body)
	}
}

func TestDecodeJSONRefusesBadBodies(t *testing.T) {
	log := slog.New(slog.NewTextHandler(&strings.Builder{}, nil))
	h := Handle(log, func(w http.ResponseWriter, r *http.Request) error {
		var v struct{ A string }
		if err := DecodeJSON(w, r, &v); err != nil {
			return err
		}
		return JSON(w, 200, v)
	})
	cases := map[string]struct {
		body, contentType string
		status            int
	}{
		"not JSON":       {"{", "application/json", 400},
		"form post":      {"a=1", "application/x-www-form-urlencoded", 415},
		"too large":      {`{"A":"` + strings.Repeat("x", maxBody) + `"}`, "application/json", 413},
		"fine":           {`{"A":"x"}`, "application/json; charset=utf-8", 200},
		"no type header": {`{"A":"x"}`, "", 200},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/", strings.NewReader(c.body))
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			rec, body := serve(t, h, req)
			if rec.Code != c.status || (c.status != 200 && body["message"] == "") {
				t.Fatalf("%d %v", rec.Code, body)
			}
		})
	}
}

func TestBrowserRefusesCrossOriginStateChanges(t *testing.T) {
	h := Browser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	cases := []struct {
		name, method, site, origin string
		status                     int
	}{
		{"cross-site POST", "POST", "cross-site", "https://evil.example", 403},
		{"cross-origin POST without fetch metadata", "POST", "", "https://evil.example", 403},
		{"same-origin POST", "POST", "same-origin", "https://kagi.test", 204},
		{"cross-site GET", "GET", "cross-site", "https://evil.example", 204},
		{"non-browser POST", "POST", "", "", 204},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(c.method, "https://kagi.test/api/v1/logout", nil)
			if c.site != "" {
				req.Header.Set("Sec-Fetch-Site", c.site)
			}
			if c.origin != "" {
				req.Header.Set("Origin", c.origin)
			}
			rec, _ := serve(t, h, req)
			if rec.Code != c.status {
				t.Fatalf("%d, want %d", rec.Code, c.status)
			}
			if rec.Header().Get("Content-Security-Policy") == "" || rec.Header().Get("X-Frame-Options") != "DENY" {
				t.Fatal("security headers missing")
			}
		})
	}
}

func TestMeasuredRecordsThePattern(t *testing.T) {
	requestDuration.Reset() // the histogram is process-wide; -count=N runs this test again
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/things/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := Measured(mux)
	for _, path := range []string{"/api/v1/things/1", "/api/v1/things/secret-2", "/nowhere"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	ch := make(chan prometheus.Metric, 10)
	requestDuration.Collect(ch)
	close(ch)
	got := map[string]uint64{}
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		labels := ""
		for _, l := range pb.GetLabel() {
			labels += l.GetName() + "=" + l.GetValue() + " "
		}
		got[labels] = pb.GetHistogram().GetSampleCount()
	}
	want := map[string]uint64{"code=418 pattern=GET /api/v1/things/{id} ": 2, "code=404 pattern=unmatched ": 1}
	if len(got) != len(want) {
		t.Fatalf("series %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("series %v, want %v", got, want)
		}
	}
}

func TestInternalErrorsAreLoggedWithTheRequestID(t *testing.T) {
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	h := WithRequestID(Handle(log, func(w http.ResponseWriter, r *http.Request) error { return errors.New("disk on fire") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	id := rec.Header().Get("X-Request-Id")
	if id == "" || !strings.Contains(logged.String(), "request_id="+id) {
		t.Fatalf("X-Request-Id %q not in the log line %q", id, logged.String())
	}
}

func TestUnmatchedRequestsAreAnsweredInJapanese(t *testing.T) {
	mux := http.NewServeMux()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	mux.Handle("POST /api/v1/login/password", ok)
	mux.Handle("GET /login", ok)
	h := Measured(mux)
	for _, c := range []struct {
		method, path string
		code         int
		json         string // the error code, or "" for a page
		allow        string
	}{
		{"GET", "/api/v1/nothing", http.StatusNotFound, "not_found", ""},
		{"GET", "/api/v1/login/password", http.StatusMethodNotAllowed, "method_not_allowed", "POST"},
		{"GET", "/staff/api/nothing", http.StatusNotFound, "not_found", ""},
		{"GET", "/nothing", http.StatusNotFound, "", ""},
		{"POST", "/login", http.StatusMethodNotAllowed, "", "GET, HEAD"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
			if rec.Code != c.code || rec.Header().Get("Allow") != c.allow {
				t.Fatalf("%d Allow %q, want %d Allow %q", rec.Code, rec.Header().Get("Allow"), c.code, c.allow)
			}
			if c.json != "" {
				var body map[string]string
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] != c.json || body["message"] == "" {
					t.Fatalf("body %q, want JSON error %s", rec.Body, c.json)
				}
				return
			}
			page := rec.Body.String()
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || !strings.Contains(page, `lang="ja"`) ||
				strings.Contains(page, "not found") || strings.Contains(page, "Method Not Allowed") {
				t.Fatalf("page %q (%s), want a Japanese page", page, rec.Header().Get("Content-Type"))
			}
			if rec.Header().Get("Content-Security-Policy") == "" {
				t.Error("the page lacks the browser routes' headers")
			}
		})
	}
}

func TestRequestIDLogsTagEveryLineOfARequest(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(RequestIDLogs(slog.NewJSONHandler(&out, nil)))
	h := WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.InfoContext(r.Context(), "first")
		log.With("k", "v").InfoContext(r.Context(), "second")
		log.InfoContext(r.Context(), "explicit", "request_id", RequestID(r.Context()))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	id := rec.Header().Get("X-Request-Id")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines: %q", len(lines), out.String())
	}
	for _, l := range lines {
		if strings.Count(l, `"request_id":"`+id+`"`) != 1 {
			t.Errorf("line %s: want the request id %s once", l, id)
		}
	}
	out.Reset()
	log.Info("outside a request")
	if strings.Contains(out.String(), "request_id") {
		t.Errorf("a line outside any request got a request id: %s", out.String())
	}
}
