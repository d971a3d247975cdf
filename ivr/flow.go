// Package ivr is the Twilio Voice adapter of the automated voice line (§4).
//
// The call itself is a pure state machine, Next: (State, Event) → (State, Reply). It reads no
// clock, opens no connection and touches no database, so every step and every input can be
// tested without HTTP or PostgreSQL. The HTTP handler wraps it: it loads the call's State by
// CallSid, calls Next, carries out the verification Next asks for (Reply.Verify) inside the same
// transaction and feeds the outcome back as a second event, saves the State and writes
// Reply.TwiML.
package ivr

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twilio/twilio-go/twiml"

	"kagi/auth"
	"kagi/hours"
)

// GatherPath is the action URL of every <Gather>: a fixed path plus only ?seq=N, our own
// counter. Nothing the caller keyed in ever goes into a URL, because Twilio logs them (§4.6).
const GatherPath = "/ivr/gather"

// DialPath is the action URL of the <Dial> to the operator, where Twilio reports how the transfer
// ended (DialCallStatus); like GatherPath it carries only ?seq=N, the seq of that <Dial>.
const DialPath = "/ivr/dial-done"

// Limits of one call. They bound how long a caller (or a script) can keep the line busy.
const (
	// MaxAttempts is the number of verifications one call may try (§4.3.6).
	MaxAttempts = 3
	// maxRetries is the number of empty or invalid inputs accepted in a row at one step; the
	// last one ends the call.
	maxRetries = 3
	// maxGathers bounds the prompts of one call, so that repeating the menu (9) or asking for
	// the operator outside hours cannot loop for ever.
	maxGathers = 40
	// maxAccountDigits is the longest account number accepted.
	maxAccountDigits = 12
)

// Gather timeouts in seconds: a single menu key comes quickly, numbers take longer.
const (
	menuTimeout   = "8"
	digitsTimeout = "10"
	codeTimeout   = "20"
)

// jst is Japan Standard Time (auth.JST): the spoken date does not depend on the machine's time
// zone database.
var jst = auth.JST

// Step is where the call is. It is stored as text in the call's State.
type Step string

// The steps of §4.3 and §4.8. The zero Step is a call that has not started.
const (
	StepMenu      Step = "menu"      // waiting for one menu key
	StepAccount   Step = "account"   // waiting for the account number, ended by #
	StepPIN       Step = "pin"       // waiting for the four-digit PIN
	StepCode      Step = "code"      // waiting for the six-digit code texted to the registered phone
	StepOperator  Step = "operator"  // transferred to the operator, waiting for how the transfer ended
	StepVerifying Step = "verifying" // waiting for the handler to deliver a VerifyResult
	StepDone      Step = "done"      // the call has ended; nothing more is asked
)

// State is everything the call needs to remember between two webhook requests. The handler
// stores it as JSON (jsonb) keyed by CallSid. It never holds the PIN: it exists only during the
// one request that verifies it.
type State struct {
	Step Step `json:"step"`
	// Seq numbers the <Gather>s and <Dial>s of the call; the outstanding one carries ?seq=Seq.
	// A request with any other seq is a replay or out of order and cannot move the call on.
	Seq int `json:"seq"`
	// Attempts counts the verifications started in this call, at most MaxAttempts: each PIN
	// keyed in, and each texted code keyed in again after a wrong one (the first code is part of
	// its PIN's verification). It is counted when the verification is requested or the code
	// asked for again, so a failure cannot go uncounted.
	Attempts int `json:"attempts"`
	// Retries counts the empty or invalid inputs in a row at the current step.
	Retries int `json:"retries"`
	// AccountNumber is what the caller keyed in at the account step, kept for the verification
	// and forgotten once it is done.
	AccountNumber string `json:"account_number,omitempty"`
	// From is the caller's number (E.164) as Twilio reported it when the call started.
	From string `json:"from,omitempty"`
}

// Expects reports whether a request for the gather numbered seq is the one the call is
// waiting for. Anything else is a replay, a retry of a request already answered, or out of
// order; Next answers those by repeating the current prompt without changing the state.
func (s State) Expects(seq int) bool {
	switch s.Step {
	case StepMenu, StepAccount, StepPIN, StepCode:
		return seq == s.Seq
	}
	return false
}

