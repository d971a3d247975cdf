package auth

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/go-webauthn/webauthn/webauthn"
)

// chromiumPath finds the browser the browser tests drive. A missing browser fails the test:
// skipping would let the pages' scripts go unchecked in CI.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p := os.Getenv("CHROME_PATH")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no Chromium at %s (%v): run scripts/test, which installs it, or set CHROME_PATH", p, err)
	}
	return p
}

// browserEnv is a kagi served on http://localhost:PORT, the origin WebAuthn needs, and a
// headless Chromium whose WebAuthn requests go to a virtual platform authenticator: a phone's
// passkey store that verifies the user with the device unlock.
type browserEnv struct {
	*testEnv
	origin string
	ctx    context.Context
	authID cdpwebauthn.AuthenticatorID
	net    *traffic

	mu       sync.Mutex
	problems []string
}

// traffic is the test server's view of what the browser asked: a log of "METHOD URI STATUS"
// to wait on, and a hold that keeps the next passkey login begin request waiting until the
// browser gives it up, like a slow network. Chromium's virtual authenticator completes the
// login page's autofill ceremony at once, so the button's ceremony can only be tested while
// autofill is stuck there.
type traffic struct {
	mu      sync.Mutex
	log     []string
	changed chan struct{}

	hold    bool
	arrived chan struct{}
	aborted chan struct{}
}

// holdAutofill holds the next login begin request.
func (tr *traffic) holdAutofill() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.hold, tr.arrived, tr.aborted = true, make(chan struct{}), make(chan struct{})
}

// mark is the position in the log from which to wait.
func (tr *traffic) mark() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.log)
}

// waitFor waits up to ten seconds for entry to be logged after mark.
func (tr *traffic) waitFor(t *testing.T, mark int, entry string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		tr.mu.Lock()
		for _, e := range tr.log[mark:] {
			if e == entry {
				tr.mu.Unlock()
				return
			}
		}
		changed := tr.changed
		tr.mu.Unlock()
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("the browser never sent %q", entry)
		}
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

func (tr *traffic) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		held := tr.hold && r.Method == http.MethodPost && r.URL.Path == "/api/v1/passkeys/login/begin"
		arrived, aborted := tr.arrived, tr.aborted
		if held {
			tr.hold = false
		}
		tr.mu.Unlock()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		if held {
			// Read the body first: the server notices a client that goes away only once it has.
			_, _ = io.Copy(io.Discard, r.Body)
			close(arrived)
			select {
			case <-r.Context().Done():
				close(aborted)
				return
			case <-time.After(30 * time.Second):
				http.Error(rec, "held too long", http.StatusServiceUnavailable)
			}
		} else {
			next.ServeHTTP(rec, r)
		}
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.log = append(tr.log, fmt.Sprintf("%s %s %d", r.Method, r.URL.RequestURI(), rec.status))
		close(tr.changed)
		tr.changed = make(chan struct{})
	})
}

func newBrowserEnv(t *testing.T, edit ...func(*Config)) *browserEnv {
	t.Helper()
	return newBrowserEnvOn(t, "localhost", "localhost", edit...)
}

