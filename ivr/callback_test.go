package ivr

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"kagi/ivr/twiliosim"
	"kagi/notify"
	"kagi/recovery"
)

// The second channel by call back (§4.8), through twilio-go's Calls API pointed at a local
// stand-in for Twilio's REST API; the test then plays Twilio's part of the call back.

// placedCall is a call the stand-in was asked to place, with the CallSid it gave.
type placedCall struct {
	sid  string
	form url.Values
}

func startTwilioCalls(t testing.TB) (*httptest.Server, chan placedCall) {
	t.Helper()
	placed := make(chan placedCall, 16)
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		if err := r.ParseForm(); err != nil || user != testSID || pass != twilioToken ||
			r.URL.Path != "/2010-04-01/Accounts/"+testSID+"/Calls.json" {
			t.Errorf("stand-in: %s %s as %q", r.Method, r.URL.Path, user)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		sid := fmt.Sprintf("CA%032d", n.Add(1))
		placed <- placedCall{sid: sid, form: r.PostForm}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"sid":%q,"status":"queued"}`, sid)
	}))
	t.Cleanup(srv.Close)
	return srv, placed
}

// newCallbackLineEnv is a voice line whose second factor is factor, texts and calls back going
// to stand-ins.
func newCallbackLineEnv(t testing.TB, factor recovery.SecondFactor) (*lineEnv, chan placedCall, *textsSeen) {
	t.Helper()
	calls, placed := startTwilioCalls(t)
	texts, seen := startTwilioMessages(t)
	caller, err := notify.NewTwilioTexter(notify.TwilioConfig{AccountSID: testSID, AuthToken: twilioToken, From: testSMSFrom, APIURL: calls.URL})
	if err != nil {
		t.Fatal(err)
	}
	texter, err := notify.NewTwilioTexter(notify.TwilioConfig{AccountSID: testSID, AuthToken: twilioToken, From: testSMSFrom, APIURL: texts.URL})
	if err != nil {
		t.Fatal(err)
	}
	e := newLineEnvWith(t, func(c *recovery.Config) { c.SecondFactor = factor }, func(c *HandlerConfig) {
		c.Caller, c.Texter = caller, texter
	})
	return e, placed, seen
}

// askForCallback plays a call through the keyed checks and returns the call back it placed.
func (e *lineEnv) askForCallback(placed chan placedCall, phone string) placedCall {
	e.t.Helper()
	turns := e.call(phone, "1", "7654321#", "1234")
	last := turns[len(turns)-1]
	if got := strings.Join(last.Said, ""); !strings.Contains(got, promptCallbackPlaced) || !last.HungUp {
		e.t.Fatalf("after the PIN the line said %q", got)
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows`); n != 0 {
		e.t.Fatal("a window opened before the call back")
	}
	select {
	case p := <-placed:
		f := p.form
		if f.Get("To") != phone || f.Get("From") != twiliosim.SimulatedLine || f.Get("Url") != e.srv.URL+CallbackPath+"?id="+callbackID(e.t, f) ||
			f.Get("StatusCallback") != e.srv.URL+CallbackPath+"/status?id="+callbackID(e.t, f) {
			e.t.Fatalf("call back placed with %v", f)
		}
		return p
	case <-time.After(10 * time.Second):
		e.t.Fatal("no call back was placed")
		return placedCall{}
	}
}

func callbackID(t testing.TB, f url.Values) string {
	t.Helper()
	u, err := url.Parse(f.Get("Url"))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("id")
}

