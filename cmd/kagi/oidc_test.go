package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"kagi/auth"
	"kagi/pgdb/pgtest"
)

// provider is a kagi serving the public listener over TLS as `kagi serve` builds it, and a
// trading site registered as its OpenID client.
type provider struct {
	app    *app
	issuer string
	srv    *httptest.Server
	conf   oauth2.Config
	rp     *gooidc.Provider
	ctx    context.Context // the relying party's: it trusts srv's certificate
}

const tradingRedirect = "https://trade.example.jp/callback"

// startProvider starts kagi with the client "trading-web" (client fields as JSON, beside its
// id, secret, redirect URI and scopes); deliver starts the outbox as `kagi serve` does, in
// development mode (mail kept in the database).
func startProvider(t *testing.T, clientFields string, deliver bool) *provider {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "https://" + srv.Listener.Addr().String()
	sum := sha256.Sum256([]byte("trading-site-secret"))
	env := changed(prodEnv(pgtest.URL(t, schema...)), map[string]string{
		"KAGI_PUBLIC_URL":  issuer,
		"KAGI_EMAIL_CHECK": "off",
		// The listener is on an address, which no relying party ID may be.
		"KAGI_RP_ID": "localhost", "KAGI_RP_ORIGINS": "https://localhost",
		"KAGI_OIDC_CLIENTS": writeFile(t, `[{"client_id": "trading-web", "client_secret_sha256": "`+hex.EncodeToString(sum[:])+`",
			"redirect_uris": ["`+tradingRedirect+`"], "scopes": ["openid", "account"]`+clientFields+`}]`),
	})
	purpose := forCLI
	if deliver {
		purpose = forServe
		env["KAGI_CONSOLE_URL"] = "http://localhost:8081"
	}
	flags := addAppFlags(newFlagSet("test"), purpose, "")
	*flags.dev = deliver
	a, err := flags.open(context.Background(), envOf(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	if deliver {
		if err := a.outbox.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.outbox.Stop(context.Background()) })
	}
	h, err := a.handler(&readiness{pool: a.pool})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ctx := gooidc.ClientContext(t.Context(), srv.Client())
	rp, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatal(err)
	}
	return &provider{app: a, issuer: issuer, srv: srv, rp: rp, ctx: ctx,
		conf: oauth2.Config{ClientID: "trading-web", ClientSecret: "trading-site-secret", Endpoint: rp.Endpoint(),
			RedirectURL: tradingRedirect, Scopes: []string{gooidc.ScopeOpenID, "account"}}}
}

// addCustomer adds taro, who logs in with a password.
func (p *provider) addCustomer(t *testing.T) auth.Account {
	t.Helper()
	acct, err := p.app.auth.CreateAccount(context.Background(), auth.NewAccount{LoginID: "taro", Password: "correct horse battery",
		AccountNumber: "7654321", PIN: "1234", Phones: []string{"+819012345678"}, Email: "taro@example.jp", Name: "山田 太郎"})
	if err != nil {
		t.Fatal(err)
	}
	return acct
}

// login runs the authorization code flow in a new browser — authorize, kagi's password login,
// the redirect back, the code's exchange — and returns the browser and the tokens.
func (p *provider) login(t *testing.T) (*http.Client, *oauth2.Token) {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	jar, _ := cookiejar.New(nil)
	browser := p.srv.Client()
	browser.Jar = jar
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := browser.Get(p.conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	login, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || login.Path != "/login" {
		t.Fatalf("authorize: %d to %q", res.StatusCode, login)
	}
	res, err = browser.Post(p.issuer+"/api/v1/login/password?auth_request="+login.Query().Get("auth_request"), "application/json",
		strings.NewReader(`{"login_id":"taro","password":"correct horse battery"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	next := strings.SplitN(strings.SplitN(string(body), `"redirect":"`, 2)[1], `"`, 2)[0]
	res, err = browser.Get(p.issuer + next)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	back, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(back.String(), tradingRedirect+"?") || back.Query().Get("state") != "st" {
		t.Fatalf("callback: %d to %q", res.StatusCode, back)
	}
	tok, err := p.conf.Exchange(p.ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return browser, tok
}

// The public listener is the brokerage's OpenID Provider (§11): an application written with
// go-oidc and x/oauth2 discovers it at KAGI_PUBLIC_URL, sends the customer to log in, and gets
// an ID token it verifies with the published keys.
func TestPublicListenerIsTheOpenIDProvider(t *testing.T) {
	t.Parallel()
	p := startProvider(t, "", false)
	acct := p.addCustomer(t)
	_, tok := p.login(t)
	ctx, rp, issuer := p.ctx, p.rp, p.issuer
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.Verifier(&gooidc.Config{ClientID: "trading-web"}).Verify(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		ACR           string   `json:"acr"`
		AMR           []string `json:"amr"`
		AccountNumber string   `json:"account_number"`
	}
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if idt.Issuer != issuer || c.ACR != "urn:kagi:acr:password" || len(c.AMR) != 1 || c.AMR[0] != "pwd" || c.AccountNumber != acct.AccountNumber {
		t.Errorf("ID token: iss %q, claims %+v", idt.Issuer, c)
	}
}
