package openid

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/oauth2"

	"kagi/auth"
	"kagi/auth/authtest"
	"kagi/notify"
	"kagi/pgdb/pgtest"
	"kagi/web"
)

const (
	webClientSecret = "s3cret-of-the-trading-site"
	redirectURI     = "http://127.0.0.1:9/callback"
	postLogoutURI   = "http://127.0.0.1:9/logged-out"
	webauthnOrigin  = "https://kagi.test"
)

// op is one test's kagi: the core and the provider on the public handler's routes, over a
// fresh database, served on the loopback address as the issuer.
type opEnv struct {
	t    testing.TB
	srv  *httptest.Server
	auth *auth.Service
	pool *pgxpool.Pool
	// counter counts what the pool sends PostgreSQL.
	counter *pgtest.Counter
	clock   *clock
	// ends is the provider's side of a session's end, as the core and the purges are given it.
	ends *SessionEnds
	// logouts are the logout tokens the trading site's back-channel endpoint received.
	logouts        chan logoutToken
	logoutVerifier *gooidc.IDTokenVerifier
	// rp is the trading site as a relying party written by others: go-oidc and x/oauth2.
	rp       *gooidc.Provider
	conf     oauth2.Config
	verifier *gooidc.IDTokenVerifier
	ctx      context.Context
}

