package ivr

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"kagi/recovery"
)

var testCfg = Config{Voice: "Polly.Mizuki", OperatorNumber: "+81312345678", HoursText: "平日は8時30分から17時まで、土曜日・日曜日は9時から17時までです"}

const caller = "+819012345678"

// node is a parsed TwiML element. Attribute order is not stable, so tests look at attributes
// by name, never at the document text.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []node     `xml:",any"`
}

func (n node) attr(name string) (string, bool) {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

func (n node) name() string { return n.XMLName.Local }

// walk visits n and its descendants in document order.
func (n node) walk(f func(node)) {
	f(n)
	for _, c := range n.Children {
		c.walk(f)
	}
}

// canonical writes n with attributes sorted by name and every seq replaced by N: two documents
// with the same canonical form sound and behave the same to the caller.
func (n node) canonical() string {
	attrs := slices.Clone(n.Attrs)
	slices.SortFunc(attrs, func(a, b xml.Attr) int { return strings.Compare(a.Name.Local, b.Name.Local) })
	var b strings.Builder
	b.WriteString("<" + n.name())
	for _, a := range attrs {
		fmt.Fprintf(&b, " %s=%q", a.Name.Local, seqRE.ReplaceAllString(a.Value, "seq=N"))
	}
	b.WriteString(">" + seqRE.ReplaceAllString(strings.TrimSpace(n.Text), "seq=N"))
	for _, c := range n.Children {
		b.WriteString(c.canonical())
	}
	b.WriteString("</" + n.name() + ">")
	return b.String()
}

var seqRE = regexp.MustCompile(`seq=[0-9]+`)

func parseTwiML(doc string) (node, error) {
	var root node
	err := xml.Unmarshal([]byte(doc), &root)
	return root, err
}

// heard is what the caller hears and does in one reply, read from its TwiML.
type heard struct {
	root    node
	speech  string // every <Say>, in order, joined
	gather  *node
	dial    string
	hangup  bool
	actions []string // every Gather action and Redirect URL
}

var actionRE = regexp.MustCompile(`^/ivr/gather\?seq=[1-9][0-9]*$`)

// listen parses a reply and checks what every reply must satisfy: a <Response> root; every
// <Say> in Japanese with the configured voice; every <Gather> a POSTed, fixed action URL with
// only our seq, actionOnEmptyResult, a timeout, and followed by a <Redirect> to the same URL;
// the call either waits in a Gather or hangs up.
func listen(t *testing.T, cfg Config, doc string) heard {
	t.Helper()
	root, err := parseTwiML(doc)
	if err != nil {
		t.Fatalf("TwiML does not parse: %v\n%s", err, doc)
	}
	if root.name() != "Response" {
		t.Fatalf("root is <%s>, want <Response>", root.name())
	}
	var h heard
	h.root = root
	var speech []string
	root.walk(func(n node) {
		switch n.name() {
		case "Say":
			speech = append(speech, n.Text)
			if v, _ := n.attr("language"); v != "ja-JP" {
				t.Errorf("<Say> language = %q, want ja-JP", v)
			}
			if v, ok := n.attr("voice"); v != cfg.Voice || (cfg.Voice == "" && ok) {
				t.Errorf("<Say> voice = %q, want %q", v, cfg.Voice)
			}
		case "Gather":
			action, _ := n.attr("action")
			h.actions = append(h.actions, action)
			for name, want := range map[string]string{"method": "POST", "actionOnEmptyResult": "true", "input": "dtmf"} {
				if v, _ := n.attr(name); v != want {
					t.Errorf("<Gather> %s = %q, want %q", name, v, want)
				}
			}
			if v, _ := n.attr("timeout"); v == "" {
				t.Error("<Gather> has no timeout")
			}
		case "Redirect":
			h.actions = append(h.actions, strings.TrimSpace(n.Text))
			if v, _ := n.attr("method"); v != "POST" {
				t.Errorf("<Redirect> method = %q, want POST", v)
			}
		}
	})
	h.speech = strings.Join(speech, "")
	for _, a := range h.actions {
		if !actionRE.MatchString(a) {
			t.Errorf("action URL %q is not %s", a, actionRE)
		}
	}
	verbs := root.Children
	for i, v := range verbs {
		switch v.name() {
		case "Gather":
			g := v
			h.gather = &g
			if i+1 >= len(verbs) || verbs[i+1].name() != "Redirect" {
				t.Fatalf("<Gather> is not followed by a <Redirect>:\n%s", doc)
			}
			action, _ := v.attr("action")
			if strings.TrimSpace(verbs[i+1].Text) != action {
				t.Errorf("<Redirect> goes to %q, the Gather to %q", verbs[i+1].Text, action)
			}
			if i+2 != len(verbs) {
				t.Errorf("verbs after the Gather's Redirect:\n%s", doc)
			}
		case "Dial":
			h.dial = strings.TrimSpace(v.Text)
		case "Hangup":
			h.hangup = true
			if i+1 != len(verbs) {
				t.Errorf("verbs after <Hangup>:\n%s", doc)
			}
		}
	}
	if (h.gather == nil) == !h.hangup {
		t.Errorf("reply must either gather or hang up (gather %v, hangup %v):\n%s", h.gather != nil, h.hangup, doc)
	}
	return h
}

func (h heard) gatherAttr(t *testing.T, name string) string {
	t.Helper()
	if h.gather == nil {
		t.Fatalf("no <Gather>")
	}
	v, _ := h.gather.attr(name)
	return v
}

// phone drives one call through the flow the way the handler does.
type phone struct {
	t     *testing.T
	cfg   Config
	env   Env
	st    State
	reply Reply
	heard heard
}

func dial(t *testing.T, from string) *phone {
	t.Helper()
	p := &phone{t: t, cfg: testCfg}
	p.st, p.reply = Start(from, p.cfg)
	p.heard = listen(t, p.cfg, p.reply.TwiML)
	return p
}

func (p *phone) send(ev Event) heard {
	p.t.Helper()
	before := p.st
	p.st, p.reply = Next(p.st, ev, p.cfg, p.env)
	p.heard = listen(p.t, p.cfg, p.reply.TwiML)
	if p.heard.gather != nil {
		if p.st.Seq <= before.Seq && ev.Kind != EventCallStart && before.Expects(ev.Seq) {
			p.t.Errorf("a new Gather reused seq %d", p.st.Seq)
		}
		if want := GatherPath + "?seq=" + strconv.Itoa(p.st.Seq); p.heard.actions[0] != want {
			p.t.Errorf("Gather action %q, want %q (State.Seq)", p.heard.actions[0], want)
		}
		if !p.st.Expects(p.st.Seq) {
			p.t.Errorf("state %+v does not expect its own gather", p.st)
		}
	}
	return p.heard
}

// key answers the outstanding gather.
func (p *phone) key(digits string) heard {
	p.t.Helper()
	return p.send(Event{Kind: EventDigits, Seq: p.st.Seq, Digits: digits})
}

func (p *phone) verified(r VerifyResult) heard {
	p.t.Helper()
	return p.send(Event{Kind: EventVerifyResult, Result: r})
}

// toPIN dials and keys 1 and the account number: the call waits for the PIN.
func toPIN(t *testing.T, account string) *phone {
	t.Helper()
	p := dial(t, caller)
	p.key("1")
	p.key(account)
	if p.st.Step != StepPIN {
		t.Fatalf("after the account number the call is at %q, want %q", p.st.Step, StepPIN)
	}
	return p
}

// toVerify goes on to key the PIN: the call waits for the verification.
func toVerify(t *testing.T, account, pin string) *phone {
	t.Helper()
	p := toPIN(t, account)
	p.key(pin)
	if p.reply.Verify == nil {
		t.Fatalf("PIN %q asked for no verification", pin)
	}
	return p
}

func TestStartWithheldCallerID(t *testing.T) {
	t.Parallel()
	for _, from := range []string{
		"", "anonymous", "Anonymous", "ANONYMOUS", "restricted", "unknown", "blocked", "unavailable", "private",
		"+266696687", "+7378742833", "+8656696", "+2562533", "+86282452253",
		"0312345678", "81312345678", "+0312345678", "+81 3 1234 5678", "+81-3-1234-5678",
		"+1234567890123456", "+12345", "+", "client:alice", "sip:alice@example.com", "+８１９０１２３４５６７８",
	} {
		t.Run("withheld "+strconv.Quote(from), func(t *testing.T) {
			t.Parallel()
			p := dial(t, from)
			if !p.heard.hangup || p.heard.gather != nil {
				t.Error("the call goes on without a caller ID")
			}
			if !strings.Contains(p.heard.speech, "186") || p.heard.speech != promptWithheld {
				t.Errorf("said %q, want the 186 sentence", p.heard.speech)
			}
			if p.st.Step != StepDone || p.st.From != "" {
				t.Errorf("state %+v, want done without a number", p.st)
			}
		})
	}
}

func TestStartShownCallerID(t *testing.T) {
	t.Parallel()
	for _, from := range []string{caller, "+81312345678", "+14155550100", "+4915112345678"} {
		t.Run("menu for "+from, func(t *testing.T) {
			t.Parallel()
			p := dial(t, from)
			want := State{Step: StepMenu, Seq: 1, From: from}
			if p.st != want {
				t.Errorf("state %+v, want %+v", p.st, want)
			}
			if p.heard.speech != promptWelcome+promptMenu {
				t.Errorf("said %q", p.heard.speech)
			}
			if v := p.heard.gatherAttr(t, "numDigits"); v != "1" {
				t.Errorf("menu numDigits = %q, want 1", v)
			}
			if v := p.heard.gatherAttr(t, "timeout"); v != "8" {
				t.Errorf("menu timeout = %q, want 8", v)
			}
		})
	}
}

// Support states of the menu tests. The next opening is given in UTC: the caller hears JST.
var (
	supportOpen     = Env{Support: recovery.SupportOpen}
	supportDisabled = Env{Support: recovery.SupportDisabled}
	closedTillXmas  = Env{Support: recovery.SupportClosed, NextOpen: time.Date(2026, 12, 26, 0, 0, 0, 0, time.UTC)}
	closedTill0830  = Env{Support: recovery.SupportClosed, NextOpen: time.Date(2031, 6, 4, 23, 30, 0, 0, time.UTC)}
	closedUnknown   = Env{Support: recovery.SupportClosed}
)

func TestMenu(t *testing.T) {
	t.Parallel()
	noOperator := testCfg
	noOperator.OperatorNumber = ""
	tests := []struct {
		name        string
		digits      string
		cfg         Config
		env         Env
		wantStep    Step
		wantSpeech  string
		wantDial    string
		wantRetries int
	}{
		{"1 asks for the account number", "1", testCfg, supportOpen, StepAccount, promptAccount, "", 0},
		{"1 works outside business hours too", "1", testCfg, closedTillXmas, StepAccount, promptAccount, "", 0},
		{"1 works with support switched off too", "1", testCfg, supportDisabled, StepAccount, promptAccount, "", 0},
		{"0 during hours dials the operator", "0", testCfg, supportOpen, StepDone, promptConnecting + promptGoodbye, "+81312345678", 0},
		{"0 outside hours says closed and the next opening, and returns to the menu", "0", testCfg, closedTillXmas, StepMenu,
			"ただいま営業時間外です。次の受付開始は、12月26日の9時です。" + promptMenu, "", 0},
		{"0 outside hours says the next opening with its minutes", "0", testCfg, closedTill0830, StepMenu,
			"ただいま営業時間外です。次の受付開始は、6月5日の8時30分です。" + promptMenu, "", 0},
		{"0 outside hours without a known next opening says the regular hours", "0", testCfg, closedUnknown, StepMenu,
			promptClosed + "営業時間は、" + testCfg.HoursText + "。" + promptMenu, "", 0},
		{"0 outside hours without an operator number still says closed", "0", noOperator, closedTillXmas, StepMenu,
			"ただいま営業時間外です。次の受付開始は、12月26日の9時です。" + promptMenu, "", 0},
		{"0 with support switched off says the service is unavailable, and returns to the menu", "0", testCfg, supportDisabled, StepMenu,
			"現在、こちらのサービスは利用できません。" + promptMenu, "", 0},
		{"0 with support switched off names no hours even with a next opening", "0", testCfg,
			Env{Support: recovery.SupportDisabled, NextOpen: closedTillXmas.NextOpen}, StepMenu,
			"現在、こちらのサービスは利用できません。" + promptMenu, "", 0},
		{"0 without an operator number says no transfer and returns to the menu", "0", noOperator, supportOpen, StepMenu,
			promptNoOperator + promptMenu, "", 0},
		{"9 repeats the menu", "9", testCfg, supportOpen, StepMenu, promptMenu, "", 0},
		{"timeout re-prompts", "", testCfg, supportOpen, StepMenu, promptNotRecognise + promptMenu, "", 1},
		{"another key re-prompts", "5", testCfg, supportOpen, StepMenu, promptNotRecognise + promptMenu, "", 1},
		{"star re-prompts", "*", testCfg, supportOpen, StepMenu, promptNotRecognise + promptMenu, "", 1},
		{"hash re-prompts", "#", testCfg, supportOpen, StepMenu, promptNotRecognise + promptMenu, "", 1},
		{"two keys re-prompt", "10", testCfg, supportOpen, StepMenu, promptNotRecognise + promptMenu, "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := dial(t, caller)
			p.cfg, p.env = tt.cfg, tt.env
			h := p.key(tt.digits)
			if p.st.Step != tt.wantStep {
				t.Errorf("step %q, want %q", p.st.Step, tt.wantStep)
			}
			if h.speech != tt.wantSpeech {
				t.Errorf("said %q\nwant %q", h.speech, tt.wantSpeech)
			}
			if h.dial != tt.wantDial {
				t.Errorf("dialled %q, want %q", h.dial, tt.wantDial)
			}
			if p.st.Retries != tt.wantRetries {
				t.Errorf("retries %d, want %d", p.st.Retries, tt.wantRetries)
			}
			if p.reply.Verify != nil {
				t.Error("the menu asked for a verification")
			}
		})
	}
}

