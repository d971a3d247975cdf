package web

import (
	"bytes"
	"html/template"
	"net/http"
	"strings"
)

// Messages of the requests no route serves, in Japanese like every other answer.
const (
	msgNotFound         = "お探しのページは見つかりません。"
	msgMethodNotAllowed = "このページ・機能は、この方法ではご利用いただけません。"
	msgNotFoundHint     = "URLをお確かめのうえ、ログインページからお進みください。"
)

// unmatchedPage is the page a browser gets for a path no route serves (404) or a method the
// path does not take (405). No link in mails, but a page may link to the login page.
var unmatchedPage = template.Must(template.New("unmatched").Parse(`<!doctype html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} - kagi</title>
<link rel="stylesheet" href="/static/kagi.css">
</head>
<body>
<main class="page">
<h1>{{.Title}}</h1>
<p role="alert">{{.Message}}</p>
<p>{{.Hint}}</p>
<p><a class="button" href="/login">ログインページへ</a></p>
</main>
</body>
</html>
`))

// isAPI reports whether path belongs to a JSON API, whose every answer is JSON.
func isAPI(path string) bool {
	return strings.HasPrefix(path, "/api/") || strings.HasPrefix(path, "/staff/api/")
}

// unmatchedRecorder keeps what net/http's mux answered for a request no route serves: its
// status and headers (Allow on a 405), without its English text.
type unmatchedRecorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (u *unmatchedRecorder) Header() http.Header { return u.header }
func (u *unmatchedRecorder) WriteHeader(code int) {
	if u.code == 0 {
		u.code = code
	}
}
func (u *unmatchedRecorder) Write(b []byte) (int, error) {
	if u.code == 0 {
		u.code = http.StatusOK
	}
	return u.body.Write(b)
}

// serveUnmatched answers a request mux has no route for. The mux decides the status — 404, or
// 405 with its Allow header when the path exists for other methods — and the answer is kagi's:
// JSON {"error","message"} under the APIs, a Japanese page for a browser.
func serveUnmatched(w http.ResponseWriter, r *http.Request, mux *http.ServeMux) {
	rec := &unmatchedRecorder{header: http.Header{}}
	mux.ServeHTTP(rec, r)
	if rec.code != http.StatusNotFound && rec.code != http.StatusMethodNotAllowed {
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.code)
		w.Write(rec.body.Bytes())
		return
	}
	if allow := rec.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	code, msg, title := http.StatusNotFound, msgNotFound, "ページが見つかりません"
	if rec.code == http.StatusMethodNotAllowed {
		code, msg, title = http.StatusMethodNotAllowed, msgMethodNotAllowed, "ご利用いただけません"
	}
	if isAPI(r.URL.Path) {
		errCode := map[int]string{http.StatusNotFound: "not_found", http.StatusMethodNotAllowed: "method_not_allowed"}[code]
		JSON(w, code, map[string]string{"error": errCode, "message": msg})
		return
	}
	Browser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		unmatchedPage.Execute(w, map[string]string{"Title": title, "Message": msg, "Hint": msgNotFoundHint})
	})).ServeHTTP(w, r)
}
