package auth

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"kagi/notify"
	"kagi/notify/notifytest"
)

// withEmailCheck turns the email check of §2.12 on.
func withEmailCheck(c *Config) { c.EmailCheck = true }

// startCheck logs in with the password and returns the check the server answered with and the
// emoji it mailed.
func (e *testEnv) startCheck(c *http.Client, acct Account, password string) (id string, choices []string, mailed string) {
	e.t.Helper()
	status, body := e.passwordLogin(c, acct.LoginID, password)
	if status != http.StatusOK {
		e.t.Fatalf("password login: %d %v", status, body)
	}
	ec, ok := body["email_check"].(map[string]any)
	if !ok {
		e.t.Fatalf("password login answered %v, want an email check", body)
	}
	id, _ = ec["id"].(string)
	for _, c := range ec["choices"].([]any) {
		choices = append(choices, c.(string))
	}
	var last *notifytest.Queued
	for _, m := range e.queuedMessages(acct.ID) {
		if m.Event.Kind == notify.KindEmailCheck {
			last = &m
		}
	}
	if last == nil {
		e.t.Fatal("no email check mail was enqueued")
	}
	if last.To != acct.Email {
		e.t.Fatalf("email check mailed to %q, want %q", last.To, acct.Email)
	}
	return id, choices, last.Event.Emoji
}

func (e *testEnv) pick(c *http.Client, id, choice string) (int, map[string]any) {
	e.t.Helper()
	return e.do(c, "POST", "/api/v1/login/email-check", map[string]string{"id": id, "choice": choice})
}

// wrongOf returns a choice that is not the mailed one.
func wrongOf(choices []string, mailed string) string {
	for _, c := range choices {
		if c != mailed {
			return c
		}
	}
	return ""
}

func TestEmailCheckRightPickLogsIn(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withEmailCheck)
	acct := e.addAccount(demoAccount)
	c := e.browser()
	id, choices, mailed := e.startCheck(c, acct, demoAccount.Password)
	if len(choices) != 9 || !slices.Contains(choices, mailed) {
		t.Fatalf("choices %v must be nine and hold the mailed %q", choices, mailed)
	}
	if distinct := len(slices.Compact(slices.Sorted(slices.Values(choices)))); distinct != 9 {
		t.Fatalf("choices %v are not nine different emoji", choices)
	}
	if status, _ := e.do(c, "GET", "/api/v1/session", nil); status != http.StatusUnauthorized {
		t.Fatalf("before the pick the browser already has a session (%d)", status)
	}
	status, body := e.pick(c, id, mailed)
	if status != http.StatusOK || body["assurance"] != "password" || body["via_fallback_window"] != false {
		t.Fatalf("right pick: %d %v", status, body)
	}
	if status, body := e.do(c, "GET", "/api/v1/session", nil); status != http.StatusOK || body["assurance"] != "password" {
		t.Fatalf("session after the pick: %d %v", status, body)
	}
	// The check is single use.
	if status, body := e.pick(c, id, mailed); status != http.StatusGone || body["error"] != "expired" {
		t.Fatalf("second use of the check: %d %v", status, body)
	}
	events := e.auditEvents(acct.ID)
	if !slices.Contains(events, "email_check_started") || events[len(events)-1] != "login_succeeded" {
		t.Fatalf("audit trail %v", events)
	}
}

func TestEmailCheckWrongPicksCountDown(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withEmailCheck)
	acct := e.addAccount(demoAccount)
	c := e.browser()
	id, choices, mailed := e.startCheck(c, acct, demoAccount.Password)
	wrong := wrongOf(choices, mailed)
	for _, left := range []float64{2, 1} {
		status, body := e.pick(c, id, wrong)
		if status != http.StatusUnauthorized || body["error"] != "wrong_choice" || body["attempts_left"] != left {
			t.Fatalf("wrong pick with %v left: %d %v", left, status, body)
		}
		if msg, _ := body["message"].(string); !utf8.ValidString(msg) || msg == "" {
			t.Fatalf("wrong pick message %q", msg)
		}
	}
	if status, body := e.pick(c, id, wrong); status != http.StatusGone || body["error"] != "expired" {
		t.Fatalf("third wrong pick: %d %v", status, body)
	}
	// The attempt is over: even the mailed emoji no longer logs in.
	if status, body := e.pick(c, id, mailed); status != http.StatusGone {
		t.Fatalf("right pick after three wrong ones: %d %v", status, body)
	}
	if status, _ := e.do(c, "GET", "/api/v1/session", nil); status != http.StatusUnauthorized {
		t.Fatal("a session exists after three wrong picks")
	}
}

func TestEmailCheckExpiresAfterFiveMinutes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		after time.Duration
		want  int
	}{
		{"a pick at 4m59s logs in", 5*time.Minute - time.Second, http.StatusOK},
		{"a pick at 5m is too late", 5 * time.Minute, http.StatusGone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, withEmailCheck)
			acct := e.addAccount(demoAccount)
			c := e.browser()
			id, _, mailed := e.startCheck(c, acct, demoAccount.Password)
			e.clock.Advance(tc.after)
			if status, body := e.pick(c, id, mailed); status != tc.want {
				t.Fatalf("pick: %d %v, want %d", status, body, tc.want)
			}
		})
	}
}

func TestEmailCheckANewLoginInvalidatesTheEarlierCheck(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withEmailCheck)
	acct := e.addAccount(demoAccount)
	first, second := e.browser(), e.browser()
	id1, _, mailed1 := e.startCheck(first, acct, demoAccount.Password)
	id2, _, mailed2 := e.startCheck(second, acct, demoAccount.Password)
	if status, body := e.pick(first, id1, mailed1); status != http.StatusGone {
		t.Fatalf("the earlier check still answers: %d %v", status, body)
	}
	if status, body := e.pick(second, id2, mailed2); status != http.StatusOK {
		t.Fatalf("the newer check: %d %v", status, body)
	}
}