// sane reports whether s could have come from this package. Anything else (a corrupted or
// hand-edited row) ends the call rather than being trusted.
func (s State) sane() bool {
	if s.Seq < 0 || s.Attempts < 0 || s.Retries < 0 || s.Attempts > MaxAttempts {
		return false
	}
	switch s.Step {
	case "", StepDone, StepVerifying:
		return true
	case StepMenu, StepAccount, StepPIN, StepCode, StepOperator:
		return s.Seq > 0
	}
	return false
}

// ParseSeq reads the seq query parameter of a gather request; an invalid value gives -1, which
// no State expects.
func ParseSeq(v string) int {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || strconv.Itoa(n) != v {
		return -1
	}
	return n
}

// Config is the line's static configuration.
type Config struct {
	Voice          string // KAGI_IVR_VOICE, the voice attribute of every <Say>
	OperatorNumber string // KAGI_OPERATOR_NUMBER; empty means no transfer
	HoursText      string // the regular hours as spoken (RegularHoursText), said whenever the caller is sent to the operator
	// Brand is the brokerage's name (KAGI_BRAND_NAME, 「デモ証券」): the first thing a call back
	// says, so that whoever answers knows who is calling (§4.9). Empty says no name.
	Brand string
}

// Env is what the handler knows at the time of the request. The zero Env is a closed desk
// whose next opening is unknown, at an unknown time.
type Env struct {
	// Now is the time of the request: a window's length is counted from it, and its end is
	// said with its day when that is not today (JST).
	Now time.Time
	// Support is whether the support desk answers now: open, closed by the calendar, or
	// switched off (KAGI_SUPPORT_ENABLED=false).
	Support hours.State
	// NextOpen is when the desk opens next, while it is closed; zero when that is not known.
	NextOpen time.Time
}

// EventKind says what happened.
type EventKind int

// Events the handler feeds to Next.
const (
	// EventCallStart is Twilio's first request for the call (POST /ivr/voice). Event.From is
	// the caller's number. For a call that has already started it only repeats the current
	// prompt: a retried start cannot reset the attempts.
	EventCallStart EventKind = iota + 1
	// EventDigits is a gather request. Event.Seq is the seq of its URL (see ParseSeq) and
	// Event.Digits what the caller keyed in; empty means the gather timed out.
	EventDigits
	// EventVerifyResult delivers the outcome of the VerifyRequest of the previous Reply.
	// Event.Result is the outcome.
	EventVerifyResult
	// EventDialEnded is Twilio reporting how the transfer to the operator ended (the <Dial>'s
	// action, DialPath). Event.Seq is the seq of its URL and Event.DialStatus Twilio's
	// DialCallStatus: completed, busy, no-answer, failed or canceled.
	EventDialEnded
)

// Event is one input of the call.
type Event struct {
	Kind       EventKind
	From       string
	Seq        int
	Digits     string
	Result     VerifyResult
	DialStatus string
}

// VerifyRequest asks the handler to verify the caller (§4.3.5) in the transaction of the
// request: the account exists, CallerNumber is one of its registered phone numbers, the PIN
// matches, nothing is locked, and to count a failure towards the lockouts of §4.4. The PIN must
// not be logged or stored.
//
// With Code set it asks instead to check the code texted to the caller on this call (§4.8): a
// wrong or expired code is a failed verification like a wrong PIN. Neither the PIN nor the code
// may be logged or stored.
type VerifyRequest struct {
	AccountNumber string
	CallerNumber  string
	PIN           string
	Code          string
}

// VerifyOutcome is what the handler found.
type VerifyOutcome int

