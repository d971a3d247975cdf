package auth

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"

	"kagi/notify"
)

// The phone the email check is tried on: an iPhone's screen (390×844 CSS px, three device
// pixels to one), held upright, with touch.
const phoneWidth, phoneHeight = 390, 844

// minTap is the smallest target a finger hits reliably (Apple's Human Interface Guidelines:
// 44×44 pt).
const minTap = 44

// usePhone makes the browser a phone: its layout viewport, its pixel ratio and touch input.
func (b *browserEnv) usePhone() {
	b.t.Helper()
	b.step("phone screen", chromedp.EmulateViewport(phoneWidth, phoneHeight,
		chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(3)))
}

// emojiButton is one of the email check's buttons as the page lays it out, in CSS px.
type emojiButton struct {
	Text   string  `json:"text"`
	Left   float64 `json:"left"`
	Right  float64 `json:"right"`
	Top    float64 `json:"top"`
	Width  float64 `json:"width"`
	Height float64 `json:"height"`
}

// emojiButtons lists the email check's buttons in page order.
func (b *browserEnv) emojiButtons() []emojiButton {
	b.t.Helper()
	buttons, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]emojiButton](`
		[...document.querySelectorAll('#emoji-choices button.emoji')].map((el) => {
			const r = el.getBoundingClientRect();
			return {text: el.textContent, left: r.left, right: r.right, top: r.top, width: r.width, height: r.height};
		})`))
	if err != nil {
		b.t.Fatalf("read the emoji buttons: %v", err)
	}
	return buttons
}

// startEmailCheckOnPage logs in with the login ID and password on the login page, with the
// email check on, and waits for the nine emoji to replace the form.
func (b *browserEnv) startEmailCheckOnPage() {
	b.t.Helper()
	b.step("password login up to the email check",
		chromedp.Navigate(b.origin+"/login"),
		chromedp.WaitVisible(chromedp.ID("passkey-login")),
		chromedp.SendKeys(chromedp.ID("login-id"), demoAccount.LoginID),
		chromedp.SendKeys(chromedp.ID("password"), demoAccount.Password),
		chromedp.Tap(chromedp.ID("password-login")),
		chromedp.WaitVisible(chromedp.ID("email-check")),
		chromedp.WaitNotVisible(chromedp.ID("password-form")),
	)
}

// emailCheckOnPage returns the emoji the page shows, in order, and the one kagi mailed last.
func (b *browserEnv) emailCheckOnPage(acct Account) (shown []string, mailed string) {
	b.t.Helper()
	for _, btn := range b.emojiButtons() {
		shown = append(shown, btn.Text)
	}
	var found bool
	for _, m := range b.queuedMessages(acct.ID) {
		if m.Event.Kind == notify.KindEmailCheck {
			mailed, found = m.Event.Emoji, true
		}
	}
	if !found {
		b.t.Fatal("no email check mail was enqueued")
	}
	return shown, mailed
}

// tapEmoji taps the button that shows emoji.
func (b *browserEnv) tapEmoji(emoji string) {
	b.t.Helper()
	var at int
	for i, btn := range b.emojiButtons() {
		if btn.Text == emoji {
			at = i + 1
		}
	}
	if at == 0 {
		b.t.Fatalf("no button shows %q", emoji)
	}
	sel := chromedp.CSS(fmt.Sprintf("#emoji-choices button.emoji:nth-child(%d)", at))
	b.step("tap "+emoji, chromedp.WaitEnabled(sel), chromedp.Tap(sel))
}

