package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"kagi/notify"
	"kagi/notify/notifytest"
	"kagi/pgdb"
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
	return id, choices, e.mailedEmoji(acct)
}

// mailedEmoji is the emoji of the last email check mailed to acct.
func (e *testEnv) mailedEmoji(acct Account) string {
	e.t.Helper()
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
	return last.Event.Emoji
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

func TestEmailCheckOneWrongPickEndsIt(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withEmailCheck)
	acct := e.addAccount(demoAccount)
	c := e.browser()
	id, choices, mailed := e.startCheck(c, acct, demoAccount.Password)
	status, body := e.pick(c, id, wrongOf(choices, mailed))
	if status != http.StatusUnauthorized || body["error"] != "wrong_choice" || body["message"] != msgEmailCheckWrong {
		t.Fatalf("wrong pick: %d %v", status, body)
	}
	// The check is over: any later pick of it, the mailed emoji too, is too late.
	for _, choice := range []string{wrongOf(choices, mailed), mailed} {
		if status, body := e.pick(c, id, choice); status != http.StatusGone || body["error"] != "expired" {
			t.Fatalf("pick %q after a wrong one: %d %v", choice, status, body)
		}
	}
	if status, _ := e.do(c, "GET", "/api/v1/session", nil); status != http.StatusUnauthorized {
		t.Fatal("a session exists after a wrong pick")
	}
	// A new password login starts a new check, and its right pick logs in.
	id, _, mailed = e.startCheck(c, acct, demoAccount.Password)
	if status, body := e.pick(c, id, mailed); status != http.StatusOK {
		t.Fatalf("right pick of a new check: %d %v", status, body)
	}
}

// The emoji is kept only as a keyed hash (§7): the table does not tell which of the nine it is.
func TestEmailCheckAnswerIsStoredOnlyAsAKeyedHash(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withEmailCheck)
	acct := e.addAccount(demoAccount)
	_, _, mailed := e.startCheck(e.browser(), acct, demoAccount.Password)
	var row string
	if err := e.svc.pool.QueryRow(context.Background(), `SELECT to_jsonb(c)::text FROM email_checks c WHERE account_id = $1`, acct.ID).Scan(&row); err != nil {
		t.Fatal(err)
	}
	var stored map[string]any
	if err := json.Unmarshal([]byte(row), &stored); err != nil {
		t.Fatal(err)
	}
	for col, v := range stored {
		if col == "choices" {
			continue
		}
		if s, ok := v.(string); ok && strings.Contains(s, mailed) {
			t.Errorf("column %s holds the mailed emoji: %q", col, s)
		}
	}
	if _, ok := stored["answer_hash"]; !ok {
		t.Fatalf("no answer_hash column in %v", stored)
	}
	// A hash of the same emoji under another key, or for another check, differs: nothing in the
	// row can be tried without the server's secret.
	other := &Service{checkKey: checkKeyFrom([]byte("another secret, not the server's"))}
	if bytes.Equal(other.answerHash([]byte("id"), mailed), e.svc.answerHash([]byte("id"), mailed)) {
		t.Fatal("the answer's hash does not depend on the key")
	}
}

// The right password that starts a check is no failure of the login ID (§2.12): a customer who
// starts check after check is never locked out by the throttle.
func TestRightPasswordThatStartsACheckIsNoFailure(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withEmailCheck)
	acct := e.addAccount(demoAccount)
	c := e.browser()
	for i := range DefaultThrottle.Max + 3 {
		status, body := e.passwordLogin(c, acct.LoginID, demoAccount.Password)
		if status != http.StatusOK || body["email_check"] == nil {
			t.Fatalf("right password %d: %d %v", i+1, status, body)
		}
	}
	id, _, mailed := e.startCheck(c, acct, demoAccount.Password)
	if status, body := e.pick(c, id, mailed); status != http.StatusOK {
		t.Fatalf("right pick: %d %v", status, body)
	}
}

// A right pick is refused while the login ID is throttled: someone who guessed passwords until
// the lockout cannot finish a check meanwhile.
func TestRightPickRefusedWhileTheLoginIDIsThrottled(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withEmailCheck)
	acct := e.addAccount(demoAccount)
	c := e.browser()
	id, _, mailed := e.startCheck(c, acct, demoAccount.Password)
	for range DefaultThrottle.Max + 1 {
		e.passwordLogin(e.browser(), acct.LoginID, "wrong password!")
	}
	if status, body := e.pick(c, id, mailed); status != http.StatusTooManyRequests || body["error"] != "rate_limited" {
		t.Fatalf("right pick while throttled: %d %v", status, body)
	}
	if status, _ := e.do(c, "GET", "/api/v1/session", nil); status != http.StatusUnauthorized {
		t.Fatal("a session exists")
	}
}