func TestCallbackConfirmedWithOneOpensTheWindow(t *testing.T) {
	t.Parallel()
	e, placed, _ := newCallbackLineEnv(t, recovery.SecondFactorCallback)
	e.addCustomer("7654321", true)
	p := e.askForCallback(placed, regCaller)
	ctx := context.Background()
	turn, err := e.sim.AnswerCallback(ctx, p.form.Get("Url"), p.sid, regCaller)
	if err != nil || !strings.Contains(strings.Join(turn.Said, ""), promptCallbackAsk) || !turn.Waiting() {
		t.Fatalf("answered call back: %v %+v", err, turn)
	}
	// Who is calling comes first (§4.9): the brokerage, in the first sentence heard.
	if first, _, _ := strings.Cut(turn.Said[0], "。"); first != "こちらは、"+testBrand+"です" {
		t.Errorf("the call back begins %q, want it to name %s first", first, testBrand)
	}
	turn, err = e.sim.Press(ctx, p.sid, twiliosim.SimulatedLine, turn, "1")
	if err != nil || !strings.Contains(strings.Join(turn.Said, ""), "折り返しのお電話で確認が取れました。30分間、午前10時30分まで、ログインIDとパスワード") || !turn.HungUp {
		t.Fatalf("after 1: %v %+v", err, turn)
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows WHERE closed_at IS NULL`); n != 1 {
		t.Fatalf("open windows %d, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE event = 'window_opened' AND detail->>'confirmed_by' = 'callback'`); n != 1 {
		t.Fatal("the window's audit does not say the call back confirmed it")
	}
	// Twilio's end of the call changes nothing, and the call back cannot be used again.
	if err := e.sim.EndCallback(ctx, p.form.Get("StatusCallback"), p.sid, regCaller, "completed"); err != nil {
		t.Fatal(err)
	}
	if turn, _ := e.sim.AnswerCallback(ctx, p.form.Get("Url"), p.sid, regCaller); !strings.Contains(strings.Join(turn.Said, ""), promptUnavailable) {
		t.Fatalf("a used call back answered again: %+v", turn)
	}
	if n := e.count(`SELECT count(*) FROM voice_callbacks WHERE outcome = 'confirmed'`); n != 1 {
		t.Fatal("the call back is not recorded as confirmed")
	}
	if got := e.callbackOutcomes(); len(got) != 1 || got[0] != "confirmed" {
		t.Fatalf("the console lists the call's call back as %q, want confirmed", got)
	}
}

// callbackOutcomes is how the console's call list (CallLog) reports the call backs of the
// accounts' calls that asked for one.
func (e *lineEnv) callbackOutcomes() []string {
	e.t.Helper()
	var out []string
	rows, err := e.pool.Query(context.Background(), `SELECT DISTINCT account_id FROM ivr_calls WHERE outcome = 'callback_placed'`)
	if err != nil {
		e.t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		e.t.Fatal(err)
	}
	for _, id := range ids {
		calls, err := CallLog{}.RecentCalls(context.Background(), e.pool, id, 10)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, c := range calls {
			if c.Outcome == "callback_placed" {
				out = append(out, c.CallbackOutcome)
			}
		}
	}
	return out
}

func TestCallbackNotConfirmedOpensNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name          string
		answer        bool
		key           string
		status        string
		wantSaid      string
		wantOutcome   string
		wantFailures  int
		advanceBefore time.Duration
	}{
		{name: "2 pressed", answer: true, key: "2", wantSaid: promptCallbackDeclined, wantOutcome: "declined", wantFailures: 1},
		{name: "9 pressed", answer: true, key: "9", wantSaid: promptCallbackDeclined, wantOutcome: "declined", wantFailures: 1},
		{name: "nothing pressed", answer: true, key: "", wantSaid: promptCallbackNoKey, wantOutcome: "no-key"},
		{name: "not answered", status: "no-answer", wantOutcome: "no-answer"},
		{name: "busy", status: "busy", wantOutcome: "busy"},
		{name: "failed", status: "failed", wantOutcome: "failed"},
		{name: "answered after ten minutes", answer: true, advanceBefore: 11 * time.Minute, wantSaid: promptUnavailable, wantOutcome: "expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, placed, _ := newCallbackLineEnv(t, recovery.SecondFactorCallback)
			e.addCustomer("7654321", true)
			p := e.askForCallback(placed, regCaller)
			ctx := context.Background()
			e.clock.Advance(tc.advanceBefore)
			if tc.answer {
				turn, err := e.sim.AnswerCallback(ctx, p.form.Get("Url"), p.sid, regCaller)
				if err != nil {
					t.Fatal(err)
				}
				if turn.Waiting() {
					if turn, err = e.sim.Press(ctx, p.sid, twiliosim.SimulatedLine, turn, tc.key); err != nil {
						t.Fatal(err)
					}
				}
				if got := strings.Join(turn.Said, ""); !strings.Contains(got, tc.wantSaid) || !turn.HungUp {
					t.Fatalf("the call back said %q, want %q", got, tc.wantSaid)
				}
			}
			if tc.status != "" {
				if err := e.sim.EndCallback(ctx, p.form.Get("StatusCallback"), p.sid, regCaller, tc.status); err != nil {
					t.Fatal(err)
				}
			}
			if n := e.count(`SELECT count(*) FROM fallback_windows`); n != 0 {
				t.Fatalf("%d windows opened", n)
			}
			if n := e.count(`SELECT count(*) FROM voice_callbacks WHERE outcome = $1`, tc.wantOutcome); n != 1 {
				t.Fatalf("the call back did not end as %s", tc.wantOutcome)
			}
			// The console lists the asking call with how its call back ended, not as "placed"
			// (§6); a call back found past its time is ended before anyone asks, and says so only
			// in the trail.
			want := tc.wantOutcome
			if want == "expired" {
				want = ""
			}
			if got := e.callbackOutcomes(); len(got) != 1 || got[0] != want {
				t.Fatalf("the console lists the call's call back as %q, want %q", got, want)
			}
			if n := e.count(`SELECT count(*) FROM voice_failures WHERE subject_kind = 'account'`); n != tc.wantFailures {
				t.Fatalf("%d failures counted, want %d", n, tc.wantFailures)
			}
			// "Not me" is never held against the customer's own number, which was called back.
			if n := e.count(`SELECT count(*) FROM voice_failures WHERE subject_kind = 'caller'`); n != 0 {
				t.Fatalf("%d failures counted against the registered number", n)
			}
		})
	}
}

// Only the call Twilio placed can confirm: a forged request for the call back under another
// CallSid (with a valid signature) opens nothing.
func TestCallbackConfirmsOnlyFromItsOwnCall(t *testing.T) {
	t.Parallel()
	e, placed, _ := newCallbackLineEnv(t, recovery.SecondFactorCallback)
	e.addCustomer("7654321", true)
	p := e.askForCallback(placed, regCaller)
	ctx := context.Background()
	other := twiliosim.NewCallSid()
	turn, err := e.sim.AnswerCallback(ctx, p.form.Get("Url"), other, regCaller)
	if err != nil || !strings.Contains(strings.Join(turn.Said, ""), promptUnavailable) {
		t.Fatalf("another call answering the call back: %v %+v", err, turn)
	}
	if _, err := e.sim.Press(ctx, other, twiliosim.SimulatedLine, twiliosim.Turn{Gather: CallbackPath + "/gather?id=" + callbackID(t, p.form)}, "1"); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows`); n != 0 {
		t.Fatal("a forged call back opened a window")
	}
}

// auto texts Japanese mobile numbers and calls any other back (a landline cannot read a text).
func TestAutoTextsMobilesAndCallsLandlinesBack(t *testing.T) {
	t.Parallel()
	e, placed, texts := newCallbackLineEnv(t, recovery.SecondFactorAuto)
	e.addCustomer("7654321", true) // registered: +819012345678, a mobile
	const landline = "+81312345678"
	if _, err := e.pool.Exec(context.Background(), `INSERT INTO account_phones (account_id, phone) SELECT id, $1 FROM accounts`, landline); err != nil {
		t.Fatal(err)
	}
	turn := e.upToTheCode(twiliosim.NewCallSid(), "7654321")
	if codeOf(t, texts.next(t)) == "" || !turn.Waiting() {
		t.Fatal("a mobile was not texted a code")
	}
	e.askForCallback(placed, landline)
}
