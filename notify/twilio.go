package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	twilio "github.com/twilio/twilio-go"
	twclient "github.com/twilio/twilio-go/client"
	twapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// twilioTimeout bounds one request to Twilio's Messaging API.
const twilioTimeout = 15 * time.Second

// maxTwilioErrorBody is as much of an error answer as is kept for twilio-go to decode.
const maxTwilioErrorBody = 1 << 20

var (
	// twilio-go sends its credentials only when both are alphanumeric.
	accountSIDPattern = regexp.MustCompile(`^AC[0-9A-Za-z]+$`)
	authTokenPattern  = regexp.MustCompile(`^[0-9A-Za-z]+$`)
	serviceSIDPattern = regexp.MustCompile(`^MG[0-9A-Za-z]+$`)
	e164Pattern       = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
)

// TwilioConfig is how texts leave (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, KAGI_SMS_FROM,
// KAGI_TWILIO_API_URL).
type TwilioConfig struct {
	AccountSID, AuthToken string
	// From is an E.164 number or a messaging service SID (MG…).
	From string
	// APIURL is the origin of Twilio's REST API; empty is Twilio's own. Tests and dev mode point it
	// at a local stand-in.
	APIURL string
}

// TwilioTexter sends texts through Twilio's Messaging API with twilio-go's REST client.
type TwilioTexter struct {
	cfg TwilioConfig
	// origin replaces the scheme and host of every request when APIURL is set.
	origin *url.URL
	// base carries the requests, its connections reused from one text to the next.
	base http.RoundTripper
}

