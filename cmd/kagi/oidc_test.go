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

// The public listener is the brokerage's OpenID Provider (§11): an application written with
// go-oidc and x/oauth2 discovers it at KAGI_PUBLIC_URL, sends the customer to log in, and gets
// an ID token it verifies with the published keys.
func TestPublicListenerIsTheOpenIDProvider(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "https://" + srv.Listener.Addr().String()
	sum := sha256.Sum256([]byte("trading-site-secret"))
	const redirect = "https://trade.example.jp/callback"
	env := changed(prodEnv(pgtest.URL(t, schema...)), map[string]string{
		"KAGI_PUBLIC_URL":  issuer,
		"KAGI_EMAIL_CHECK": "off",
		// The listener is on an address, which no relying party ID may be.
		"KAGI_RP_ID": "localhost", "KAGI_RP_ORIGINS": "https://localhost",
		"KAGI_OIDC_CLIENTS": writeFile(t, `[{"client_id": "trading-web", "client_secret_sha256": "`+hex.EncodeToString(sum[:])+`",
			"redirect_uris": ["`+redirect+`"], "scopes": ["openid", "account"]}]`),
	})
	a, err := addAppFlags(newFlagSet("test"), forCLI, "").open(context.Background(), envOf(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	h, err := a.handler(&readiness{pool: a.pool})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h
	srv.StartTLS()
	defer srv.Close()
	acct, err := a.auth.CreateAccount(context.Background(), auth.NewAccount{LoginID: "taro", Password: "correct horse battery",
		AccountNumber: "7654321", PIN: "1234", Phones: []string{"+819012345678"}, Email: "taro@example.jp", Name: "山田 太郎"})
	if err != nil {
		t.Fatal(err)
	}

	ctx := gooidc.ClientContext(t.Context(), srv.Client())
	rp, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatal(err)
	}
	conf := oauth2.Config{ClientID: "trading-web", ClientSecret: "trading-site-secret", Endpoint: rp.Endpoint(), RedirectURL: redirect,
		Scopes: []string{gooidc.ScopeOpenID, "account"}}
	verifier := oauth2.GenerateVerifier()

	jar, _ := cookiejar.New(nil)
	browser := srv.Client()
	browser.Jar = jar
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := browser.Get(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	login, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || login.Path != "/login" {
		t.Fatalf("authorize: %d to %q", res.StatusCode, login)
	}
	res, err = browser.Post(issuer+"/api/v1/login/password?auth_request="+login.Query().Get("auth_request"), "application/json",
		strings.NewReader(`{"login_id":"taro","password":"correct horse battery"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	next := strings.SplitN(strings.SplitN(string(body), `"redirect":"`, 2)[1], `"`, 2)[0]
	res, err = browser.Get(issuer + next)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	back, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(back.String(), redirect+"?") || back.Query().Get("state") != "st" {
		t.Fatalf("callback: %d to %q", res.StatusCode, back)
	}
	tok, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
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
