package ivr

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"kagi/ivr/twiliosim"
)

// FuzzWebhook drives the real webhook (signed requests, real PostgreSQL) with arbitrary
// inputs against a few calls whose state accumulates: never a panic, never anything but 200
// with a TwiML document (or 204 for the status callback).
func FuzzWebhook(f *testing.F) {
	e := newLineEnv(f)
	e.addCustomer("1234567", true)
	sids := []string{twiliosim.NewCallSid(), twiliosim.NewCallSid(), twiliosim.NewCallSid(), "x"}
	f.Add(uint8(0), "voice", regCaller, "", "")
	f.Add(uint8(0), "gather", regCaller, "1", "1")
	f.Add(uint8(0), "gather", regCaller, "1234567", "2")
	f.Add(uint8(0), "gather", regCaller, "1234", "3")
	f.Add(uint8(1), "voice", "anonymous", "", "")
	f.Add(uint8(2), "gather", "+81", "*#", "-1")
	f.Add(uint8(2), "status", regCaller, "", "completed")
	f.Add(uint8(3), "fallback", "", strings.Repeat("9", 300), "99999999999999999999")
	f.Add(uint8(0), "gather", regCaller, "0", "4")
	f.Add(uint8(0), "dial", regCaller, "busy", "5")
	f.Add(uint8(0), "dial", regCaller, "completed", "5")
	f.Fuzz(func(t *testing.T, sid uint8, route, from, digits, seq string) {
		form := url.Values{"CallSid": {sids[int(sid)%len(sids)]}, "From": {from}, "Digits": {digits}, "CallStatus": {seq}, "DialCallStatus": {digits}}
		path := map[string]string{"voice": "/ivr/voice", "status": "/ivr/status", "fallback": "/ivr/fallback"}[route]
		switch {
		case route == "dial":
			path = DialPath + "?seq=" + url.QueryEscape(seq)
		case path == "":
			path = GatherPath + "?seq=" + url.QueryEscape(seq)
		}
		req, err := http.NewRequest("POST", e.srv.URL+path, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twiliosim.Sign(testToken, e.srv.URL+path, form))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if path == "/ivr/status" {
			if res.StatusCode != http.StatusNoContent {
				t.Fatalf("status callback: %d", res.StatusCode)
			}
			return
		}
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: HTTP %d %s", path, res.StatusCode, body)
		}
		if _, err := twiliosim.ParseTwiML(body); err != nil {
			t.Fatalf("%s: %v\n%s", path, err, body)
		}
		if strings.Contains(string(body), "action=") && digits != "" && len(digits) > 2 && strings.Contains(actionURLs(body), digits) {
			t.Fatalf("keyed input %q appears in an action URL: %s", digits, body)
		}
	})
}

// actionURLs joins the action attributes of a document.
func actionURLs(doc []byte) string {
	var out []string
	s := string(doc)
	for {
		i := strings.Index(s, `action="`)
		if i < 0 {
			return strings.Join(out, " ")
		}
		s = s[i+len(`action="`):]
		j := strings.IndexByte(s, '"')
		if j < 0 {
			return fmt.Sprint(out)
		}
		out = append(out, s[:j])
		s = s[j:]
	}
}