// newBrowserEnvOn serves the pages on host for relying party rpID. Chromium resolves a host
// other than localhost to the test server and treats its plain-http origin as secure, as
// WebAuthn needs.
func newBrowserEnvOn(t *testing.T, host, rpID string, edit ...func(*Config)) *browserEnv {
	t.Helper()
	chrome := chromiumPath(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := fmt.Sprintf("http://%s:%d", host, ln.Addr().(*net.TCPAddr).Port)
	edit = append([]func(*Config){wallClock, func(c *Config) {
		c.WebAuthn = &webauthn.Config{RPID: rpID, RPDisplayName: "kagi", RPOrigins: []string{origin}}
		c.CreatePlatforms = []string{PlatformAny}
	}}, edit...)
	e := newTestEnv(t, edit...)
	tr := &traffic{changed: make(chan struct{})}
	srv := httptest.NewUnstartedServer(tr.wrap(e.srv.Config.Handler))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	// The deadline bounds the whole browser session, so a stuck page cannot hang CI.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	if host != "localhost" {
		opts = append(opts,
			chromedp.Flag("host-resolver-rules", "MAP "+host+" 127.0.0.1"),
			chromedp.Flag("unsafely-treat-insecure-origin-as-secure", origin))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	b := &browserEnv{testEnv: e, origin: origin, ctx: bctx, net: tr}
	if err := chromedp.Do(bctx); err != nil {
		cancelBrowser()
		cancelAlloc()
		cancel()
		t.Fatalf("start Chromium: %v", err)
	}
	// Watch the console: an exception, or an inline script or style the CSP blocked, fails the
	// test at its end.
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for m, err := range chromedp.Console(bctx) {
			if err != nil {
				return
			}
			b.note(m)
		}
	}()
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancel()
		<-watched
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range b.problems {
			t.Error(p)
		}
	})

	if _, err := chromedp.Call(bctx, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(bctx, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
		Options: &cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol:                    cdpwebauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                cdpwebauthn.Ctap2versionCtap21,
			Transport:                   cdpwebauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	b.authID = res.AuthenticatorID
	return b
}

func (b *browserEnv) note(m chromedp.ConsoleMessage) {
	b.mu.Lock()
	defer b.mu.Unlock()
	line := fmt.Sprintf("browser console %s: %s", m.Type, m.Text)
	if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
		b.problems = append(b.problems, line)
	}
	b.t.Log(line)
}

// step runs browser actions; when they fail, the test fails with where the page was and what
// it told the customer.
func (b *browserEnv) step(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		msgs, _ := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.msg:not([hidden])')].map((el) => el.id + ': ' + el.textContent)`))
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		b.t.Fatalf("%s: %v (page %s, messages %q)", name, err, loc, msgs)
	}
}

func (b *browserEnv) text(id string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.ID(id)))
	if err != nil {
		b.t.Fatalf("text of #%s: %v", id, err)
	}
	return s
}

func (b *browserEnv) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.TrimPrefix(loc, b.origin)
}

// credentials lists the passkeys the virtual authenticator holds.
func (b *browserEnv) credentials() []*cdpwebauthn.Credential {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, cdpwebauthn.GetCredentials, cdpwebauthn.GetCredentialsParams{AuthenticatorID: b.authID})
	if err != nil {
		b.t.Fatalf("WebAuthn.getCredentials: %v", err)
	}
	return res.Credentials
}

// sessionAssurance asks the API, from the page, how the browser's session was made.
func (b *browserEnv) sessionAssurance() string {
	b.t.Helper()
	a, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](
		`fetch('/api/v1/session', {credentials: 'same-origin'}).then((r) => r.json()).then((s) => s.assurance || '')`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("GET /api/v1/session: %v", err)
	}
	return a
}

// storedCredentialID is the account's passkey as the server keeps it.
func (b *browserEnv) storedCredentialID(accountID int64) []byte {
	b.t.Helper()
	pk, ok, err := b.svc.PasskeyOf(context.Background(), b.svc.pool, accountID)
	if err != nil {
		b.t.Fatal(err)
	}
	if !ok {
		return nil
	}
	return pk.CredentialID
}

// passwordLogin logs in on the login page with the login ID and password.
func (b *browserEnv) passwordLogin() {
	b.t.Helper()
	b.step("password login",
		chromedp.Navigate(b.origin+"/login"),
		chromedp.WaitVisible(chromedp.ID("passkey-login")),
		chromedp.SendKeys(chromedp.ID("login-id"), demoAccount.LoginID),
		chromedp.SendKeys(chromedp.ID("password"), demoAccount.Password),
		chromedp.Click(chromedp.ID("password-login")),
		chromedp.WaitVisible(chromedp.ID("security")),
	)
}

// waitCredentialEvent waits up to ten seconds for the first event from events about id.
func waitCredentialEvent[E any](b *browserEnv, events func(context.Context) func(func(E, error) bool), id []byte, idOf func(E) []byte) bool {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	for ev, err := range events(ctx) {
		if err != nil {
			return false
		}
		if bytes.Equal(idOf(ev), id) {
			return true
		}
	}
	return false
}

