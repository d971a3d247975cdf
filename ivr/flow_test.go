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

	"kagi/auth"
	"kagi/hours"
	"kagi/ivr/twiliosim"
	"kagi/recovery"
)

var testCfg = Config{Voice: "Polly.Mizuki", OperatorNumber: "+81312345678", HoursText: regularHours}

// regularHours is §5's regular hours as the line says them.
const regularHours = "平日は午前8時30分から午後5時まで、土曜日・日曜日は午前9時から午後5時までです"

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
	root   node
	speech string // every <Say>, in order, joined
	gather *node
	dial   string
	// dialAction is the action of the <Dial>, where Twilio reports how the transfer ended.
	dialAction string
	hangup     bool
	actions    []string // every Gather action and Redirect URL
}

var (
	actionRE     = regexp.MustCompile(`^/ivr/gather\?seq=[1-9][0-9]*$`)
	dialActionRE = regexp.MustCompile(`^/ivr/dial-done\?seq=[1-9][0-9]*$`)
)

// listen parses a reply and checks what every reply must satisfy: a <Response> root; every
// <Say> in Japanese with the configured voice; every <Gather> a POSTed, fixed action URL with
// only our seq, actionOnEmptyResult, a timeout, and followed by a <Redirect> to the same URL;
// every <Dial> a POSTed, fixed action URL with only our seq, as the last verb (Twilio goes on at
// its action, never after it); the call either waits in a Gather, transfers or hangs up.
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
			h.dialAction, _ = v.attr("action")
			if !dialActionRE.MatchString(h.dialAction) {
				t.Errorf("<Dial> action %q is not %s", h.dialAction, dialActionRE)
			}
			if m, _ := v.attr("method"); m != "POST" {
				t.Errorf("<Dial> method = %q, want POST", m)
			}
			if i+1 != len(verbs) {
				t.Errorf("verbs after <Dial>, which Twilio never reaches:\n%s", doc)
			}
		case "Hangup":
			h.hangup = true
			if i+1 != len(verbs) {
				t.Errorf("verbs after <Hangup>:\n%s", doc)
			}
		}
	}
	if n := btoi(h.gather != nil) + btoi(h.hangup) + btoi(h.dial != ""); n != 1 {
		t.Errorf("reply must either gather, transfer or hang up (gather %v, dial %q, hangup %v):\n%s", h.gather != nil, h.dial, h.hangup, doc)
	}
	return h
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
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
	// As the handler answers Twilio's first request: the zero State of the row it inserts.
	p.st, p.reply = Next(State{}, Event{Kind: EventCallStart, From: from}, p.cfg, p.env)
	p.heard = listen(t, p.cfg, p.reply.TwiML)
	return p
}

func (p *phone) send(ev Event) heard {
	p.t.Helper()
	before := p.st
	p.st, p.reply = Next(p.st, ev, p.cfg, p.env)
	p.heard = listen(p.t, p.cfg, p.reply.TwiML)
	// An event the call was waiting for that leads to a new prompt gives it a new seq.
	expected := ev.Kind == EventDigits && before.Expects(ev.Seq) ||
		ev.Kind == EventDialEnded && before.Step == StepOperator && ev.Seq == before.Seq
	if p.heard.gather != nil {
		if p.st.Seq <= before.Seq && expected {
			p.t.Errorf("a new Gather reused seq %d", p.st.Seq)
		}
		if want := GatherPath + "?seq=" + strconv.Itoa(p.st.Seq); p.heard.actions[0] != want {
			p.t.Errorf("Gather action %q, want %q (State.Seq)", p.heard.actions[0], want)
		}
		if !p.st.Expects(p.st.Seq) {
			p.t.Errorf("state %+v does not expect its own gather", p.st)
		}
	}
	if p.heard.dial != "" {
		if want := DialPath + "?seq=" + strconv.Itoa(p.st.Seq); p.heard.dialAction != want || p.st.Step != StepOperator {
			p.t.Errorf("Dial action %q in step %q, want %q in %q", p.heard.dialAction, p.st.Step, want, StepOperator)
		}
	}
	return p.heard
}