// failChecks fails n checks of acct with one wrong pick each, from a new browser each time.
func (e *testEnv) failChecks(acct Account, n int) {
	e.t.Helper()
	for i := range n {
		c := e.browser()
		id, choices, mailed := e.startCheck(c, acct, demoAccount.Password)
		if status, body := e.pick(c, id, wrongOf(choices, mailed)); status != http.StatusUnauthorized {
			e.t.Fatalf("wrong pick %d: %d %v", i+1, status, body)
		}
	}
}

// Three failed checks of one account within 24 h, from any address or device, pause its password
// login (§2.12): a right and a wrong password get the same 403 password_paused naming the voice
// line, told by mail and SMS, until 24 h after the third failure.
func TestThreeFailedChecksPausePasswordLogin(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withEmailCheck, func(c *Config) { c.Support = fixedDesk{VoiceLine: "0120-000-000"} })
	acct := e.addAccount(demoAccount)
	e.failChecks(acct, 2)
	e.clock.Advance(23 * time.Hour)
	e.failChecks(acct, 1)
	third := e.clock.Now()

	c := e.browser()
	sRight, right := e.passwordLogin(c, acct.LoginID, demoAccount.Password)
	sWrong, wrong := e.passwordLogin(c, acct.LoginID, "wrong password!")
	if sRight != http.StatusForbidden || right["error"] != "password_paused" {
		t.Fatalf("right password while paused: %d %v", sRight, right)
	}
	if sWrong != sRight || !reflect.DeepEqual(right, wrong) {
		t.Fatalf("a wrong password is answered apart: %d %v against %d %v", sWrong, wrong, sRight, right)
	}
	if msg, _ := right["message"].(string); !strings.Contains(msg, "0120-000-000") || !strings.Contains(msg, "自動音声ダイヤル") {
		t.Fatalf("the pause's message does not name the voice line: %q", msg)
	}
	var told []string
	for _, m := range e.queuedMessages(acct.ID) {
		if m.Event.Kind == notify.KindPasswordPaused {
			told = append(told, m.Channel)
			if !m.Event.Until.Equal(third.Add(24 * time.Hour)) {
				t.Errorf("the pause is told to end at %v, want %v", m.Event.Until, third.Add(24*time.Hour))
			}
		}
	}
	if !slices.Contains(told, "email") || !slices.Contains(told, "sms") {
		t.Fatalf("the pause was told by %v, want email and sms", told)
	}
	if !slices.Contains(e.auditEvents(acct.ID), "password_paused") {
		t.Fatal("the pause is not audited")
	}

	// Passkey login is not paused, and the pause ends 24 h after the third failure.
	e.clock.Advance(24*time.Hour - time.Second)
	if status, body := e.passwordLogin(c, acct.LoginID, demoAccount.Password); status != http.StatusForbidden {
		t.Fatalf("a second before the end: %d %v", status, body)
	}
	e.clock.Advance(time.Second)
	id, _, mailed := e.startCheck(c, acct, demoAccount.Password)
	if status, body := e.pick(c, id, mailed); status != http.StatusOK {
		t.Fatalf("after the pause: %d %v", status, body)
	}
}

// Failed checks older than 24 h do not count toward the pause.
func TestFailedChecksOfMoreThanADayAgoDoNotPause(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withEmailCheck)
	acct := e.addAccount(demoAccount)
	e.failChecks(acct, 2)
	e.clock.Advance(24*time.Hour + time.Second)
	e.failChecks(acct, 1)
	if _, body := e.passwordLogin(e.browser(), acct.LoginID, demoAccount.Password); body["email_check"] == nil {
		t.Fatalf("two failures in the last day paused the password: %v", body)
	}
}