// autofillHeld waits until the login page's autofill ceremony is stuck on the held request.
func (b *browserEnv) autofillHeld() {
	b.t.Helper()
	select {
	case <-b.net.arrived:
	case <-time.After(10 * time.Second):
		b.t.Fatal("the login page started no autofill ceremony")
	}
}

func deletedEvents(ctx context.Context) func(func(cdpwebauthn.EventCredentialDeleted, error) bool) {
	return chromedp.Events(ctx, cdpwebauthn.CredentialDeleted)
}

func deletedID(ev cdpwebauthn.EventCredentialDeleted) []byte { return ev.CredentialID }

func TestBrowserPasskeyLifecycle(t *testing.T) {
	t.Parallel()
	b := newBrowserEnv(t)
	acct := b.addAccount(demoAccount)

	b.passwordLogin()
	if got := b.location(); got != "/settings/security" {
		t.Fatalf("after password login the browser is at %s", got)
	}
	if got := b.text("no-passkey"); got != "パスキー未作成" {
		t.Fatalf("settings page says %q, want パスキー未作成", got)
	}
	if a := b.sessionAssurance(); a != "password" {
		t.Fatalf("assurance after password login = %q", a)
	}

	b.step("create the passkey",
		chromedp.Click(chromedp.ID("passkey-create")),
		chromedp.WaitVisible(chromedp.ID("passkey")),
	)
	if got := b.text("done"); !strings.Contains(got, "パスキーを作成しました") {
		t.Errorf("after creating the passkey the page says %q", got)
	}
	if got := b.location(); got != "/settings/security" {
		t.Errorf("after creating the passkey the browser is at %s: a reload would tell it again", got)
	}
	details := b.text("passkey")
	for _, want := range []string{"作成日時", "(日本時間)", "最終利用日時", "未使用", "同期されていません"} {
		if !strings.Contains(details, want) {
			t.Errorf("passkey details %q lack %q", details, want)
		}
	}
	if n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll('#passkey-create').length`)); err != nil || n != 0 {
		t.Errorf("「パスキーを作成」 still offered with a passkey (%d, %v)", n, err)
	}
	creds := b.credentials()
	stored := b.storedCredentialID(acct.ID)
	if len(creds) != 1 || !creds[0].IsResidentCredential || !bytes.Equal(creds[0].CredentialID, stored) {
		t.Fatalf("authenticator holds %+v, server holds %x: want the one discoverable passkey on both", creds, stored)
	}
	if creds[0].UserName != demoAccount.LoginID || creds[0].UserDisplayName != demoAccount.Name {
		t.Errorf("passkey made for %q / %q", creds[0].UserName, creds[0].UserDisplayName)
	}

	// Log out, and log in with the button while the autofill ceremony is stuck on the network:
	// the button must end it and run its own.
	b.net.holdAutofill()
	b.step("log out",
		chromedp.Click(chromedp.ID("logout")),
		chromedp.WaitVisible(chromedp.ID("password-form")),
	)
	b.autofillHeld()
	b.step("passkey login with the button",
		chromedp.Click(chromedp.ID("passkey-login")),
		chromedp.WaitVisible(chromedp.ID("passkey")),
	)
	select {
	case <-b.net.aborted:
	case <-time.After(5 * time.Second):
		t.Error("the button's ceremony left the autofill request running")
	}
	if got := b.location(); got != "/settings/security" {
		t.Fatalf("after passkey login the browser is at %s", got)
	}
	if a := b.sessionAssurance(); a != "passkey" {
		t.Fatalf("assurance after passkey login = %q", a)
	}
	if details := b.text("passkey"); strings.Contains(details, "未使用") {
		t.Errorf("last use not shown after the login: %q", details)
	}

	// Log out again: the login ID field's autofill now logs in with no click at all.
	mark := b.net.mark()
	b.step("log out for autofill", chromedp.Click(chromedp.ID("logout")))
	b.net.waitFor(t, mark, "POST /api/v1/logout 200")
	b.net.waitFor(t, mark, "POST /api/v1/passkeys/login/finish 200")
	b.net.waitFor(t, mark, "GET /settings/security 200")
	b.step("autofill login", chromedp.WaitVisible(chromedp.ID("passkey")))
	if a := b.sessionAssurance(); a != "passkey" {
		t.Fatalf("assurance after autofill login = %q", a)
	}

	// The page keeps the password manager's names current (signalCurrentUserDetails).
	if _, err := b.svc.pool.Exec(context.Background(), `UPDATE accounts SET name = '山田 花子' WHERE id = $1`, acct.ID); err != nil {
		t.Fatal(err)
	}
	renamed := make(chan bool, 1)
	go func() {
		renamed <- waitCredentialEvent(b, func(ctx context.Context) func(func(cdpwebauthn.EventCredentialUpdated, error) bool) {
			return chromedp.Events(ctx, cdpwebauthn.CredentialUpdated)
		}, stored, func(ev cdpwebauthn.EventCredentialUpdated) []byte {
			if ev.Credential.UserDisplayName != "山田 花子" {
				return nil
			}
			return ev.Credential.CredentialID
		})
	}()
	b.step("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("passkey")))
	if !<-renamed {
		t.Error("the password manager was not told the account's new name")
	}

	// Delete it, after the confirmation; the page then tells the password manager to drop it
	// (signalAllAcceptedCredentials with none).
	dropped := make(chan bool, 1)
	go func() { dropped <- waitCredentialEvent(b, deletedEvents, stored, deletedID) }()
	b.step("delete the passkey",
		chromedp.Click(chromedp.ID("passkey-delete")),
		chromedp.WaitVisible(chromedp.ID("delete-dialog")),
		chromedp.Click(chromedp.ID("delete-confirm")),
		chromedp.WaitVisible(chromedp.ID("no-passkey")),
	)
	if got := b.text("done"); !strings.Contains(got, "パスキーを削除しました") {
		t.Errorf("after deleting the passkey the page says %q", got)
	}
	if b.storedCredentialID(acct.ID) != nil {
		t.Fatal("passkey still stored after deletion")
	}
	if !<-dropped {
		t.Error("the password manager still offers the deleted passkey")
	}
}

func TestBrowserWithoutWebAuthnJSONHelpers(t *testing.T) {
	t.Parallel()
	b := newBrowserEnv(t)
	acct := b.addAccount(demoAccount)
	// A browser from before PublicKeyCredential.parse*FromJSON and toJSON: the pages' own
	// base64url coding must carry both ceremonies.
	_, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
		delete PublicKeyCredential.parseCreationOptionsFromJSON;
		delete PublicKeyCredential.parseRequestOptionsFromJSON;
		delete PublicKeyCredential.prototype.toJSON;`})
	if err != nil {
		t.Fatal(err)
	}
	b.passwordLogin()
	if has, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`'toJSON' in PublicKeyCredential.prototype || 'parseRequestOptionsFromJSON' in PublicKeyCredential`)); err != nil || has {
		t.Fatalf("JSON helpers still present (%v, %v)", has, err)
	}
	b.step("create the passkey",
		chromedp.Click(chromedp.ID("passkey-create")),
		chromedp.WaitVisible(chromedp.ID("passkey")),
	)
	if creds := b.credentials(); len(creds) != 1 || !bytes.Equal(creds[0].CredentialID, b.storedCredentialID(acct.ID)) {
		t.Fatalf("authenticator holds %+v: want the stored passkey", creds)
	}
	b.net.holdAutofill()
	b.step("log out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("password-form")))
	b.autofillHeld()
	b.step("passkey login with the button",
		chromedp.Click(chromedp.ID("passkey-login")),
		chromedp.WaitVisible(chromedp.ID("passkey")),
	)
	if a := b.sessionAssurance(); a != "passkey" {
		t.Fatalf("assurance after passkey login = %q", a)
	}
}