func newOPEnv(t testing.TB, options ...func(*auth.Config)) *opEnv {
	t.Helper()
	pool, counter := pgtest.NewCounted(t, auth.Migrations, auth.NotifyMigrations, Migrations)
	// The real time, moved by hand: the browsers' cookie jars and go-oidc read the real clock.
	c := &clock{now: time.Now().Truncate(time.Second)}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	keys, err := NewKeyStore(KeyStoreConfig{Pool: pool, Secret: testSecret, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	e := &opEnv{t: t, srv: srv, pool: pool, counter: counter, clock: c, logouts: make(chan logoutToken, 100)}
	// The trading site verifies the logout tokens with go-oidc against the provider's JWKS.
	e.logoutVerifier = gooidc.NewVerifier(issuer, gooidc.NewRemoteKeySet(t.Context(), issuer+keysEndpoint.Relative()),
		&gooidc.Config{ClientID: "trading-web", SupportedSigningAlgs: []string{Algorithm}})
	backchannel := httptest.NewServer(http.HandlerFunc(e.receiveLogout))
	t.Cleanup(backchannel.Close)
	clients, err := ParseClients([]byte(`[
	  {"client_id": "trading-web", "client_secret_sha256": "` + secretHash + `", "redirect_uris": ["` + redirectURI + `"],
	   "post_logout_redirect_uris": ["` + postLogoutURI + `"], "backchannel_logout_uri": "` + backchannel.URL + `/backchannel",
	   "scopes": ["openid", "profile", "account", "offline_access"]},
	  {"client_id": "trading-app", "public": true, "redirect_uris": ["http://127.0.0.1:53123/cb"], "scopes": ["openid"]}]`))
	if err != nil {
		t.Fatal(err)
	}
	sender, err := NewLogoutSender(LogoutSenderConfig{Issuer: issuer, Keys: keys, Clients: clients, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	outbox, err := notify.New(notify.Config{Pool: pool, Log: log, Mailer: discardMailer{}, Audit: auth.NotifyAudit(time.Now),
		PollInterval: 50 * time.Millisecond, Workers: sender.Register})
	if err != nil {
		t.Fatal(err)
	}
	if err := outbox.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { outbox.Stop(context.Background()) })
	if e.ends, err = NewSessionEnds(SessionEndsConfig{Secret: testSecret, Clients: clients, Outbox: outbox, Now: c.Now}); err != nil {
		t.Fatal(err)
	}
	authCfg := auth.Config{
		Pool: pool, Log: log, Now: c.Now,
		Passwords:      auth.NewPasswordHasher(auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1}, 4),
		PINKey:         testSecret,
		WebAuthn:       &webauthn.Config{RPID: "kagi.test", RPDisplayName: "kagi", RPOrigins: []string{webauthnOrigin}},
		RecoveryHold:   auth.DefaultRecoveryHold,
		Authorizations: Authorizations{Pool: pool, Now: c.Now},
		SessionEnds:    e.ends,
		Outbox:         outbox,
	}
	for _, o := range options {
		o(&authCfg)
	}
	// An option's logger, if it set one, is the provider's too.
	log = authCfg.Log
	authSvc, err := auth.New(authCfg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProvider(ProviderConfig{Pool: pool, Log: log, Issuer: issuer, Insecure: true, Secret: testSecret,
		Clients: clients, Keys: keys, Auth: authSvc, EmailCheck: authCfg.EmailCheck, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	authSvc.Routes(mux)
	p.Routes(mux)
	srv.Config.Handler = web.WithRequestID(mux)
	srv.Start()
	t.Cleanup(srv.Close)

	ctx := gooidc.ClientContext(t.Context(), srv.Client())
	rp, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatal(err)
	}
	e.auth, e.rp, e.ctx = authSvc, rp, ctx
	e.verifier = rp.Verifier(&gooidc.Config{ClientID: "trading-web"})
	e.conf = oauth2.Config{ClientID: "trading-web", ClientSecret: webClientSecret, Endpoint: rp.Endpoint(), RedirectURL: redirectURI,
		Scopes: []string{gooidc.ScopeOpenID, "profile", "account", gooidc.ScopeOfflineAccess}}
	return e
}

// browser is a customer's browser that shows each redirect instead of following it.
func (e *opEnv) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *opEnv) phone() *authtest.Phone {
	return authtest.NewPhone(authtest.Config{BaseURL: e.srv.URL, Origin: webauthnOrigin, RPID: "kagi.test"})
}

func (e *opEnv) account(loginID string) auth.Account {
	e.t.Helper()
	a, err := e.auth.CreateAccount(context.Background(), auth.NewAccount{LoginID: loginID, Password: "correct horse battery",
		AccountNumber: "12345" + loginID[len(loginID)-2:], PIN: "1234", Phones: []string{"+819012345678"}, Email: loginID + "@example.jp", Name: "山田 太郎"})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// get sends the browser to url and returns the status and the Location it is sent on to.
func (e *opEnv) get(b *http.Client, u string) (int, string) {
	e.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = e.srv.URL + u
	}
	res, err := b.Get(u)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	io.Copy(io.Discard, res.Body)
	return res.StatusCode, res.Header.Get("Location")
}

// authorization is one authorization the relying party starts.
type authorization struct {
	url, state, nonce, verifier string
}

func (e *opEnv) authorization(opts ...oauth2.AuthCodeOption) authorization {
	a := authorization{state: newID(), nonce: newID(), verifier: oauth2.GenerateVerifier()}
	a.url = e.conf.AuthCodeURL(a.state, append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(a.verifier), gooidc.Nonce(a.nonce)}, opts...)...)
	return a
}

// toLogin follows the authorization to the login page and returns the request's id.
func (e *opEnv) toLogin(b *http.Client, a authorization) string {
	e.t.Helper()
	status, loc := e.get(b, a.url)
	u, _ := url.Parse(loc)
	if status != http.StatusFound || u.Path != "/login" || u.Query().Get("auth_request") == "" {
		e.t.Fatalf("authorize: %d to %q, want the login page", status, loc)
	}
	return u.Query().Get("auth_request")
}

// atClient follows the browser from a kagi URL to the client's redirect URI and returns its query.
func (e *opEnv) atClient(b *http.Client, from string) url.Values {
	e.t.Helper()
	status, loc := e.get(b, from)
	if status != http.StatusFound || !strings.HasPrefix(loc, redirectURI+"?") {
		e.t.Fatalf("%s: %d to %q, want the client's redirect URI", from, status, loc)
	}
	u, _ := url.Parse(loc)
	return u.Query()
}

// code follows the browser to the client and returns the code, checking the state.
func (e *opEnv) code(b *http.Client, from string, a authorization) string {
	e.t.Helper()
	q := e.atClient(b, from)
	if q.Get("state") != a.state || q.Get("code") == "" {
		e.t.Fatalf("at the client: %v, want a code and state %q", q, a.state)
	}
	return q.Get("code")
}

// passwordLogin logs the browser in by password, for the authorization request id ("" none).
func (e *opEnv) passwordLogin(b *http.Client, loginID, id string) map[string]any {
	e.t.Helper()
	path := "/api/v1/login/password"
	if id != "" {
		path += "?auth_request=" + id
	}
	res, err := b.Post(e.srv.URL+path, "application/json", strings.NewReader(`{"login_id":"`+loginID+`","password":"correct horse battery"}`))
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]any{}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
		e.t.Fatalf("password login: %d %v %v", res.StatusCode, out, err)
	}
	return out
}