func TestInvalidInputIsBounded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(*testing.T) *phone
		bad   string
	}{
		{"menu timeouts", func(t *testing.T) *phone { return dial(t, caller) }, ""},
		{"menu wrong keys", func(t *testing.T) *phone { return dial(t, caller) }, "7"},
		{"account number stars", func(t *testing.T) *phone { p := dial(t, caller); p.key("1"); return p }, "*"},
		{"account number timeouts", func(t *testing.T) *phone { p := dial(t, caller); p.key("1"); return p }, ""},
		{"short PINs", func(t *testing.T) *phone { return toPIN(t, "1234567") }, "123"},
		{"PIN timeouts", func(t *testing.T) *phone { return toPIN(t, "1234567") }, ""},
	}
	for _, tt := range tests {
		t.Run("third of "+tt.name+" hangs up", func(t *testing.T) {
			t.Parallel()
			p := tt.setup(t)
			step := p.st.Step
			for i := 1; i < maxRetries; i++ {
				h := p.key(tt.bad)
				if p.st.Step != step || h.gather == nil {
					t.Fatalf("input %d: left step %q for %q", i, step, p.st.Step)
				}
			}
			h := p.key(tt.bad)
			if !h.hangup || p.st.Step != StepDone {
				t.Fatalf("after %d invalid inputs the call goes on", maxRetries)
			}
			if h.speech != promptNotRecognise+promptTooMany+promptGoodbye {
				t.Errorf("said %q", h.speech)
			}
		})
		t.Run("valid input after two of "+tt.name+" resets the count", func(t *testing.T) {
			t.Parallel()
			p := tt.setup(t)
			p.key(tt.bad)
			p.key(tt.bad)
			switch p.st.Step {
			case StepMenu:
				p.key("1")
			case StepAccount:
				p.key("1234567")
			case StepPIN:
				p.key("1234")
				p.verified(VerifyResult{Outcome: Failed})
			}
			if p.st.Retries != 0 {
				t.Errorf("retries %d after a valid input, want 0", p.st.Retries)
			}
		})
	}
}