// dialEnded reports how the outstanding transfer ended.
func (p *phone) dialEnded(status string) heard {
	p.t.Helper()
	return p.send(Event{Kind: EventDialEnded, Seq: p.st.Seq, DialStatus: status})
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
			// 186 digit by digit: the figures would be read 「ひゃくはちじゅうろく」.
			if !strings.Contains(p.heard.speech, "電話番号の前に、いち・はち・ろく、をつけて") || strings.Contains(p.heard.speech, "186") ||
				p.heard.speech != promptWithheld {
				t.Errorf("said %q, want the 186 sentence, digit by digit", p.heard.speech)
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
			// One short clause per option, each naming its key last.
			for _, option := range []string{
				"ログインIDとパスワードでの一時的なログインは1を、",
				"、オペレーターは0を、",
				"、もう一度お聞きになるには9を、押してください。",
			} {
				if !strings.Contains(p.heard.speech, option) {
					t.Errorf("the menu does not say %q: %q", option, p.heard.speech)
				}
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
	supportOpen     = Env{Support: hours.Open}
	supportDisabled = Env{Support: hours.Disabled}
	closedTillXmas  = Env{Support: hours.Closed, NextOpen: time.Date(2026, 12, 26, 0, 0, 0, 0, time.UTC)}
	closedTill0830  = Env{Support: hours.Closed, NextOpen: time.Date(2031, 6, 4, 23, 30, 0, 0, time.UTC)}
	closedUnknown   = Env{Support: hours.Closed}
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
		{"0 during hours dials the operator", "0", testCfg, supportOpen, StepOperator, promptConnecting, "+81312345678", 0},
		{"0 outside hours says closed, the regular hours and the next opening, and returns to the menu", "0", testCfg, closedTillXmas, StepMenu,
			"ただいま営業時間外です。営業時間は、平日は午前8時30分から午後5時まで、土曜日・日曜日は午前9時から午後5時までです。" +
				"次の受付開始は、12月26日の午前9時です。" + promptMenu, "", 0},
		{"0 outside hours says the next opening with its minutes", "0", testCfg, closedTill0830, StepMenu,
			"ただいま営業時間外です。営業時間は、" + regularHours + "。次の受付開始は、6月5日の午前8時30分です。" + promptMenu, "", 0},
		{"0 outside hours without a known next opening says the regular hours", "0", testCfg, closedUnknown, StepMenu,
			promptClosed + "営業時間は、" + regularHours + "。" + promptMenu, "", 0},
		{"0 outside hours without an operator number still says closed", "0", noOperator, closedTillXmas, StepMenu,
			"ただいま営業時間外です。営業時間は、" + regularHours + "。次の受付開始は、12月26日の午前9時です。" + promptMenu, "", 0},
		{"0 with support switched off says the service is unavailable, and returns to the menu", "0", testCfg, supportDisabled, StepMenu,
			"現在、こちらのサービスは利用できません。" + promptMenu, "", 0},
		{"0 with support switched off names no hours even with a next opening", "0", testCfg,
			Env{Support: hours.Disabled, NextOpen: closedTillXmas.NextOpen}, StepMenu,
			"現在、こちらのサービスは利用できません。" + promptMenu, "", 0},
		{"0 without an operator number says no transfer and returns to the menu", "0", noOperator, supportOpen, StepMenu,
			promptNoOperator + promptMenu, "", 0},
		{"9 repeats the menu", "9", testCfg, supportOpen, StepMenu, promptMenu, "", 0},
		{"timeout says no input and re-prompts", "", testCfg, supportOpen, StepMenu, promptNotRecognise + promptMenu, "", 1},
		{"another key says it is not on the menu and re-prompts", "5", testCfg, supportOpen, StepMenu, promptNotOnMenu + promptMenu, "", 1},
		{"star is not on the menu", "*", testCfg, supportOpen, StepMenu, promptNotOnMenu + promptMenu, "", 1},
		{"hash is not on the menu", "#", testCfg, supportOpen, StepMenu, promptNotOnMenu + promptMenu, "", 1},
		{"two keys are not on the menu", "10", testCfg, supportOpen, StepMenu, promptNotOnMenu + promptMenu, "", 1},
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
		why   string
	}{
		{"menu timeouts", func(t *testing.T) *phone { return dial(t, caller) }, "", promptNotRecognise},
		{"menu wrong keys", func(t *testing.T) *phone { return dial(t, caller) }, "7", promptNotOnMenu},
		{"account number stars", func(t *testing.T) *phone { p := dial(t, caller); p.key("1"); return p }, "*", promptNotRecognise},
		{"account number timeouts", func(t *testing.T) *phone { p := dial(t, caller); p.key("1"); return p }, "", promptNotRecognise},
		{"short PINs", func(t *testing.T) *phone { return toPIN(t, "1234567") }, "123", promptNotRecognise},
		{"PIN timeouts", func(t *testing.T) *phone { return toPIN(t, "1234567") }, "", promptNotRecognise},
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
			if h.speech != tt.why+promptTooMany+promptGoodbye {
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
			StepDone, "確認が取れました。午後2時35分まで、ログインIDとパスワードを利用してログインが可能です。" + promptRecreate + promptGoodbye},
		{"verified on the hour says only the hour", VerifyResult{Outcome: Verified, WindowExpiresAt: time.Date(2026, 6, 1, 6, 0, 59, 0, time.UTC)},
			StepDone, "確認が取れました。午後3時まで、ログインIDとパスワードを利用してログインが可能です。" + promptRecreate + promptGoodbye},
		{"verified past midnight JST", VerifyResult{Outcome: Verified, WindowExpiresAt: time.Date(2026, 6, 1, 15, 5, 0, 0, time.FixedZone("EDT", -4*60*60))},
			StepDone, "確認が取れました。午前4時5分まで、ログインIDとパスワードを利用してログインが可能です。" + promptRecreate + promptGoodbye},
		{"no passkey says ID and password already work", VerifyResult{Outcome: NoPasskey},
			StepDone, promptNoPasskey + promptGoodbye},
		{"a lifted password pause is said after the window", VerifyResult{Outcome: Verified, PauseLifted: true, WindowExpiresAt: time.Date(2026, 6, 1, 5, 35, 20, 0, time.UTC)},
			StepDone, "確認が取れました。午後2時35分まで、ログインIDとパスワードを利用してログインが可能です。" + promptPauseLifted + promptRecreate + promptGoodbye},
		{"a lifted password pause is said without a passkey too", VerifyResult{Outcome: NoPasskey, PauseLifted: true},
			StepDone, promptNoPasskey + promptPauseLifted + promptGoodbye},
		{"account locked sends to the operator in business hours", VerifyResult{Outcome: AccountLocked},
			StepDone, promptLocked + promptLockedOperator + "営業時間は、" + regularHours + "。" + promptGoodbye},
		{"caller locked sends to the operator in business hours", VerifyResult{Outcome: CallerLocked},
			StepDone, promptLocked + promptLockedOperator + "営業時間は、" + regularHours + "。" + promptGoodbye},
		{"failed retries from the account number", VerifyResult{Outcome: Failed},
			StepAccount, promptFailed + promptRetry + promptAccount},
		{"code sent asks for the code", VerifyResult{Outcome: CodeSent},
			StepCode, promptCodeSent + promptCode},
		{"verified by the code says so", VerifyResult{Outcome: Verified, ByCode: true, WindowExpiresAt: time.Date(2026, 6, 1, 5, 35, 20, 0, time.UTC)},
			StepDone, "確認コードを確認しました。午後2時35分まで、ログインIDとパスワードを利用してログインが可能です。" + promptRecreate + promptGoodbye},
		{"call back placed says so and hangs up", VerifyResult{Outcome: CallbackPlaced},
			StepDone, promptCallbackPlaced + promptGoodbye},
		{"code capped says the phone was texted already, how to reach the operator, and hangs up", VerifyResult{Outcome: CodeCapped},
			StepDone, promptCodeCapped + promptLockedOperator + "営業時間は、" + regularHours + "。" + promptGoodbye},
		{"call back capped says the phone was called already, how to reach the operator, and hangs up", VerifyResult{Outcome: CallbackCapped},
			StepDone, promptCallbackCapped + promptLockedOperator + "営業時間は、" + regularHours + "。" + promptGoodbye},
		{"unknown outcome is unavailable", VerifyResult{Outcome: 0},
			StepDone, promptUnavailable},
		{"suspended account sends to the support desk and hangs up", VerifyResult{Outcome: Suspended},
			StepDone, promptSuspended + promptLockedOperator + "営業時間は、" + regularHours + "。" + promptGoodbye},
		{"outcome beyond the known ones is unavailable", VerifyResult{Outcome: Suspended + 1},
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

// operatorHowTo is how a caller the line cannot help reaches an operator, as the desk's
// regular hours say it.
const operatorHowTo = "オペレーターへのお問い合わせは、営業時間内にお電話いただき、メニューで0を押してください。" +
	"営業時間は、平日は午前8時30分から午後5時まで、土曜日・日曜日は午前9時から午後5時までです。"

// A locked caller is told how long the lock lasts (§4.4: 24 hours) and how to reach the
// operator instead: during business hours, with 0 at the menu; outside them also the day and
// time the desk opens next, which is right on closed days and special days too.
func TestLockedSaysHowLongAndHowToReachTheOperator(t *testing.T) {
	t.Parallel()
	if recovery.DefaultLockout.Lockout != 24*time.Hour {
		t.Fatalf("the lockout lasts %v: promptLocked says 24時間", recovery.DefaultLockout.Lockout)
	}
	const locked = "現在、お電話でのお手続きはご利用いただけません。入力の誤りが続いたため、お手続きを24時間停止しております。"
	for _, tt := range []struct {
		name string
		env  Env
		want string
	}{
		{"open", supportOpen, locked + operatorHowTo + promptGoodbye},
		{"closed", closedTillXmas, locked + operatorHowTo + "次の受付開始は、12月26日の午前9時です。" + promptGoodbye},
		{"closed, next opening unknown", closedUnknown, locked + operatorHowTo + promptGoodbye},
		{"switched off", supportDisabled, locked + promptUnavailable + promptGoodbye},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, outcome := range []VerifyOutcome{AccountLocked, CallerLocked} {
				p := toVerify(t, "1234567", "4826")
				p.env = tt.env
				if h := p.verified(VerifyResult{Outcome: outcome}); h.speech != tt.want || !h.hangup {
					t.Errorf("outcome %d said %q\nwant %q", outcome, h.speech, tt.want)
				}
				// The call back's confirmation finds the same lock: the same sentences.
				h := listen(t, testCfg, CallbackResult(testCfg, tt.env, VerifyResult{Outcome: outcome}, true))
				if h.speech != tt.want || !h.hangup {
					t.Errorf("call back, outcome %d, said %q\nwant %q", outcome, h.speech, tt.want)
				}
			}
		})
	}
}

// A caller whose account the brokerage suspended (§12.2) hears, once the keyed checks passed,
// that the line cannot help and to ask the support desk, with how to reach its operators; the
// call ends, nothing is asked again. The call back's confirmation says the same.
func TestSuspendedSaysSoAndNamesTheSupportDesk(t *testing.T) {
	t.Parallel()
	const suspended = "お客様の口座は、現在ご利用を停止しているため、お電話でのお手続きはお受けできません。お手続きについては、サポート窓口までお問い合わせください。"
	for _, tt := range []struct {
		name string
		env  Env
		want string
	}{
		{"open", supportOpen, suspended + operatorHowTo + promptGoodbye},
		{"closed", closedTillXmas, suspended + operatorHowTo + "次の受付開始は、12月26日の午前9時です。" + promptGoodbye},
		{"switched off", supportDisabled, suspended + promptUnavailable + promptGoodbye},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := toVerify(t, "1234567", "4826")
			p.env = tt.env
			h := p.verified(VerifyResult{Outcome: Suspended})
			if h.speech != tt.want || !h.hangup || p.st.Step != StepDone || p.st.AccountNumber != "" {
				t.Errorf("said %q (hangup %v, step %q)\nwant %q", h.speech, h.hangup, p.st.Step, tt.want)
			}
			cb := listen(t, testCfg, CallbackResult(testCfg, tt.env, VerifyResult{Outcome: Suspended}, true))
			if cb.speech != tt.want || !cb.hangup {
				t.Errorf("call back said %q\nwant %q", cb.speech, tt.want)
			}
		})
	}
}

