package auth

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// screen is a browser window the pages are tried in, in CSS px.
type screen struct {
	name          string
	width, height int64
	phone         bool
}

// The screens a customer meets the pages on: the phone of the email check's test, and a
// laptop's browser window.
var screens = []screen{
	{"phone 390×844", phoneWidth, phoneHeight, true},
	{"desktop 1280×800", 1280, 800, false},
}

func (b *browserEnv) useScreen(s screen) {
	b.t.Helper()
	if s.phone {
		b.usePhone()
		return
	}
	b.step("desktop screen", chromedp.EmulateViewport(s.width, s.height))
}

// shownMsg is a message element as the customer meets it, in CSS px.
type shownMsg struct {
	Text        string  `json:"text"`
	Hidden      bool    `json:"hidden"`
	Role        string  `json:"role"`
	Focused     bool    `json:"focused"`
	Top         float64 `json:"top"`
	Bottom      float64 `json:"bottom"`
	InnerHeight float64 `json:"innerHeight"`
	ScrollY     float64 `json:"scrollY"`
}

// waitMsgShown waits until the message element id is shown and returns it as it is then.
func (b *browserEnv) waitMsgShown(id string) shownMsg {
	b.t.Helper()
	b.step("#"+id+" shown", chromedp.PollFunction[chromedp.Void](
		`(id) => { const m = document.getElementById(id); return !m.hidden && m.textContent !== ''; }`,
		chromedp.WithPollingArgs(id)))
	m, err := chromedp.Run(b.ctx, chromedp.Evaluate[shownMsg](fmt.Sprintf(`(() => {
		const m = document.getElementById(%q);
		const r = m.getBoundingClientRect();
		return {text: m.textContent, hidden: m.hidden, role: m.getAttribute('role') || '',
			focused: document.activeElement === m, top: r.top, bottom: r.bottom,
			innerHeight: innerHeight, scrollY: scrollY};
	})()`, id)))
	if err != nil {
		b.t.Fatalf("read #%s: %v", id, err)
	}
	return m
}

// wantWhereTheCustomerLooks fails unless the message is on the screen as the page opened —
// no scrolling, by the customer or by the page — announced to screen readers and focused.
func wantWhereTheCustomerLooks(t *testing.T, what string, m shownMsg) {
	t.Helper()
	if m.ScrollY != 0 || m.Top < 0 || m.Bottom > m.InnerHeight {
		t.Errorf("%s (%q) spans %.0f–%.0f px of a %.0f px screen scrolled by %.0f px: the customer sees nothing happen",
			what, m.Text, m.Top, m.Bottom, m.InnerHeight, m.ScrollY)
	}
	if m.Role != "alert" || !m.Focused {
		t.Errorf("%s: role %q, focused %v; want an alert that takes the focus", what, m.Role, m.Focused)
	}
}

