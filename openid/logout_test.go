package openid

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"kagi/auth"
	"kagi/notify"
	"kagi/pgdb"
)

// discardMailer lets the test's outbox run its workers: the logout tokens' deliveries are jobs
// of the same river client as the mail.
type discardMailer struct{}

func (discardMailer) SendMail(context.Context, notify.Mail) error { return nil }

// logoutToken is a logout token the trading site received and verified.
type logoutToken struct {
	Typ    string
	Sub    string                     `json:"sub"`
	SID    string                     `json:"sid"`
	JTI    string                     `json:"jti"`
	IAT    int64                      `json:"iat"`
	Nonce  *string                    `json:"nonce"`
	Events map[string]json.RawMessage `json:"events"`
}

// receiveLogout is the trading site's backchannel_logout_uri: it verifies the logout token as
// OpenID Back-Channel Logout 1.0 §2.6 asks — signature against the JWKS, iss, aud, exp, the
// event, no nonce, a sub or sid — and answers 400 to one it refuses.
func (e *opEnv) receiveLogout(w http.ResponseWriter, r *http.Request) {
	raw := r.PostFormValue("logout_token")
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || raw == "" {
		http.Error(w, "no logout_token", http.StatusBadRequest)
		return
	}
	tok, err := e.logoutVerifier.Verify(r.Context(), raw)
	if err != nil && e.t.Context().Err() != nil {
		// The test is over (its context ends before its clean-up stops the outbox), and with
		// it the key set's fetching: a token still in flight is nobody's to check.
		http.Error(w, "the test is over", http.StatusServiceUnavailable)
		return
	}
	if err != nil {
		e.t.Errorf("logout token refused by go-oidc: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var lt logoutToken
	if err := tok.Claims(&lt); err != nil {
		e.t.Error(err)
	}
	if jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256}); err == nil {
		lt.Typ, _ = jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType].(string)
	}
	e.logouts <- lt
	w.WriteHeader(http.StatusOK)
}

// waitLogout waits for the next logout token and checks what every one must carry.
func (e *opEnv) waitLogout(wantSub, wantSID string) logoutToken {
	e.t.Helper()
	select {
	case lt := <-e.logouts:
		if lt.Typ != "logout+jwt" {
			e.t.Errorf("typ %q, want logout+jwt", lt.Typ)
		}
		if _, ok := lt.Events[backchannelLogoutEvent]; !ok || string(lt.Events[backchannelLogoutEvent]) != "{}" {
			e.t.Errorf("events %v", lt.Events)
		}
		if lt.Nonce != nil || lt.JTI == "" || lt.IAT == 0 {
			e.t.Errorf("nonce %v, jti %q, iat %d", lt.Nonce, lt.JTI, lt.IAT)
		}
		if lt.Sub != wantSub || lt.SID != wantSID {
			e.t.Errorf("logout token for sub %q sid %q, want %q %q", lt.Sub, lt.SID, wantSub, wantSID)
		}
		return lt
	case <-time.After(10 * time.Second):
		e.t.Fatal("no logout token came to the back-channel endpoint")
		return logoutToken{}
	}
}

// noLogout checks that no logout token comes.
func (e *opEnv) noLogout() {
	e.t.Helper()
	select {
	case lt := <-e.logouts:
		e.t.Errorf("an unexpected logout token: %+v", lt)
	case <-time.After(300 * time.Millisecond):
	}
}

// passwordAuthorization logs browser b in by password for an authorization of the trading
// site and returns its tokens and ID token's claims.
func (e *opEnv) passwordAuthorization(b *http.Client, loginID string) (string, string, idClaims) {
	e.t.Helper()
	a := e.authorization()
	id := e.toLogin(b, a)
	login := e.passwordLogin(b, loginID, id)
	tok, c := e.exchange(e.code(b, login["redirect"].(string), a), a)
	if c.SID == "" {
		e.t.Fatal("the ID token has no sid")
	}
	return tok.Extra("id_token").(string), tok.RefreshToken, c
}

func (e *opEnv) sessionStatus(b *http.Client) int {
	e.t.Helper()
	status, _ := e.get(b, "/api/v1/session")
	return status
}

// refreshRefused reports whether the refresh token is refused.
func (e *opEnv) refreshRefused(refresh string) bool {
	_, err := e.conf.TokenSource(e.ctx, &oauth2.Token{RefreshToken: refresh}).Token()
	return err != nil
}