// The window is said with its length and end; near midnight (JST) with the day it ends on.
func TestWindowEndSaysLengthAndDay(t *testing.T) {
	t.Parallel()
	at := func(day, hour, min, sec int) time.Time { return time.Date(2031, 6, day, hour, min, sec, 0, jst) }
	tests := []struct {
		name     string
		now, end time.Time
		want     string
	}{
		{"midnight: tomorrow", at(4, 23, 33, 0), at(4, 23, 33, 0).Add(30 * time.Minute), "30分間、明日の午前0時3分"},
		{"same day in the afternoon", at(4, 14, 42, 0), at(4, 15, 12, 0), "30分間、午後3時12分"},
		{"same day in the morning, on the hour", at(4, 9, 30, 0), at(4, 10, 0, 0), "30分間、午前10時"},
		{"noon is 午後0時", at(4, 11, 45, 0), at(4, 12, 15, 0), "30分間、午後0時15分"},
		{"seconds: the length rounds, the end is never later", at(4, 14, 42, 40), at(4, 15, 12, 40), "30分間、午後3時12分"},
		{"just before midnight to just after", at(4, 23, 59, 0), at(5, 0, 29, 0), "30分間、明日の午前0時29分"},
		{"an hour", at(4, 10, 0, 0), at(4, 11, 0, 0), "1時間、午前11時"},
		{"an hour and a half", at(4, 10, 0, 0), at(4, 11, 30, 0), "1時間30分間、午前11時30分"},
		{"two days on says the date", at(4, 10, 0, 0), at(6, 10, 0, 0), "48時間、6月6日の午前10時"},
		{"the end of a month", time.Date(2031, 6, 30, 23, 50, 0, 0, jst), time.Date(2031, 7, 1, 0, 20, 0, 0, jst), "30分間、明日の午前0時20分"},
		{"the clock in UTC still counts JST days", at(4, 23, 33, 0).UTC(), at(4, 23, 33, 0).Add(30 * time.Minute).UTC(), "30分間、明日の午前0時3分"},
		{"without the time of the request only the end", time.Time{}, at(4, 15, 12, 0), "午後3時12分"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := "確認が取れました。" + tt.want + "まで、ログインIDとパスワードを利用してログインが可能です。" + promptRecreate + promptGoodbye
			p := toVerify(t, "1234567", "4826")
			p.env = Env{Now: tt.now, Support: hours.Open}
			if h := p.verified(VerifyResult{Outcome: Verified, WindowExpiresAt: tt.end}); h.speech != want {
				t.Errorf("said %q\nwant %q", h.speech, want)
			}
		})
	}
	t.Run("by code and by call back alike", func(t *testing.T) {
		t.Parallel()
		env := Env{Now: at(4, 23, 33, 0)}
		r := VerifyResult{Outcome: Verified, WindowExpiresAt: at(5, 0, 3, 0), ByCode: true}
		p := toVerify(t, "1234567", "4826")
		p.env = env
		if h := p.verified(r); !strings.HasPrefix(h.speech, "確認コードを確認しました。30分間、明日の午前0時3分まで、") {
			t.Errorf("by code said %q", h.speech)
		}
		if h := listen(t, testCfg, CallbackResult(testCfg, env, r, true)); !strings.HasPrefix(h.speech, "折り返しのお電話で確認が取れました。30分間、明日の午前0時3分まで、") {
			t.Errorf("call back said %q", h.speech)
		}
	})
}

