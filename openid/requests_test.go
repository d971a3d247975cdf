package openid

import (
	"slices"
	"testing"
	"time"

	"kagi/auth"
)

// judge decides, for every login path, whether a session answers an authorization request.
func TestJudge(t *testing.T) {
	t.Parallel()
	created := time.Date(2031, 6, 4, 1, 0, 0, 0, time.UTC)
	now := created.Add(time.Minute)
	session := func(a auth.Assurance, loggedIn time.Time) *auth.Session {
		return &auth.Session{Assurance: a, AuthenticatedAt: loggedIn}
	}
	maxAge := func(s int32) *int32 { return &s }
	old := created.Add(-time.Hour)
	for _, c := range []struct {
		name       string
		req        authRequest
		sess       *auth.Session
		hasPasskey bool
		want       verdict
	}{
		{"no session logs in", authRequest{}, nil, false, verdict{}},
		{"a passkey session answers", authRequest{}, session(auth.AssurancePasskey, old), true, verdict{ok: true}},
		{"a password session answers", authRequest{}, session(auth.AssurancePassword, old), false, verdict{ok: true}},
		{"a recovery-only session never answers", authRequest{}, session(auth.AssurancePasswordFallback, now), true, verdict{}},
		{"a recovery-only session with prompt=none ends with login_required", authRequest{Prompt: []string{"none"}},
			session(auth.AssurancePasswordFallback, now), true, verdict{failure: "login_required"}},
		{"step-up: a password session with a passkey logs in with it", authRequest{ACRValues: []string{ACRPasskey}},
			session(auth.AssurancePassword, now), true, verdict{}},
		{"step-up: an account without a passkey cannot", authRequest{ACRValues: []string{ACRPasskey}},
			session(auth.AssurancePassword, now), false, verdict{failure: unmetAuthenticationRequirements}},
		{"step-up met by a passkey session", authRequest{ACRValues: []string{ACRPasskey}}, session(auth.AssurancePasskey, old), true, verdict{ok: true}},
		{"acr_values accepting a password too is no step-up", authRequest{ACRValues: []string{ACRPasskey, ACRPassword}},
			session(auth.AssurancePassword, old), false, verdict{ok: true}},
		{"max_age older than the login logs in", authRequest{MaxAge: maxAge(1800)}, session(auth.AssurancePasskey, old), true, verdict{}},
		{"max_age within the login answers", authRequest{MaxAge: maxAge(7200)}, session(auth.AssurancePasskey, old), true, verdict{ok: true}},
		{"prompt=login (max_age 0) answered by a login made for the request", authRequest{MaxAge: maxAge(0)},
			session(auth.AssurancePasskey, created), true, verdict{ok: true}},
		{"prompt=login not answered by an earlier login", authRequest{MaxAge: maxAge(0)},
			session(auth.AssurancePasskey, created.Add(-time.Second)), true, verdict{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.req.CreatedAt = created
			if got := judge(&c.req, c.sess, c.hasPasskey, now); got != c.want {
				t.Errorf("judge = %+v, want %+v", got, c.want)
			}
		})
	}
}

// An essential acr of the claims parameter is a step-up as acr_values is; anything else it
// asks for changes nothing, and a parameter that is not JSON of §5.5 is refused.
func TestEssentialACR(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, raw string
		want      []string
		bad       bool
	}{
		{"none", "", nil, false},
		{"essential value in the ID token", `{"id_token":{"acr":{"essential":true,"value":"urn:kagi:acr:passkey"}}}`, []string{ACRPasskey}, false},
		{"essential values from userinfo", `{"userinfo":{"acr":{"essential":true,"values":["urn:kagi:acr:passkey","urn:kagi:acr:password"]}}}`,
			[]string{ACRPasskey, ACRPassword}, false},
		{"a voluntary acr is no step-up", `{"id_token":{"acr":{"value":"urn:kagi:acr:passkey"}}}`, nil, false},
		{"a null acr asks nothing", `{"id_token":{"acr":null,"name":{"essential":true}}}`, nil, false},
		{"other claims are ignored", `{"id_token":{"auth_time":{"essential":true}},"userinfo":{"name":null}}`, nil, false},
		{"not JSON", `{"id_token":`, nil, true},
		{"not an object of objects", `{"id_token":"acr"}`, nil, true},
		{"an acr request of the wrong shape", `{"id_token":{"acr":{"essential":"yes"}}}`, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := essentialACR(c.raw)
			if (err != nil) != c.bad || !slices.Equal(got, c.want) {
				t.Errorf("essentialACR = %v, %v; want %v (error %v)", got, err, c.want, c.bad)
			}
		})
	}
}

func FuzzEssentialACR(f *testing.F) {
	f.Add(`{"id_token":{"acr":{"essential":true,"value":"urn:kagi:acr:passkey"}}}`)
	f.Add(`{"userinfo":{"acr":{"essential":true,"values":["a","b"]}}}`)
	f.Add(`{"id_token":{"acr":null}}`)
	f.Fuzz(func(t *testing.T, raw string) {
		acr, err := essentialACR(raw)
		if err != nil && acr != nil {
			t.Errorf("an error with acr %v", acr)
		}
		if len(raw) > maxClaimsParameter && err == nil {
			t.Error("an overlong parameter was read")
		}
	})
}
