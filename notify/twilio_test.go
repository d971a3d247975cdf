package notify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "0123456789abcdef0123456789abcdef"
)

// twilioRequest is one request as the stand-in saw it.
type twilioRequest struct {
	method, path   string
	user, password string
	form           url.Values
}

// twilioStandIn is a local stand-in for Twilio's REST API that answers every request with status
// and body.
type twilioStandIn struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []twilioRequest
}

func startTwilio(t *testing.T, status int, body string) *twilioStandIn {
	t.Helper()
	s := &twilioStandIn{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, _ := r.BasicAuth()
		if err := r.ParseForm(); err != nil {
			t.Errorf("stand-in: %v", err)
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, twilioRequest{r.Method, r.URL.Path, user, password, r.PostForm})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *twilioStandIn) requests() []twilioRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]twilioRequest(nil), s.reqs...)
}

func texterFor(t *testing.T, apiURL, from string) *TwilioTexter {
	t.Helper()
	tx, err := NewTwilioTexter(TwilioConfig{AccountSID: testSID, AuthToken: testToken, From: from, APIURL: apiURL})
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

const createdMessage = `{"sid":"SM0123456789abcdef0123456789abcdef","account_sid":"` + testSID + `","to":"+819012345678","from":"+815012345678","body":"x","status":"queued"}`

func TestTwilioTexterSends(t *testing.T) {
	const body = "【カギ証券】お客様の口座でパスキーの再登録期間が開始されました。お心当たりがない場合はお電話ください。"
	for _, tc := range []struct {
		name, from string
		want       url.Values
	}{
		{"from a number", "+815012345678", url.Values{"To": {"+819012345678"}, "From": {"+815012345678"}, "Body": {body}}},
		{"from a messaging service", "MG0123456789abcdef0123456789abcdef", url.Values{"To": {"+819012345678"}, "MessagingServiceSid": {"MG0123456789abcdef0123456789abcdef"}, "Body": {body}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startTwilio(t, http.StatusCreated, createdMessage)
			tx := texterFor(t, s.URL, tc.from)
			if err := tx.SendSMS(t.Context(), SMS{To: "+819012345678", Body: body}); err != nil {
				t.Fatalf("SendSMS: %v", err)
			}
			reqs := s.requests()
			if len(reqs) != 1 {
				t.Fatalf("stand-in got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.method != http.MethodPost || r.path != "/2010-04-01/Accounts/"+testSID+"/Messages.json" {
				t.Errorf("request %s %s", r.method, r.path)
			}
			if r.user != testSID || r.password != testToken {
				t.Errorf("basic auth %q:%q, want the SID and token", r.user, r.password)
			}
			if len(r.form) != len(tc.want) {
				t.Errorf("form %v, want %v", r.form, tc.want)
			}
			for k, v := range tc.want {
				if r.form.Get(k) != v[0] {
					t.Errorf("form %s = %q, want %q", k, r.form.Get(k), v[0])
				}
			}
		})
	}
}

func TestTwilioTexterClassifiesFailures(t *testing.T) {
	for _, tc := range []struct {
		name          string
		status        int
		body          string
		wantPermanent bool
	}{
		{"21211 invalid number is permanent", http.StatusBadRequest, `{"code":21211,"message":"The 'To' number +819012345678 is not a valid phone number.","more_info":"","status":400}`, true},
		{"21610 unsubscribed recipient is permanent", http.StatusBadRequest, `{"code":21610,"message":"Attempt to send to unsubscribed recipient","status":400}`, true},
		{"401 (a revoked token, ours to mend) is retried", http.StatusUnauthorized, `{"code":20003,"message":"Authenticate","status":401}`, false},
		{"429 is retried", http.StatusTooManyRequests, `{"code":20429,"message":"Too Many Requests","status":429}`, false},
		{"500 is retried", http.StatusInternalServerError, `{"code":20500,"message":"Internal Server Error","status":500}`, false},
		{"503 without a JSON body is retried", http.StatusServiceUnavailable, `<html>unavailable</html>`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startTwilio(t, tc.status, tc.body)
			tx := texterFor(t, s.URL, "+815012345678")
			err := tx.SendSMS(t.Context(), SMS{To: "+819012345678", Body: "本文"})
			if err == nil {
				t.Fatal("SendSMS succeeded, want an error")
			}
			if strings.Contains(err.Error(), "+819012345678") {
				t.Errorf("error %q shows the whole phone number (it is logged)", err)
			}
			if IsPermanent(err) != tc.wantPermanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, IsPermanent(err), tc.wantPermanent)
			}
			if n := len(s.requests()); n != 1 {
				t.Errorf("stand-in got %d requests, want 1", n)
			}
		})
	}
}

func TestTwilioTexterNothingListening(t *testing.T) {
	t.Parallel()
	s := httptest.NewServer(http.NotFoundHandler())
	s.Close()
	tx := texterFor(t, s.URL, "+815012345678")
	err := tx.SendSMS(t.Context(), SMS{To: "+819012345678", Body: "本文"})
	if err == nil || IsPermanent(err) {
		t.Errorf("SendSMS with nothing listening: %v, want an error worth a retry", err)
	}
}