// Outcomes of a VerifyRequest.
const (
	// Verified: the fallback window is open until VerifyResult.WindowExpiresAt.
	Verified VerifyOutcome = iota + 1
	// NoPasskey: the caller is verified but the account has no passkey, so ID and password
	// already work; no window was opened.
	NoPasskey
	// Failed: any check failed (unknown account, number not registered, wrong PIN).
	Failed
	// AccountLocked: the account is locked out of the voice line, possibly by this failure.
	AccountLocked
	// CallerLocked: the caller's number is locked out of the voice line, possibly by this
	// failure. The caller hears the same sentence as for AccountLocked.
	CallerLocked
	// CodeSent: the keyed checks passed and a code is being texted to the registered phone the
	// call came from (§4.8); the call asks for it next.
	CodeSent
	// CallbackPlaced: the keyed checks passed and the registered phone is called back (§4.8);
	// this call ends.
	CallbackPlaced
	// CodeWrong: the code keyed in is not the one texted (a failed verification all the same);
	// the caller may key it in again, within the call's attempts.
	CodeWrong
	// CodeCapped and CallbackCapped: the keyed checks passed, but the registered phone was
	// already texted or called back as often as the caps allow (§4.8); nothing was sent, and
	// this call ends.
	CodeCapped
	CallbackCapped
	// Suspended: the caller passed the keyed checks, but the brokerage has suspended the account
	// (§12.2): nothing opened, and the caller is sent to the support desk.
	Suspended
)

// VerifyResult is the outcome of a verification, fed back with EventVerifyResult.
type VerifyResult struct {
	Outcome         VerifyOutcome
	WindowExpiresAt time.Time // when Verified: the end of the window just opened, never zero
	// ByCode is set when Verified came with the texted code, which the caller is told.
	ByCode bool
	// PauseLifted is set, with Verified or NoPasskey, when the verification ended a pause of
	// the account's password login (§2.12), which the caller is told.
	PauseLifted bool
}

// Reply is what the call does next.
type Reply struct {
	// TwiML is the document to answer with. When Verify is set it is what to say if the
	// verification cannot be carried out (the unavailable sentence); normally the handler feeds
	// the outcome back and answers with the TwiML of that second Reply instead.
	TwiML string
	// Verify is set when the PIN has been keyed in: the handler must verify and feed back the
	// outcome.
	Verify *VerifyRequest
}

// Next moves the call on by one event. It never fails: an event that does not fit the state
// (a replay, a result nobody asked for) either repeats the current prompt or ends the call
// with the unavailable sentence, so Twilio always gets TwiML.
func Next(st State, ev Event, cfg Config, env Env) (State, Reply) {
	c := call{st: st, cfg: cfg, env: env}
	if !st.sane() {
		c.st = State{}
		c.unavailable()
		return c.st, Reply{TwiML: c.render()}
	}
	switch ev.Kind {
	case EventCallStart:
		if st.Step == "" {
			c.start(ev.From)
		} else {
			c.repeat()
		}
	case EventDigits:
		if !st.Expects(ev.Seq) {
			c.repeat()
			break
		}
		switch st.Step {
		case StepMenu:
			c.menu(ev.Digits)
		case StepAccount:
			c.account(ev.Digits)
		case StepPIN:
			c.pin(ev.Digits)
		case StepCode:
			c.code(ev.Digits)
		}
	case EventVerifyResult:
		if st.Step != StepVerifying {
			c.unavailable()
			break
		}
		c.result(ev.Result)
	case EventDialEnded:
		// Only the <Dial> outstanding: a replayed or forged report of an earlier transfer, or
		// one while the call is elsewhere, repeats the current prompt and changes nothing.
		if st.Step != StepOperator || ev.Seq != st.Seq {
			c.repeat()
			break
		}
		c.dialEnded(ev.DialStatus)
	default:
		c.unavailable()
	}
	return c.st, Reply{TwiML: c.render(), Verify: c.verify}
}

// Unavailable is the TwiML for when the line cannot work (database down, panic, Twilio's
// fallback URL): the unavailable sentence, then hang up (§4.5).
func Unavailable(cfg Config) string {
	c := call{cfg: cfg}
	c.unavailable()
	return c.render()
}

// call is one step being worked out: the state being changed and the verbs being said.
type call struct {
	st     State
	cfg    Config
	env    Env
	verbs  []twiml.Element
	verify *VerifyRequest
}

func (c *call) say(text ...string) {
	c.verbs = append(c.verbs, c.sayVerb(strings.Join(text, "")))
}

func (c *call) sayVerb(text string) twiml.Element {
	return &twiml.VoiceSay{Message: text, Language: sayLanguage, Voice: c.cfg.Voice}
}

