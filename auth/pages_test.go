package auth

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"kagi/pgdb"
)

// pageTestWindow is a fallback window that is open whenever asked, for recovery sessions.
// Closing it ends the account's recovery sessions, as package recovery does.
type pageTestWindow struct{ until time.Time }

func (w pageTestWindow) OpenWindow(context.Context, pgdb.Querier, int64, time.Time) (Window, bool, error) {
	return Window{ID: 1, ExpiresAt: w.until, OpenedVia: "ivr"}, true, nil
}
func (pageTestWindow) WindowUsed(context.Context, pgx.Tx, Window, time.Time) error { return nil }
func (pageTestWindow) CloseWindow(ctx context.Context, tx pgx.Tx, accountID int64, _ CloseReason, _ time.Time) error {
	return EndRecoverySessions(ctx, tx, accountID)
}

// wallClock runs the service on the real clock: the cookie jar (and a real browser) judge the
// session cookie's expiry by it, and these tests do not move time.
func wallClock(c *Config) { c.Now = time.Now }

// fetchedPage is a fetched HTML page.
type fetchedPage struct {
	status int
	header http.Header
	body   string
}

// get fetches path without following redirects.
func (e *testEnv) get(c *http.Client, path string) fetchedPage {
	e.t.Helper()
	noFollow := *c
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := noFollow.Get(e.srv.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return fetchedPage{status: res.StatusCode, header: res.Header, body: string(b)}
}

// insertPasskey stores a passkey for the account as registration would, so the page can be
// checked without a ceremony: an iCloud Keychain (synced) passkey.
func (e *testEnv) insertPasskey(accountID int64, created, lastUsed time.Time) {
	e.t.Helper()
	_, err := e.svc.pool.Exec(context.Background(), `
		INSERT INTO passkeys (account_id, credential_id, public_key, aaguid, backup_eligible, backup_state, created_at, last_used_at)
		VALUES ($1, '\x0102030405', '\x00', 'fbfc3007-154e-4ecc-8c0b-6e020557d7bd', true, true, $2, $3)`,
		accountID, created, lastUsed)
	if err != nil {
		e.t.Fatal(err)
	}
}

// htmlElement is one start tag of a page.
type htmlElement struct {
	name  string
	attrs map[string]string
	// text is the character data directly after the start tag (a script's inline body).
	text string
}

// parseHTML reads the page the way a lenient HTML parser does and lists its elements.
func parseHTML(t *testing.T, body string) []htmlElement {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(body))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	var out []htmlElement
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("page does not parse: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			el := htmlElement{name: strings.ToLower(tok.Name.Local), attrs: map[string]string{}}
			for _, a := range tok.Attr {
				el.attrs[strings.ToLower(a.Name.Local)] = a.Value
			}
			out = append(out, el)
		case xml.CharData:
			if len(out) > 0 {
				out[len(out)-1].text += string(tok)
			}
		}
	}
}

// checkStrictCSP fails when the page relies on anything the browser routes' CSP blocks: inline
// script bodies, event-handler attributes, inline styles, or assets from elsewhere.
func checkStrictCSP(t *testing.T, p fetchedPage) []htmlElement {
	t.Helper()
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "style-src 'self'") {
		t.Errorf("CSP header = %q, want script-src and style-src 'self'", csp)
	}
	els := parseHTML(t, p.body)
	var scripts int
	for _, el := range els {
		for name := range el.attrs {
			if strings.HasPrefix(name, "on") {
				t.Errorf("<%s %s=…>: inline event handler", el.name, name)
			}
			if name == "style" {
				t.Errorf("<%s style=…>: inline style", el.name)
			}
		}
		switch el.name {
		case "script":
			scripts++
			if strings.TrimSpace(el.text) != "" {
				t.Errorf("inline <script> body %q", el.text)
			}
			if !strings.HasPrefix(el.attrs["src"], "/static/") {
				t.Errorf("<script src=%q>: want a file under /static/", el.attrs["src"])
			}
		case "style":
			t.Errorf("inline <style> element")
		case "link":
			if el.attrs["rel"] == "stylesheet" && !strings.HasPrefix(el.attrs["href"], "/static/") {
				t.Errorf("<link href=%q>: want a file under /static/", el.attrs["href"])
			}
		}
	}
	if scripts == 0 {
		t.Error("page loads no script")
	}
	return els
}

func findElement(els []htmlElement, id string) (htmlElement, bool) {
	for _, el := range els {
		if el.attrs["id"] == id {
			return el, true
		}
	}
	return htmlElement{}, false
}