// idClaims are the claims the relying party reads.
type idClaims struct {
	Sub            string   `json:"sub"`
	Nonce          string   `json:"nonce"`
	ACR            string   `json:"acr"`
	AMR            []string `json:"amr"`
	AuthTime       int64    `json:"auth_time"`
	Name           string   `json:"name"`
	AccountNumber  string   `json:"account_number"`
	KagiHoldUntil  *int64   `json:"kagi_hold_until"`
	KagiHoldReason *string  `json:"kagi_hold_reason"`
	SID            string   `json:"sid"`
}

// exchange redeems the code and verifies the ID token as the relying party does.
func (e *opEnv) exchange(code string, a authorization) (*oauth2.Token, idClaims) {
	e.t.Helper()
	tok, err := e.conf.Exchange(e.ctx, code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		e.t.Fatalf("code exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := e.verifier.Verify(e.ctx, raw)
	if err != nil {
		e.t.Fatalf("ID token refused by go-oidc: %v", err)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		e.t.Fatal(err)
	}
	if c.Nonce != a.nonce {
		e.t.Errorf("nonce %q, want %q", c.Nonce, a.nonce)
	}
	return tok, c
}

func TestRelyingPartyPasskeyLogin(t *testing.T) {
	e := newOPEnv(t)
	acct := e.account("hanako01")
	phone := e.phone()
	// The passkey is bound from a password session: the first passkey starts a hold (§2.13).
	setup := e.browser()
	e.passwordLogin(setup, "hanako01", "")
	if _, err := phone.Register(t.Context(), setup); err != nil {
		t.Fatal(err)
	}

	b := e.browser()
	a := e.authorization()
	id := e.toLogin(b, a)
	login, err := phone.LoginForAuthorization(t.Context(), b, "", id)
	if err != nil {
		t.Fatal(err)
	}
	if login.Redirect != CallbackPath+"?id="+id {
		t.Fatalf("passkey login answered redirect %q", login.Redirect)
	}
	tok, c := e.exchange(e.code(b, login.Redirect, a), a)

	t.Run("ID token claims", func(t *testing.T) {
		if c.ACR != ACRPasskey || !slices.Equal(c.AMR, []string{"pop", "mfa"}) {
			t.Errorf("acr %q amr %v", c.ACR, c.AMR)
		}
		if c.AuthTime != e.clock.Now().Unix() {
			t.Errorf("auth_time %d, want %d", c.AuthTime, e.clock.Now().Unix())
		}
		if c.Sub == "" || strings.Contains(c.Sub, "hanako01") || strings.Contains(c.Sub, acct.AccountNumber) || c.Sub != e.subject(acct.ID) {
			t.Errorf("sub %q", c.Sub)
		}
		if c.Name != "山田 太郎" || c.AccountNumber != acct.AccountNumber {
			t.Errorf("name %q account_number %q", c.Name, c.AccountNumber)
		}
		if c.KagiHoldReason == nil || *c.KagiHoldReason != auth.HoldPasskeyAdded || c.KagiHoldUntil == nil ||
			*c.KagiHoldUntil != e.clock.Now().Add(auth.DefaultRecoveryHold).Unix() {
			t.Errorf("hold %v %v, want passkey_added until 72h from now", c.KagiHoldUntil, c.KagiHoldReason)
		}
	})
	t.Run("userinfo", func(t *testing.T) {
		info, err := e.rp.UserInfo(e.ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatal(err)
		}
		var u idClaims
		if err := info.Claims(&u); err != nil {
			t.Fatal(err)
		}
		if u.Sub != c.Sub || u.Name != c.Name || u.AccountNumber != c.AccountNumber || u.KagiHoldReason == nil {
			t.Errorf("userinfo %+v, ID token %+v", u, c)
		}
	})
	t.Run("a session good enough is sent on at once", func(t *testing.T) {
		a := e.authorization()
		status, loc := e.get(b, a.url)
		if status != http.StatusFound || !strings.HasPrefix(loc, CallbackPath+"?id=") {
			t.Fatalf("authorize with a passkey session: %d to %q", status, loc)
		}
		if _, c := e.exchange(e.code(b, loc, a), a); c.Sub != e.subject(acct.ID) || c.ACR != ACRPasskey {
			t.Errorf("claims %+v", c)
		}
	})
	t.Run("another browser cannot finish the request", func(t *testing.T) {
		a := e.authorization()
		status, loc := e.get(b, a.url)
		if status != http.StatusFound {
			t.Fatal(status)
		}
		if status, to := e.get(e.browser(), loc); status != http.StatusFound || !strings.HasPrefix(to, "/login?auth_request=") {
			t.Errorf("callback from another browser: %d to %q", status, to)
		}
	})
	t.Run("refresh tokens rotate, and a reuse revokes the family", func(t *testing.T) {
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token with offline_access")
		}
		refresh := func(rt string) (*oauth2.Token, error) {
			return e.conf.TokenSource(e.ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
		}
		next, err := refresh(tok.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
			t.Fatalf("refresh gave refresh token %q", next.RefreshToken)
		}
		raw, _ := next.Extra("id_token").(string)
		idt, err := e.verifier.Verify(e.ctx, raw)
		if err != nil || idt.Subject != c.Sub {
			t.Fatalf("refreshed ID token: %v", err)
		}
		var rc idClaims
		if err := idt.Claims(&rc); err != nil {
			t.Fatal(err)
		}
		if rc.ACR != ACRPasskey || !slices.Equal(rc.AMR, []string{"pop", "mfa"}) || rc.AuthTime != c.AuthTime || rc.SID != c.SID {
			t.Errorf("refreshed ID token: acr %q amr %v auth_time %d sid %q, want the login's %q %v %d %q",
				rc.ACR, rc.AMR, rc.AuthTime, rc.SID, c.ACR, c.AMR, c.AuthTime, c.SID)
		}
		if _, err := refresh(tok.RefreshToken); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("the used refresh token again: %v, want invalid_grant", err)
		}
		if _, err := refresh(next.RefreshToken); err == nil {
			t.Error("the family's newest refresh token still works after a reuse")
		}
		if _, err := e.rp.UserInfo(e.ctx, oauth2.StaticTokenSource(next)); err == nil {
			t.Error("the family's access token still works after a reuse")
		}
	})
}

// subject is the sub the provider gives the account.
func (e *opEnv) subject(accountID int64) string {
	return (&storage{subjectKey: subjectKeyFrom(testSecret)}).subject(accountID)
}

func TestRelyingPartyPasswordLoginAndStepUp(t *testing.T) {
	e := newOPEnv(t)
	e.account("jiro0001")

	t.Run("password login answers the request", func(t *testing.T) {
		b := e.browser()
		a := e.authorization()
		id := e.toLogin(b, a)
		res := e.passwordLogin(b, "jiro0001", id)
		to, _ := res["redirect"].(string)
		_, c := e.exchange(e.code(b, to, a), a)
		if c.ACR != ACRPassword || !slices.Equal(c.AMR, []string{"pwd"}) || c.KagiHoldUntil != nil || c.KagiHoldReason != nil {
			t.Errorf("claims %+v", c)
		}
	})
	for name, opt := range map[string]oauth2.AuthCodeOption{
		"acr_values": oauth2.SetAuthURLParam("acr_values", ACRPasskey),
		"claims with an essential acr": oauth2.SetAuthURLParam("claims",
			`{"id_token":{"acr":{"essential":true,"values":["`+ACRPasskey+`"]}}}`),
	} {
		t.Run("a step-up the account cannot meet ends at the client: "+name, func(t *testing.T) {
			b := e.browser()
			a := e.authorization(opt)
			id := e.toLogin(b, a)
			res := e.passwordLogin(b, "jiro0001", id)
			to, _ := res["redirect"].(string)
			q := e.atClient(b, to)
			if q.Get("error") != unmetAuthenticationRequirements || q.Get("state") != a.state || q.Get("code") != "" {
				t.Errorf("at the client: %v", q)
			}
			// The password session, already there, is judged the same at once.
			a = e.authorization(opt)
			if q := e.atClient(b, a.url); q.Get("error") != unmetAuthenticationRequirements {
				t.Errorf("authorize with the password session: %v", q)
			}
		})
	}
	t.Run("a claims parameter that is not JSON is refused", func(t *testing.T) {
		b := e.browser()
		a := e.authorization(oauth2.SetAuthURLParam("claims", `{"id_token":`))
		q := e.atClient(b, a.url)
		if q.Get("error") != "invalid_request" || q.Get("state") != a.state {
			t.Errorf("at the client: %v", q)
		}
	})
	t.Run("a password session of an account with a passkey logs in with it", func(t *testing.T) {
		b := e.browser()
		e.passwordLogin(b, "jiro0001", "")
		phone := e.phone()
		if _, err := phone.Register(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		a := e.authorization(oauth2.SetAuthURLParam("acr_values", ACRPasskey))
		id := e.toLogin(b, a)
		login, err := phone.LoginForAuthorization(t.Context(), b, "jiro0001", id)
		if err != nil {
			t.Fatal(err)
		}
		if _, c := e.exchange(e.code(b, login.Redirect, a), a); c.ACR != ACRPasskey {
			t.Errorf("acr %q after the step-up", c.ACR)
		}
	})
}

// With the email check on (KAGI_EMAIL_CHECK, §2.12), a password login answers the authorization
// request only once the customer picks the emoji mailed to them: the password alone gives no
// redirect, the pick does, and the ID token says so (amr pwd and otp).
func TestRelyingPartyPasswordLoginWithTheEmailCheck(t *testing.T) {
	e := newOPEnv(t, func(c *auth.Config) { c.EmailCheck = true })
	e.account("goro0001")
	b := e.browser()
	a := e.authorization()
	id := e.toLogin(b, a)
	res := e.passwordLogin(b, "goro0001", id)
	check, _ := res["email_check"].(map[string]any)
	checkID, _ := check["id"].(string)
	if _, early := res["redirect"]; early || checkID == "" {
		t.Fatalf("password alone answered %v, want the email check and no redirect", res)
	}
	var emoji string
	if err := e.pool.QueryRow(e.ctx, `SELECT args->'event'->>'emoji' FROM river_job WHERE kind = 'notify_message' ORDER BY id DESC LIMIT 1`).Scan(&emoji); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"id": checkID, "choice": emoji})
	r, err := b.Post(e.srv.URL+"/api/v1/login/email-check?auth_request="+id, "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	out := map[string]any{}
	if err := json.NewDecoder(r.Body).Decode(&out); err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("email check: %d %v %v", r.StatusCode, out, err)
	}
	to, _ := out["redirect"].(string)
	_, c := e.exchange(e.code(b, to, a), a)
	if c.ACR != ACRPassword || !slices.Equal(c.AMR, []string{"pwd", "otp"}) {
		t.Errorf("claims %+v, want acr password and amr pwd, otp", c)
	}
}