func TestBrowserUnknownPasskeyIsForgotten(t *testing.T) {
	t.Parallel()
	// The relying party may be a parent domain of the login page's host (KAGI_RP_ID): the
	// signal must name the relying party, not the page's host.
	for _, c := range []struct{ name, host, rpID string }{
		{"rp is the host", "localhost", "localhost"},
		{"rp is a parent domain", "login.kagi.test", "kagi.test"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			testUnknownPasskeyIsForgotten(t, newBrowserEnvOn(t, c.host, c.rpID))
		})
	}
}

func testUnknownPasskeyIsForgotten(t *testing.T, b *browserEnv) {
	acct := b.addAccount(demoAccount)
	b.passwordLogin()
	b.step("create the passkey",
		chromedp.Click(chromedp.ID("passkey-create")),
		chromedp.WaitVisible(chromedp.ID("passkey")),
	)
	stored := b.storedCredentialID(acct.ID)
	b.net.holdAutofill()
	b.step("log out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("password-form")))
	b.autofillHeld()

	// The passkey is deleted elsewhere (the operator console), so the browser's copy is unknown
	// to the server: the failed login must say so and make the password manager forget it.
	if _, err := b.svc.pool.Exec(context.Background(), `DELETE FROM passkeys WHERE account_id = $1`, acct.ID); err != nil {
		t.Fatal(err)
	}
	forgotten := make(chan bool, 1)
	go func() { forgotten <- waitCredentialEvent(b, deletedEvents, stored, deletedID) }()
	mark := b.net.mark()
	b.step("passkey login", chromedp.Click(chromedp.ID("passkey-login")))
	b.net.waitFor(t, mark, "POST /api/v1/passkeys/login/finish 401")
	if !<-forgotten {
		t.Error("the password manager was not told to forget the unknown passkey")
	}
	// The customer is told why, by the button, and what to do: not just "try again".
	b.step("error shown", chromedp.WaitVisible(chromedp.ID("passkey-msg")))
	if got := b.text("passkey-msg"); !strings.Contains(got, "削除されたか別の端末で作成し直された") || !strings.Contains(got, "自動音声ダイヤル") {
		t.Errorf("the failed login says %q", got)
	}
	if got := b.location(); got != "/login" {
		t.Errorf("after the failed login the browser is at %s", got)
	}
}

func TestBrowserRecoveryReplacesPasskey(t *testing.T) {
	t.Parallel()
	until := time.Now().Add(30 * time.Minute)
	b := newBrowserEnv(t, withDesk(openDesk), func(c *Config) { c.Windows = pageTestWindow{until: until} })
	acct := b.addAccount(demoAccount)
	// The passkey on the lost phone: not on this browser's authenticator.
	b.insertPasskey(acct.ID, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	lost := b.storedCredentialID(acct.ID)

	b.usePhone()
	mark := b.net.mark()
	b.passwordLogin()
	if a := b.sessionAssurance(); a != "password_fallback" {
		t.Fatalf("assurance after recovery login = %q", a)
	}
	if notice := b.text("recovery-notice"); !strings.Contains(notice, "パスキーの作成・削除のみ行えます") {
		t.Errorf("recovery notice = %q", notice)
	}
	b.recoveryPageCountsDown(until)
	// The page offers the passkey at once (conditional create): the browser asks for the
	// creation options before any click. The virtual authenticator has no password manager to
	// accept the offer, so the customer takes the button, which replaces the lost passkey.
	b.net.waitFor(t, mark, "POST /api/v1/passkeys/register/begin 200")
	b.net.holdAutofill()
	b.step("create the passkey",
		chromedp.Click(chromedp.ID("passkey-create")),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	b.autofillHeld()
	if got := b.location(); got != "/login?done=passkey_created" {
		t.Errorf("after the replacement the browser is at %s", got)
	}
	if got := b.text("done"); !strings.Contains(got, "パスキーを作成しました") {
		t.Errorf("login page says %q", got)
	}
	creds := b.credentials()
	stored := b.storedCredentialID(acct.ID)
	if len(creds) != 1 || !bytes.Equal(creds[0].CredentialID, stored) || bytes.Equal(stored, lost) {
		t.Fatalf("authenticator holds %+v, server holds %x (lost %x): want the new passkey on both", creds, stored, lost)
	}
	if a := b.sessionAssurance(); a != "" {
		t.Errorf("recovery session still alive (%q) after its window closed", a)
	}
}