func TestMenuRepeatIsBounded(t *testing.T) {
	t.Parallel()
	p := dial(t, caller)
	p.env = closedTillXmas
	for i := 0; i < 100 && p.st.Step == StepMenu; i++ {
		if i%2 == 0 {
			p.key("9")
		} else {
			p.key("0")
		}
	}
	if p.st.Step != StepDone || !p.heard.hangup {
		t.Fatalf("menu loop never ends: %+v", p.st)
	}
	if p.st.Seq > maxGathers {
		t.Errorf("seq reached %d, beyond %d", p.st.Seq, maxGathers)
	}
}

func TestAccountNumber(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		digits string
		valid  bool
	}{
		{"seven digits", "1234567", true},
		{"one digit", "7", true},
		{"twelve digits", "123456789012", true},
		{"leading zeros kept", "0001234", true},
		{"thirteen digits is too long", "1234567890123", false},
		{"empty is a timeout", "", false},
		{"star alone", "*", false},
		{"star inside", "123*456", false},
		{"hash inside", "123#456", false},
		{"letters", "12ab", false},
		{"space", "123 456", false},
		{"full-width digits", "１２３４", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := dial(t, caller)
			g := p.key("1")
			if v := g.gatherAttr(t, "finishOnKey"); v != "#" {
				t.Errorf("account finishOnKey = %q, want #", v)
			}
			if v := g.gatherAttr(t, "timeout"); v != "10" {
				t.Errorf("account timeout = %q, want 10", v)
			}
			h := p.key(tt.digits)
			if p.reply.Verify != nil {
				t.Fatal("an account number alone asked for a verification")
			}
			if tt.valid {
				if p.st.Step != StepPIN || p.st.AccountNumber != tt.digits || h.speech != promptPIN {
					t.Errorf("state %+v said %q, want the PIN prompt with account %q", p.st, h.speech, tt.digits)
				}
				if v := h.gatherAttr(t, "numDigits"); v != "4" {
					t.Errorf("PIN numDigits = %q, want 4", v)
				}
				return
			}
			if p.st.Step != StepAccount || p.st.AccountNumber != "" || p.st.Retries != 1 || p.st.Attempts != 0 {
				t.Errorf("state %+v, want the account step again with one retry and no attempt", p.st)
			}
			if h.speech != promptNotRecognise+promptAccount {
				t.Errorf("said %q", h.speech)
			}
		})
	}
}

