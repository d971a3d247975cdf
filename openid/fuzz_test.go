package openid

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"kagi/auth"
	"kagi/web/webtest"

	"golang.org/x/oauth2"
)

// FuzzOpenIDRequests sends whatever parameters to the provider's endpoints an app or a browser
// calls: the authorization request (from a browser without a session and from one logged in),
// kagi's callback from the login page, the end-session request, and as a form the token and
// revocation requests (with the web client's credentials and without) and the userinfo
// request's bearer token. Whatever they hold, the answer is never a 5xx (an OAuth error, a page
// or a redirect), and neither the core nor the provider logs it as an error (an operator's
// alert).
func FuzzOpenIDRequests(f *testing.F) {
	var logs webtest.LogBuffer
	e := newOPEnv(f, func(c *auth.Config) {
		c.Log = logs.Logger()
	})
	e.account("taro01")
	loggedIn := e.browser()
	e.passwordLogin(loggedIn, "taro01", "")
	a := e.authorization(oauth2.SetAuthURLParam("claims", `{"id_token":{"acr":{"essential":true,"value":"urn:kagi:acr:passkey"}}}`))
	for _, seed := range []string{
		"",
		strings.TrimPrefix(a.url[strings.IndexByte(a.url, '?'):], "?"),
		"client_id=trading-web&response_type=code&scope=openid&redirect_uri=" + url.QueryEscape(redirectURI) + "&claims=%7B",
		"client_id=trading-app&response_type=code&scope=openid&redirect_uri=http%3A%2F%2F127.0.0.1%3A53123%2Fcb&code_challenge=x&code_challenge_method=plain",
		"client_id=nobody&response_type=token&prompt=none&max_age=-1",
		"id=unknown",
		"id=%00&auth_request=%00",
		"id=%ff%fe&auth_request=%c3",
		"grant_type=authorization_code&code=x&redirect_uri=" + url.QueryEscape(redirectURI) + "&code_verifier=y",
		"grant_type=refresh_token&refresh_token=x",
		"grant_type=client_credentials&scope=openid",
		"token=x&token_type_hint=refresh_token",
		"token=%00%ff&token_type_hint=access_token",
		"grant_type=refresh_token&refresh_token=%00%ff",
		"id_token_hint=x.y.z&post_logout_redirect_uri=" + url.QueryEscape(postLogoutURI) + "&state=s",
		"client_id=trading-web&post_logout_redirect_uri=http%3A%2F%2Fevil.example%2F",
		"%zz=1&a=%00",
	} {
		f.Add(seed)
	}
	anonymous := e.browser()
	f.Fuzz(func(t *testing.T, params string) {
		logs.Reset()
		defer func() {
			if logs.LoggedError() {
				t.Fatalf("%q: a caller's mistake logged as an error: %s", params, logs.String())
			}
		}()
		send := func(c *http.Client, method, path, params string, header ...string) {
			t.Helper()
			u := e.srv.URL + path
			var body io.Reader
			if method == http.MethodGet {
				u += "?" + params
			} else {
				body = strings.NewReader(params)
			}
			req, err := http.NewRequest(method, u, body)
			if err != nil || method == http.MethodGet && !plain(params) || len(header) > 1 && !plain(strings.TrimPrefix(header[1], "Bearer ")) {
				return // not a request a client could send
			}
			if method == http.MethodPost {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			for i := 0; i+1 < len(header); i += 2 {
				req.Header.Set(header[i], header[i+1])
			}
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode >= 500 {
				t.Fatalf("%s %s with %q: %d %s", method, path, params, res.StatusCode, answer)
			}
		}
		for _, c := range []*http.Client{anonymous, loggedIn} {
			send(c, http.MethodGet, authorizeEndpoint.Relative(), params)
			send(c, http.MethodGet, CallbackPath, params)
		}
		// The login pages and APIs an authorization request sends the browser to, for the request
		// named in params (auth_request).
		send(anonymous, http.MethodGet, "/login", params)
		if plain(params) {
			send(e.browser(), http.MethodPost, "/api/v1/login/password?"+params, `{"login_id":"taro01","password":"correct horse battery"}`, "Content-Type", "application/json")
		}
		send(anonymous, http.MethodGet, endSessionEndpoint.Relative(), params)
		send(anonymous, http.MethodPost, endSessionEndpoint.Relative(), params)
		send(anonymous, http.MethodPost, tokenEndpoint.Relative(), params)
		basic := []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("trading-web:"+webClientSecret))}
		send(anonymous, http.MethodPost, tokenEndpoint.Relative(), params, basic...)
		send(anonymous, http.MethodPost, revocationEndpoint.Relative(), params, basic...)
		send(anonymous, http.MethodGet, userinfoEndpoint.Relative(), "", "Authorization", "Bearer "+params)
	})
}

// plain reports that s has no space or control character, so that a client can put it into a
// request line or a header as it is.
func plain(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f })
}