// The account number prompt says how many digits the auth core accepts: 1 to maxAccountDigits.
func TestAccountPromptSaysTheDigits(t *testing.T) {
	t.Parallel()
	if want := strconv.Itoa(maxAccountDigits) + "桁以内の口座番号を入力し、"; !strings.HasPrefix(promptAccount, want) {
		t.Errorf("promptAccount %q, want it to start %q", promptAccount, want)
	}
	valid := func(number string) bool {
		err := auth.NewAccount{AccountNumber: number}.Validate()
		return err == nil || !strings.Contains(err.Error(), "account number")
	}
	for n, want := range map[int]bool{1: true, maxAccountDigits: true, maxAccountDigits + 1: false} {
		if got := valid(strings.Repeat("7", n)); got != want {
			t.Errorf("the auth core takes a %d-digit account number: %v, the line says %d digits at most", n, got, maxAccountDigits)
		}
	}
	p := dial(t, caller)
	if h := p.key("1"); h.speech != promptAccount {
		t.Errorf("1 said %q", h.speech)
	}
}

// The line says the regular hours of §5 (recovery's) with its own clock: 午前/午後.
func TestRegularHoursText(t *testing.T) {
	t.Parallel()
	if got := RegularHoursText(); got != regularHours {
		t.Errorf("RegularHoursText() = %q\nwant %q", got, regularHours)
	}
}