func TestAuthorizationFreshness(t *testing.T) {
	e := newOPEnv(t)
	e.account("saburo01")
	b := e.browser()
	e.passwordLogin(b, "saburo01", "")
	e.clock.advance(10 * time.Minute)

	t.Run("max_age older than the session's login goes to the login page", func(t *testing.T) {
		id := e.toLogin(b, e.authorization(oauth2.SetAuthURLParam("max_age", "300")))
		if id == "" {
			t.Fatal("no request")
		}
		a := e.authorization(oauth2.SetAuthURLParam("max_age", "3600"))
		if status, loc := e.get(b, a.url); status != http.StatusFound || !strings.HasPrefix(loc, CallbackPath) {
			t.Errorf("max_age 3600: %d to %q, want on at once", status, loc)
		}
	})
	t.Run("prompt=login goes to the login page, and the new login answers", func(t *testing.T) {
		a := e.authorization(oauth2.SetAuthURLParam("prompt", "login"))
		id := e.toLogin(b, a)
		res := e.passwordLogin(b, "saburo01", id)
		to, _ := res["redirect"].(string)
		if _, c := e.exchange(e.code(b, to, a), a); c.AuthTime != e.clock.Now().Unix() {
			t.Errorf("auth_time %d, want the new login's %d", c.AuthTime, e.clock.Now().Unix())
		}
	})
	t.Run("prompt=none without a session ends with login_required", func(t *testing.T) {
		a := e.authorization(oauth2.SetAuthURLParam("prompt", "none"))
		if q := e.atClient(e.browser(), a.url); q.Get("error") != "login_required" || q.Get("state") != a.state {
			t.Errorf("at the client: %v", q)
		}
	})
}