// A verified call or a supervisor lifts the pause early (LiftPasswordPause), and the count
// starts again.
func TestLiftPasswordPause(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withEmailCheck)
	acct := e.addAccount(demoAccount)
	ctx := context.Background()
	lift := func() bool {
		var lifted bool
		err := pgdb.InTx(ctx, e.svc.pool, func(tx pgx.Tx) error {
			var err error
			lifted, err = LiftPasswordPause(ctx, tx, acct.ID, "ivr", e.clock.Now())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return lifted
	}
	if lift() {
		t.Fatal("an account without a pause was lifted")
	}
	e.failChecks(acct, 3)
	if until, err := PasswordPaused(ctx, e.svc.pool, acct.ID, e.clock.Now()); err != nil || until.IsZero() {
		t.Fatalf("PasswordPaused: %v %v", until, err)
	}
	if !lift() {
		t.Fatal("the pause was not lifted")
	}
	if until, err := PasswordPaused(ctx, e.svc.pool, acct.ID, e.clock.Now()); err != nil || !until.IsZero() {
		t.Fatalf("PasswordPaused after the lift: %v %v", until, err)
	}
	// The count starts again: two more failures do not pause (past the login ID's throttle
	// period, which counted the first three).
	e.clock.Advance(DefaultThrottle.Window)
	e.failChecks(acct, 2)
	if _, body := e.passwordLogin(e.browser(), acct.LoginID, demoAccount.Password); body["email_check"] == nil {
		t.Fatalf("after the lift, two failures paused again: %v", body)
	}
	if !slices.Contains(e.auditEvents(acct.ID), "password_pause_lifted") {
		t.Fatal("the lift is not audited")
	}
}

// What an attacker who knows the password gains (§2.12): one guess per check, so at most 1/9 a
// check, and at most three failed checks a day. The attacker here always picks the first emoji
// shown; the measured rate is reported for the figures.
func TestEmailCheckAttackerSuccessRate(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withEmailCheck)
	acct := e.addAccount(demoAccount)
	const days = 100
	var checks, wins, refusedWhilePaused int
	for range days {
		failedToday := 0
		for {
			c := e.browser()
			status, body := e.passwordLogin(c, acct.LoginID, demoAccount.Password)
			if status == http.StatusForbidden && body["error"] == "password_paused" {
				refusedWhilePaused++
				break
			}
			if status != http.StatusOK || body["email_check"] == nil {
				t.Fatalf("password login: %d %v", status, body)
			}
			ec := body["email_check"].(map[string]any)
			id, first := ec["id"].(string), ec["choices"].([]any)[0].(string)
			checks++
			status, _ = e.pick(c, id, first)
			if status == http.StatusOK {
				wins++
				continue
			}
			// A second guess at the same check is always too late.
			if status, _ := e.pick(c, id, ec["choices"].([]any)[1].(string)); status != http.StatusGone {
				t.Fatalf("a second guess at one check answered %d", status)
			}
			failedToday++
			if failedToday > pauseAfter {
				t.Fatalf("%d failed checks in one day", failedToday)
			}
		}
		if failedToday != pauseAfter {
			t.Fatalf("the day ended after %d failed checks, want %d", failedToday, pauseAfter)
		}
		e.clock.Advance(24 * time.Hour)
	}
	rate := float64(wins) / float64(checks)
	t.Logf("attacker: %d checks, %d logins (%.3f a check, 1/9 = %.3f), %.2f checks and %.2f logins a day",
		checks, wins, rate, 1.0/9, float64(checks)/days, float64(wins)/days)
	// Binomial(checks, 1/9): four standard deviations above 1/9 is far beyond chance.
	if sd := math.Sqrt((1.0 / 9) * (8.0 / 9) / float64(checks)); rate > 1.0/9+4*sd {
		t.Fatalf("the attacker won %.3f of the checks, more than 1/9", rate)
	}
	if refusedWhilePaused != days {
		t.Fatalf("%d days ended in a pause, want %d", refusedWhilePaused, days)
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
	// Two wrong passwords and two wrong picks: four failures of the five the throttle allows
	// (the right passwords that started the checks are none).
	for range 2 {
		e.passwordLogin(c, acct.LoginID, "wrong password!")
	}
	e.failChecks(acct, 2)
	if status, body := e.passwordLogin(c, acct.LoginID, "wrong password!"); status != http.StatusUnauthorized {
		t.Fatalf("the fifth failure: %d %v", status, body)
	}
	if status, body := e.passwordLogin(c, acct.LoginID, demoAccount.Password); status != http.StatusTooManyRequests || body["error"] != "rate_limited" {
		t.Fatalf("password login after five failures: %d %v", status, body)
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
		{"a pick of the check that ended", `{"id":"` + id + `","choice":"🍎"}`, http.StatusGone},
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