func TestPIN(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		digits string
		valid  bool
	}{
		{"four digits", "4826", true},
		{"four zeros", "0000", true},
		{"three digits", "482", false},
		{"five digits", "48261", false},
		{"empty is a timeout", "", false},
		{"star", "48*6", false},
		{"hash", "482#", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := toPIN(t, "1234567")
			h := p.key(tt.digits)
			if !tt.valid {
				if p.reply.Verify != nil || p.st.Step != StepPIN || p.st.Attempts != 0 || p.st.AccountNumber != "1234567" {
					t.Errorf("state %+v verify %v, want the PIN step again without an attempt", p.st, p.reply.Verify)
				}
				if h.speech != promptNotRecognise+promptPIN {
					t.Errorf("said %q", h.speech)
				}
				return
			}
			want := VerifyRequest{AccountNumber: "1234567", CallerNumber: caller, PIN: tt.digits}
			if p.reply.Verify == nil || *p.reply.Verify != want {
				t.Fatalf("verify %+v, want %+v", p.reply.Verify, want)
			}
			if p.st.Step != StepVerifying || p.st.Attempts != 1 {
				t.Errorf("state %+v, want verifying with one attempt", p.st)
			}
			if !h.hangup || h.speech != promptUnavailable {
				t.Errorf("pending reply says %q, want the unavailable sentence and hang up", h.speech)
			}
		})
	}
}

func TestVerifyOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		result     VerifyResult
		wantStep   Step
		wantSpeech string
	}{
		{"verified says the end of the window in JST", VerifyResult{Outcome: Verified, WindowExpiresAt: time.Date(2026, 6, 1, 5, 35, 20, 0, time.UTC)},
			StepDone, "確認が取れました。14時35分まで、ログインID、パスワードを利用してログインが可能です。" + promptRecreate + promptGoodbye},
		{"verified on the hour says only the hour", VerifyResult{Outcome: Verified, WindowExpiresAt: time.Date(2026, 6, 1, 6, 0, 59, 0, time.UTC)},
			StepDone, "確認が取れました。15時まで、ログインID、パスワードを利用してログインが可能です。" + promptRecreate + promptGoodbye},
		{"verified past midnight JST", VerifyResult{Outcome: Verified, WindowExpiresAt: time.Date(2026, 6, 1, 15, 5, 0, 0, time.FixedZone("EDT", -4*60*60))},
			StepDone, "確認が取れました。4時5分まで、ログインID、パスワードを利用してログインが可能です。" + promptRecreate + promptGoodbye},
		{"verified without a time still explains", VerifyResult{Outcome: Verified},
			StepDone, promptVerifiedWindow + promptRecreate + promptGoodbye},
		{"no passkey says ID and password already work", VerifyResult{Outcome: NoPasskey},
			StepDone, promptNoPasskey + promptGoodbye},
		{"account locked sends to the operator in business hours", VerifyResult{Outcome: AccountLocked},
			StepDone, promptLocked + "営業時間は、" + testCfg.HoursText + "。" + promptGoodbye},
		{"caller locked sends to the operator in business hours", VerifyResult{Outcome: CallerLocked},
			StepDone, promptLocked + "営業時間は、" + testCfg.HoursText + "。" + promptGoodbye},
		{"failed retries from the account number", VerifyResult{Outcome: Failed},
			StepAccount, promptFailed + promptRetry + promptAccount},
		{"code sent asks for the code", VerifyResult{Outcome: CodeSent},
			StepCode, promptCodeSent + promptCode},
		{"verified by the code says so", VerifyResult{Outcome: Verified, ByCode: true, WindowExpiresAt: time.Date(2026, 6, 1, 5, 35, 20, 0, time.UTC)},
			StepDone, "確認コードの確認が取れました。14時35分まで、ログインID、パスワードを利用してログインが可能です。" + promptRecreate + promptGoodbye},
		{"call back placed says so and hangs up", VerifyResult{Outcome: CallbackPlaced},
			StepDone, promptCallbackPlaced + promptGoodbye},
		{"unknown outcome is unavailable", VerifyResult{Outcome: 0},
			StepDone, promptUnavailable},
		{"outcome beyond the known ones is unavailable", VerifyResult{Outcome: CallbackPlaced + 1},
			StepDone, promptUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := toVerify(t, "1234567", "4826")
			h := p.verified(tt.result)
			if p.st.Step != tt.wantStep {
				t.Errorf("step %q, want %q", p.st.Step, tt.wantStep)
			}
			if h.speech != tt.wantSpeech {
				t.Errorf("said %q\nwant %q", h.speech, tt.wantSpeech)
			}
			if p.st.AccountNumber != "" {
				t.Errorf("the keyed-in account number outlives the verification: %+v", p.st)
			}
			if p.reply.Verify != nil {
				t.Error("a result asked for another verification")
			}
			if h.dial != "" {
				t.Error("a result dialled")
			}
		})
	}
}

// A locked caller is told to call the operator: outside hours with the day and time the desk
// opens next, which is right on closed days and special days too.
func TestLockedSaysWhenTheOperatorAnswers(t *testing.T) {
	t.Parallel()
	hours := "営業時間は、" + testCfg.HoursText + "。"
	for _, tt := range []struct {
		name string
		env  Env
		want string
	}{
		{"open", supportOpen, promptLocked + hours + promptGoodbye},
		{"closed", closedTillXmas, promptLocked + "次の受付開始は、12月26日の9時です。" + promptGoodbye},
		{"closed, next opening unknown", closedUnknown, promptLocked + hours + promptGoodbye},
		{"switched off", supportDisabled, promptLockedNoDesk + promptUnavailable + promptGoodbye},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := toVerify(t, "1234567", "4826")
			p.env = tt.env
			if h := p.verified(VerifyResult{Outcome: AccountLocked}); h.speech != tt.want || !h.hangup {
				t.Errorf("said %q\nwant %q", h.speech, tt.want)
			}
		})
	}
}