// A transfer the operator took ends the call after it; one nobody took comes back to the menu
// with an apology, never to a bare goodbye.
func TestOperatorTransferEnds(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		status string
		want   string
		back   bool
	}{
		{"completed", promptGoodbye, false},
		{"busy", promptOperatorBusy + promptMenu, true},
		{"no-answer", promptOperatorBusy + promptMenu, true},
		{"failed", promptOperatorBusy + promptMenu, true},
		{"canceled", promptOperatorBusy + promptMenu, true},
		{"", promptOperatorBusy + promptMenu, true},
		{"something-new", promptOperatorBusy + promptMenu, true},
	} {
		t.Run(strconv.Quote(tt.status), func(t *testing.T) {
			t.Parallel()
			p := dial(t, caller)
			p.env = supportOpen
			menuSeq := p.st.Seq
			// The transfer has a seq of its own, so its report can never pass for the menu's.
			if h := p.key("0"); h.dial != testCfg.OperatorNumber || h.speech != promptConnecting || p.st.Step != StepOperator || p.st.Seq != menuSeq+1 {
				t.Fatalf("0 in hours: state %+v said %q dialled %q", p.st, h.speech, h.dial)
			}
			dialSeq := p.st.Seq
			h := p.dialEnded(tt.status)
			if h.speech != tt.want {
				t.Errorf("said %q\nwant %q", h.speech, tt.want)
			}
			if !tt.back {
				if !h.hangup || p.st.Step != StepDone {
					t.Errorf("state %+v, want the call ended", p.st)
				}
				return
			}
			if h.gather == nil || p.st.Step != StepMenu || p.st.Seq != dialSeq+1 || p.st.Retries != 0 {
				t.Fatalf("state %+v, want the menu with a new seq", p.st)
			}
			// The menu works as before: 1 goes on to the account number.
			if h := p.key("1"); p.st.Step != StepAccount || h.speech != promptAccount {
				t.Errorf("1 after the transfer: state %+v said %q", p.st, h.speech)
			}
		})
	}
}