// noSidewaysScroll fails when the page is wider than the screen.
func (b *browserEnv) noSidewaysScroll(width int64) {
	b.t.Helper()
	if w, err := chromedp.Run(b.ctx, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`)); err != nil || w > float64(width) {
		b.t.Errorf("page %s is %v px wide (%v): the customer must scroll sideways on a %d px screen", b.location(), w, err, width)
	}
}

func TestBrowserLoginMessagesByTheControls(t *testing.T) {
	t.Parallel()
	desk := openDesk
	desk.Today, desk.Open, desk.Status = "本日(12月31日)は休業日です", false, "ただいま営業時間外です"
	for _, sc := range screens {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			b := newBrowserEnv(t, withDesk(desk))
			acct := b.addAccount(demoAccount)
			b.useScreen(sc)
			b.step("login page",
				chromedp.Navigate(b.origin+"/login"),
				chromedp.WaitVisible(chromedp.ID("passkey-login")),
				chromedp.WaitVisible(chromedp.ID("voice-line")),
				chromedp.WaitVisible(chromedp.ID("support-hours")),
			)
			if got := b.text("voice-line"); got != desk.VoiceLine {
				t.Errorf("the voice line shows %q, want %q", got, desk.VoiceLine)
			}
			if got := b.text("support-hours"); got != desk.Hours {
				t.Errorf("the hours show %q, want %q", got, desk.Hours)
			}
			for id, want := range map[string]string{"support-today": desk.Today, "support-status": msgOperatorsNow(Support(desk))} {
				if got := b.text(id); !strings.HasPrefix(got, want) {
					t.Errorf("#%s shows %q, want %q", id, got, want)
				}
			}
			// The number is dialled at a tap.
			if got := b.telLinks("#voice-line"); len(got) != 1 || got[0] != "tel:0120123456 0120-123-456" {
				t.Errorf("the voice line's links %q, want the one tel: link to 0120-123-456", got)
			}
			b.noSidewaysScroll(sc.width)

			// A wrong password: the refusal is under the button, on the screen.
			b.step("wrong password",
				chromedp.SendKeys(chromedp.ID("login-id"), demoAccount.LoginID),
				chromedp.SendKeys(chromedp.ID("password"), "wrong password!"),
				chromedp.Click(chromedp.ID("password-login")),
			)
			m := b.waitMsgShown("password-msg")
			if m.Text != msgInvalidCredentials {
				t.Errorf("the refusal says %q, want %q", m.Text, msgInvalidCredentials)
			}
			wantWhereTheCustomerLooks(t, "the wrong password's refusal", m)

			// A whole page pasted into the password field is told so.
			b.step("5,000-character password",
				chromedp.SetValue(chromedp.ID("password"), strings.Repeat("x", 5000)),
				chromedp.Click(chromedp.ID("password-login")),
				chromedp.PollFunction[chromedp.Void](`(want) => document.getElementById('password-msg').textContent === want`,
					chromedp.WithPollingArgs(msgPasswordTooLong)),
			)
			wantWhereTheCustomerLooks(t, "the too-long password's refusal", b.waitMsgShown("password-msg"))

			// The phone with the passkey is gone: the password is refused with the way out, by the
			// form, and on a device without the passkey the passkey button says what to do.
			b.insertPasskey(acct.ID, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
			b.step("right password, passkey required",
				chromedp.SetValue(chromedp.ID("password"), demoAccount.Password),
				chromedp.Click(chromedp.ID("password-login")),
				chromedp.PollFunction[chromedp.Void](`(want) => document.getElementById('password-msg').textContent === want`,
					chromedp.WithPollingArgs(msgPasskeyRequired(Support(desk)))),
			)
			m = b.waitMsgShown("password-msg")
			wantWhereTheCustomerLooks(t, "passkey_required", m)
			if got := b.telLinks("#password-msg"); len(got) != 1 || got[0] != "tel:0120123456 0120-123-456" {
				t.Errorf("passkey_required's number links %q, want a tel: link to 0120-123-456", got)
			}

			b.step("passkey login on a device without the passkey", chromedp.Click(chromedp.ID("passkey-login")))
			m = b.waitMsgShown("passkey-msg")
			for _, want := range []string{"機種変更", desk.VoiceLine, "一時的(30分間)", msgOperators(Support(desk))} {
				if !strings.Contains(m.Text, want) {
					t.Errorf("the failed passkey login says %q, without %q", m.Text, want)
				}
			}
			if got := b.telLinks("#passkey-msg"); len(got) != 1 || got[0] != "tel:0120123456 0120-123-456" {
				t.Errorf("the failed passkey login's number links %q, want a tel: link to 0120-123-456", got)
			}
			if strings.Contains(m.Text, msgCeremonyFailed) {
				t.Errorf("the failed passkey login only says to try again: %q", m.Text)
			}
			if m.Top < 0 || m.Bottom > m.InnerHeight || m.Role != "alert" || !m.Focused {
				t.Errorf("the failed passkey login's message %+v: want it on the screen, announced and focused", m)
			}
			if a := b.sessionAssurance(); a != "" {
				t.Errorf("a %q session after refusals", a)
			}
		})
	}
}

// recoveryPageCountsDown checks, on a phone's screen, that the recovery page says until when
// its window lasts — the end in JST and the minutes left, counted down by the page — with the
// button to create the new passkey on the first screen, and the way out.
func (b *browserEnv) recoveryPageCountsDown(until time.Time) {
	t := b.t
	t.Helper()
	b.step("until when", chromedp.WaitVisible(chromedp.ID("recovery-until")))
	if got, want := b.text("recovery-ends"), formatJST(until); got != want {
		t.Errorf("the recovery page ends %q, want %q", got, want)
	}
	if got := b.text("recovery-until"); !strings.Contains(got, "まで有効です(残り") {
		t.Errorf("the recovery page says %q", got)
	}
	minutes := func() int {
		n, err := strconv.Atoi(b.text("recovery-minutes"))
		if err != nil {
			t.Fatalf("minutes left: %v", err)
		}
		return n
	}
	first := minutes()
	if first != 29 && first != 30 {
		t.Errorf("%d minutes left, want 30 (or 29 on a slow machine)", first)
	}
	// The end and the button that the recovery is for are on the first screen.
	for _, id := range []string{"recovery-until", "passkey-create"} {
		onScreen, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
			const r = document.getElementById(%q).getBoundingClientRect();
			return scrollY === 0 && r.top >= 0 && r.bottom <= innerHeight;
		})()`, id)))
		if err != nil || !onScreen {
			t.Errorf("#%s is off the first screen (%v)", id, err)
		}
	}
	if got := b.text("voice-line"); got != openDesk.VoiceLine {
		t.Errorf("the recovery page's voice line %q", got)
	}
	b.noSidewaysScroll(phoneWidth)
	b.zoneOnOneLine()

	// Ten minutes later (the phone's clock moved on while the tab was in the background): the
	// page counts down as soon as the customer comes back to it.
	b.skewPageClock(10 * time.Minute)
	if got := minutes(); got != first-10 {
		t.Errorf("ten minutes on, %d minutes left, want %d", got, first-10)
	}
	b.skewPageClock(0)
}