func TestFailedVerification(t *testing.T) {
	t.Parallel()
	t.Run("third failure hangs up", func(t *testing.T) {
		t.Parallel()
		p := toVerify(t, "1234567", "4826")
		for attempt := 1; attempt <= MaxAttempts; attempt++ {
			if p.st.Attempts != attempt {
				t.Fatalf("attempt %d counted as %d", attempt, p.st.Attempts)
			}
			h := p.verified(VerifyResult{Outcome: Failed})
			if attempt < MaxAttempts {
				if p.st.Step != StepAccount || p.st.AccountNumber != "" || h.speech != promptFailed+promptRetry+promptAccount {
					t.Fatalf("failure %d: state %+v said %q", attempt, p.st, h.speech)
				}
				p.key("7654321")
				p.key("1111")
				continue
			}
			if !h.hangup || p.st.Step != StepDone || h.speech != promptFailed+promptTooMany+promptGoodbye {
				t.Errorf("failure %d: state %+v said %q, want the failure sentence and hang up", attempt, p.st, h.speech)
			}
		}
	})
	t.Run("every failure kind sounds identical", func(t *testing.T) {
		t.Parallel()
		// Unknown account, unregistered caller number and wrong PIN all come back as Failed;
		// whatever was keyed in, the caller hears the same document.
		paths := []func(*testing.T) *phone{
			func(t *testing.T) *phone { return toVerify(t, "999999999999", "0000") },
			func(t *testing.T) *phone { return toVerify(t, "1234567", "4826") },
		}
		var first string
		for i, path := range paths {
			p := path(t)
			h := p.verified(VerifyResult{Outcome: Failed})
			if i == 0 {
				first = h.root.canonical()
				continue
			}
			if got := h.root.canonical(); got != first {
				t.Errorf("failure path %d answers\n%s\nthe first answers\n%s", i, got, first)
			}
		}
	})
	t.Run("both locks sound identical", func(t *testing.T) {
		t.Parallel()
		a := toVerify(t, "1234567", "4826").verified(VerifyResult{Outcome: AccountLocked}).root.canonical()
		c := toVerify(t, "7654321", "1111").verified(VerifyResult{Outcome: CallerLocked}).root.canonical()
		if a != c {
			t.Errorf("account lock answers\n%s\ncaller lock answers\n%s", a, c)
		}
	})
	t.Run("no verification beyond the limit", func(t *testing.T) {
		t.Parallel()
		st := State{Step: StepPIN, Seq: 9, Attempts: MaxAttempts, AccountNumber: "1234567", From: caller}
		st, r := Next(st, Event{Kind: EventDigits, Seq: 9, Digits: "4826"}, testCfg, Env{})
		h := listen(t, testCfg, r.TwiML)
		if r.Verify != nil || st.Step != StepDone || !h.hangup {
			t.Errorf("state %+v verify %v: a fourth attempt was verified", st, r.Verify)
		}
	})
}

func TestReplays(t *testing.T) {
	t.Parallel()
	t.Run("an old seq repeats the current prompt and changes nothing", func(t *testing.T) {
		t.Parallel()
		p := toPIN(t, "1234567")
		before := p.st
		for _, seq := range []int{before.Seq - 1, before.Seq - 2, before.Seq + 1, 0, -1} {
			h := p.send(Event{Kind: EventDigits, Seq: seq, Digits: "1"})
			if p.st != before {
				t.Errorf("seq %d changed the state to %+v", seq, p.st)
			}
			if h.speech != promptPIN || p.reply.Verify != nil {
				t.Errorf("seq %d said %q verify %v, want the PIN prompt again", seq, h.speech, p.reply.Verify)
			}
			if h.actions[0] != GatherPath+"?seq="+strconv.Itoa(before.Seq) {
				t.Errorf("seq %d: repeated prompt goes to %q", seq, h.actions[0])
			}
		}
	})
	t.Run("a replayed PIN after a failure is not verified again", func(t *testing.T) {
		t.Parallel()
		p := toVerify(t, "1234567", "4826")
		pinSeq := p.st.Seq
		p.verified(VerifyResult{Outcome: Failed})
		p.send(Event{Kind: EventDigits, Seq: pinSeq, Digits: "4826"})
		if p.reply.Verify != nil || p.st.Step != StepAccount || p.st.Attempts != 1 {
			t.Errorf("replay: state %+v verify %v", p.st, p.reply.Verify)
		}
	})
	t.Run("a repeated call start keeps the attempts", func(t *testing.T) {
		t.Parallel()
		p := toVerify(t, "1234567", "4826")
		p.verified(VerifyResult{Outcome: Failed})
		before := p.st
		h := p.send(Event{Kind: EventCallStart, From: "+818011112222"})
		if p.st != before || h.speech != promptAccount {
			t.Errorf("restart: state %+v said %q, want unchanged and the account prompt", p.st, h.speech)
		}
	})
	t.Run("digits while verifying end the call", func(t *testing.T) {
		t.Parallel()
		p := toVerify(t, "1234567", "4826")
		h := p.send(Event{Kind: EventDigits, Seq: p.st.Seq, Digits: "4826"})
		if p.reply.Verify != nil || p.st.Step != StepDone || h.speech != promptUnavailable {
			t.Errorf("state %+v said %q", p.st, h.speech)
		}
	})
	t.Run("a result nobody asked for ends the call", func(t *testing.T) {
		t.Parallel()
		p := toPIN(t, "1234567")
		h := p.verified(VerifyResult{Outcome: Verified, WindowExpiresAt: time.Now()})
		if p.st.Step != StepDone || h.speech != promptUnavailable {
			t.Errorf("state %+v said %q", p.st, h.speech)
		}
	})
	t.Run("anything after the end hangs up", func(t *testing.T) {
		t.Parallel()
		p := toVerify(t, "1234567", "4826")
		p.verified(VerifyResult{Outcome: NoPasskey})
		done := p.st
		for _, ev := range []Event{
			{Kind: EventDigits, Seq: done.Seq, Digits: "1"},
			{Kind: EventCallStart, From: caller},
			{Kind: EventVerifyResult, Result: VerifyResult{Outcome: Verified}},
		} {
			h := p.send(ev)
			if p.st.Step != StepDone || !h.hangup || p.reply.Verify != nil {
				t.Errorf("event %+v: state %+v", ev, p.st)
			}
		}
	})
	t.Run("a corrupted state ends the call", func(t *testing.T) {
		t.Parallel()
		for _, st := range []State{
			{Step: "lobby", Seq: 1},
			{Step: StepMenu, Seq: 0},
			{Step: StepPIN, Seq: 3, Attempts: -1},
			{Step: StepPIN, Seq: 3, Attempts: MaxAttempts + 1},
			{Step: StepAccount, Seq: -2},
			{Step: StepDone, Seq: 1, Attempts: 11},
		} {
			got, r := Next(st, Event{Kind: EventDigits, Seq: st.Seq, Digits: "1234"}, testCfg, Env{})
			h := listen(t, testCfg, r.TwiML)
			if got != (State{Step: StepDone}) || h.speech != promptUnavailable || r.Verify != nil {
				t.Errorf("state %+v went to %+v saying %q", st, got, h.speech)
			}
		}
	})
}

