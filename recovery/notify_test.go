package recovery

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"kagi/auth"
	"kagi/notify"
	"kagi/notify/notifytest"
)

// A window opened by anyone is told to the customer by email and by SMS to every registered
// phone that can take a text (§7, §4.9): whoever opened it may not be them. The registered
// landline gets no text that would only fail.
func TestWindowOpenedIsToldByEmailAndEveryMobile(t *testing.T) {
	t.Parallel()
	for _, via := range []Channel{ChannelIVR, ChannelOperator} {
		t.Run(string(via), func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			acct, err := e.auth.CreateAccount(context.Background(), auth.NewAccount{
				LoginID: "hanako", Password: testPassword, AccountNumber: "7654321", PIN: "1234",
				Phones: []string{"+819012345678", "+81312345678"}, Email: "hanako@example.jp", Name: "佐藤 花子",
			})
			if err != nil {
				t.Fatal(err)
			}
			e.addPasskey(acct.ID)
			w := e.open(acct.ID, via, "staff:suzuki", "本人確認済み")
			msgs := notifytest.Messages(t, e.pool, acct.ID)
			var to []string
			for _, m := range msgs {
				if m.Event.Kind != notify.KindWindowOpened || m.Event.Channel != string(via) || !m.Event.Until.Equal(w.ExpiresAt) ||
					m.Event.Name != "佐藤 花子" || !m.Event.At.Equal(testStart) {
					t.Errorf("message %+v", m)
				}
				to = append(to, m.Channel+":"+m.To)
			}
			slices.Sort(to)
			want := []string{"email:hanako@example.jp", "sms:+819012345678"}
			if !slices.Equal(to, want) {
				t.Fatalf("told %v, want %v", to, want)
			}
		})
	}
}

// A password login through a window passes the email check too (§2.12), and then makes the
// recovery-only session, told to the customer as a window login.
func TestWindowLoginGoesThroughTheEmailCheck(t *testing.T) {
	t.Parallel()
	e := newTestEnvWithCore(t, func(c *auth.Config) { c.EmailCheck = true })
	acct := e.addPasskeyAccount("taro", "1234567")
	w := e.open(acct.ID, ChannelIVR, "ivr:CA01", "")
	c := e.browser()
	id, mailed := e.startEmailCheck(c, acct.ID, "taro")
	status, body, _ := e.do(c, "POST", "/api/v1/login/email-check", map[string]string{"id": id, "choice": mailed})
	if status != http.StatusOK || body["assurance"] != "password_fallback" || body["via_fallback_window"] != true {
		t.Fatalf("right pick: %d %v", status, body)
	}
	if exp, _ := time.Parse(time.RFC3339Nano, body["expires_at"].(string)); !exp.Equal(w.ExpiresAt) {
		t.Fatalf("the recovery session ends %v, not with its window at %v", exp, w.ExpiresAt)
	}
	if ws := e.windows(acct.ID); ws[0].UsedCount != 1 {
		t.Fatalf("window used %d times", ws[0].UsedCount)
	}
	kinds := notifytest.Kinds(t, e.pool, acct.ID)
	if !slices.Contains(kinds, "email:window_login") {
		t.Fatalf("queued %v", kinds)
	}
}

// A window that closes while the customer reads the mail lets no session in.
func TestWindowClosedDuringTheEmailCheckRefusesThePick(t *testing.T) {
	t.Parallel()
	e := newTestEnvWithCore(t, func(c *auth.Config) { c.EmailCheck = true })
	acct := e.addPasskeyAccount("taro", "1234567")
	e.open(acct.ID, ChannelIVR, "ivr:CA01", "")
	c := e.browser()
	id, mailed := e.startEmailCheck(c, acct.ID, "taro")
	if _, err := e.closeByStaff(context.Background(), acct.ID, "staff:suzuki", "お客様の依頼"); err != nil {
		t.Fatal(err)
	}
	status, body, _ := e.do(c, "POST", "/api/v1/login/email-check", map[string]string{"id": id, "choice": mailed})
	if status != http.StatusForbidden || body["error"] != "passkey_required" {
		t.Fatalf("pick after the window closed: %d %v", status, body)
	}
}

// startEmailCheck logs in with the password and returns the check's id and the mailed emoji.
func (e *testEnv) startEmailCheck(c *http.Client, accountID int64, loginID string) (id, mailed string) {
	e.t.Helper()
	status, body := e.passwordLogin(c, loginID)
	ec, ok := body["email_check"].(map[string]any)
	if status != http.StatusOK || !ok {
		e.t.Fatalf("password login: %d %v", status, body)
	}
	for _, m := range notifytest.Messages(e.t, e.pool, accountID) {
		if m.Event.Kind == notify.KindEmailCheck {
			mailed = m.Event.Emoji
		}
	}
	return ec["id"].(string), mailed
}

// The holder of an account the voice line locks out hears of it on both channels; a made-up
// account number tells nobody anything.
func TestVoiceLockoutIsTold(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addPasskeyAccount("taro", realNumber)
	for range 4 {
		e.expect("failure", e.verify(realNumber, strangerA, wrongPIN), VoiceFailed)
	}
	if got := notifytest.Kinds(t, e.pool, acct.ID); len(got) != 0 {
		t.Fatalf("failures before the lockout enqueued %v", got)
	}
	e.expect("5th failure", e.verify(realNumber, strangerA, wrongPIN), VoiceAccountLocked)
	want := []string{"email:voice_lockout", "sms:voice_lockout"}
	msgs := notifytest.Messages(t, e.pool, acct.ID)
	if got := notifytest.Kinds(t, e.pool, acct.ID); !slices.Equal(got, want) {
		t.Fatalf("queued %v, want %v", got, want)
	}
	if until := msgs[0].Event.Until; !until.Equal(testStart.Add(24 * time.Hour)) {
		t.Fatalf("lockout told until %v", until)
	}
	e.expect("refused while locked", e.verify(realNumber, ownPhone, rightPIN), VoiceAccountLocked)
	if got := notifytest.Kinds(t, e.pool, acct.ID); len(got) != len(want) {
		t.Fatalf("a refusal during the lockout enqueued more: %v", got)
	}
	for range 5 {
		e.verify(madeUpNumber, strangerB, wrongPIN)
	}
	if n := e.count(`SELECT count(*) FROM river_job`); n != len(want) {
		t.Fatalf("%d messages in the outbox after a made-up number's lockout, want %d", n, len(want))
	}
}