// Replayed or out-of-order reports of a transfer change nothing: only the <Dial> outstanding
// moves the call on, and only once.
func TestOperatorTransferReplays(t *testing.T) {
	t.Parallel()
	transferring := func(t *testing.T) *phone {
		p := dial(t, caller)
		p.env = supportOpen
		p.key("0")
		return p
	}
	t.Run("a report with another seq repeats the transfer", func(t *testing.T) {
		t.Parallel()
		p := transferring(t)
		before := p.st
		for _, seq := range []int{before.Seq - 1, before.Seq + 1, 0, -1} {
			h := p.send(Event{Kind: EventDialEnded, Seq: seq, DialStatus: "busy"})
			if p.st != before || h.dial != testCfg.OperatorNumber || h.speech != promptConnecting {
				t.Errorf("seq %d: state %+v said %q dialled %q", seq, p.st, h.speech, h.dial)
			}
		}
	})
	t.Run("a retried menu request repeats the transfer", func(t *testing.T) {
		t.Parallel()
		p := transferring(t)
		before := p.st
		h := p.send(Event{Kind: EventDigits, Seq: before.Seq - 1, Digits: "0"})
		if p.st != before || h.dial != testCfg.OperatorNumber || h.dialAction != DialPath+"?seq="+strconv.Itoa(before.Seq) {
			t.Errorf("state %+v dialled %q at %q", p.st, h.dial, h.dialAction)
		}
		if h := p.send(Event{Kind: EventCallStart, From: caller}); p.st != before || h.dial == "" {
			t.Errorf("a repeated call start: state %+v", p.st)
		}
	})
	t.Run("digits during the transfer are not a menu choice", func(t *testing.T) {
		t.Parallel()
		p := transferring(t)
		before := p.st
		if h := p.send(Event{Kind: EventDigits, Seq: before.Seq, Digits: "1"}); p.st != before || h.dial == "" {
			t.Errorf("state %+v said %q", p.st, h.speech)
		}
	})
	t.Run("a replayed report after the return to the menu", func(t *testing.T) {
		t.Parallel()
		p := transferring(t)
		dialSeq := p.st.Seq
		p.dialEnded("busy")
		before := p.st
		for _, status := range []string{"busy", "completed"} {
			h := p.send(Event{Kind: EventDialEnded, Seq: dialSeq, DialStatus: status})
			if p.st != before || h.speech != promptMenu || h.gather == nil {
				t.Errorf("replayed %s: state %+v said %q", status, p.st, h.speech)
			}
		}
	})
	t.Run("a report for a call that never transferred", func(t *testing.T) {
		t.Parallel()
		for _, setup := range []func(*testing.T) *phone{
			func(t *testing.T) *phone { return dial(t, caller) },
			func(t *testing.T) *phone { return toPIN(t, "1234567") },
		} {
			p := setup(t)
			before := p.st
			if p.send(Event{Kind: EventDialEnded, Seq: before.Seq, DialStatus: "completed"}); p.st != before {
				t.Errorf("state %+v went to %+v", before, p.st)
			}
		}
	})
	t.Run("after the end", func(t *testing.T) {
		t.Parallel()
		p := transferring(t)
		p.dialEnded("completed")
		done := p.st
		if h := p.send(Event{Kind: EventDialEnded, Seq: done.Seq, DialStatus: "busy"}); p.st != done || !h.hangup {
			t.Errorf("state %+v", p.st)
		}
	})
	t.Run("busy transfers cannot loop for ever", func(t *testing.T) {
		t.Parallel()
		p := transferring(t)
		for i := 0; i < 100 && p.st.Step == StepOperator; i++ {
			p.dialEnded("busy")
			if p.st.Step == StepMenu {
				p.key("0")
			}
		}
		if p.st.Step != StepDone || p.st.Seq > maxGathers {
			t.Fatalf("state %+v: the transfer loop never ends", p.st)
		}
	})
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
	_, r := Next(State{}, Event{Kind: EventCallStart, From: caller}, cfg, Env{})
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
	steps := []Step{StepMenu, StepAccount, StepPIN, StepVerifying, StepDone, StepOperator, "", "bogus", StepCode}
	f.Fuzz(func(t *testing.T, step uint8, seq, attempts, retries int, account, from string, kind uint8, evSeq int, digits string, outcome uint8, expires int64, support uint8, nextOpen int64, operator bool) {
		cfg := testCfg
		if !operator {
			cfg.OperatorNumber = ""
		}
		st := State{Step: steps[int(step)%len(steps)], Seq: seq, Attempts: attempts, Retries: retries, AccountNumber: account, From: from}
		ev := Event{Kind: EventKind(kind % 6), From: from, Seq: evSeq, Digits: digits, DialStatus: digits,
			Result: VerifyResult{Outcome: VerifyOutcome(outcome % uint8(CallbackCapped+2)), WindowExpiresAt: time.Unix(expires, 0)}}
		env := Env{Now: time.Unix(nextOpen-expires, 0), Support: hours.State(support % 4), NextOpen: time.Unix(nextOpen, 0)}
		got, r := Next(st, ev, cfg, env)

		root, err := parseTwiML(r.TwiML)
		if err != nil || root.name() != "Response" {
			t.Fatalf("bad TwiML (%v):\n%s", err, r.TwiML)
		}
		root.walk(func(n node) {
			switch n.name() {
			case "Gather":
				if a, _ := n.attr("action"); !actionRE.MatchString(a) {
					t.Fatalf("action URL %q", a)
				}
			case "Dial":
				if a, _ := n.attr("action"); !dialActionRE.MatchString(a) || got.Step != StepOperator || a != DialPath+"?seq="+strconv.Itoa(got.Seq) {
					t.Fatalf("dial action %q in state %+v", a, got)
				}
			}
		})
		if !got.sane() {
			t.Fatalf("Next returned an insane state %+v", got)
		}
		if v := r.Verify; v != nil && (got.Step != StepVerifying ||
			(v.Code == "" && !allDigits(v.PIN, 4, 4)) || (v.Code != "" && (!allDigits(v.Code, 6, 6) || v.PIN != ""))) {
			t.Fatalf("verify %+v from state %+v", r.Verify, got)
		}
		if r.Verify != nil && got.Attempts > MaxAttempts {
			t.Fatalf("verification beyond the limit: %+v", got)
		}
		if b, err := json.Marshal(got); err != nil || (r.Verify != nil && strings.Contains(string(b), `"`+r.Verify.PIN+r.Verify.Code+`"`)) {
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
			// An expired code (or none) is a failed verification: retry from the account number,
			// which texts a new code.
			if h := p.verified(VerifyResult{Outcome: Failed}); p.st.Step != StepAccount || h.speech != promptFailed+promptRetry+promptAccount {
				t.Errorf("expired code: state %+v said %q", p.st, h.speech)
			}
		})
	}
}