func (c *call) hangup() {
	c.st.Step = StepDone
	// Nothing keyed in outlives the call.
	c.st.AccountNumber = ""
	c.verbs = append(c.verbs, &twiml.VoiceHangup{})
}

// unavailable ends the call with the unavailable sentence.
func (c *call) unavailable() {
	c.verbs = nil
	c.verify = nil
	c.say(promptUnavailable)
	c.hangup()
}

// end says goodbye after the caller ran out of tries.
func (c *call) end(text ...string) {
	c.say(append(text, promptTooMany, promptGoodbye)...)
	c.hangup()
}

// gatherSpec is what differs between the gathers of the steps.
type gatherSpec struct {
	prompt      string
	timeout     string
	numDigits   string
	finishOnKey string
}

var gathers = map[Step]gatherSpec{
	StepMenu:    {prompt: promptMenu, timeout: menuTimeout, numDigits: "1"},
	StepAccount: {prompt: promptAccount, timeout: digitsTimeout, finishOnKey: "#"},
	// Twilio drops an empty finishOnKey attribute, so # keeps its default meaning at the PIN
	// step: it ends the input early, and the too-short input is asked for again.
	StepPIN: {prompt: promptPIN, timeout: digitsTimeout, numDigits: "4"},
	// The code comes from a text the caller reads on the phone they call with: more time.
	StepCode: {prompt: promptCode, timeout: codeTimeout, numDigits: "6"},
}

// ask moves the call to step and asks for its input with a new seq, after anything said before
// (lead). Retries are reset when the step changes.
func (c *call) ask(step Step, lead ...string) {
	if c.st.Seq >= maxGathers {
		c.end(lead...)
		return
	}
	if c.st.Step != step {
		c.st.Retries = 0
	}
	c.st.Step = step
	c.st.Seq++
	c.gather(lead...)
}

// gather emits the <Gather> of the current step with the current seq. The prompt is inside the
// <Gather> so that a caller who knows it can key in without waiting. actionOnEmptyResult brings
// a timeout back to us; the <Redirect> after it does the same should Twilio ignore that.
func (c *call) gather(lead ...string) {
	g := gathers[c.st.Step]
	action := GatherPath + "?seq=" + strconv.Itoa(c.st.Seq)
	var inner []twiml.Element
	if len(lead) > 0 {
		inner = append(inner, c.sayVerb(strings.Join(lead, "")))
	}
	inner = append(inner, c.sayVerb(g.prompt))
	c.verbs = append(c.verbs,
		&twiml.VoiceGather{
			Input:               "dtmf",
			Action:              action,
			Method:              "POST",
			Timeout:             g.timeout,
			NumDigits:           g.numDigits,
			FinishOnKey:         g.finishOnKey,
			ActionOnEmptyResult: "true",
			InnerElements:       inner,
		},
		&twiml.VoiceRedirect{Url: action, Method: "POST"},
	)
}

// repeat answers a request the call did not expect: the current prompt again, same seq, state
// unchanged. During a transfer that is the <Dial> again: the answer Twilio gets if it retried
// the request that started it.
func (c *call) repeat() {
	switch c.st.Step {
	case StepMenu, StepAccount, StepPIN, StepCode:
		c.gather()
	case StepOperator:
		if c.cfg.OperatorNumber == "" {
			c.unavailable()
			return
		}
		c.dial()
	case StepDone:
		c.hangup()
	default:
		c.unavailable()
	}
}

// invalid re-asks the current step after an empty or invalid input, saying why (why), or ends
// the call once the caller has had maxRetries of them.
func (c *call) invalid(why string) {
	c.st.Retries++
	if c.st.Retries >= maxRetries {
		c.end(why)
		return
	}
	c.ask(c.st.Step, why)
}

func (c *call) start(from string) {
	if !callerIDShown(from) {
		c.say(promptWithheld)
		c.hangup()
		return
	}
	c.st = State{From: from}
	c.ask(StepMenu, promptWelcome)
}

func (c *call) menu(digits string) {
	switch digits {
	case "1":
		c.ask(StepAccount)
	case "9":
		c.ask(StepMenu)
	case "0":
		switch {
		case c.env.Support == hours.Disabled:
			c.ask(StepMenu, promptSupportUnavailable)
		case c.env.Support != hours.Open:
			c.ask(StepMenu, promptClosed, c.hours())
		case c.cfg.OperatorNumber == "":
			c.ask(StepMenu, promptNoOperator)
		default:
			c.transfer()
		}
	case "":
		c.invalid(promptNotRecognise)
	default:
		c.invalid(promptNotOnMenu)
	}
}