func wantHTML(t *testing.T, p fetchedPage, fragments ...string) {
	t.Helper()
	if p.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", p.status, p.body)
	}
	if ct := p.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := p.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store: the page shows personal data", cc)
	}
	for _, f := range fragments {
		if !strings.Contains(p.body, f) {
			t.Errorf("page lacks %q", f)
		}
	}
}

func TestPageLogin(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	p := e.get(e.browser(), "/login")
	wantHTML(t, p, "<h1>ログイン</h1>", "ログインID", "パスワード", "パスキーでログイン",
		"リンクがあるメールは全てフィッシング詐欺です", "自動音声ダイヤル", "一時的(30分間)")
	els := checkStrictCSP(t, p)
	id, ok := findElement(els, "login-id")
	if !ok || id.attrs["autocomplete"] != "username webauthn" {
		t.Errorf("login ID field %+v: want autocomplete=\"username webauthn\" for passkey autofill", id)
	}
	for _, el := range els {
		if el.name == "a" {
			t.Errorf("login page has a link (%q): the page tells customers passkey mail never links", el.attrs["href"])
		}
	}
}

func TestPageLoginAfterRecoveryChange(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	for _, tc := range []struct{ query, want, notWant string }{
		{"?done=passkey_created", "パスキーを作成しました", "パスキーを削除しました"},
		{"?done=passkey_deleted", "パスキーを削除しました", "パスキーを作成しました"},
		{"?done=%3Cscript%3E", "<h1>ログイン</h1>", `id="done"`},
	} {
		p := e.get(e.browser(), "/login"+tc.query)
		wantHTML(t, p, tc.want)
		if strings.Contains(p.body, tc.notWant) {
			t.Errorf("/login%s shows %q", tc.query, tc.notWant)
		}
	}
}

func TestPageRootRedirects(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, wallClock)
	e.addAccount(demoAccount)
	c := e.browser()
	if p := e.get(c, "/"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/login" {
		t.Fatalf("GET / without session: %d %q, want 303 to /login", p.status, p.header.Get("Location"))
	}
	if status, body := e.passwordLogin(c, "taro", demoAccount.Password); status != http.StatusOK {
		t.Fatalf("login: %d %v", status, body)
	}
	if p := e.get(c, "/"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/settings/security" {
		t.Fatalf("GET / with session: %d %q, want 303 to /settings/security", p.status, p.header.Get("Location"))
	}
	if p := e.get(c, "/nothing-here"); p.status != http.StatusNotFound {
		t.Fatalf("GET /nothing-here: %d, want 404", p.status)
	}
}

func TestPageSecurityNeedsSession(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, wallClock)
	e.addAccount(demoAccount)
	c := e.browser()
	p := e.get(c, "/settings/security")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/login" {
		t.Fatalf("without session: %d %q, want 303 to /login", p.status, p.header.Get("Location"))
	}
	if p.header.Get("Content-Security-Policy") == "" {
		t.Error("redirect lacks the browser routes' CSP")
	}
	e.passwordLogin(c, "taro", demoAccount.Password)
	e.do(c, "POST", "/api/v1/logout", nil)
	if p := e.get(c, "/settings/security"); p.status != http.StatusSeeOther {
		t.Fatalf("after logout: %d, want 303", p.status)
	}
}

func TestPageSecurityWithoutPasskey(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, wallClock)
	e.addAccount(demoAccount)
	c := e.browser()
	e.passwordLogin(c, "taro", demoAccount.Password)
	p := e.get(c, "/settings/security")
	wantHTML(t, p, "<h1>セキュリティ設定</h1>", "山田 太郎 様", "パスキー未作成", "パスキーを作成", "ログアウト")
	els := checkStrictCSP(t, p)
	if _, ok := findElement(els, "passkey-create"); !ok {
		t.Error("no 「パスキーを作成」 button")
	}
	for _, id := range []string{"passkey-delete", "recovery-notice", "replace-notice"} {
		if _, ok := findElement(els, id); ok {
			t.Errorf("#%s shown without a passkey", id)
		}
	}
	sec, _ := findElement(els, "security")
	if sec.attrs["data-assurance"] != "password" || sec.attrs["data-rp-id"] != "kagi.test" ||
		sec.attrs["data-user-name"] != "taro" || sec.attrs["data-user-id"] == "" || sec.attrs["data-credential-id"] != "" {
		t.Errorf("Signal API data = %v", sec.attrs)
	}
}