// skewPageClock moves the page's clock d on from the real time, as time passes for a tab in the
// background, and brings the tab back to the front (visibilitychange).
func (b *browserEnv) skewPageClock(d time.Duration) {
	b.t.Helper()
	_, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
		if (!window.realNow) { window.realNow = Date.now.bind(Date); }
		Date.now = () => window.realNow() + %d;
		document.dispatchEvent(new Event('visibilitychange'));
		return true;
	})()`, d.Milliseconds())))
	if err != nil {
		b.t.Fatal(err)
	}
}

// telLinks lists the links under the elements sel finds as "href text".
func (b *browserEnv) telLinks(sel string) []string {
	b.t.Helper()
	links, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](fmt.Sprintf(
		`[...document.querySelectorAll(%q)].map((a) => a.getAttribute('href') + ' ' + a.textContent)`, sel+" a")))
	if err != nil {
		b.t.Fatalf("links in %s: %v", sel, err)
	}
	return links
}

// zoneOnOneLine fails when a time's 「(日本時間)」 on the page is broken over two lines.
func (b *browserEnv) zoneOnOneLine() {
	b.t.Helper()
	lines, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]int](
		`[...document.querySelectorAll('.tz')].filter((el) => el.offsetParent !== null).map((el) => el.getClientRects().length)`))
	if err != nil {
		b.t.Fatal(err)
	}
	if len(lines) == 0 {
		b.t.Error("no time on the page names its zone")
	}
	for _, n := range lines {
		if n != 1 {
			b.t.Errorf("「(日本時間)」 spans %d lines on a %d px screen (%v)", n, phoneWidth, lines)
		}
	}
}

// stoppableClock is the server's clock in a browser test that moves time: the real clock until
// the test stops it at a moment of its choosing. The browser keeps the real time, as a phone
// does, so its cookies live on.
type stoppableClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *stoppableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() {
		return time.Now()
	}
	return c.at
}

// stopAt stops the clock at t; the zero time lets it run on the real clock again.
func (c *stoppableClock) stopAt(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = t
}

// since lists what the browser asked after mark.
func (tr *traffic) since(mark int) []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.log[mark:])
}

// recoveryEndedShown checks, on a phone's screen, what a recovery page shows once its window
// ended: no way to create or delete the passkey any more, and on the first screen, that the
// temporary login ended at until and to call the voice line again, its number a tel: link.
func (b *browserEnv) recoveryEndedShown(until time.Time) {
	t := b.t
	t.Helper()
	b.step("the ended state", chromedp.WaitVisible(chromedp.ID("recovery-ended")))
	gone, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](
		`document.querySelectorAll('#passkey-create, #passkey-delete, #delete-dialog, #replace-notice, #recovery-notice').length`))
	if err != nil || gone != 0 {
		t.Errorf("after the end the page still offers to create or delete the passkey (%d elements, %v)", gone, err)
	}
	text := b.text("recovery-ended")
	for _, want := range []string{"一時的なログインは" + formatJST(until) + "に終了しました",
		"パスキーの作成・削除を行うには、もう一度自動音声ダイヤル(0120-123-456)にお電話ください"} {
		if !strings.Contains(text, want) {
			t.Errorf("after the end the page says %q, without %q", text, want)
		}
	}
	if got := b.telLinks("#recovery-ended"); !slices.Contains(got, "tel:0120123456 0120-123-456") {
		t.Errorf("the ended state's links %q, want a tel: link to 0120-123-456", got)
	}
	shown, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`(() => {
		const r = document.getElementById('recovery-ended').getBoundingClientRect();
		return r.top >= 0 && r.bottom <= innerHeight;
	})()`))
	if err != nil || !shown {
		t.Errorf("the ended state is off the screen (%v)", err)
	}
	b.noSidewaysScroll(phoneWidth)
	b.zoneOnOneLine()
}

// When the window ends, the recovery page stops offering the passkey and says to call the voice
// line again: at once when the customer comes back to the tab, by its own timer while it is
// open, when the server refuses the ended session, and on the login page that a reload after
// the end brings.
func TestBrowserRecoveryWindowEnds(t *testing.T) {
	t.Parallel()
	until := time.Now().Add(10 * time.Minute).Truncate(time.Second)
	clock := &stoppableClock{}
	b := newBrowserEnv(t, withDesk(openDesk), func(c *Config) {
		c.Windows, c.Now = pageTestWindow{until: until}, clock.Now
	})
	acct := b.addAccount(demoAccount)
	b.insertPasskey(acct.ID, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	b.usePhone()
	b.passwordLogin()
	if a := b.sessionAssurance(); a != "password_fallback" {
		t.Fatalf("assurance after recovery login = %q", a)
	}
	noReload := func(mark int) {
		t.Helper()
		for _, e := range b.net.since(mark) {
			if strings.HasPrefix(e, "GET /settings/security") {
				t.Errorf("the page was loaded again (%s): it must turn by itself", e)
			}
		}
	}

	// The tab comes back after the end.
	mark := b.net.mark()
	b.skewPageClock(11 * time.Minute)
	b.recoveryEndedShown(until)
	if focused, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.activeElement.id`)); err != nil || focused != "recovery-ended" {
		t.Errorf("focus on #%s (%v), want the ended state, in place of the buttons that went", focused, err)
	}
	noReload(mark)

	// The page is open as the window ends: its own timer turns it, with no event at all.
	clock.stopAt(until.Add(-5 * time.Second))
	mark = b.net.mark()
	b.step("five seconds before the end", chromedp.Navigate(b.origin+"/settings/security"), chromedp.WaitReady(chromedp.ID("security")))
	b.net.waitFor(t, mark, "GET /settings/security 200")
	mark = b.net.mark()
	// At the end, not at the next of the page's 15-second ticks.
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("recovery-ended")))
	cancel()
	if err != nil {
		t.Fatalf("the page had not turned ten seconds after it was loaded five seconds before the end: %v", err)
	}
	b.recoveryEndedShown(until)
	noReload(mark)

	// The server ended the session (the window ended, or an operator closed it) while the page
	// still counts: the refusal of the create button turns the page.
	clock.stopAt(time.Time{})
	b.step("the page, live again", chromedp.Navigate(b.origin+"/settings/security"), chromedp.WaitVisible(chromedp.ID("passkey-create")))
	clock.stopAt(until.Add(time.Second))
	mark = b.net.mark()
	b.step("create after the end", chromedp.Click(chromedp.ID("passkey-create")))
	b.net.waitFor(t, mark, "POST /api/v1/passkeys/register/begin 401")
	b.recoveryEndedShown(until)

	// Loaded after the end, the page has no session to show: the server sends the browser to
	// the login page, which says the same.
	mark = b.net.mark()
	b.step("reload after the end", chromedp.Navigate(b.origin+"/settings/security"), chromedp.WaitVisible(chromedp.ID("passkey-login")))
	b.net.waitFor(t, mark, "GET /settings/security 303")
	if got := b.location(); got != "/login" {
		t.Errorf("after the end the browser is at %s, want /login", got)
	}
	if a := b.sessionAssurance(); a != "" {
		t.Errorf("a %q session after the window's end", a)
	}
	b.recoveryEndedShown(until)
}