// transfer dials the operator with a new seq. Twilio posts how the transfer ended to the
// <Dial>'s action; nothing after the <Dial> would ever be said, so nothing follows it.
func (c *call) transfer() {
	if c.st.Seq >= maxGathers {
		c.end()
		return
	}
	c.st.Step = StepOperator
	c.st.Retries = 0
	c.st.Seq++
	c.dial()
}

// dial emits the transfer of the current seq.
func (c *call) dial() {
	c.say(promptConnecting)
	c.verbs = append(c.verbs, &twiml.VoiceDial{
		Number: c.cfg.OperatorNumber,
		Action: DialPath + "?seq=" + strconv.Itoa(c.st.Seq),
		Method: "POST",
	})
}

// dialEnded goes on after the transfer: a conversation with the operator (completed) ends the
// call; a transfer nobody took (busy, no-answer, failed, canceled, or anything Twilio may add)
// brings the caller back to the menu, never to a bare goodbye.
func (c *call) dialEnded(status string) {
	if status == "completed" {
		c.say(promptGoodbye)
		c.hangup()
		return
	}
	c.ask(StepMenu, promptOperatorBusy)
}

// hours tells when to call the operator: the regular hours and, while the desk is closed, the
// day and time it opens next, which holds on closed days and days of special hours too.
func (c *call) hours() string {
	var out string
	if c.cfg.HoursText != "" {
		out = fmt.Sprintf(promptHours, c.cfg.HoursText)
	}
	if c.env.Support == hours.Closed && !c.env.NextOpen.IsZero() {
		next := c.env.NextOpen.In(jst)
		out += fmt.Sprintf(promptNextOpen, fmt.Sprintf(promptOnDate, int(next.Month()), next.Day()), spokenClock(next))
	}
	return out
}

// locked says that the voice line is locked for this caller and how to reach the operator
// instead: during business hours, by 0 at the menu.
func (c *call) locked() {
	if c.env.Support == hours.Disabled {
		c.say(promptLocked, promptUnavailable, promptGoodbye)
	} else {
		c.say(promptLocked, promptLockedOperator, c.hours(), promptGoodbye)
	}
	c.hangup()
}

// suspended says that the account is suspended and how to reach the support desk, and hangs up.
func (c *call) suspended() {
	if c.env.Support == hours.Disabled {
		c.say(promptSuspended, promptUnavailable, promptGoodbye)
	} else {
		c.say(promptSuspended, promptLockedOperator, c.hours(), promptGoodbye)
	}
	c.hangup()
}

// capped says that the registered phone was already contacted as often as allowed (why), and
// how to go on: later, or through the operator during business hours.
func (c *call) capped(why string) {
	if c.env.Support == hours.Disabled {
		c.say(why, promptGoodbye)
	} else {
		c.say(why, promptLockedOperator, c.hours(), promptGoodbye)
	}
	c.hangup()
}

func (c *call) account(digits string) {
	if !allDigits(digits, 1, maxAccountDigits) {
		c.invalid(promptNotRecognise)
		return
	}
	c.st.AccountNumber = digits
	c.ask(StepPIN)
}

func (c *call) pin(digits string) {
	if !allDigits(digits, 4, 4) {
		c.invalid(promptNotRecognise)
		return
	}
	if c.st.Attempts >= MaxAttempts {
		c.end(promptFailed)
		return
	}
	c.st.Attempts++
	c.verify = &VerifyRequest{AccountNumber: c.st.AccountNumber, CallerNumber: c.st.From, PIN: digits}
	c.awaitResult()
}

// code asks the handler to check the texted code. The first is part of the PIN's verification,
// so it counts no attempt of its own; asking again after a wrong one counted one (result).
func (c *call) code(digits string) {
	if !allDigits(digits, 6, 6) {
		c.invalid(promptNotRecognise)
		return
	}
	c.verify = &VerifyRequest{CallerNumber: c.st.From, Code: digits}
	c.awaitResult()
}