func TestPageSecurityWithPasskey(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, wallClock)
	acct := e.addAccount(demoAccount)
	c := e.browser()
	e.passwordLogin(c, "taro", demoAccount.Password)
	e.insertPasskey(acct.ID, time.Date(2026, 11, 24, 15, 30, 0, 0, time.UTC), time.Date(2026, 11, 25, 0, 5, 0, 0, time.UTC))
	p := e.get(c, "/settings/security")
	wantHTML(t, p, "作成日時", "2026年11月25日 00:30 (日本時間)", "最終利用日時", "2026年11月25日 09:05 (日本時間)",
		"同期されています", "iCloud キーチェーン", "パスキーを削除")
	els := checkStrictCSP(t, p)
	for _, id := range []string{"passkey-create", "no-passkey", "recovery-notice", "hold-notice"} {
		if _, ok := findElement(els, id); ok {
			t.Errorf("#%s shown although the account has its one passkey and no recovery", id)
		}
	}
	if _, ok := findElement(els, "delete-dialog"); !ok {
		t.Error("deletion has no confirmation dialog")
	}
	if sec, _ := findElement(els, "security"); sec.attrs["data-credential-id"] != "AQIDBAU" {
		t.Errorf("data-credential-id = %q, want the base64url credential ID", sec.attrs["data-credential-id"])
	}
}

func TestPageSecurityRecoverySession(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, wallClock, func(c *Config) {
		c.Windows, c.RecoveryHold = pageTestWindow{until: time.Now().Add(30 * time.Minute)}, DefaultRecoveryHold
	})
	acct := e.addAccount(demoAccount)
	e.insertPasskey(acct.ID, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC))
	c := e.browser()
	if status, body := e.passwordLogin(c, "taro", demoAccount.Password); status != http.StatusOK || body["via_fallback_window"] != true {
		t.Fatalf("recovery login: %d %v", status, body)
	}
	p := e.get(c, "/settings/security")
	wantHTML(t, p, "パスキーの作成・削除のみ行えます", "現在のパスキーは削除され、新しいパスキーに置き換わります")
	els := checkStrictCSP(t, p)
	for _, id := range []string{"recovery-notice", "replace-notice", "passkey-create", "passkey-delete", "hold-notice"} {
		if _, ok := findElement(els, id); !ok {
			t.Errorf("recovery session page lacks #%s", id)
		}
	}
	// The login through the window was a recovery: withdrawals may be held for 72 hours.
	var recoveredAt time.Time
	if err := e.svc.pool.QueryRow(context.Background(), `SELECT recovered_at FROM accounts WHERE id = $1`, acct.ID).Scan(&recoveredAt); err != nil {
		t.Fatal(err)
	}
	wantHTML(t, p, "出金や出金先銀行口座の変更", formatJST(recoveredAt.Add(DefaultRecoveryHold)))
	if sec, _ := findElement(els, "security"); sec.attrs["data-assurance"] != "password_fallback" {
		t.Errorf("data-assurance = %q: the script offers conditional create only after recovery", sec.attrs["data-assurance"])
	}
}

func TestPageStaticFiles(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	els := parseHTML(t, e.get(e.browser(), "/login").body)
	var urls []string
	for _, el := range els {
		if el.name == "script" {
			urls = append(urls, el.attrs["src"])
		}
		if el.name == "link" && el.attrs["rel"] == "stylesheet" {
			urls = append(urls, el.attrs["href"])
		}
	}
	if len(urls) < 3 {
		t.Fatalf("login page loads %v, want its script, the shared script and the style sheet", urls)
	}
	c := e.browser()
	for _, u := range urls {
		p := e.get(c, u)
		want := "text/javascript; charset=utf-8"
		if strings.Contains(u, ".css") {
			want = "text/css; charset=utf-8"
		}
		if p.status != http.StatusOK || p.header.Get("Content-Type") != want || len(p.body) == 0 {
			t.Errorf("%s: %d %q, want 200 %q", u, p.status, p.header.Get("Content-Type"), want)
		}
		if cc := p.header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s: Cache-Control = %q, want a long-lived cache for the versioned URL", u, cc)
		}
		if p.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", u)
		}

		parsed, _ := url.Parse(u)
		unversioned := e.get(c, parsed.Path)
		if cc := unversioned.header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s: Cache-Control = %q, want no-cache without the version", parsed.Path, cc)
		}
		req, _ := http.NewRequest("GET", e.srv.URL+parsed.Path, nil)
		req.Header.Set("If-None-Match", unversioned.header.Get("ETag"))
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotModified {
			t.Errorf("%s with its ETag: %d, want 304", parsed.Path, res.StatusCode)
		}
	}
	if p := e.get(c, "/static/missing.js"); p.status != http.StatusNotFound {
		t.Errorf("missing file: %d, want 404", p.status)
	}
}
