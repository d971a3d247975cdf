// Command oidc-client is a tiny OpenID Connect relying party for trying kagi's provider by
// hand (scripts/run registers it as the public client demo-cli): it prints the authorization
// URL to open in a browser, waits on its loopback redirect URI, redeems the code with its PKCE
// verifier and prints the claims of the verified ID token, then how to log out. It is built on
// golang.org/x/oauth2 and coreos/go-oidc, as an application written by others would be.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

func main() {
	issuer := flag.String("issuer", "http://localhost:8080", "kagi's KAGI_PUBLIC_URL")
	clientID := flag.String("client-id", "demo-cli", "a public client of KAGI_OIDC_CLIENTS")
	listen := flag.String("listen", "127.0.0.1:8765", "the loopback address of the redirect URI http://ADDR/callback, as registered")
	scopes := flag.String("scopes", "openid profile account", "the scopes asked for, space-separated")
	acr := flag.String("acr", "", "acr_values, e.g. urn:kagi:acr:passkey for a step-up")
	maxAge := flag.Int("max-age", -1, "max_age in seconds (-1 for none)")
	prompt := flag.String("prompt", "", "prompt, e.g. login")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *issuer, *clientID, *listen, *scopes, *acr, *maxAge, *prompt); err != nil {
		fmt.Fprintln(os.Stderr, "oidc-client:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, issuer, clientID, listen, scopes, acr string, maxAge int, prompt string) error {
	provider, err := gooidc.NewProvider(ctx, issuer)
	if err != nil {
		return err
	}
	conf := oauth2.Config{ClientID: clientID, Endpoint: provider.Endpoint(), RedirectURL: "http://" + listen + "/callback",
		Scopes: strings.Fields(scopes)}
	state, nonce, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce)}
	if acr != "" {
		opts = append(opts, oauth2.SetAuthURLParam("acr_values", acr))
	}
	if maxAge >= 0 {
		opts = append(opts, oauth2.SetAuthURLParam("max_age", strconv.Itoa(maxAge)))
	}
	if prompt != "" {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", prompt))
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Printf("Open this URL in the browser and log in:\n\n  %s\n\nWaiting on %s …\n", conf.AuthCodeURL(state, opts...), conf.RedirectURL)

	type result struct {
		code string
		err  error
	}
	done := make(chan result, 1)
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		var res result
		switch {
		case q.Get("state") != state:
			res.err = errors.New("the state does not match")
		case q.Get("error") != "":
			res.err = fmt.Errorf("the provider answered %s: %s", q.Get("error"), q.Get("error_description"))
		default:
			res.code = q.Get("code")
		}
		if res.err != nil {
			http.Error(w, res.err.Error(), http.StatusBadRequest)
		} else {
			fmt.Fprintln(w, "Logged in. Back to the terminal.")
		}
		select {
		case done <- res:
		default:
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if res.err != nil {
		return res.err
	}
	tok, err := conf.Exchange(ctx, res.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return err
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&gooidc.Config{ClientID: clientID, SupportedSigningAlgs: []string{"ES256"}}).Verify(ctx, raw)
	if err != nil {
		return err
	}
	if idt.Nonce != nonce {
		return errors.New("the ID token's nonce does not match")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return err
	}
	out, _ := json.MarshalIndent(claims, "", "  ")
	fmt.Printf("\nThe verified ID token's claims:\n%s\n", out)
	var d struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := provider.Claims(&d); err == nil && d.EndSession != "" {
		fmt.Printf("\nTo log out of kagi (RP-initiated logout), open:\n\n  %s?%s\n", d.EndSession,
			url.Values{"id_token_hint": {raw}}.Encode())
	}
	return nil
}
