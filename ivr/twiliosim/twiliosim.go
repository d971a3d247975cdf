// Package twiliosim plays Twilio's part of a call on the voice line: it signs webhook requests
// as Twilio does, posts them, reads the TwiML that comes back and keys in what it is given. It
// is for `kagi call`, the development keypad (package devphone) and the tests, so that the line
// can be tried without a phone; the server itself never uses it, and checks signatures with
// twilio-go's RequestValidator. It imports none of kagi's packages, so that package ivr's own
// tests can use it.
package twiliosim

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// Sign computes the X-Twilio-Signature that Twilio sends with a form POST to fullURL. The
// server checks signatures with twilio-go's RequestValidator; a test proves the two agree.
func Sign(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteString(form.Get(k))
	}
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Simulator plays Twilio's part of a call against a running kagi: it posts correctly signed
// webhook requests, reads the TwiML, and keys in what it is given. `kagi call` and the
// development keypad use it, so the voice line can be tried without a phone.
type Simulator struct {
	Client *http.Client
	// BaseURL is where requests are sent; PublicURL is what they are signed for (the server's
	// KAGI_PUBLIC_URL). They differ when kagi sits behind a proxy.
	BaseURL   string
	PublicURL string
	Token     string
}

// Turn is one answer of the line: what was said and what it waits for.
type Turn struct {
	Path string   // the webhook path that was requested
	Keys string   // what the caller keyed in for it ("" for none or a timeout)
	Said []string // the sentences of every <Say>, in order
	// Gather is the action of the <Gather> the line waits on, or "" when the call ended.
	Gather string
	// Dialled is the number of a <Dial> (transfer to the operator), and DialAction where Twilio
	// reports how the transfer ended (see DialEnded).
	Dialled    string
	DialAction string
	// HungUp is set when the TwiML ended the call.
	HungUp bool

	finishOnKey string // of the Gather; Twilio's default is "#"
	numDigits   int    // of the Gather; 0 = no fixed length
}

// keyed is what Twilio reports as Digits when the caller presses keys at this turn's gather:
// the finishing key is not included, and a fixed-length gather stops at its length.
func (t Turn) keyed(keys string) string {
	finish := t.finishOnKey
	if finish == "" {
		finish = "#"
	}
	if i := strings.Index(keys, finish); i >= 0 {
		keys = keys[:i]
	}
	if t.numDigits > 0 && len(keys) > t.numDigits {
		keys = keys[:t.numDigits]
	}
	return keys
}

// NewCallSid returns a random Twilio-style call SID.
func NewCallSid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "CA" + hex.EncodeToString(b[:])
}

// DialPrefix marks an item of a simulated call's keys that is not keyed but answers an
// operator transfer: "dial:busy" plays Twilio reporting the transfer ended with DialCallStatus
// busy (completed, no-answer, failed, canceled likewise).
const DialPrefix = "dial:"

// Call plays one call from the number from, keying in keys one gather at a time (an empty
// string is a gather left to time out), and reports each turn to seen. At an operator transfer
// an item "dial:<status>" plays how the transfer ended. It stops when the line hangs up or
// transfers with no such item, or when keys run out, then sends the status callback. resolve,
// when given, turns an item of keys into what is keyed once the line asks for it (the code the
// line has just texted, §4.8).
func (s *Simulator) Call(ctx context.Context, sid, from string, keys []string, seen func(Turn), resolve ...func(context.Context, string) (string, error)) error {
	turn, err := s.Start(ctx, sid, from)
	if err != nil {
		return err
	}
	seen(turn)
	for len(keys) > 0 {
		if status, ok := strings.CutPrefix(keys[0], DialPrefix); ok && turn.DialAction != "" && !turn.HungUp {
			if turn, err = s.DialEnded(ctx, sid, from, turn, status); err != nil {
				return err
			}
			turn.Keys = keys[0]
			keys = keys[1:]
			seen(turn)
			continue
		}
		if !turn.Waiting() {
			break
		}
		k := keys[0]
		for _, r := range resolve {
			if k, err = r(ctx, k); err != nil {
				return err
			}
		}
		if turn, err = s.Press(ctx, sid, from, turn, k); err != nil {
			return err
		}
		keys = keys[1:]
		seen(turn)
	}
	return s.End(ctx, sid, from)
}

// Start is the call arriving: Twilio's first request.
func (s *Simulator) Start(ctx context.Context, sid, from string) (Turn, error) {
	return s.post(ctx, "/ivr/voice", url.Values{"CallSid": {sid}, "From": {from}, "To": {SimulatedLine}, "CallStatus": {"ringing"}, "Direction": {"inbound"}})
}

// SimulatedLine is the voice line's own number in simulated calls: the To of calls in, the
// From of calls back.
const SimulatedLine = "+815000000000"

// AnswerCallback is the registered phone answering a call back the line placed (§4.8): Twilio
// fetching its TwiML from callbackURL (the Url the line gave Twilio's Calls API) for the call
// sid to the phone to.
func (s *Simulator) AnswerCallback(ctx context.Context, callbackURL, sid, to string) (Turn, error) {
	path, ok := strings.CutPrefix(callbackURL, s.PublicURL)
	if !ok {
		return Turn{}, fmt.Errorf("call back URL %q is not under %s", callbackURL, s.PublicURL)
	}
	return s.post(ctx, path, url.Values{"CallSid": {sid}, "From": {SimulatedLine}, "To": {to}, "CallStatus": {"in-progress"}, "Direction": {"outbound-api"}})
}