// NewTwilioTexter checks cfg, naming every problem at once, so a bad setting stops the server at
// start instead of failing every text.
func NewTwilioTexter(cfg TwilioConfig) (*TwilioTexter, error) {
	var problems []error
	if !accountSIDPattern.MatchString(cfg.AccountSID) {
		problems = append(problems, fmt.Errorf("twilio: account SID %q does not start with AC followed by letters and digits", cfg.AccountSID))
	}
	if !authTokenPattern.MatchString(cfg.AuthToken) {
		problems = append(problems, errors.New("twilio: auth token is empty or not letters and digits"))
	}
	if !e164Pattern.MatchString(cfg.From) && !serviceSIDPattern.MatchString(cfg.From) {
		problems = append(problems, fmt.Errorf("twilio: sender %q is neither an E.164 number (+81…) nor a messaging service SID (MG…)", cfg.From))
	}
	var origin *url.URL
	if cfg.APIURL != "" {
		u, err := url.Parse(cfg.APIURL)
		switch {
		case err != nil:
			problems = append(problems, fmt.Errorf("twilio: API URL: %w", err))
		case u.Scheme != "http" && u.Scheme != "https", u.Host == "", u.User != nil,
			u.Path != "" && u.Path != "/", u.RawQuery != "", u.ForceQuery, u.Fragment != "":
			problems = append(problems, fmt.Errorf("twilio: API URL %q is not an http(s) origin like https://host:port", u.Redacted()))
		default:
			origin = u
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	return &TwilioTexter{cfg: cfg, origin: origin, base: base}, nil
}

// SendSMS texts m.Body to m.To. Twilio's refusal of the request itself (a 4xx such as 21211 for
// a number that cannot be texted) is Permanent; a refused credential, 429, 5xx and network
// failures are worth a retry.
func (t *TwilioTexter) SendSMS(ctx context.Context, m SMS) error {
	if !e164Pattern.MatchString(m.To) {
		return Permanent(fmt.Errorf("twilio: recipient %s is not an E.164 number", MaskPhone(m.To)))
	}
	rc, cancel := t.rest(ctx)
	defer cancel()
	params := (&twapi.CreateMessageParams{}).SetTo(m.To).SetBody(m.Body)
	if strings.HasPrefix(t.cfg.From, "MG") {
		params.SetMessagingServiceSid(t.cfg.From)
	} else {
		params.SetFrom(t.cfg.From)
	}
	if _, err := rc.Api.CreateMessage(params); err != nil {
		return twilioError("text to", m.To, err)
	}
	return nil
}

// PlaceCall places an outbound call through Twilio's Calls API (the voice line calling the
// registered phone back, §4.8): Twilio fetches the call's TwiML from c.URL once it is answered
// and reports its end to c.StatusURL. It returns the new call's CallSid. Failures are
// classified as SendSMS's.
func (t *TwilioTexter) PlaceCall(ctx context.Context, c Call) (string, error) {
	if !e164Pattern.MatchString(c.To) || !e164Pattern.MatchString(c.From) {
		return "", Permanent(fmt.Errorf("twilio: call to %s from %s: not E.164 numbers", MaskPhone(c.To), MaskPhone(c.From)))
	}
	rc, cancel := t.rest(ctx)
	defer cancel()
	params := (&twapi.CreateCallParams{}).SetTo(c.To).SetFrom(c.From).SetUrl(c.URL).SetMethod(http.MethodPost).
		SetStatusCallback(c.StatusURL).SetStatusCallbackMethod(http.MethodPost).SetTimeout(callRingSeconds)
	call, err := rc.Api.CreateCall(params)
	if err != nil {
		return "", twilioError("call to", c.To, err)
	}
	if call.Sid == nil || *call.Sid == "" {
		return "", errors.New("twilio: call created without a CallSid")
	}
	return *call.Sid, nil
}

// callRingSeconds is how long a call back rings before Twilio reports no-answer.
const callRingSeconds = 30

// rest is a twilio-go REST client for one request: twilio-go builds its requests without a
// context, so the transport gives them ctx (bounded by twilioTimeout).
func (t *TwilioTexter) rest(ctx context.Context) (*twilio.RestClient, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, twilioTimeout)
	c := &twclient.Client{
		Credentials: twclient.NewCredentials(t.cfg.AccountSID, t.cfg.AuthToken),
		HTTPClient: &http.Client{
			Transport: &twilioTransport{ctx: ctx, origin: t.origin, base: t.base},
			// As twilio-go's own client: an answer is never followed elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(t.cfg.AccountSID)
	return twilio.NewRestClientWithParams(twilio.ClientParams{Client: c}), cancel
}

// twilioError is what a failed request to Twilio returns: Twilio's own message may quote the
// number, and the error is logged, so it keeps only the status and Twilio's error code. A
// refusal of the request itself is Permanent; a refused credential (401, 403) is ours to mend,
// not the message's fault, so it is retried, as are 429, 5xx and network failures.
func twilioError(what, to string, err error) error {
	var re *twclient.TwilioRestError
	if !errors.As(err, &re) {
		return fmt.Errorf("twilio: %s %s: %w", what, MaskPhone(to), err)
	}
	err = fmt.Errorf("twilio: %s %s: HTTP %d, Twilio error %d", what, MaskPhone(to), re.Status, re.Code)
	if re.Status >= 400 && re.Status < 500 && !retriedTwilioStatus[re.Status] {
		return Permanent(err)
	}
	return err
}

// retriedTwilioStatus are the 4xx answers a later try may get past.
var retriedTwilioStatus = map[int]bool{
	http.StatusUnauthorized: true, http.StatusForbidden: true, http.StatusTooManyRequests: true,
}

// twilioTransport gives twilio-go's requests the caller's context and, when origin is set, sends
// them there instead of to Twilio.
type twilioTransport struct {
	ctx    context.Context
	origin *url.URL
	base   http.RoundTripper
}

func (tr *twilioTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(tr.ctx)
	if tr.origin != nil {
		r.URL.Scheme = tr.origin.Scheme
		r.URL.Host = tr.origin.Host
		r.Host = ""
	}
	resp, err := tr.base.RoundTrip(r)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	// twilio-go decodes an error answer without closing it, which would hold its connection for
	// good; hand it a copy in memory instead.
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTwilioErrorBody))
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

var _ Texter = (*TwilioTexter)(nil)
