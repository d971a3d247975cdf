package console

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"kagi/staff"

	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/go-webauthn/webauthn/webauthn"
)

// An operator at a desktop Chromium enrolls their passkey with the one-time code, logs in with
// it, finds the customer and opens the window from the console page.
func TestBrowserOperatorOpensAWindowFromTheConsole(t *testing.T) {
	t.Parallel()
	chrome := os.Getenv("CHROME_PATH")
	if chrome == "" {
		chrome = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chrome); err != nil {
		t.Fatalf("no Chromium at %s (%v): run scripts/test, which installs it, or set CHROME_PATH", chrome, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	c := newConsole(t, func(c *setup) {
		c.Staff.WebAuthn = &webauthn.Config{RPID: "localhost", RPDisplayName: "kagi", RPOrigins: []string{origin}}
	})
	acct := c.customer()
	code := c.addStaff("suzuki", staff.RoleOperator)
	srv := httptest.NewUnstartedServer(c.console.Config.Handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, chromedp.ExecPath(chrome), chromedp.Headless, chromedp.NoSandbox,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.UserDataDir(t.TempDir()))
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	var (
		mu       sync.Mutex
		problems []string
	)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for m, err := range chromedp.Console(bctx) {
			if err != nil {
				return
			}
			t.Logf("browser console %s: %s", m.Type, m.Text)
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				mu.Lock()
				problems = append(problems, m.Text)
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancel()
		<-watched
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("browser console: %s", p)
		}
	})
	if _, err := chromedp.Call(bctx, cdpwebauthn.Enable, cdpwebauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	if _, err := chromedp.Call(bctx, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
		Options: &cdpwebauthn.VirtualAuthenticatorOptions{
			Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Ctap2version: cdpwebauthn.Ctap2versionCtap21,
			Transport: cdpwebauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
			IsUserVerified: true, AutomaticPresenceSimulation: true,
		},
	}); err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 15*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			status, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('status')?.textContent || ''`))
			loc, _ := chromedp.Run(bctx, chromedp.Location())
			t.Fatalf("%s: %v (page %s, status %q)", name, err, loc, status)
		}
	}

	step("enroll",
		chromedp.Navigate(origin+"/staff/enroll"),
		chromedp.WaitVisible(chromedp.ID("code")),
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Click(chromedp.CSS(`#enroll-form button[type="submit"], #enroll-form button`)),
		chromedp.WaitVisible(chromedp.ID("search-form")),
	)
	step("log out", chromedp.Click(chromedp.ID("staff-logout")), chromedp.WaitVisible(chromedp.ID("staff-login")))
	step("log in", chromedp.Click(chromedp.ID("staff-login")), chromedp.WaitVisible(chromedp.ID("search-form")))
	step("find the customer",
		chromedp.SendKeys(chromedp.ID("search-q"), "hanako"),
		chromedp.Click(chromedp.CSS(`#search-form button`)),
		chromedp.WaitVisible(chromedp.CSS(`article[data-account="`+consoleNumber+`"]`)),
	)
	card, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`article[data-account="`+consoleNumber+`"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(card, "佐藤 花子") || !strings.Contains(card, "受付なし") || !strings.Contains(card, "+8190****4321") ||
		strings.Contains(card, "ロックを解除") {
		t.Fatalf("the card shows:\n%s", card)
	}
	step("open the window",
		chromedp.SendKeys(chromedp.ID("reason-open-"+consoleNumber), "本人確認済み(生年月日)"),
		chromedp.Click(chromedp.CSS(`form[data-action="open"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`#status:not([hidden])`)),
	)
	status, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("status")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(status, "受付を開始しました") {
		t.Fatalf("status after opening: %q", status)
	}
	card, err = chromedp.Run(bctx, chromedp.Text(chromedp.CSS(`article[data-account="`+consoleNumber+`"]`)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(card, "受付中") || !strings.Contains(card, "オペレーター") {
		t.Fatalf("the card after opening shows:\n%s", card)
	}
	if ws := c.windows(acct.ID); len(ws) != 1 || ws[0].Closed {
		t.Fatalf("windows %+v", ws)
	}
	actor, detail := c.auditLine(acct.ID, "window_opened")
	expectAudited(t, "open from the page", actor, detail, "staff:suzuki", "operator", "本人確認済み(生年月日)")
	step("show the account's audit trail",
		chromedp.Click(chromedp.CSS(`#audit-form button`)),
		chromedp.WaitVisible(chromedp.CSS(`#audit tbody tr`)),
	)
	trail, err := chromedp.Run(bctx, chromedp.Text(chromedp.ID("audit")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(trail, "window_opened") || !strings.Contains(trail, "staff:suzuki") {
		t.Fatalf("the audit list shows:\n%s", trail)
	}
}