func TestEmailCheckWrongPicksCountTowardTheThrottle(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withEmailCheck)
	acct := e.addAccount(demoAccount)
	c := e.browser()
	// One attempt for the password, three wrong picks: four of the five the throttle allows.
	id, choices, mailed := e.startCheck(c, acct, demoAccount.Password)
	for range 3 {
		e.pick(c, id, wrongOf(choices, mailed))
	}
	// The fifth attempt is the password again; its first wrong pick is one too many.
	id, choices, mailed = e.startCheck(c, acct, demoAccount.Password)
	if status, body := e.pick(c, id, wrongOf(choices, mailed)); status != http.StatusTooManyRequests || body["error"] != "rate_limited" {
		t.Fatalf("wrong pick over the limit: %d %v", status, body)
	}
	if status, body := e.passwordLogin(c, acct.LoginID, demoAccount.Password); status != http.StatusTooManyRequests {
		t.Fatalf("password login while locked out: %d %v", status, body)
	}
}

func TestEmailCheckBadInput(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withEmailCheck)
	acct := e.addAccount(demoAccount)
	c := e.browser()
	id, _, _ := e.startCheck(c, acct, demoAccount.Password)
	for _, tc := range []struct {
		name string
		body string
		want int
	}{
		{"not JSON", `{"id":`, http.StatusBadRequest},
		{"no choice", `{"id":"` + id + `"}`, http.StatusBadRequest},
		{"huge choice", `{"id":"` + id + `","choice":"` + strings.Repeat("a", 100) + `"}`, http.StatusBadRequest},
		{"garbage id", `{"id":"../../etc","choice":"🍎"}`, http.StatusGone},
		{"unknown id", `{"id":"AAAAAAAAAAAAAAAAAAAAAAAA","choice":"🍎"}`, http.StatusGone},
		{"id of wrong type", `{"id":7,"choice":"🍎"}`, http.StatusBadRequest},
		{"invalid UTF-8 choice", "{\"id\":\"" + id + "\",\"choice\":\"\xff\"}", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.doRaw(c, "POST", "/api/v1/login/email-check", []byte(tc.body))
			if status != tc.want || body["error"] == nil || body["message"] == "" {
				t.Fatalf("%d %v, want %d with a JSON error", status, body, tc.want)
			}
		})
	}
}

func TestEmailCheckOffLogsInAtOnce(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addAccount(demoAccount)
	status, body := e.passwordLogin(e.browser(), acct.LoginID, demoAccount.Password)
	if status != http.StatusOK || body["email_check"] != nil || body["assurance"] != "password" {
		t.Fatalf("KAGI_EMAIL_CHECK=off: %d %v", status, body)
	}
	for _, k := range e.queuedKinds(acct.ID) {
		if k == "email:email_check" {
			t.Fatal("an email check was mailed with the check off")
		}
	}
}

func TestDrawEmoji(t *testing.T) {
	t.Parallel()
	if len(emojiPool) < 30 {
		t.Fatalf("the pool has %d emoji, want at least 30", len(emojiPool))
	}
	seen := map[string]bool{}
	for _, e := range emojiPool {
		if utf8.RuneCountInString(e) != 1 {
			t.Errorf("%q is not a single code point (no variation selector, skin tone or joiner)", e)
		}
		if seen[e] {
			t.Errorf("%q is in the pool twice", e)
		}
		seen[e] = true
	}
	answers := map[string]int{}
	for range 2000 {
		choices, answer := drawEmoji()
		if len(choices) != 9 || !slices.Contains(choices, answer) {
			t.Fatalf("draw %v / %q", choices, answer)
		}
		if len(slices.Compact(slices.Sorted(slices.Values(choices)))) != 9 {
			t.Fatalf("draw %v repeats an emoji", choices)
		}
		answers[answer]++
	}
	// Every emoji of the pool comes up as the answer: the draw covers the whole pool.
	if len(answers) != len(emojiPool) {
		t.Fatalf("2000 draws answered with %d of %d emoji", len(answers), len(emojiPool))
	}
}

func TestLoginNotices(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{true, false} {
		name := map[bool]string{true: "on", false: "off"}[on]
		t.Run("KAGI_LOGIN_NOTICE="+name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, func(c *Config) { c.LoginNotice = on })
			acct := e.addAccount(demoAccount)
			if status, body := e.passwordLogin(e.browser(), acct.LoginID, demoAccount.Password); status != http.StatusOK {
				t.Fatalf("login: %d %v", status, body)
			}
			got := e.queuedKinds(acct.ID)
			if on != slices.Equal(got, []string{"email:login"}) || (!on && len(got) != 0) {
				t.Fatalf("queued %v", got)
			}
			if on {
				m := e.queuedMessages(acct.ID)[0]
				if m.Event.Method != "password" || m.Event.Name != demoAccount.Name || !m.Event.At.Equal(e.clock.Now()) {
					t.Fatalf("login notice %+v", m.Event)
				}
			}
		})
	}
}

func TestFailedLoginsNotifyNobody(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.LoginNotice = true })
	acct := e.addAccount(demoAccount)
	e.passwordLogin(e.browser(), acct.LoginID, "wrong password!")
	if got := e.queuedKinds(acct.ID); len(got) != 0 {
		t.Fatalf("a failed login enqueued %v", got)
	}
}
