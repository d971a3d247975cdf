package twiliosim

import (
	"net/url"
	"testing"

	"github.com/twilio/twilio-go/client"
)

// The simulator's signer must produce what twilio-go's validator (the server's check) accepts.
func TestSignAgreesWithTwilioValidator(t *testing.T) {
	v := client.NewRequestValidator("token")
	form := url.Values{"CallSid": {"CA1"}, "From": {"+819012345678"}, "Digits": {"1234#"}, "Empty": {""}}
	u := "https://kagi.example.jp/ivr/gather?seq=3"
	if !v.ValidateBody(u, []byte(form.Encode()), Sign("token", u, form)) {
		t.Fatal("twilio-go refuses our signature")
	}
	if v.ValidateBody(u, []byte(form.Encode()), Sign("other", u, form)) {
		t.Fatal("twilio-go accepts a signature made with another token")
	}
}
