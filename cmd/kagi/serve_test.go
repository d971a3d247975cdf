package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"kagi/pgdb/pgtest"
)

// The console is not on the customers' site (§6): the public listener answers 404 under
// /staff/, and the console's own listener serves it, in the same frame (request ids, the
// Japanese answer to an unmatched route, HSTS on https), with ceremonies of its own relying
// party.
func TestConsoleIsServedOnItsOwnListenerAlone(t *testing.T) {
	t.Parallel()
	env := prodEnv(pgtest.URL(t, schema...))
	a, err := addAppFlags(newFlagSet("test"), forCLI, "").open(context.Background(), envOf(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	h, err := a.handler(&readiness{pool: a.pool})
	if err != nil {
		t.Fatal(err)
	}
	public := httptest.NewServer(h)
	defer public.Close()
	console := httptest.NewServer(a.consoleHandler())
	defer console.Close()

	send := func(base, method, path string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	for _, r := range []struct{ method, path string }{
		{"GET", "/staff/"}, {"GET", "/staff/login"}, {"GET", "/staff/enroll"}, {"GET", "/staff/api/me"},
		{"POST", "/staff/api/login/begin"}, {"POST", "/staff/api/enroll/begin"}, {"GET", "/staff/static/staff.js"},
	} {
		if res, body := send(public.URL, r.method, r.path); res.StatusCode != http.StatusNotFound || !strings.Contains(body, "見つかりません") {
			t.Errorf("public listener %s %s: %d %q, want the Japanese 404", r.method, r.path, res.StatusCode, body)
		}
	}

	res, body := send(console.URL, "GET", "/staff/login")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="staff-login"`) {
		t.Fatalf("console listener GET /staff/login: %d %q", res.StatusCode, body)
	}
	if res.Header.Get("X-Request-Id") == "" || res.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("console answer without the frame's headers: %v", res.Header)
	}
	if res, body = send(console.URL, "POST", "/staff/api/login/begin"); res.StatusCode != http.StatusOK || !strings.Contains(body, `"rpId":"console.example.jp"`) {
		t.Errorf("console login begin: %d %s, want the console's RP ID", res.StatusCode, body)
	}
	if res, body = send(console.URL, "GET", "/nothing-here"); res.StatusCode != http.StatusNotFound || !strings.Contains(body, "見つかりません") {
		t.Errorf("console listener, unmatched route: %d %q, want the Japanese 404", res.StatusCode, body)
	}
	if res, _ = send(console.URL, "GET", "/login"); res.StatusCode != http.StatusNotFound {
		t.Errorf("console listener serves the customers' login page: %d", res.StatusCode)
	}
}