func TestAuthorizationRefusals(t *testing.T) {
	e := newOPEnv(t)
	e.account("shiro001")
	authorizeURL := e.rp.Endpoint().AuthURL
	query := func(edit func(url.Values)) string {
		q := url.Values{"client_id": {"trading-web"}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "scope": {"openid"},
			"state": {"st"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
		edit(q)
		return authorizeURL + "?" + q.Encode()
	}
	for _, c := range []struct {
		name string
		edit func(url.Values)
	}{
		{"unknown client_id", func(q url.Values) { q.Set("client_id", "nobody") }},
		{"unregistered redirect_uri", func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:10/callback") }},
		{"a redirect_uri of another client", func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:53123/cb") }},
		// op refuses an implicit response to an http redirect URI before it asks the client's
		// response types (code only): no token is ever put in a URL.
		{"implicit flow", func(q url.Values) { q.Set("response_type", "id_token token") }},
	} {
		t.Run(c.name+" is answered here, never redirected", func(t *testing.T) {
			res, err := e.browser().Get(query(c.edit))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" {
				t.Errorf("%d to %q", res.StatusCode, res.Header.Get("Location"))
			}
			if !strings.Contains(string(body), "受け付けられませんでした") || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
				t.Errorf("the customer sees %q (%s), want the Japanese page", body, res.Header.Get("Content-Type"))
			}
		})
	}
	for _, c := range []struct {
		name, error string
		edit        func(url.Values)
	}{
		{"missing PKCE", "invalid_request", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }},
		{"plain PKCE", "invalid_request", func(q url.Values) { q.Set("code_challenge_method", "plain") }},
		{"PKCE without its method", "invalid_request", func(q url.Values) { q.Del("code_challenge_method") }},
		{"no openid scope", "invalid_scope", func(q url.Values) { q.Set("scope", "profile") }},
	} {
		t.Run(c.name+" ends at the client with "+c.error, func(t *testing.T) {
			if q := e.atClient(e.browser(), query(c.edit)); q.Get("error") != c.error || q.Get("state") != "st" {
				t.Errorf("at the client: %v", q)
			}
		})
	}

	b := e.browser()
	t.Run("a wrong verifier is refused", func(t *testing.T) {
		a := e.authorization()
		res := e.passwordLogin(b, "shiro001", e.toLogin(b, a))
		to, _ := res["redirect"].(string)
		code := e.code(b, to, a)
		if _, err := e.conf.Exchange(e.ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("wrong verifier: %v", err)
		}
		if _, err := e.conf.Exchange(e.ctx, code, oauth2.VerifierOption(a.verifier)); err == nil {
			t.Error("the code worked after a failed exchange")
		}
	})
	t.Run("a code used twice is refused and revokes its tokens", func(t *testing.T) {
		a := e.authorization()
		status, loc := e.get(b, a.url)
		if status != http.StatusFound {
			t.Fatal(status)
		}
		code := e.code(b, loc, a)
		tok, _ := e.exchange(code, a)
		if _, err := e.conf.Exchange(e.ctx, code, oauth2.VerifierOption(a.verifier)); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("the code again: %v", err)
		}
		if _, err := e.rp.UserInfo(e.ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Error("the access token of a reused code still works")
		}
		if _, err := e.conf.TokenSource(e.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err == nil {
			t.Error("the refresh token of a reused code still works")
		}
	})
	t.Run("the callback works once", func(t *testing.T) {
		a := e.authorization()
		_, loc := e.get(b, a.url)
		e.code(b, loc, a)
		if status, _ := e.get(b, loc); status != http.StatusBadRequest {
			t.Errorf("callback again: %d", status)
		}
	})
	t.Run("tokens end with the session", func(t *testing.T) {
		a := e.authorization()
		_, loc := e.get(b, a.url)
		tok, _ := e.exchange(e.code(b, loc, a), a)
		req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/logout", nil)
		if res, err := b.Do(req); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("logout: %v %v", res, err)
		}
		if _, err := e.rp.UserInfo(e.ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Error("userinfo after logout")
		}
		if _, err := e.conf.TokenSource(e.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err == nil {
			t.Error("refresh after logout")
		}
	})
	t.Run("discovery tells what kagi does", func(t *testing.T) {
		var d struct {
			Issuer        string   `json:"issuer"`
			JWKS          string   `json:"jwks_uri"`
			ResponseTypes []string `json:"response_types_supported"`
			Grants        []string `json:"grant_types_supported"`
			PKCE          []string `json:"code_challenge_methods_supported"`
			ACR           []string `json:"acr_values_supported"`
			Algs          []string `json:"id_token_signing_alg_values_supported"`
		}
		if err := e.rp.Claims(&d); err != nil {
			t.Fatal(err)
		}
		if d.Issuer != e.srv.URL || d.JWKS != e.srv.URL+"/oauth2/keys" || !slices.Equal(d.ResponseTypes, []string{"code"}) ||
			!slices.Equal(d.Grants, []string{"authorization_code", "refresh_token"}) || !slices.Equal(d.PKCE, []string{"S256"}) ||
			!slices.Equal(d.ACR, []string{ACRPasskey, ACRPassword}) || !slices.Equal(d.Algs, []string{"ES256"}) {
			t.Errorf("discovery %+v", d)
		}
		res, err := http.PostForm(e.srv.URL+"/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"shiro001"}, "password": {"correct horse battery"}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "unsupported_grant_type") {
			t.Errorf("password grant: %d %s", res.StatusCode, body)
		}
	})
}

// BenchmarkAuthorizationCodeLogin runs whole logins of an app, as its browser and its back end
// make them: authorize → the login page's password login for the request → the callback → the
// code exchanged with PKCE, the ID token verified by go-oidc. BenchmarkPasswordLoginAlone is the
// same login without an app, so the two ns/op differ by what the provider adds (the hash is a
// small test one). Figures: the ID token's size; the statements (begin and commit not counted)
// and commits of the token request (the code's exchange) alone.
func BenchmarkAuthorizationCodeLogin(b *testing.B) {
	e := newOPEnv(b)
	e.account("rokuro01")
	var size int
	var statements, commits int64
	for b.Loop() {
		br := e.browser()
		a := e.authorization()
		res := e.passwordLogin(br, "rokuro01", e.toLogin(br, a))
		to, _ := res["redirect"].(string)
		code := e.code(br, to, a)
		e.counter.Statements.Store(0)
		e.counter.Commits.Store(0)
		tok, _ := e.exchange(code, a)
		statements, commits = statements+e.counter.Statements.Load(), commits+e.counter.Commits.Load()
		raw, _ := tok.Extra("id_token").(string)
		size = len(raw)
	}
	b.ReportMetric(float64(size), "id_token_bytes")
	b.ReportMetric(float64(statements)/float64(b.N), "statements/token_request")
	b.ReportMetric(float64(commits)/float64(b.N), "commits/token_request")
}

// BenchmarkPasswordLoginAlone is BenchmarkAuthorizationCodeLogin's login without an app.
func BenchmarkPasswordLoginAlone(b *testing.B) {
	e := newOPEnv(b)
	e.account("rokuro01")
	for b.Loop() {
		e.passwordLogin(e.browser(), "rokuro01", "")
	}
}

// passkeyCustomer adds an account whose passkey is on the returned phone.
func (e *opEnv) passkeyCustomer(b *testing.B, loginID string) *authtest.Phone {
	e.account(loginID)
	phone := e.phone()
	setup := e.browser()
	e.passwordLogin(setup, loginID, "")
	if _, err := phone.Register(b.Context(), setup); err != nil {
		b.Fatal(err)
	}
	return phone
}

// BenchmarkAuthorizationCodePasskeyLogin is BenchmarkAuthorizationCodeLogin with a passkey
// login (usernameless, as the login page's autofill runs it) instead of the password: the
// whole login of an app as a customer with a passkey makes it. BenchmarkPasskeyLoginAlone is
// the same passkey login without an app.
func BenchmarkAuthorizationCodePasskeyLogin(b *testing.B) {
	e := newOPEnv(b)
	phone := e.passkeyCustomer(b, "rokuro01")
	for b.Loop() {
		br := e.browser()
		a := e.authorization()
		login, err := phone.LoginForAuthorization(b.Context(), br, "", e.toLogin(br, a))
		if err != nil {
			b.Fatal(err)
		}
		if _, c := e.exchange(e.code(br, login.Redirect, a), a); c.ACR != ACRPasskey {
			b.Fatalf("acr %q", c.ACR)
		}
	}
}

// BenchmarkPasskeyLoginAlone is BenchmarkAuthorizationCodePasskeyLogin's login without an app.
func BenchmarkPasskeyLoginAlone(b *testing.B) {
	e := newOPEnv(b)
	phone := e.passkeyCustomer(b, "rokuro01")
	for b.Loop() {
		if _, err := phone.Login(b.Context(), e.browser(), ""); err != nil {
			b.Fatal(err)
		}
	}
}

// A request naming a client the clients file does not have is the caller's mistake: OAuth's
// invalid_client, never the provider's 500 — at the token endpoint (a refresh without the
// client's credentials, or for a client_id of nobody) and at the end-session endpoint.
func TestUnknownClientIsInvalidClient(t *testing.T) {
	t.Parallel()
	e := newOPEnv(t)
	for _, r := range []struct{ method, path, form string }{
		{http.MethodPost, tokenEndpoint.Relative(), "grant_type=refresh_token&refresh_token=x"},
		{http.MethodPost, tokenEndpoint.Relative(), "grant_type=refresh_token&refresh_token=x&client_id=nobody"},
		{http.MethodGet, endSessionEndpoint.Relative() + "?client_id=nobody", ""},
	} {
		req, err := http.NewRequest(r.method, e.srv.URL+r.path, strings.NewReader(r.form))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		err = json.NewDecoder(res.Body).Decode(&out)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusUnauthorized || out["error"] != "invalid_client" {
			t.Errorf("%s %s %q: %d %v %v, want 401 invalid_client", r.method, r.path, r.form, res.StatusCode, out, err)
		}
	}
}