// A wrong code is asked for again, not from the account number: the code texted is still good.
// Each try again counts an attempt of the call, so the PIN's attempt and its code's tries stay
// within MaxAttempts verifications, and the last wrong code ends the call.
func TestWrongCodeIsAskedForAgain(t *testing.T) {
	t.Parallel()
	for pinAttempt := 1; pinAttempt <= MaxAttempts; pinAttempt++ {
		t.Run(fmt.Sprintf("PIN right at attempt %d", pinAttempt), func(t *testing.T) {
			t.Parallel()
			p := toVerify(t, "1234567", "4826")
			for range pinAttempt - 1 {
				p.verified(VerifyResult{Outcome: Failed})
				p.key("1234567")
				p.key("4826")
			}
			p.verified(VerifyResult{Outcome: CodeSent})
			codes := 0
			for {
				h := p.key("000000")
				if p.reply.Verify == nil || p.reply.Verify.Code != "000000" {
					t.Fatalf("code %d asked for no check: %+v", codes+1, p.reply.Verify)
				}
				codes++
				h = p.verified(VerifyResult{Outcome: CodeWrong})
				if p.st.Attempts > MaxAttempts {
					t.Fatalf("attempts %d beyond %d", p.st.Attempts, MaxAttempts)
				}
				if h.hangup {
					if h.speech != promptCodeWrong+promptTooMany+promptGoodbye || p.st.Step != StepDone {
						t.Errorf("the last wrong code said %q in step %q", h.speech, p.st.Step)
					}
					break
				}
				if p.st.Step != StepCode || h.speech != promptCodeWrong+promptCode || p.st.Attempts != pinAttempt+codes {
					t.Fatalf("wrong code %d: state %+v said %q, want the code asked for again as attempt %d", codes, p.st, h.speech, pinAttempt+codes)
				}
			}
			// The call's verifications: the PINs keyed, and the codes (the first belongs to the
			// right PIN's attempt).
			if want := MaxAttempts - pinAttempt + 1; codes != want {
				t.Errorf("%d codes tried after the PIN at attempt %d, want %d", codes, pinAttempt, want)
			}
		})
	}
}