func TestNothingKeyedInReachesAURL(t *testing.T) {
	t.Parallel()
	const account, pin = "987654321098", "4826"
	p := dial(t, caller)
	var docs []string
	record := func(heard) { docs = append(docs, p.reply.TwiML) }
	record(p.heard)
	for _, d := range []string{"", "1", "98765", account} {
		record(p.key(d))
	}
	record(p.key(pin))
	record(p.verified(VerifyResult{Outcome: Failed}))
	record(p.key(account))
	record(p.key(pin))
	record(p.verified(VerifyResult{Outcome: Verified, WindowExpiresAt: time.Date(2026, 6, 1, 5, 35, 0, 0, time.UTC)}))
	for _, doc := range docs {
		h := listen(t, testCfg, doc)
		for _, a := range h.actions {
			for _, secret := range []string{account, "98765", pin} {
				if strings.Contains(a, secret) {
					t.Errorf("action URL %q contains keyed-in %q", a, secret)
				}
			}
		}
		if strings.Contains(doc, pin) || strings.Contains(doc, account) {
			t.Errorf("TwiML repeats keyed-in digits:\n%s", doc)
		}
	}
}

func TestStateJSON(t *testing.T) {
	t.Parallel()
	const pin = "4826"
	p := toPIN(t, "1234567")
	states := []State{p.st}
	p.key(pin)
	states = append(states, p.st)
	p.verified(VerifyResult{Outcome: Verified})
	states = append(states, p.st)
	for _, st := range states {
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), pin) {
			t.Errorf("state JSON holds the PIN: %s", b)
		}
		var back State
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, st) {
			t.Errorf("round trip %+v → %s → %+v", st, b, back)
		}
	}
	b, _ := json.Marshal(states[0])
	if want := `{"step":"pin","seq":3,"attempts":0,"retries":0,"account_number":"1234567","from":"+819012345678"}`; string(b) != want {
		t.Errorf("state JSON %s\nwant %s", b, want)
	}
}