func TestTwilioTexterHonoursContext(t *testing.T) {
	t.Parallel()
	s := startTwilio(t, http.StatusCreated, createdMessage)
	tx := texterFor(t, s.URL, "+815012345678")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := tx.SendSMS(ctx, SMS{To: "+819012345678", Body: "本文"})
	if err == nil || IsPermanent(err) {
		t.Errorf("SendSMS with a cancelled context: %v, want an error worth a retry", err)
	}
	if n := len(s.requests()); n != 0 {
		t.Errorf("stand-in got %d requests after cancellation", n)
	}
}

func TestTwilioTexterRefusesMalformedNumberForGood(t *testing.T) {
	t.Parallel()
	s := startTwilio(t, http.StatusCreated, createdMessage)
	tx := texterFor(t, s.URL, "+815012345678")
	err := tx.SendSMS(t.Context(), SMS{To: "090-1234-5678", Body: "本文"})
	if !IsPermanent(err) {
		t.Errorf("SendSMS to a number not in E.164: %v, want a permanent error", err)
	}
	if n := len(s.requests()); n != 0 {
		t.Errorf("stand-in got %d requests", n)
	}
}

func TestNewTwilioTexterChecksConfig(t *testing.T) {
	ok := TwilioConfig{AccountSID: testSID, AuthToken: testToken, From: "+815012345678"}
	for _, tc := range []struct {
		name string
		edit func(*TwilioConfig)
		want []string // in the error; none for a good config
	}{
		{"Twilio's own API", func(*TwilioConfig) {}, nil},
		{"a local stand-in", func(c *TwilioConfig) { c.APIURL = "http://127.0.0.1:8081" }, nil},
		{"a stand-in with a trailing slash", func(c *TwilioConfig) { c.APIURL = "https://twilio.test/" }, nil},
		{"a messaging service", func(c *TwilioConfig) { c.From = "MG0123456789abcdef0123456789abcdef" }, nil},
		{"SID not an account", func(c *TwilioConfig) { c.AccountSID = "SK0123" }, []string{"account SID"}},
		{"no token", func(c *TwilioConfig) { c.AuthToken = "" }, []string{"auth token"}},
		{"token with symbols", func(c *TwilioConfig) { c.AuthToken = "tok/en+" }, []string{"auth token"}},
		{"domestic number", func(c *TwilioConfig) { c.From = "050-1234-5678" }, []string{"sender"}},
		{"API URL not http", func(c *TwilioConfig) { c.APIURL = "ftp://twilio.test" }, []string{"API URL"}},
		{"API URL with a path", func(c *TwilioConfig) { c.APIURL = "http://127.0.0.1:8081/2010-04-01" }, []string{"API URL"}},
		{"API URL without a host", func(c *TwilioConfig) { c.APIURL = "127.0.0.1:8081" }, []string{"API URL"}},
		{"every problem at once", func(c *TwilioConfig) {
			*c = TwilioConfig{AccountSID: "x", AuthToken: "bad token!", From: "me", APIURL: "localhost"}
		}, []string{"account SID", "auth token", "sender", "API URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			_, err := NewTwilioTexter(cfg)
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("NewTwilioTexter: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("NewTwilioTexter accepted the config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if cfg.AuthToken != "" && strings.Contains(err.Error(), cfg.AuthToken) {
				t.Errorf("error %q shows the auth token", err)
			}
		})
	}
}

func TestTwilioPlacesACallBack(t *testing.T) {
	t.Parallel()
	s := startTwilio(t, http.StatusCreated, `{"sid":"CA0123456789abcdef0123456789abcdef","status":"queued"}`)
	tx := texterFor(t, s.URL, "+815012345678")
	sid, err := tx.PlaceCall(t.Context(), Call{To: "+81312345678", From: "+815000000000",
		URL: "https://login.example.jp/ivr/callback?id=x", StatusURL: "https://login.example.jp/ivr/callback/status?id=x"})
	if err != nil || sid != "CA0123456789abcdef0123456789abcdef" {
		t.Fatalf("PlaceCall: %q %v", sid, err)
	}
	reqs := s.requests()
	if len(reqs) != 1 || reqs[0].path != "/2010-04-01/Accounts/"+testSID+"/Calls.json" || reqs[0].user != testSID || reqs[0].password != testToken {
		t.Fatalf("requests %+v", reqs)
	}
	f := reqs[0].form
	if f.Get("To") != "+81312345678" || f.Get("From") != "+815000000000" || f.Get("Url") != "https://login.example.jp/ivr/callback?id=x" ||
		f.Get("StatusCallback") != "https://login.example.jp/ivr/callback/status?id=x" || f.Get("Method") != "POST" {
		t.Fatalf("form %v", f)
	}
	refused := startTwilio(t, http.StatusBadRequest, `{"code":21215,"message":"Geo permission","status":400}`)
	if _, err := texterFor(t, refused.URL, "+815012345678").PlaceCall(t.Context(), Call{To: "+81312345678", From: "+815000000000", URL: "https://x/", StatusURL: "https://x/"}); !IsPermanent(err) {
		t.Fatalf("a refused call: %v, want permanent", err)
	}
}
