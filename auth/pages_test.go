package auth

import (
	"context"
	"encoding/xml"
	"errors"
	"html"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"kagi/auth/authtest"
	"kagi/pgdb"
	"kagi/web"
)

// pageTestWindow is a fallback window that is open whenever asked, for recovery sessions.
// Closing it ends the account's recovery sessions, as package recovery does.
type pageTestWindow struct{ until time.Time }

func (w pageTestWindow) OpenWindow(context.Context, pgdb.Querier, int64, time.Time) (Window, bool, error) {
	return Window{ID: 1, ExpiresAt: w.until, OpenedVia: "ivr"}, true, nil
}
func (pageTestWindow) WindowUsed(context.Context, pgx.Tx, Window, time.Time) error { return nil }
func (pageTestWindow) CloseWindow(ctx context.Context, tx pgx.Tx, accountID int64, _ CloseReason, _ time.Time) error {
	return EndRecoverySessions(ctx, tx, nil, accountID)
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

// The User-Agents of the devices the pages are tried on: a phone that may create a passkey and
// computers and a tablet that may not (§2.4).
const (
	uaIPhone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	uaWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	uaMac     = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
	uaIPad    = "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

// get fetches path without following redirects.
func (e *testEnv) get(c *http.Client, path string) fetchedPage {
	e.t.Helper()
	return e.getAs(c, path, "")
}

// getAs fetches path as the browser userAgent names ("" for Go's own), without following
// redirects.
func (e *testEnv) getAs(c *http.Client, path, userAgent string) fetchedPage {
	e.t.Helper()
	noFollow := *c
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if userAgent != "" {
		req.Header.Set("User-Agent", userAgent)
	}
	res, err := noFollow.Do(req)
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
		"リンクがあるメールは全てフィッシング詐欺です", "自動音声ダイヤル", "一時的に")
	els := checkStrictCSP(t, p)
	id, ok := findElement(els, "login-id")
	if !ok || id.attrs["autocomplete"] != "username webauthn" {
		t.Errorf("login ID field %+v: want autocomplete=\"username webauthn\" for passkey autofill", id)
	}
	// The page tells customers that passkey mail never links; the page itself links nowhere
	// either, but for the voice line's number, which a phone dials at a tap.
	for _, el := range els {
		if el.name == "a" && !strings.HasPrefix(el.attrs["href"], "tel:") {
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
	p := e.getAs(c, "/settings/security", uaIPhone)
	wantHTML(t, p, "<h1>セキュリティ設定</h1>", "山田 太郎 様", "パスキー未作成", "パスキーを作成", "ログアウト")
	els := checkStrictCSP(t, p)
	for _, id := range []string{"passkey-create", "create-msg", "before-create"} {
		if _, ok := findElement(els, id); !ok {
			t.Errorf("no #%s before the first passkey", id)
		}
	}
	// Before the first passkey the customer learns what it changes: every later login needs
	// it, and the password stops working until it is deleted.
	wantHTML(t, p, "以降のログインはすべてパスキー認証に切り替わります", "パスキーを削除するまでパスワードではログインできなくなります")
	for _, id := range []string{"passkey-delete", "recovery-notice", "replace-notice", "create-on-phone", "done", "support"} {
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
	wantHTML(t, p, "作成日時", `2026年11月25日 00:30 <span class="tz">(日本時間)</span>`, "最終利用日時", `2026年11月25日 09:05 <span class="tz">(日本時間)</span>`,
		"同期されています", "「パスワード」(iCloud キーチェーン)", "パスキーを削除")
	els := checkStrictCSP(t, p)
	for _, id := range []string{"passkey-create", "no-passkey", "recovery-notice", "hold-notice", "before-create", "done"} {
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
	p := e.getAs(c, "/settings/security", uaIPhone)
	wantHTML(t, p, "パスキーの作成・削除のみ行えます", "現在のパスキーは削除され、新しいパスキーに置き換わります")
	els := checkStrictCSP(t, p)
	for _, id := range []string{"recovery-notice", "replace-notice", "passkey-create", "passkey-delete", "hold-notice", "support", "recovery-ends"} {
		if _, ok := findElement(els, id); !ok {
			t.Errorf("recovery session page lacks #%s", id)
		}
	}
	// The login through the window was a recovery: withdrawals may be held for 72 hours.
	var recoveredAt time.Time
	if err := e.svc.pool.QueryRow(context.Background(), `SELECT recovered_at FROM accounts WHERE id = $1`, acct.ID).Scan(&recoveredAt); err != nil {
		t.Fatal(err)
	}
	wantHTML(t, p, "出金や出金先銀行口座の変更", string(jstHTML(formatJST(recoveredAt.Add(DefaultRecoveryHold)))))
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

// fixedDesk is a support desk that says the same at every moment.
type fixedDesk Support

func (d fixedDesk) SupportAt(time.Time) Support { return Support(d) }

// The desk on a regular weekday morning, operators answering.
var openDesk = fixedDesk{
	VoiceLine: "0120-123-456",
	Hours:     "平日 8:30~17:00 / 土日 9:00~17:00",
	Open:      true,
	Status:    "ただいま営業時間内です",
	Window:    30 * time.Minute,
}

// withDesk makes d the service's support desk.
func withDesk(d SupportDesk) func(*Config) { return func(c *Config) { c.Support = d } }

// brokenSentence finds what a missing number or hours would leave in a sentence.
var brokenSentence = []string{"()", "( )", "ダイヤル()", "時間はです", "<no value>", "。。"}

func TestPageLoginShowsTheWayOut(t *testing.T) {
	t.Parallel()
	yearEnd := openDesk
	yearEnd.Today, yearEnd.Open, yearEnd.Status = "本日(12月31日)は休業日です", false, "ただいま営業時間外です"
	yearEnd.NextOpen = time.Date(2031, 1, 2, 0, 0, 0, 0, time.UTC) // 9:00 JST
	special := openDesk
	special.Today = "本日(12月30日)の営業時間は9:00~15:00です"
	evening := openDesk
	evening.Open, evening.Status = false, "ただいま営業時間外です"
	evening.NextOpen = time.Date(2031, 6, 4, 23, 30, 0, 0, time.UTC) // 8:30 JST
	unnumbered := openDesk
	unnumbered.VoiceLine = ""
	switchedOff := openDesk
	switchedOff.Open, switchedOff.Status = false, web.Unavailable
	for _, c := range []struct {
		name          string
		desk          SupportDesk
		want, notWant []string
	}{
		{"regular day, open", openDesk,
			[]string{`<dd class="voice-line" id="voice-line"><a class="tel" href="tel:0120123456">0120-123-456</a></dd>`,
				`<dd id="support-hours">平日 8:30~17:00 / 土日 9:00~17:00</dd>`,
				`自動音声ダイヤル(<a class="tel" href="tel:0120123456">0120-123-456</a>)にお電話いただくと`, "オペレーターの受付は、ただいま営業時間内です。"},
			[]string{`id="support-today"`, "営業時間外です"}},
		{"closed today", yearEnd,
			[]string{"0120-123-456", "平日 8:30~17:00 / 土日 9:00~17:00", `<p class="today" id="support-today">本日(12月31日)は休業日です</p>`,
				`オペレーターの受付は、ただいま営業時間外です。次の受付開始は2031年1月2日 09:00 <span class="tz">(日本時間)</span>です。`, `data-open="false"`},
			[]string{"営業時間内です"}},
		{"special hours today", special,
			[]string{`id="support-today">本日(12月30日)の営業時間は9:00~15:00です</p>`, "オペレーターの受付は、ただいま営業時間内です。"},
			nil},
		{"after hours", evening,
			[]string{`id="support-status" data-open="false">オペレーターの受付は、ただいま営業時間外です。次の受付開始は2031年6月5日 08:30 <span class="tz">(日本時間)</span>です。`, "営業時間外もご利用いただけます"},
			[]string{`id="support-today"`}},
		{"support switched off", switchedOff,
			[]string{`id="support-status" data-open="false">オペレーターの受付は、現在ご利用いただけません。</p>`},
			[]string{web.Unavailable, "次の受付開始"}},
		{"no number configured", unnumbered,
			[]string{"平日 8:30~17:00 / 土日 9:00~17:00", "機種変更などでパスキーを利用してのログインにお困りの方は、自動音声ダイヤルにお電話いただくと"},
			[]string{`id="voice-line"`, `href="tel:`}},
		{"no desk at all", NoSupportDesk{},
			[]string{"自動音声ダイヤルにお電話いただくと、一時的にログインID・パスワードでログインできます"},
			[]string{`class="desk"`, `id="support-status"`, `id="support-hours"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, withDesk(c.desk))
			p := e.get(e.browser(), "/login")
			wantHTML(t, p, c.want...)
			checkStrictCSP(t, p)
			for _, f := range append(c.notWant, brokenSentence...) {
				if strings.Contains(p.body, f) {
					t.Errorf("/login shows %q", f)
				}
			}
			// The messages after a failed passkey login carry the same way out, and say the
			// operators' hours and whether they answer as the passkey_required refusal does.
			sup := c.desk.SupportAt(time.Time{})
			for _, key := range []string{"passkey-not-here", "passkey-unknown"} {
				text := pageMsg(t, p.body, key)
				for _, f := range []string{"機種変更", sup.VoiceLine, msgOperators(sup)} {
					if !strings.Contains(text, f) {
						t.Errorf("the failed passkey login message %q lacks %q", text, f)
					}
				}
				wantWayOutReadsRight(t, key, text, maxFailureRunes)
			}
		})
	}
}

// pageMsg is the text of the page's hidden message key (data-msg), as the script shows it.
func pageMsg(t *testing.T, body, key string) string {
	t.Helper()
	start := strings.Index(body, `data-msg="`+key+`">`)
	if start < 0 {
		t.Fatalf("the page has no message %q", key)
	}
	inner := body[start+len(`data-msg="`+key+`">`):]
	inner = inner[:strings.Index(inner, "</p>")]
	return html.UnescapeString(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(inner, ""))
}

// The voice line's number is dialled at a tap: the tel: link carries its digits, as a phone in
// Japan dials the number written on the page.
func TestVoiceLineTel(t *testing.T) {
	for _, c := range []struct{ number, want string }{
		{"0120-123-456", "tel:0120123456"},
		{"03 (1234) 5678", "tel:0312345678"},
		{"+81 3 1234 5678", "tel:+81312345678"},
		{"", ""},
	} {
		if got := (supportView{Support: Support{VoiceLine: c.number}}).VoiceLineTel(); string(got) != c.want {
			t.Errorf("%q: %q, want %q", c.number, got, c.want)
		}
	}
}

func TestPasskeyRequiredNamesTheWayOut(t *testing.T) {
	t.Parallel()
	closed := openDesk
	closed.Today, closed.Open, closed.Status = "本日(12月31日)は休業日です", false, "ただいま営業時間外です"
	evening := openDesk
	evening.Open, evening.Status = false, "ただいま営業時間外です"
	special := evening
	special.Today = "本日(12月30日)の営業時間は9:00~15:00です"
	switchedOff := openDesk
	switchedOff.Open, switchedOff.Status = false, web.Unavailable
	unnumbered := openDesk
	unnumbered.VoiceLine = ""
	for _, c := range []struct {
		name string
		desk SupportDesk
		want []string
	}{
		{"number and hours", openDesk, []string{"自動音声ダイヤル(0120-123-456)", "一時的(30分間)", "オペレーターの受付(平日 8:30~17:00 / 土日 9:00~17:00)は、ただいま営業時間内です。"}},
		{"closed today", closed, []string{"0120-123-456", "オペレーターの受付(平日 8:30~17:00 / 土日 9:00~17:00)は、ただいま営業時間外です。本日(12月31日)は休業日です。"}},
		{"after hours", evening, []string{"(営業時間外もご利用いただけます)。オペレーターの受付(平日 8:30~17:00 / 土日 9:00~17:00)は、ただいま営業時間外です。"}},
		{"after hours, special hours today", special, []string{"は、ただいま営業時間外です。本日(12月30日)の営業時間は9:00~15:00です。"}},
		{"support switched off", switchedOff, []string{"(営業時間外もご利用いただけます)。オペレーターの受付は、現在ご利用いただけません。"}},
		{"no number", unnumbered, []string{"自動音声ダイヤルにお電話いただくと", "オペレーターの受付(平日 8:30~17:00 / 土日 9:00~17:00)は"}},
		{"no desk", NoSupportDesk{}, []string{"自動音声ダイヤルにお電話いただくと、一時的にログインID・パスワードでログインできます(営業時間外もご利用いただけます)。"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, withDesk(c.desk))
			acct := e.addAccount(demoAccount)
			e.insertPasskey(acct.ID, e.clock.Now(), e.clock.Now())
			status, body := e.passwordLogin(e.browser(), "taro", demoAccount.Password)
			if status != http.StatusForbidden || body["error"] != "passkey_required" {
				t.Fatalf("%d %v, want 403 passkey_required", status, body)
			}
			// A wrong password gets the very same answer, whatever the desk says (§2.2).
			if s2, b2 := e.passwordLogin(e.browser(), "taro", "wrong password!"); s2 != status || !reflect.DeepEqual(b2, body) {
				t.Errorf("wrong password: %d %v, right password: %d %v", s2, b2, status, body)
			}
			msg, _ := body["message"].(string)
			for _, f := range c.want {
				if !strings.Contains(msg, f) {
					t.Errorf("message %q lacks %q", msg, f)
				}
			}
			for _, f := range brokenSentence {
				if strings.Contains(msg, f) {
					t.Errorf("message %q has %q", msg, f)
				}
			}
			wantWayOutReadsRight(t, "passkey_required", msg, maxRefusalRunes)
			sup := c.desk.SupportAt(time.Time{})
			if body["voice_line"] != sup.VoiceLine || body["support_hours"] != sup.Hours {
				t.Errorf("voice_line %q, support_hours %q, want %q and %q", body["voice_line"], body["support_hours"], sup.VoiceLine, sup.Hours)
			}
		})
	}
}

// A message that carries the way out is read under the button the customer used, on a phone:
// it must fit a glance. The bounds hold for the longest desk (number, hours, today's special
// hours); the messages before the operators were named (247 and 290 characters) did not.
const (
	maxRefusalRunes = 215 // passkey_required
	maxFailureRunes = 250 // a failed passkey login: why, then the way out
)

// wantWayOutReadsRight fails a message with the way out that says the desk's bare 「ただいま営業
// 時間外です」, which after 「営業時間外もご利用いただけます」 reads as if the voice line were
// closed, or that is longer than max characters.
func wantWayOutReadsRight(t *testing.T, what, msg string, max int) {
	t.Helper()
	for _, sentence := range strings.SplitAfter(msg, "。") {
		hours := strings.Contains(sentence, "営業時間外です") || strings.Contains(sentence, "営業時間内です")
		if (hours && !strings.HasPrefix(sentence, "オペレーターの受付")) || strings.Contains(sentence, web.Unavailable) {
			t.Errorf("%s says %q without naming the operators: %q", what, sentence, msg)
		}
	}
	if n := utf8.RuneCountInString(msg); n > max {
		t.Errorf("%s is %d characters, over %d: %q", what, n, max, msg)
	}
}

func TestPageSecurityCreateOnlyOnAPhone(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, ua string
		phone    bool
	}{
		{"iPhone", uaIPhone, true},
		{"Windows", uaWindows, false},
		{"Mac", uaMac, false},
		{"iPad", uaIPad, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			e.addAccount(demoAccount)
			cl := e.browser()
			e.passwordLogin(cl, "taro", demoAccount.Password)
			p := e.getAs(cl, "/settings/security", c.ua)
			els := checkStrictCSP(t, p)
			_, button := findElement(els, "passkey-create")
			_, guidance := findElement(els, "create-on-phone")
			if button != c.phone || guidance == c.phone {
				t.Fatalf("「パスキーを作成」 %v, guidance to use the phone %v; want the button only on a phone", button, guidance)
			}
			if !c.phone {
				wantHTML(t, p, "パスキーの作成は、スマートフォンのみ可能です", "セキュリティ設定画面を開いて「パスキーを作成」を押してください",
					"当社からのメールにリンクは一切ありません")
			}
		})
	}
	t.Run("recovery session on a computer", func(t *testing.T) {
		t.Parallel()
		until := time.Date(2031, 6, 4, 1, 20, 0, 0, time.UTC)
		e := newTestEnv(t, func(c *Config) { c.Windows = pageTestWindow{until: until} })
		acct := e.addAccount(demoAccount)
		e.insertPasskey(acct.ID, e.clock.Now(), e.clock.Now())
		cl := e.browser()
		e.passwordLogin(cl, "taro", demoAccount.Password)
		p := e.getAs(cl, "/settings/security", uaWindows)
		els := checkStrictCSP(t, p)
		if _, ok := findElement(els, "passkey-create"); ok {
			t.Error("「パスキーを作成」 offered on a computer")
		}
		// The phone can log in with the password too while the window lasts.
		wantHTML(t, p, `2031年6月4日 10:20 <span class="tz">(日本時間)</span>までは、スマートフォンでも同じログインID・パスワードでログインできます`)
	})
}

func TestPageRecoverySaysUntilWhen(t *testing.T) {
	t.Parallel()
	// The clock stands at 10:00 JST; the window ends at 10:25:30, 25½ minutes on.
	until := time.Date(2031, 6, 4, 1, 25, 30, 0, time.UTC)
	e := newTestEnv(t, withDesk(openDesk), func(c *Config) { c.Windows = pageTestWindow{until: until} })
	acct := e.addAccount(demoAccount)
	e.insertPasskey(acct.ID, e.clock.Now(), e.clock.Now())
	cl := e.browser()
	if status, body := e.passwordLogin(cl, "taro", demoAccount.Password); status != http.StatusOK {
		t.Fatalf("recovery login: %d %v", status, body)
	}
	p := e.getAs(cl, "/settings/security", uaIPhone)
	wantHTML(t, p, `<strong id="recovery-ends">2031年6月4日 10:25 <span class="tz">(日本時間)</span></strong>まで有効です`,
		`残り<span id="recovery-minutes">26</span>分`, `data-left-ms="1530000"`, "今すぐ新しいパスキーを作成してください",
		"0120-123-456", "平日 8:30~17:00 / 土日 9:00~17:00")
	e.clock.Advance(20 * time.Minute)
	wantHTML(t, e.getAs(cl, "/settings/security", uaIPhone), `残り<span id="recovery-minutes">6</span>分`)
}

// After the window's end the recovery session is gone with it: the security page sends the
// browser to the login page, which says that the temporary login ended and to call the voice
// line again, with the number to dial at a tap.
func TestPageRecoveryEndedSaysCallAgain(t *testing.T) {
	t.Parallel()
	until := time.Date(2031, 6, 4, 1, 25, 30, 0, time.UTC) // 10:25 JST
	e := newTestEnv(t, withDesk(openDesk), func(c *Config) { c.Windows = pageTestWindow{until: until} })
	acct := e.addAccount(demoAccount)
	e.insertPasskey(acct.ID, e.clock.Now(), e.clock.Now())
	const (
		endedAt   = `一時的なログインは2031年6月4日 10:25 <span class="tz">(日本時間)</span>に終了しました。`
		callAgain = `パスキーの作成・削除を行うには、もう一度自動音声ダイヤル(<a class="tel" href="tel:0120123456">0120-123-456</a>)にお電話ください`
	)
	cl := e.browser()
	if status, body := e.passwordLogin(cl, "taro", demoAccount.Password); status != http.StatusOK {
		t.Fatalf("recovery login: %d %v", status, body)
	}
	// While the window lasts, the page carries its ended state hidden, for its script to show
	// when the countdown reaches zero.
	p := e.getAs(cl, "/settings/security", uaIPhone)
	wantHTML(t, p, endedAt, callAgain)
	els := checkStrictCSP(t, p)
	if el, ok := findElement(els, "recovery-ended"); !ok || el.attrs["hidden"] == "" {
		t.Errorf("#recovery-ended %v: want it on the page, hidden while the window lasts", el.attrs)
	}
	if el, _ := findElement(els, "recovery-notice"); el.attrs["data-live"] == "" {
		t.Errorf("#recovery-notice %v: the script removes what carries data-live at the end", el.attrs)
	}
	// Logged out before the end, the customer may still log in with the password: the login
	// page says nothing of an end.
	early := e.browser()
	e.passwordLogin(early, "taro", demoAccount.Password)
	e.getAs(early, "/settings/security", uaIPhone)
	e.do(early, "POST", "/api/v1/logout", nil)
	if p := e.get(early, "/login"); strings.Contains(p.body, `id="recovery-ended"`) {
		t.Error("the login page says the temporary login ended before its end")
	}

	e.clock.Advance(26 * time.Minute)
	if p := e.getAs(cl, "/settings/security", uaIPhone); p.status != http.StatusSeeOther || p.header.Get("Location") != "/login" {
		t.Fatalf("after the end: %d %q, want 303 to /login", p.status, p.header.Get("Location"))
	}
	if status, body := e.do(cl, "POST", "/api/v1/passkeys/register/begin", map[string]string{}); status != http.StatusUnauthorized {
		t.Errorf("creating the passkey after the end: %d %v, want 401", status, body)
	}
	p = e.get(cl, "/login")
	wantHTML(t, p, `<div class="notice" id="recovery-ended" role="status">`, endedAt, callAgain)
	if p := e.get(cl, "/login"); !strings.Contains(p.body, endedAt) {
		t.Error("a reload of the login page no longer says that the temporary login ended")
	}
	if p := e.get(early, "/login"); !strings.Contains(p.body, endedAt) {
		t.Error("the login page of the browser that logged out early says nothing of the end")
	}
	if p := e.get(e.browser(), "/login"); strings.Contains(p.body, `id="recovery-ended"`) {
		t.Error("a browser that never had a recovery session is told one ended")
	}

	// A recovery that did its work (the passkey created or deleted) is over for good.
	if p := e.get(cl, "/login?done=passkey_created"); strings.Contains(p.body, `id="recovery-ended"`) {
		t.Error("the login page says the temporary login ended beside 「パスキーを作成しました」")
	}
	if p := e.get(cl, "/login"); strings.Contains(p.body, `id="recovery-ended"`) {
		t.Error("the end is still told after the recovery did its work")
	}
}

// A password longer than any account's is refused before it is tried, with a message that says
// what is wrong with it, not to fill in the form.
func TestPasswordTooLongSaysSo(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addAccount(demoAccount)
	for _, c := range []struct {
		name, loginID, password string
		status                  int
		msg                     string
	}{
		{"5,000 characters", "taro", strings.Repeat("x", 5000), http.StatusBadRequest, msgPasswordTooLong},
		{"1,025 bytes", "taro", strings.Repeat("x", 1025), http.StatusBadRequest, msgPasswordTooLong},
		{"1,024 bytes is tried", "taro", strings.Repeat("x", 1024), http.StatusUnauthorized, msgInvalidCredentials},
		{"too long, without a login ID", "", strings.Repeat("x", 5000), http.StatusBadRequest, msgMissingCredentials},
		{"no password", "taro", "", http.StatusBadRequest, msgMissingCredentials},
	} {
		status, body := e.passwordLogin(e.browser(), c.loginID, c.password)
		if status != c.status || body["message"] != c.msg {
			t.Errorf("%s: %d %q, want %d %q", c.name, status, body["message"], c.status, c.msg)
		}
	}
}

// The pages a customer meets, each as it is fetched.
func (e *testEnv) customerPages(t *testing.T) map[string]fetchedPage {
	t.Helper()
	pages := map[string]fetchedPage{"login": e.get(e.browser(), "/login")}
	fresh := e.browser()
	e.passwordLogin(fresh, "taro", demoAccount.Password)
	pages["settings on a phone"] = e.getAs(fresh, "/settings/security", uaIPhone)
	pages["settings on a computer"] = e.getAs(fresh, "/settings/security", uaWindows)
	recovering := e.browser()
	e.passwordLogin(recovering, "hanako", demoAccount.Password)
	pages["recovery on a phone"] = e.getAs(recovering, "/settings/security", uaIPhone)
	pages["recovery on a computer"] = e.getAs(recovering, "/settings/security", uaWindows)
	for name, p := range pages {
		if p.status != http.StatusOK {
			t.Fatalf("%s: %d", name, p.status)
		}
	}
	return pages
}

func newPagesEnv(t *testing.T) *testEnv {
	t.Helper()
	e := newTestEnv(t, withDesk(openDesk), func(c *Config) { c.Windows = pageTestWindow{until: time.Date(2031, 6, 4, 1, 30, 0, 0, time.UTC)} })
	e.addAccount(demoAccount)
	other := demoAccount
	other.LoginID, other.AccountNumber, other.Email = "hanako", "7654321", "hanako@example.jp"
	e.insertPasskey(e.addAccount(other).ID, e.clock.Now(), e.clock.Now())
	return e
}

// quotedButton is a label the pages quote as something to press or choose: 「パスキーを作成」を押して.
var quotedButton = regexp.MustCompile(`「([^」]+)」(?:を選択|を押|ボタン)`)

// Every button a page quotes is one the customer finds: on the page, or on the login page it
// speaks of.
func TestPagesQuoteOnlyTheirButtons(t *testing.T) {
	t.Parallel()
	pages := newPagesEnv(t).customerPages(t)
	buttons := map[string]bool{}
	for _, p := range pages {
		for _, el := range parseHTML(t, p.body) {
			if el.name == "button" {
				buttons[strings.TrimSpace(el.text)] = true
			}
		}
	}
	for name, p := range pages {
		for _, m := range quotedButton.FindAllStringSubmatch(p.body, -1) {
			if !buttons[m[1]] {
				t.Errorf("%s quotes 「%s」, a button no page has (%v)", name, m[1], buttons)
			}
		}
	}
}

// halfWidthQuestion finds a half-width 「?」 in Japanese text, where the full-width 「？」 belongs.
var halfWidthQuestion = regexp.MustCompile(`[\p{Hiragana}\p{Katakana}\p{Han}ー]\?|\?[\p{Hiragana}\p{Katakana}\p{Han}]`)

func TestPagesWriteJapanesePunctuation(t *testing.T) {
	t.Parallel()
	for name, p := range newPagesEnv(t).customerPages(t) {
		if m := halfWidthQuestion.FindAllString(p.body, -1); m != nil {
			t.Errorf("%s writes a half-width 「?」 in Japanese: %q", name, m)
		}
	}
}

func TestPagesPromiseEnvironmentsAndNoLink(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.Windows = pageTestWindow{until: time.Date(2031, 6, 4, 1, 30, 0, 0, time.UTC)} })
	e.addAccount(demoAccount)
	other := demoAccount
	other.LoginID, other.AccountNumber, other.Email = "hanako", "7654321", "hanako@example.jp"
	recovering := e.addAccount(other)
	e.insertPasskey(recovering.ID, e.clock.Now(), e.clock.Now())

	settings, recovery := e.browser(), e.browser()
	e.passwordLogin(settings, "taro", demoAccount.Password)
	if status, body := e.passwordLogin(recovery, "hanako", demoAccount.Password); status != http.StatusOK || body["via_fallback_window"] != true {
		t.Fatalf("recovery login: %d %v", status, body)
	}
	// The FAQ's tables, row by row, as the page writes them.
	rows := []string{
		`<tr><th scope="row">iPhone</th><td>iOS 16以上</td><td>Safari※1</td><td>パスワード</td></tr>`,
		`<tr><th scope="row">Android</th><td>Android 9以上</td><td>Google Chrome</td><td>Googleパスワードマネージャー※2</td></tr>`,
		`<tr><th scope="row">iPhone</th><td>iOS 16以上</td><td>Safari※1</td></tr>`,
		`<tr><th scope="row">Android</th><td>Android 9以上</td><td>Google Chrome</td></tr>`,
		`<tr><th scope="row">iPad</th><td>iPadOS 16以上</td><td>Safari※1</td></tr>`,
		`<tr><th scope="row">Mac</th><td>macOS Ventura(13)以上</td><td>Safari※1</td></tr>`,
		`<tr><th scope="row">PC</th><td>Windows 10以上</td><td>Google Chrome<br>Microsoft Edge</td></tr>`,
	}
	promises := []string{
		"パスキーの作成・利用にはスマートフォンをご利用ください。パスキーの作成は、スマートフォンのみ可能です。",
		"当社からのパスキー関連メールには、パスキー設定ページへのリンクは一切ありません。リンクがあるメールは全てフィッシング詐欺です。",
		"当社からのメールには、ログイン追加認証(絵文字)のメールやログインのお知らせを含め、リンクは一切ありません。",
	}
	for _, c := range []struct {
		name   string
		client *http.Client
		path   string
	}{
		{"login", e.browser(), "/login"},
		{"settings", settings, "/settings/security"},
		{"recovery", recovery, "/settings/security"},
	} {
		p := e.getAs(c.client, c.path, uaIPhone)
		if c.name == "recovery" && !strings.Contains(p.body, `id="recovery-notice"`) {
			t.Fatalf("%s: not the recovery page", c.name)
		}
		for _, f := range append(append([]string{}, rows...), promises...) {
			if !strings.Contains(p.body, f) {
				t.Errorf("%s page lacks %q", c.name, f)
			}
		}
	}
}

// The way out says the window's length as configured (KAGI_FALLBACK_WINDOW), not a fixed one.
func TestWayOutSaysTheWindowLength(t *testing.T) {
	for _, c := range []struct {
		window time.Duration
		want   string
	}{
		{30 * time.Minute, "一時的(30分間)に"},
		{45 * time.Minute, "一時的(45分間)に"},
		{time.Hour, "一時的(1時間)に"},
		{0, "一時的に"},
	} {
		sup := Support(openDesk)
		sup.Window = c.window
		if got := sup.Temporarily(); got != c.want {
			t.Errorf("window %v: %q, want %q", c.window, got, c.want)
		}
		if msg := msgPasskeyRequired(sup); !strings.Contains(msg, c.want+"ログインID・パスワードでログインできます") {
			t.Errorf("window %v: passkey_required says %q", c.window, msg)
		}
	}
}

// The first passkey bound from a password session starts the hold (§2.13): the security page
// says why, in the customer's words, and until when.
func TestPageHoldAfterTheFirstPasskey(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.RecoveryHold = DefaultRecoveryHold })
	acct := e.addAccount(demoAccount)
	c := e.loggedIn(acct, AssurancePassword)
	if _, err := e.newPhone(authtest.Config{}).Register(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	p := e.getAs(c, "/settings/security", uaIPhone)
	wantHTML(t, p, "パスキーが新しく作成されたため", "出金や出金先銀行口座の変更",
		string(jstHTML(formatJST(e.clock.Now().Add(DefaultRecoveryHold)))))
	if strings.Contains(p.body, "ご本人確認によるログイン手続き") {
		t.Error("the hold of a first passkey is explained as a recovery")
	}
}
