package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestAssetsAreServedByVersion(t *testing.T) {
	a, err := LoadAssets(fstest.MapFS{"static/app.js": {Data: []byte("console.log(1)")}}, "static", "/static/")
	if err != nil {
		t.Fatal(err)
	}
	url, err := a.URL("app.js")
	if err != nil || !strings.HasPrefix(url, "/static/app.js?v=") {
		t.Fatalf("URL = %q, %v", url, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /static/{file}", Handle(nil, a.Serve))
	for _, c := range []struct {
		path, cache string
		status      int
	}{
		{url, "public, max-age=31536000, immutable", http.StatusOK},
		{"/static/app.js?v=old", "no-cache", http.StatusOK},
		{"/static/other.js", "no-store", http.StatusNotFound},
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", c.path, nil))
		if rec.Code != c.status || rec.Header().Get("Cache-Control") != c.cache {
			t.Errorf("%s: %d %q, want %d %q", c.path, rec.Code, rec.Header().Get("Cache-Control"), c.status, c.cache)
		}
	}
	if _, err := LoadAssets(fstest.MapFS{"static/logo.svg": {Data: []byte("<svg/>")}}, "static", "/static/"); err == nil {
		t.Error("a file of a kind that cannot be served was loaded")
	}
}
