package ivr

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"kagi/ivr/twiliosim"
	"kagi/notify"
	"kagi/recovery"
	"kagi/web/webtest"
)

// The second channel by text (§4.8), through twilio-go's Messaging client pointed at a local
// stand-in for Twilio's REST API.

const (
	testSID     = "AC0123456789abcdef0123456789abcdef"
	testSMSFrom = "+815012345678"
	twilioToken = "0123456789abcdef0123456789abcdef"
)

// textsSeen is what the Twilio stand-in was asked to send.
type textsSeen struct {
	got chan url.Values
}

func startTwilioMessages(t testing.TB) (*httptest.Server, *textsSeen) {
	t.Helper()
	seen := &textsSeen{got: make(chan url.Values, 32)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		if err := r.ParseForm(); err != nil || user != testSID || pass != twilioToken ||
			r.URL.Path != "/2010-04-01/Accounts/"+testSID+"/Messages.json" {
			t.Errorf("stand-in: %s %s as %q", r.Method, r.URL.Path, user)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		seen.got <- r.PostForm
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"}`))
	}))
	t.Cleanup(srv.Close)
	return srv, seen
}

// next returns the next text; none within a few seconds fails the test.
func (s *textsSeen) next(t testing.TB) url.Values {
	t.Helper()
	select {
	case f := <-s.got:
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no text was sent")
		return nil
	}
}

// none fails the test if a text was sent.
func (s *textsSeen) none(t testing.TB) {
	t.Helper()
	select {
	case f := <-s.got:
		t.Fatalf("a text was sent: %v", f)
	default:
	}
}

var codePattern = regexp.MustCompile(`[0-9]{6}`)

// codeOf reads the code out of a text, checking the text as the customer gets it.
func codeOf(t testing.TB, f url.Values) string {
	t.Helper()
	body := f.Get("Body")
	if f.Get("To") != regCaller || f.Get("From") != testSMSFrom || notify.ContainsLink(body) {
		t.Fatalf("text %v: want to the registered number, from KAGI_SMS_FROM, without a link", f)
	}
	code := codePattern.FindString(body)
	if code == "" {
		t.Fatalf("text %q holds no code", body)
	}
	return code
}