// awaitResult waits for the handler's VerifyResult. The TwiML of this Reply is only what the
// caller hears if the handler cannot verify: the unavailable sentence.
func (c *call) awaitResult() {
	c.st.Step = StepVerifying
	c.st.Retries = 0
	c.say(promptUnavailable)
	c.verbs = append(c.verbs, &twiml.VoiceHangup{})
}

// result says the outcome of the verification, or of the code check that completes it (§4.8).
func (c *call) result(r VerifyResult) {
	c.st.AccountNumber = ""
	// A pause of the password login that the verification ended is said after the news that
	// the password works (§2.12).
	lifted := ""
	if r.PauseLifted {
		lifted = promptPauseLifted
	}
	switch r.Outcome {
	case Verified:
		until := promptVerifiedUntil
		if r.ByCode {
			until = promptCodeVerifiedUntil
		}
		c.say(fmt.Sprintf(until, c.windowEnd(r.WindowExpiresAt)), lifted, promptRecreate, promptGoodbye)
		c.hangup()
	case CodeSent:
		c.ask(StepCode, promptCodeSent)
	case CallbackPlaced:
		c.say(promptCallbackPlaced, promptGoodbye)
		c.hangup()
	case CodeWrong:
		// The same code again, not a new one: the registered phone is not texted anew.
		if c.st.Attempts >= MaxAttempts {
			c.end(promptCodeWrong)
			return
		}
		c.st.Attempts++
		c.ask(StepCode, promptCodeWrong)
	case CodeCapped:
		c.capped(promptCodeCapped)
	case CallbackCapped:
		c.capped(promptCallbackCapped)
	case NoPasskey:
		c.say(promptNoPasskey, lifted, promptGoodbye)
		c.hangup()
	case Failed:
		if c.st.Attempts >= MaxAttempts {
			c.end(promptFailed)
			return
		}
		c.ask(StepAccount, promptFailed, promptRetry)
	case AccountLocked, CallerLocked:
		c.locked()
	case Suspended:
		c.suspended()
	default:
		c.unavailable()
	}
}

// render builds the TwiML document. The document is written to memory, which cannot fail; the
// bare hangup is there only so that a Reply is never empty.
func (c *call) render() string {
	doc, err := twiml.Voice(c.verbs)
	if err != nil {
		doc, _ = twiml.Voice([]twiml.Element{&twiml.VoiceHangup{}})
	}
	return doc
}

// withheld are the From values Twilio uses for a caller who hides the number: the words, and
// the words spelled on a keypad (ANONYMOUS, RESTRICTED, UNKNOWN, BLOCKED, UNAVAILABLE, PRIVATE).
var withheld = map[string]bool{
	"anonymous": true, "restricted": true, "unknown": true, "blocked": true, "unavailable": true, "private": true,
	"+266696687": true, "+7378742833": true, "+8656696": true, "+2562533": true, "+86282452253": true, "+7748283": true,
}

// callerIDShown reports whether from is a number the caller can be recognised by: an E.164
// number, as the auth core stores registered phones, that is not a withheld one.
func callerIDShown(from string) bool {
	return !withheld[strings.ToLower(from)] && auth.ValidPhone(from)
}