// Past the cap of sends (§4.8) the caller hears that the registered phone was contacted already
// and how to go on, and the call ends: with support switched off, no operator to call.
func TestCappedSaysHowToGoOn(t *testing.T) {
	t.Parallel()
	for _, outcome := range []VerifyOutcome{CodeCapped, CallbackCapped} {
		why := map[VerifyOutcome]string{CodeCapped: promptCodeCapped, CallbackCapped: promptCallbackCapped}[outcome]
		for _, tt := range []struct {
			name string
			env  Env
			want string
		}{
			{"closed", closedTillXmas, why + promptLockedOperator + "営業時間は、" + regularHours + "。次の受付開始は、12月26日の午前9時です。" + promptGoodbye},
			{"switched off", supportDisabled, why + promptGoodbye},
		} {
			p := toVerify(t, "1234567", "4826")
			p.env = tt.env
			if h := p.verified(VerifyResult{Outcome: outcome}); h.speech != tt.want || !h.hangup || p.reply.Verify != nil {
				t.Errorf("%s, outcome %d: said %q\nwant %q", tt.name, outcome, h.speech, tt.want)
			}
		}
	}
	// The sentences say what the brief asks and nothing of a code from another call.
	for _, want := range []string{"ご登録の電話番号", "すでに", "しばらくたってから、おかけ直しください"} {
		if !strings.Contains(promptCodeCapped, want) || !strings.Contains(promptCallbackCapped, want) {
			t.Errorf("a capped sentence lacks %q", want)
		}
	}
	if !strings.Contains(promptCallbackCapped, "折り返しのお電話をお待ちいただく") {
		t.Error("the capped call back does not say to wait for the call back already placed")
	}
}

// §4.9: whoever answers a call back first hears who is calling, the brokerage by name.
func TestCallbackSaysWhoIsCallingFirst(t *testing.T) {
	t.Parallel()
	speech := func(cfg Config) string {
		turn, err := twiliosim.ParseTwiML([]byte(CallbackAnswer(cfg, "0123456789abcdef")))
		if err != nil || !turn.Waiting() {
			t.Fatalf("call back answer %+v: %v", turn, err)
		}
		return strings.Join(turn.Said, "")
	}
	branded := testCfg
	branded.Brand = "デモ証券"
	if got, want := speech(branded), "こちらは、デモ証券です。"+promptCallbackAsk; got != want {
		t.Errorf("the call back says %q\nwant %q", got, want)
	}
	// Without a name (only in development) it still says from where it calls.
	if got := speech(testCfg); got != promptCallbackAsk {
		t.Errorf("the call back without a brand says %q", got)
	}
}