// newSMSLineEnv is a voice line with the SMS second factor; log, when set, receives its logs.
func newSMSLineEnv(t testing.TB, log *slog.Logger) (*lineEnv, *textsSeen) {
	t.Helper()
	srv, seen := startTwilioMessages(t)
	texter, err := notify.NewTwilioTexter(notify.TwilioConfig{AccountSID: testSID, AuthToken: twilioToken, From: testSMSFrom, APIURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	e := newLineEnvWith(t, func(c *recovery.Config) { c.SecondFactor = recovery.SecondFactorSMS }, func(c *HandlerConfig) {
		c.Texter = texter
		if log != nil {
			c.Log = log
		}
	})
	return e, seen
}

// upToTheCode plays a call from the registered number through the keyed checks, up to the line
// asking for the code.
func (e *lineEnv) upToTheCode(sid, number string) twiliosim.Turn {
	e.t.Helper()
	ctx := context.Background()
	turn, err := e.sim.Start(ctx, sid, regCaller)
	for _, keys := range []string{"1", number + "#", "1234"} {
		if err != nil {
			e.t.Fatal(err)
		}
		turn, err = e.sim.Press(ctx, sid, regCaller, turn, keys)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	if !strings.Contains(strings.Join(turn.Said, ""), promptCodeSent) || !turn.Waiting() {
		e.t.Fatalf("after the PIN the line said %q", turn.Said)
	}
	return turn
}

func (e *lineEnv) press(sid string, turn twiliosim.Turn, keys string) twiliosim.Turn {
	e.t.Helper()
	next, err := e.sim.Press(context.Background(), sid, regCaller, turn, keys)
	if err != nil {
		e.t.Fatal(err)
	}
	return next
}

func TestSMSCodeOpensTheWindow(t *testing.T) {
	t.Parallel()
	e, texts := newSMSLineEnv(t, nil)
	e.addCustomer("7654321", true)
	sid := twiliosim.NewCallSid()
	turn := e.upToTheCode(sid, "7654321")
	if n := e.count(`SELECT count(*) FROM fallback_windows`); n != 0 {
		t.Fatalf("a window opened before the phone confirmed (%d)", n)
	}
	code := codeOf(t, texts.next(t))
	turn = e.press(sid, turn, code)
	if got := strings.Join(turn.Said, ""); !strings.Contains(got, "確認コードを確認しました。30分間、午前10時30分まで、ログインIDとパスワード") || !turn.HungUp {
		t.Fatalf("after the code the line said %q", got)
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows WHERE closed_at IS NULL`); n != 1 {
		t.Fatalf("open windows %d, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE event = 'window_opened' AND detail->>'confirmed_by' = 'sms'`); n != 1 {
		t.Fatal("the window's audit does not say the SMS confirmed it")
	}
	if n := e.count(`SELECT count(*) FROM voice_codes`); n != 0 {
		t.Fatalf("the used code is still stored (%d)", n)
	}
}

// A caller who spoofs the registered number and knows the PIN, but does not hold the phone,
// never sees the text: whatever it keys opens nothing. Each wrong code is a failed verification
// and may be keyed again only within the call's attempts, so the call ends after three; the
// second call's second wrong code is the fifth failure, which locks the account.
func TestSpoofedCallerWithoutThePhoneIsLockedOut(t *testing.T) {
	t.Parallel()
	e, texts := newSMSLineEnv(t, nil)
	e.addCustomer("7654321", true)
	failures := 0
	for call := 1; call <= 2; call++ {
		sid := twiliosim.NewCallSid()
		turn := e.upToTheCode(sid, "7654321")
		// The caller guesses. (The stand-in's text is read only to make sure the guesses are
		// wrong: a spoofer has a one-in-a-million chance.)
		code := codeOf(t, texts.next(t))
		var guesses []string
		for _, g := range []string{"000000", "111111", "222222", "333333"} {
			if g != code && len(guesses) < MaxAttempts {
				guesses = append(guesses, g)
			}
		}
		for _, guess := range guesses {
			turn = e.press(sid, turn, guess)
			failures++
			got := strings.Join(turn.Said, "")
			switch {
			case failures == recovery.DefaultLockout.AccountMax:
				if !strings.Contains(got, promptLocked) || !turn.HungUp {
					t.Fatalf("failure %d said %q, want the lockout", failures, got)
				}
			case !turn.Waiting():
				if !strings.Contains(got, promptCodeWrong+promptTooMany) || !turn.HungUp {
					t.Fatalf("failure %d ended the call saying %q", failures, got)
				}
			case got != promptCodeWrong+promptCode:
				t.Fatalf("failure %d said %q, want the code asked for again", failures, got)
			}
			if !turn.Waiting() {
				break
			}
		}
		e.sim.End(context.Background(), sid, regCaller)
	}
	if failures != recovery.DefaultLockout.AccountMax {
		t.Fatalf("%d wrong codes keyed in two calls, want %d", failures, recovery.DefaultLockout.AccountMax)
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows`); n != 0 {
		t.Fatalf("a spoofed caller opened %d windows", n)
	}
	// Locked: even the right PIN from the registered number gets no further, and no text.
	turns := e.call(regCaller, "1", "7654321#", "1234")
	if got := said(turns); !strings.Contains(got, promptLocked) {
		t.Fatalf("after the lockout: %q", got)
	}
	texts.none(t)
}

// A mistyped code is keyed again on the same call: the code texted still opens the window, no
// second text is sent, and the wrong one was counted as a failed verification of the caller.
func TestWrongCodeMayBeKeyedAgain(t *testing.T) {
	t.Parallel()
	e, texts := newSMSLineEnv(t, nil)
	e.addCustomer("7654321", true)
	sid := twiliosim.NewCallSid()
	turn := e.upToTheCode(sid, "7654321")
	code := codeOf(t, texts.next(t))
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	turn = e.press(sid, turn, wrong)
	if got := strings.Join(turn.Said, ""); got != promptCodeWrong+promptCode || !turn.Waiting() {
		t.Fatalf("a wrong code said %q, want the code asked for again", got)
	}
	turn = e.press(sid, turn, code)
	if got := strings.Join(turn.Said, ""); !strings.Contains(got, "確認コードを確認しました。") || !turn.HungUp {
		t.Fatalf("the right code after a wrong one said %q", got)
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows WHERE closed_at IS NULL`); n != 1 {
		t.Fatalf("open windows %d, want 1", n)
	}
	texts.none(t)
	if n := e.count(`SELECT count(*) FROM audit_log WHERE event = 'voice_verification_failed' AND detail->>'reason' = 'wrong_code'`); n != 1 {
		t.Errorf("%d wrong codes audited, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM voice_failures WHERE subject_kind = 'caller'`); n != 1 {
		t.Errorf("%d failures of the caller, want the wrong code's", n)
	}
}

func TestSMSCodeExpiresAfterTenMinutes(t *testing.T) {
	t.Parallel()
	e, texts := newSMSLineEnv(t, nil)
	e.addCustomer("7654321", true)
	sid := twiliosim.NewCallSid()
	turn := e.upToTheCode(sid, "7654321")
	code := codeOf(t, texts.next(t))
	e.clock.Advance(11 * time.Minute)
	if turn = e.press(sid, turn, code); !strings.Contains(strings.Join(turn.Said, ""), promptFailed) {
		t.Fatalf("an expired code said %q", turn.Said)
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows`); n != 0 {
		t.Fatal("an expired code opened a window")
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE event = 'voice_verification_failed' AND detail->>'reason' = 'code_expired'`); n != 1 {
		t.Fatal("the expired code was not counted as a failed verification")
	}
}

func TestSMSCodeOfAnotherCallIsRefused(t *testing.T) {
	t.Parallel()
	e, texts := newSMSLineEnv(t, nil)
	e.addCustomer("7654321", true)
	first := twiliosim.NewCallSid()
	e.upToTheCode(first, "7654321")
	replayed := codeOf(t, texts.next(t))
	second := twiliosim.NewCallSid()
	turn := e.upToTheCode(second, "7654321")
	if own := codeOf(t, texts.next(t)); own == replayed {
		t.Skip("the two calls drew the same code (one in a million)")
	}
	if turn = e.press(second, turn, replayed); !strings.Contains(strings.Join(turn.Said, ""), promptCodeWrong) {
		t.Fatalf("the first call's code on the second call said %q", turn.Said)
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows`); n != 0 {
		t.Fatal("a replayed code opened a window")
	}
}

func TestFailedVerificationTextsNothing(t *testing.T) {
	t.Parallel()
	e, texts := newSMSLineEnv(t, nil)
	e.addCustomer("7654321", true)
	e.call(regCaller, "1", "7654321#", "9999")       // wrong PIN
	e.call("+819099990000", "1", "7654321#", "1234") // not a registered number
	e.call(regCaller, "1", "1111111#", "1234")       // no such account
	texts.none(t)
}

func TestSMSModeLogsNoCode(t *testing.T) {
	t.Parallel()
	var logs webtest.LogBuffer
	e, texts := newSMSLineEnv(t, slog.New(slog.NewJSONHandler(&logs, nil)))
	e.addCustomer("7654321", true)
	sid := twiliosim.NewCallSid()
	turn := e.upToTheCode(sid, "7654321")
	code := codeOf(t, texts.next(t))
	e.press(sid, turn, code)
	out := logsWithoutIDs(t, &logs)
	for _, secret := range []string{code, "7654321", "1234", regCaller} {
		if strings.Contains(out, secret) {
			t.Fatalf("log holds %q:\n%s", secret, out)
		}
	}
}

// maxSpokenRecovery bounds what a customer listens to in a full recovery with the texted code:
// every sentence of every turn, from the greeting to the goodbye, in characters.
const maxSpokenRecovery = 300

// A recovery by phone is already long; a review measured it so that it does not creep: the
// sum of every <Say> of a whole successful call with the SMS code, with no input repeated.
func TestFullRecoveryBySMSIsShortEnoughToListenTo(t *testing.T) {
	t.Parallel()
	e, texts := newSMSLineEnv(t, nil)
	e.addCustomer("7654321", true)
	var turns []twiliosim.Turn
	err := e.sim.Call(context.Background(), twiliosim.NewCallSid(), regCaller, []string{"1", "7654321#", "1234", "code"},
		func(t twiliosim.Turn) { turns = append(turns, t) },
		func(_ context.Context, keys string) (string, error) {
			if keys == "code" {
				return codeOf(t, texts.next(t)), nil
			}
			return keys, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows WHERE closed_at IS NULL`); n != 1 || !turns[len(turns)-1].HungUp {
		t.Fatalf("the call did not recover the account: %d windows, %q", n, said(turns))
	}
	spoken := 0
	for _, tr := range turns {
		for _, s := range tr.Said {
			spoken += utf8.RuneCountInString(s)
		}
	}
	t.Logf("a full recovery with the SMS code speaks %d characters: %s", spoken, said(turns))
	if spoken > maxSpokenRecovery {
		t.Errorf("a full recovery with the SMS code speaks %d characters, more than %d", spoken, maxSpokenRecovery)
	}
}