func TestRPInitiatedLogout(t *testing.T) {
	e := newOPEnv(t)
	e.account("hanako01")

	t.Run("discovery advertises logout", func(t *testing.T) {
		var d struct {
			EndSession     string `json:"end_session_endpoint"`
			Backchannel    bool   `json:"backchannel_logout_supported"`
			BackchannelSID bool   `json:"backchannel_logout_session_supported"`
		}
		if err := e.rp.Claims(&d); err != nil {
			t.Fatal(err)
		}
		if d.EndSession != e.srv.URL+"/oauth2/end_session" || !d.Backchannel || !d.BackchannelSID {
			t.Errorf("discovery: %+v", d)
		}
	})

	t.Run("a post_logout_redirect_uri not the client's is refused and the session stays", func(t *testing.T) {
		b := e.browser()
		hint, _, _ := e.passwordAuthorization(b, "hanako01")
		q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"http://127.0.0.1:10/logged-out"}}
		if status, loc := e.get(b, "/oauth2/end_session?"+q.Encode()); status != http.StatusBadRequest {
			t.Errorf("end_session: %d to %q, want 400", status, loc)
		}
		if s := e.sessionStatus(b); s != http.StatusOK {
			t.Errorf("session after a refused logout: %d", s)
		}
		e.noLogout()
	})

	t.Run("the browser's session ends, the trading site is told and sent back", func(t *testing.T) {
		b := e.browser()
		hint, refresh, c := e.passwordAuthorization(b, "hanako01")
		q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {postLogoutURI}, "state": {"s-123"}}
		status, loc := e.get(b, "/oauth2/end_session?"+q.Encode())
		if status != http.StatusFound || loc != postLogoutURI+"?state=s-123" {
			t.Fatalf("end_session: %d to %q", status, loc)
		}
		if s := e.sessionStatus(b); s != http.StatusUnauthorized {
			t.Errorf("session after logout: %d, want 401", s)
		}
		e.waitLogout(c.Sub, c.SID)
		if !e.refreshRefused(refresh) {
			t.Error("the refresh token of the ended session still works")
		}
	})

	t.Run("without a post_logout_redirect_uri a page says so", func(t *testing.T) {
		b := e.browser()
		_, _, c := e.passwordAuthorization(b, "hanako01")
		// No ID token: the customer is asked first, and nothing ends until they answer.
		res, err := b.Get(e.srv.URL + "/oauth2/end_session?client_id=trading-web")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "ログアウトしますか") {
			t.Fatalf("end_session without a hint: %d %s, want the question", res.StatusCode, body)
		}
		// The answer posted from another site is refused; the session lives on.
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/oauth2/end_session", strings.NewReader("confirm=1&client_id=trading-web"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if res, err = b.Do(req); err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("a cross-site answer: %d, want 403", res.StatusCode)
		}
		if status, _ := e.get(b, "/api/v1/session"); status != http.StatusOK {
			t.Fatalf("the session ended before the customer answered: %d", status)
		}
		req, _ = http.NewRequest(http.MethodPost, e.srv.URL+"/oauth2/end_session", strings.NewReader("confirm=1&client_id=trading-web"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		if res, err = b.Do(req); err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "ログアウトしました") {
			t.Errorf("end_session answered: %d %s", res.StatusCode, body)
		}
		e.waitLogout(c.Sub, c.SID)
	})
}

func TestBackchannelLogout(t *testing.T) {
	t.Run("a first passkey ends the other sessions", func(t *testing.T) {
		e := newOPEnv(t)
		e.account("hanako01")
		app := e.browser()
		_, refresh, c := e.passwordAuthorization(app, "hanako01")
		setup := e.browser()
		e.passwordLogin(setup, "hanako01", "")
		if _, err := e.phone().Register(t.Context(), setup); err != nil {
			t.Fatal(err)
		}
		e.waitLogout(c.Sub, c.SID)
		if !e.refreshRefused(refresh) {
			t.Error("the refresh token of the ended session still works")
		}
		// The session that bound the passkey stays, and got no tokens: nothing more is sent.
		e.noLogout()
	})

	t.Run("the expiry job ends an idle session", func(t *testing.T) {
		e := newOPEnv(t)
		e.account("hanako01")
		app := e.browser()
		_, _, c := e.passwordAuthorization(app, "hanako01")
		purge := func() int64 {
			var n int64
			for _, p := range auth.Purges(auth.PurgeConfig{SessionEnds: e.ends}) {
				if p.Name != "sessions" {
					continue
				}
				err := pgdb.InTx(t.Context(), e.pool, func(tx pgx.Tx) error {
					var err error
					n, err = p.Run(t.Context(), tx, e.clock.Now(), 100)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			return n
		}
		if n := purge(); n != 0 {
			t.Fatalf("purged %d live sessions", n)
		}
		e.noLogout()
		e.clock.advance(auth.DefaultSessionIdle)
		if n := purge(); n != 1 {
			t.Fatalf("purged %d sessions, want the idle one", n)
		}
		e.waitLogout(c.Sub, c.SID)
	})
}
