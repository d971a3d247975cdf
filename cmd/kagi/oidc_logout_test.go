package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
)

// A customer's logout reaches the trading site as `kagi serve` is wired (§11.5): the session's
// end goes through the core to the OpenID Provider's session ends, the outbox started beside
// the server delivers the logout token to the client's backchannel_logout_uri, and the site
// verifies it with kagi's published keys and finds the session of the ID token it was given.
func TestLogoutReachesTheAppsBackChannel(t *testing.T) {
	t.Parallel()
	tokens := make(chan string, 4)
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.ParseForm() != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		tokens <- r.PostForm.Get("logout_token")
	}))
	defer site.Close()
	p := startProvider(t, `, "backchannel_logout_uri": "`+site.URL+`/backchannel"`, true)
	p.addCustomer(t)
	browser, tok := p.login(t)
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.rp.Verifier(&gooidc.Config{ClientID: "trading-web"}).Verify(p.ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	var session struct {
		SID string `json:"sid"`
	}
	if err := idt.Claims(&session); err != nil || session.SID == "" {
		t.Fatalf("the ID token names no session: %v", err)
	}

	res, err := browser.Post(p.issuer+"/api/v1/logout", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	var logout string
	select {
	case logout = <-tokens:
	case <-time.After(30 * time.Second):
		t.Fatal("no logout token reached the site's backchannel_logout_uri")
	}
	lt, err := p.rp.Verifier(&gooidc.Config{ClientID: "trading-web"}).Verify(p.ctx, logout)
	if err != nil {
		t.Fatalf("the logout token does not verify with kagi's keys: %v", err)
	}
	var claims struct {
		SID    string         `json:"sid"`
		Events map[string]any `json:"events"`
		Nonce  *string        `json:"nonce"`
	}
	if err := lt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if lt.Subject != idt.Subject || claims.SID != session.SID || claims.Nonce != nil {
		t.Errorf("logout token: sub %q sid %q nonce %v; the ID token's sub %q sid %q", lt.Subject, claims.SID, claims.Nonce, idt.Subject, session.SID)
	}
	if _, ok := claims.Events["http://schemas.openid.net/event/backchannel-logout"]; !ok {
		t.Errorf("logout token events %v", claims.Events)
	}
}
