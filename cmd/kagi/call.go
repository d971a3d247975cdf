package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"kagi/auth"
	"kagi/ivr"
)

// cmdCall plays a phone call against a running kagi with correctly signed webhook requests
// and prints what the caller would hear, so the voice line can be tried without a phone.
func cmdCall(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("call")
	from := fs.String("from", "", "the caller's number in E.164, e.g. +819012345678 (empty or \"anonymous\" = withheld)")
	keys := fs.String("keys", "", "comma-separated keys for each prompt, e.g. '1,1234567#,1234,code'; an empty item lets a prompt time out; code keys the texted code")
	code := fs.String("code", "", "the code the line texted (KAGI_IVR_SECOND_FACTOR=sms), keyed for the item code; with --dev it is read from /dev/mail when not given")
	base := fs.String("url", "", "where kagi listens (default: the public URL)")
	publicURL := fs.String("public-url", "", "KAGI_PUBLIC_URL of the server, which requests are signed for")
	token := fs.String("twilio-auth-token", "", "TWILIO_AUTH_TOKEN of the server")
	dev := fs.Bool("dev", false, "use the development secrets under .kagi/ and http://localhost:8080")
	if err := parseArgs(fs, args, stderr); err != nil {
		return err
	}
	if *publicURL == "" {
		*publicURL = getenv("KAGI_PUBLIC_URL")
	}
	if *token == "" {
		*token = getenv("TWILIO_AUTH_TOKEN")
	}
	if *dev {
		if *publicURL == "" {
			*publicURL = "http://localhost" + listenPort(getenv("KAGI_LISTEN"))
		}
		if *token == "" {
			secrets, err := devSecrets()
			if err != nil {
				return err
			}
			*token = secrets["TWILIO_AUTH_TOKEN"]
		}
	}
	var missing []string
	if *publicURL == "" {
		missing = append(missing, "KAGI_PUBLIC_URL")
	}
	if *token == "" {
		missing = append(missing, "TWILIO_AUTH_TOKEN")
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing settings: %s (or pass --dev)", strings.Join(missing, ", "))
	}
	if *base == "" {
		*base = *publicURL
	}
	var keyList []string
	if *keys != "" {
		keyList = strings.Split(*keys, ",")
	}
	client := &http.Client{Timeout: 20 * time.Second}
	sim := &ivr.Simulator{Client: client, BaseURL: *base, PublicURL: *publicURL, Token: *token}
	sid := ivr.NewCallSid()
	fmt.Fprintf(stdout, "call %s from %s\n", sid, auth.MaskPhone(*from))
	// The item "code" is the code the line texts in the middle of the call (§4.8).
	for i, k := range keyList {
		if k == "code" {
			keyList[i] = codeKey
		}
	}
	err := sim.Call(ctx, sid, *from, keyList, func(t ivr.Turn) { printTurn(stdout, t) }, func(ctx context.Context, keys string) (string, error) {
		if keys != codeKey {
			return keys, nil
		}
		if *code != "" {
			return *code, nil
		}
		if !*dev {
			return "", errors.New("the line asks for the texted code: pass --code (or --dev to read it from /dev/mail)")
		}
		return devTextedCode(ctx, client, *base, *from)
	})
	if err != nil {
		return errors.New("call: " + err.Error())
	}
	return nil
}

// codeKey stands for the texted code in the keys until the line asks for it.
const codeKey = "\x00code"

var sixDigits = regexp.MustCompile(`[0-9]{6}`)

// devTextedCode reads the newest code texted to the caller from a development server's mailbox.
func devTextedCode(ctx context.Context, client *http.Client, base, to string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/dev/mail.json", nil)
	if err != nil {
		return "", err
	}
	res, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var box struct {
		Messages []struct{ Channel, To, Body string } `json:"messages"`
	}
	if err := json.NewDecoder(res.Body).Decode(&box); err != nil || res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("the development mailbox did not answer (%s): is the server running with --dev?", res.Status)
	}
	for _, m := range box.Messages {
		if code := sixDigits.FindString(m.Body); m.Channel == "sms" && m.To == to && code != "" {
			return code, nil
		}
	}
	return "", errors.New("no code was texted to " + auth.MaskPhone(to) + " in the development mailbox")
}

func printTurn(w io.Writer, t ivr.Turn) {
	if t.Path == "/ivr/voice" {
		fmt.Fprintln(w, "\n[呼び出し]")
	} else if t.Keys == "" {
		fmt.Fprintln(w, "\n[入力なし]")
	} else {
		fmt.Fprintf(w, "\n[キー入力 %s]\n", t.Keys)
	}
	for _, s := range t.Said {
		fmt.Fprintf(w, "  「%s」\n", s)
	}
	switch {
	case t.Dialled != "":
		fmt.Fprintf(w, "  → オペレーターに転送 (%s)\n", t.Dialled)
	case t.HungUp:
		fmt.Fprintln(w, "  → 通話終了")
	case t.Gather != "":
		fmt.Fprintln(w, "  … キー入力待ち")
	}
}