// allDigits reports whether s is lo to hi ASCII digits.
func allDigits(s string, lo, hi int) bool {
	if len(s) < lo || len(s) > hi {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// CallbackPath is where Twilio asks for the call back's TwiML once it is answered (§4.8); its
// ?id= is the call back's own random id, never anything keyed in.
const CallbackPath = "/ivr/callback"

// CallbackAnswer is the TwiML of an answered call back: who is calling (the brokerage, §4.9),
// what was asked, and one key to confirm (1) or decline. The key goes to CallbackPath/gather
// with the same id.
func CallbackAnswer(cfg Config, id string) string {
	c := call{cfg: cfg}
	action := CallbackPath + "/gather?id=" + id
	ask := promptCallbackAsk
	if cfg.Brand != "" {
		ask = fmt.Sprintf(promptCallbackBrand, cfg.Brand) + ask
	}
	c.verbs = append(c.verbs,
		&twiml.VoiceGather{
			Input: "dtmf", Action: action, Method: "POST", Timeout: digitsTimeout, NumDigits: "1",
			ActionOnEmptyResult: "true", InnerElements: []twiml.Element{c.sayVerb(ask)},
		},
		&twiml.VoiceRedirect{Url: action, Method: "POST"},
	)
	return c.render()
}

// CallbackResult is the TwiML that ends a call back: the window's end when 1 confirmed it, the
// lockout, or the cancellation otherwise. env is as for Next.
func CallbackResult(cfg Config, env Env, r VerifyResult, keyed bool) string {
	c := call{cfg: cfg, env: env}
	switch {
	case r.Outcome == Verified:
		c.say(fmt.Sprintf(promptCallbackVerifiedUntil, c.windowEnd(r.WindowExpiresAt)), promptRecreate, promptGoodbye)
	case r.Outcome == AccountLocked || r.Outcome == CallerLocked:
		c.locked()
		return c.render()
	case r.Outcome == Suspended:
		c.suspended()
		return c.render()
	case !keyed:
		c.say(promptCallbackNoKey, promptGoodbye)
	default:
		c.say(promptCallbackDeclined, promptGoodbye)
	}
	c.hangup()
	return c.render()
}

// windowEnd says how long the window lasts and until when (「30分間、明日の午前0時3分」): the
// length from now rounded to the minute, and the end with its day when that is not today in
// JST. Without the time of the request only the end is said.
func (c *call) windowEnd(end time.Time) string {
	now, end := c.env.Now.In(jst), end.In(jst)
	if now.IsZero() || !end.After(now) {
		return spokenClock(end)
	}
	day := ""
	switch days := civilDays(now, end); {
	case days == 1:
		day = promptTomorrow
	case days > 1:
		day = fmt.Sprintf(promptOnDate, int(end.Month()), end.Day())
	}
	return fmt.Sprintf(promptLengthAndTime, spokenLength(end.Sub(now)), day+spokenClock(end))
}

// civilDays is the number of JST calendar days from a to b.
func civilDays(a, b time.Time) int {
	ay, am, ad := a.In(jst).Date()
	by, bm, bd := b.In(jst).Date()
	da := time.Date(ay, am, ad, 0, 0, 0, 0, time.UTC)
	db := time.Date(by, bm, bd, 0, 0, 0, 0, time.UTC)
	return int(db.Sub(da) / (24 * time.Hour))
}

// spokenLength says a length of time rounded to the minute: 「30分間」, 「24時間」, 「1時間30分間」.
func spokenLength(d time.Duration) string {
	m := int(d.Round(time.Minute) / time.Minute)
	switch {
	case m < 60:
		return fmt.Sprintf(promptForMinutes, m)
	case m%60 == 0:
		return fmt.Sprintf(promptForHours, m/60)
	}
	return fmt.Sprintf(promptForHoursMins, m/60, m%60)
}

// spokenClock says the time of day of t in JST: 「午前0時3分」, 「午後3時12分」, 「午後5時」. Seconds
// are dropped, so a caller told when a window ends never hears a time later than the real end.
func spokenClock(t time.Time) string {
	t = t.In(jst)
	return spokenMinutes(t.Hour()*60 + t.Minute())
}

// spokenMinutes says minutes after midnight as spokenClock does. Noon is 「午後0時」 and
// midnight 「午前0時」, as Japanese clocks and timetables say them.
func spokenMinutes(minutes int) string {
	minutes %= 24 * 60
	half, h, m := promptMorning, minutes/60, minutes%60
	if h >= 12 {
		half, h = promptAfternoon, h-12
	}
	if m == 0 {
		return fmt.Sprintf(promptClockHour, half, h)
	}
	return fmt.Sprintf(promptClockMinute, half, h, m)
}

// RegularHoursText is §5's regular hours as the line says them
// (「平日は午前8時30分から午後5時まで、土曜日・日曜日は午前9時から午後5時までです」): Config.HoursText.
func RegularHoursText() string {
	weekdays, weekend := hours.RegularDays()
	return fmt.Sprintf(promptRegularHours,
		spokenMinutes(weekdays.Open), spokenMinutes(weekdays.Close), spokenMinutes(weekend.Open), spokenMinutes(weekend.Close))
}