// EndCallback is Twilio reporting how a call back ended (no-answer, busy, completed, …) to
// statusURL.
func (s *Simulator) EndCallback(ctx context.Context, statusURL, sid, to, status string) error {
	path, ok := strings.CutPrefix(statusURL, s.PublicURL)
	if !ok {
		return fmt.Errorf("status URL %q is not under %s", statusURL, s.PublicURL)
	}
	return s.report(ctx, path, url.Values{"CallSid": {sid}, "From": {SimulatedLine}, "To": {to}, "CallStatus": {status}, "Direction": {"outbound-api"}})
}

// Press answers the gather that turn waits on with keys ("" = let it time out).
func (s *Simulator) Press(ctx context.Context, sid, from string, turn Turn, keys string) (Turn, error) {
	if !turn.Waiting() {
		return Turn{}, fmt.Errorf("the line is not waiting for keys")
	}
	next, err := s.post(ctx, turn.Gather, url.Values{"CallSid": {sid}, "From": {from}, "To": {SimulatedLine}, "Digits": {turn.keyed(keys)}, "CallStatus": {"in-progress"}})
	next.Keys = keys
	return next, err
}

// DialEnded is Twilio reporting how the transfer of turn ended: status is a DialCallStatus
// (completed, busy, no-answer, failed, canceled). The answer is what the caller hears next.
func (s *Simulator) DialEnded(ctx context.Context, sid, from string, turn Turn, status string) (Turn, error) {
	if turn.DialAction == "" {
		return Turn{}, fmt.Errorf("the line is not transferring the call")
	}
	return s.post(ctx, turn.DialAction, url.Values{"CallSid": {sid}, "From": {from}, "To": {SimulatedLine}, "DialCallStatus": {status}, "CallStatus": {"in-progress"}})
}

// End sends the status callback of a completed call.
func (s *Simulator) End(ctx context.Context, sid, from string) error {
	return s.report(ctx, "/ivr/status", url.Values{"CallSid": {sid}, "From": {from}, "CallStatus": {"completed"}})
}

// Waiting reports whether the line waits for keys after this turn.
func (t Turn) Waiting() bool { return t.Gather != "" && !t.HungUp && t.Dialled == "" }

// post sends one signed webhook request and reads the line's answer, a TwiML document.
func (s *Simulator) post(ctx context.Context, path string, form url.Values) (Turn, error) {
	status, raw, err := s.send(ctx, path, form)
	if err != nil {
		return Turn{}, err
	}
	if status != http.StatusOK {
		return Turn{}, fmt.Errorf("%s: HTTP %d: %s", path, status, strings.TrimSpace(string(raw)))
	}
	t, err := ParseTwiML(raw)
	t.Path = path
	return t, err
}

// report sends one signed status callback, which the line answers without a body.
func (s *Simulator) report(ctx context.Context, path string, form url.Values) error {
	status, _, err := s.send(ctx, path, form)
	if err == nil && status >= 300 {
		err = fmt.Errorf("%s: HTTP %d", path, status)
	}
	return err
}

// send posts form to path, signed for PublicURL + path, and returns the answer's status and
// body.
func (s *Simulator) send(ctx context.Context, path string, form url.Values) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(s.BaseURL, "/")+path, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", Sign(s.Token, strings.TrimSuffix(s.PublicURL, "/")+path, form))
	c := s.Client
	if c == nil {
		c = http.DefaultClient
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, raw, err
}

// twimlNode is any TwiML element, for reading documents whose attribute order is not fixed.
type twimlNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr  `xml:",any,attr"`
	Text     string      `xml:",chardata"`
	Children []twimlNode `xml:",any"`
}

func (n twimlNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// ParseTwiML reads a voice TwiML document into a Turn.
func ParseTwiML(doc []byte) (Turn, error) {
	var root twimlNode
	if err := xml.Unmarshal(doc, &root); err != nil {
		return Turn{}, fmt.Errorf("twiml: %w", err)
	}
	if root.XMLName.Local != "Response" {
		return Turn{}, fmt.Errorf("twiml: root is <%s>, want <Response>", root.XMLName.Local)
	}
	var t Turn
	var walk func(nodes []twimlNode)
	walk = func(nodes []twimlNode) {
		for _, n := range nodes {
			switch n.XMLName.Local {
			case "Say":
				t.Said = append(t.Said, strings.TrimSpace(n.Text))
			case "Gather":
				t.Gather = n.attr("action")
				t.finishOnKey = n.attr("finishOnKey")
				fmt.Sscan(n.attr("numDigits"), &t.numDigits)
				walk(n.Children)
			case "Hangup":
				t.HungUp = true
			case "Dial":
				t.Dialled = strings.TrimSpace(n.Text)
				t.DialAction = n.attr("action")
				for _, c := range n.Children {
					if c.XMLName.Local == "Number" {
						t.Dialled = strings.TrimSpace(c.Text)
					}
				}
			}
		}
	}
	walk(root.Children)
	return t, nil
}
