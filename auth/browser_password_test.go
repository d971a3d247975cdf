package auth

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
)

// The customer changes the password on the settings page: each refusal and the change itself
// are told by the form, on the screen; the page's session stays, the others end, and the new
// password is the one that logs in.
func TestBrowserPasswordChange(t *testing.T) {
	t.Parallel()
	for _, sc := range screens {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			b := newBrowserEnv(t)
			acct := b.addAccount(demoAccount)
			other := b.loggedIn(acct, AssurancePassword)
			b.useScreen(sc)
			b.passwordLogin()
			const next = "a brand new secret"
			fill := func(name, current, newPassword, confirm string) {
				t.Helper()
				b.step(name,
					chromedp.SetValue(chromedp.ID("current-password"), current),
					chromedp.SetValue(chromedp.ID("new-password"), newPassword),
					chromedp.SetValue(chromedp.ID("confirm-password"), confirm),
					chromedp.Click(chromedp.ID("password-change-submit")),
				)
			}
			// waitSays waits until the form's message says want, and returns it as shown.
			waitSays := func(want string) shownMsg {
				t.Helper()
				b.step("the form says "+want, chromedp.PollFunction[chromedp.Void](
					`(want) => document.getElementById('password-change-msg').textContent === want`, chromedp.WithPollingArgs(want)))
				m := b.waitMsgShown("password-change-msg")
				// The form is below the first screen: the message is scrolled into view, its
				// bottom on the screen's edge give or take a fraction of a pixel.
				if m.Role != "alert" || !m.Focused || m.Top < 0 || m.Bottom > m.InnerHeight+1 {
					t.Errorf("%q: %+v, want it on the screen, announced and focused", want, m)
				}
				return m
			}
			b.step("the form", chromedp.ScrollIntoView(chromedp.ID("password-change-form")))

			fill("new passwords apart", demoAccount.Password, next, next+"!")
			waitSays(passwordFormText.Mismatch)
			fill("wrong current password", "not my password", next, next)
			waitSays(msgCurrentPasswordWrong)
			fill("too short", demoAccount.Password, "short", "short")
			waitSays(msgPasswordLength)
			if !b.sessionAlive(other) {
				t.Fatal("a refused change ended another session")
			}

			fill("the change", demoAccount.Password, next, next)
			waitSays(passwordFormText.Done)
			ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.getElementById('password-change-msg').classList.contains('ok') &&
				['current-password', 'new-password', 'confirm-password'].every((id) => document.getElementById(id).value === '')`))
			if err != nil || !ok {
				t.Errorf("after the change the message is not shown as a success or the fields keep the passwords (%v)", err)
			}
			b.noSidewaysScroll(sc.width)

			if a := b.sessionAssurance(); a != string(AssurancePassword) {
				t.Errorf("the page's session after the change: %q, want it kept", a)
			}
			if b.sessionAlive(other) {
				t.Error("another session outlived the change")
			}
			if status, _ := b.testEnv.passwordLogin(b.browser(), demoAccount.LoginID, demoAccount.Password); status != http.StatusUnauthorized {
				t.Errorf("the old password logs in: %d", status)
			}
			if status, body := b.testEnv.passwordLogin(b.browser(), demoAccount.LoginID, next); status != http.StatusOK {
				t.Errorf("the new password: %d %v", status, body)
			}
		})
	}
}