// waitMsg waits until the message element id shows want, and checks that the customer sees it
// where the page is: a phone shows no more than its screen.
func (b *browserEnv) waitMsg(id, want string) {
	b.t.Helper()
	b.step("#"+id+" "+want, chromedp.PollFunction[chromedp.Void](
		`(id, want) => { const s = document.getElementById(id); return !s.hidden && s.textContent === want; }`,
		chromedp.WithPollingArgs(id, want)))
	onScreen, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
		const r = document.getElementById(%q).getBoundingClientRect();
		return r.top >= 0 && r.bottom <= innerHeight;
	})()`, id)))
	if err != nil || !onScreen {
		b.t.Errorf("the message %q is off the screen (%v): the customer sees nothing happen", want, err)
	}
}

func TestBrowserEmailCheck(t *testing.T) {
	t.Parallel()
	t.Run("the nine shown fit the phone, and the mailed one logs in", func(t *testing.T) {
		t.Parallel()
		b := newBrowserEnv(t, withEmailCheck)
		acct := b.addAccount(demoAccount)
		b.usePhone()
		b.startEmailCheckOnPage()
		shown, mailed := b.emailCheckOnPage(acct)

		var stored []string
		err := b.svc.pool.QueryRow(context.Background(),
			`SELECT choices FROM email_checks WHERE account_id = $1`, acct.ID).Scan(&stored)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(slices.Sorted(slices.Values(shown)), slices.Sorted(slices.Values(stored))) {
			t.Errorf("the page shows %q, the server stored %q", shown, stored)
		}
		if len(slices.Compact(slices.Sorted(slices.Values(shown)))) != 9 {
			t.Errorf("the page shows %q, want nine different emoji", shown)
		}
		if !slices.Contains(shown, mailed) {
			t.Errorf("mailed %q is not among the emoji shown %q", mailed, shown)
		}
		for _, btn := range b.emojiButtons() {
			if btn.Width < minTap || btn.Height < minTap {
				t.Errorf("button %q is %.0f×%.0f px, too small to tap (want %d×%d)", btn.Text, btn.Width, btn.Height, minTap, minTap)
			}
			if btn.Left < 0 || btn.Right > phoneWidth {
				t.Errorf("button %q spans %.0f–%.0f px, outside the %d px screen", btn.Text, btn.Left, btn.Right, phoneWidth)
			}
		}
		if w, err := chromedp.Run(b.ctx, chromedp.Evaluate[float64](`document.documentElement.scrollWidth`)); err != nil || w > phoneWidth {
			t.Errorf("page is %v px wide (%v): the customer must scroll sideways on a %d px screen", w, err, phoneWidth)
		}

		b.tapEmoji(mailed)
		b.step("logged in", chromedp.WaitVisible(chromedp.ID("security")))
		if got := b.location(); got != "/settings/security" {
			t.Errorf("after the right pick the browser is at %s", got)
		}
		if a := b.sessionAssurance(); a != "password" {
			t.Errorf("assurance after the email check = %q, want password", a)
		}
	})

	t.Run("a wrong pick ends the check and brings the login form back", func(t *testing.T) {
		t.Parallel()
		b := newBrowserEnv(t, withEmailCheck)
		acct := b.addAccount(demoAccount)
		b.usePhone()
		b.startEmailCheckOnPage()
		shown, mailed := b.emailCheckOnPage(acct)
		b.tapEmoji(wrongOf(shown, mailed))
		b.step("form back",
			chromedp.WaitVisible(chromedp.ID("password-form")),
			chromedp.WaitNotVisible(chromedp.ID("email-check")),
		)
		b.waitMsg("password-msg", msgEmailCheckWrong)
		if pw, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.ID("password"))); err != nil || pw != "" {
			t.Errorf("password field holds %q (%v), want it emptied", pw, err)
		}
		if a := b.sessionAssurance(); a != "" {
			t.Fatalf("a wrong pick made a %q session", a)
		}

		// The form works again: the password starts a new check, and its mailed emoji logs in.
		b.step("password again",
			chromedp.SendKeys(chromedp.ID("password"), demoAccount.Password),
			chromedp.Tap(chromedp.ID("password-login")),
			chromedp.WaitVisible(chromedp.ID("email-check")),
			chromedp.WaitNotVisible(chromedp.ID("password-form")),
		)
		_, mailed = b.emailCheckOnPage(acct)
		b.tapEmoji(mailed)
		b.step("logged in", chromedp.WaitVisible(chromedp.ID("security")))
		if a := b.sessionAssurance(); a != "password" {
			t.Errorf("assurance after the second check = %q, want password", a)
		}
	})
}