func TestParseSeq(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{
		"1": 1, "40": 40, "0": 0, "": -1, "-1": -1, "+1": -1, "01": -1, "1a": -1, "1234": 1234, "99999999999999999999": -1,
	} {
		if got := ParseSeq(in); got != want {
			t.Errorf("ParseSeq(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{testCfg, {}} {
		h := listen(t, cfg, Unavailable(cfg))
		if h.speech != "現在、こちらのサービスは利用できません。" || !h.hangup || h.gather != nil {
			t.Errorf("Unavailable(%+v) said %q", cfg, h.speech)
		}
	}
}

func TestVoiceIsOmittedWhenNotConfigured(t *testing.T) {
	t.Parallel()
	cfg := Config{}
	_, r := Start(caller, cfg)
	listen(t, cfg, r.TwiML) // listen fails on a voice attribute when cfg.Voice is empty
}

func FuzzNext(f *testing.F) {
	f.Add(uint8(0), 1, 0, 0, "1234567", caller, uint8(1), 1, "1", uint8(0), int64(0), uint8(1), int64(0), true)
	f.Add(uint8(1), 2, 1, 0, "", caller, uint8(2), 2, "1234567#", uint8(0), int64(0), uint8(0), int64(1798243200), true)
	f.Add(uint8(2), 3, 2, 2, "1234567", caller, uint8(2), 3, "4826", uint8(0), int64(0), uint8(2), int64(0), false)
	f.Add(uint8(3), 3, 1, 0, "1234567", caller, uint8(3), 0, "", uint8(1), int64(1780292100), uint8(1), int64(0), true)
	f.Add(uint8(3), 3, 3, 0, "1234567", caller, uint8(3), 0, "", uint8(3), int64(0), uint8(0), int64(0), true)
	f.Add(uint8(5), 0, 0, 0, "", "", uint8(1), 0, "", uint8(0), int64(0), uint8(1), int64(0), true)
	f.Add(uint8(6), 7, 1, 0, "1", "anonymous", uint8(2), 7, "<&>\"'", uint8(9), int64(-62135596800), uint8(7), int64(-62135596800), false)
	steps := []Step{StepMenu, StepAccount, StepPIN, StepVerifying, StepDone, "", "bogus"}
	f.Fuzz(func(t *testing.T, step uint8, seq, attempts, retries int, account, from string, kind uint8, evSeq int, digits string, outcome uint8, expires int64, support uint8, nextOpen int64, operator bool) {
		cfg := testCfg
		if !operator {
			cfg.OperatorNumber = ""
		}
		st := State{Step: steps[int(step)%len(steps)], Seq: seq, Attempts: attempts, Retries: retries, AccountNumber: account, From: from}
		ev := Event{Kind: EventKind(kind % 5), From: from, Seq: evSeq, Digits: digits,
			Result: VerifyResult{Outcome: VerifyOutcome(outcome % 7), WindowExpiresAt: time.Unix(expires, 0)}}
		env := Env{Support: recovery.SupportState(support % 4), NextOpen: time.Unix(nextOpen, 0)}
		got, r := Next(st, ev, cfg, env)

		root, err := parseTwiML(r.TwiML)
		if err != nil || root.name() != "Response" {
			t.Fatalf("bad TwiML (%v):\n%s", err, r.TwiML)
		}
		root.walk(func(n node) {
			if n.name() == "Gather" {
				if a, _ := n.attr("action"); !actionRE.MatchString(a) {
					t.Fatalf("action URL %q", a)
				}
			}
		})
		if !got.sane() {
			t.Fatalf("Next returned an insane state %+v", got)
		}
		if r.Verify != nil && (!allDigits(r.Verify.PIN, 4, 4) || got.Step != StepVerifying) {
			t.Fatalf("verify %+v from state %+v", r.Verify, got)
		}
		if r.Verify != nil && got.Attempts > MaxAttempts {
			t.Fatalf("verification beyond the limit: %+v", got)
		}
		if b, err := json.Marshal(got); err != nil || (r.Verify != nil && strings.Contains(string(b), `"`+r.Verify.PIN+`"`)) {
			t.Fatalf("state JSON %s (%v)", b, err)
		}
	})
}

// §4.8: after the keyed checks pass, the call asks for the texted code; the code is checked as
// part of the same verification (no attempt of its own), and anything but six digits is asked
// for again.
func TestCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		digits string
		valid  bool
	}{
		{"six digits", "042917", true},
		{"five digits", "04291", false},
		{"seven digits", "0429171", false},
		{"empty is a timeout", "", false},
		{"star", "04*917", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := toVerify(t, "1234567", "4826")
			h := p.verified(VerifyResult{Outcome: CodeSent})
			if p.st.Step != StepCode || h.speech != promptCodeSent+promptCode || p.st.AccountNumber != "" {
				t.Fatalf("after the code was sent: state %+v, said %q", p.st, h.speech)
			}
			h = p.key(tt.digits)
			if !tt.valid {
				if p.reply.Verify != nil || p.st.Step != StepCode || h.speech != promptNotRecognise+promptCode {
					t.Errorf("state %+v verify %v said %q, want the code asked for again", p.st, p.reply.Verify, h.speech)
				}
				return
			}
			want := VerifyRequest{CallerNumber: caller, Code: tt.digits}
			if p.reply.Verify == nil || *p.reply.Verify != want || p.st.Attempts != 1 {
				t.Fatalf("verify %+v attempts %d, want %+v and still one attempt", p.reply.Verify, p.st.Attempts, want)
			}
			// A wrong code is a failed verification: retry from the account number.
			if h := p.verified(VerifyResult{Outcome: Failed}); p.st.Step != StepAccount || h.speech != promptFailed+promptRetry+promptAccount {
				t.Errorf("wrong code: state %+v said %q", p.st, h.speech)
			}
		})
	}
}
