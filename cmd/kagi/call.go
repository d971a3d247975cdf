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
	"kagi/ivr/twiliosim"
	"kagi/notify"
)

// cmdCall plays a phone call against a running kagi with correctly signed webhook requests
// and prints what the caller would hear, so the voice line can be tried without a phone.
func cmdCall(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("call")
	from := fs.String("from", "", "the caller's number in E.164, e.g. +819012345678 (empty or \"anonymous\" = withheld)")
	keys := fs.String("keys", "", "comma-separated keys for each prompt, e.g. '1,1234567#,1234,code'; an empty item lets a prompt time out; code keys the texted code; dial:busy (dial:no-answer, dial:completed) plays how an operator transfer ends")
	code := fs.String("code", "", "the code the line texted (KAGI_IVR_SECOND_FACTOR=sms), keyed for the item code; with --dev it is read from /dev/mail when not given")
	base := fs.String("url", "", "where kagi listens (default: the public URL)")
	publicURL := fs.String("public-url", "", "KAGI_PUBLIC_URL of the server, which requests are signed for")
	token := fs.String("twilio-auth-token", "", "TWILIO_AUTH_TOKEN of the server")
	dev := fs.Bool("dev", false, "use the development secrets under .kagi/ and http://localhost:8080")
	answer := fs.String("answer-callback", "", "with --dev, answer the line's call back (KAGI_IVR_SECOND_FACTOR=callback or auto) and press this key; none lets it ring out")
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
	sim := &twiliosim.Simulator{Client: client, BaseURL: *base, PublicURL: *publicURL, Token: *token}
	sid := twiliosim.NewCallSid()
	fmt.Fprintf(stdout, "call %s from %s\n", sid, auth.MaskPhone(*from))
	// The item "code" is the code the line texts in the middle of the call (§4.8).
	for i, k := range keyList {
		if k == "code" {
			keyList[i] = codeKey
		}
	}
	err := sim.Call(ctx, sid, *from, keyList, func(t twiliosim.Turn) { printTurn(stdout, t) }, func(ctx context.Context, keys string) (string, error) {
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
	if *answer == "" {
		return nil
	}
	if !*dev {
		return errors.New("--answer-callback needs --dev: the call back is read from the development mailbox")
	}
	if err := answerCallback(ctx, sim, client, *base, *from, *answer, stdout); err != nil {
		return errors.New("call back: " + err.Error())
	}
	return nil
}

// answerCallback plays the registered phone answering the call back the line placed (§4.8),
// found in a development server's mailbox: it presses key, or with "none" lets it ring out.
func answerCallback(ctx context.Context, sim *twiliosim.Simulator, client *http.Client, base, phone, key string, stdout io.Writer) error {
	box, err := devMailbox(ctx, client, base)
	if err != nil {
		return err
	}
	var (
		sid     string
		placed  notify.Call
		reached bool
	)
	for _, m := range box {
		if m.Recipient == phone {
			if sid, placed, reached = m.PlacedCall(); reached {
				break
			}
		}
	}
	if !reached {
		return errors.New("the line placed no call back to " + auth.MaskPhone(phone))
	}
	callbackURL, statusURL := placed.URL, placed.StatusURL
	fmt.Fprintf(stdout, "\ncall back %s to %s\n", sid, auth.MaskPhone(phone))
	if key == "none" {
		fmt.Fprintln(stdout, "\n[応答なし]")
		return sim.EndCallback(ctx, statusURL, sid, phone, "no-answer")
	}
	turn, err := sim.AnswerCallback(ctx, callbackURL, sid, phone)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\n[着信に応答]")
	printTurn(stdout, turn)
	if turn.Waiting() {
		if turn, err = sim.Press(ctx, sid, twiliosim.SimulatedLine, turn, key); err != nil {
			return err
		}
		printTurn(stdout, turn)
	}
	return sim.EndCallback(ctx, statusURL, sid, phone, "completed")
}

// devMailbox reads a development server's mailbox, newest first.
func devMailbox(ctx context.Context, client *http.Client, base string) ([]notify.DevMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/dev/mail.json", nil)
	if err != nil {
		return nil, err
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var box struct {
		Messages []notify.DevMessage `json:"messages"`
	}
	if err := json.NewDecoder(res.Body).Decode(&box); err != nil || res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the development mailbox did not answer (%s): is the server running with --dev?", res.Status)
	}
	return box.Messages, nil
}

// codeKey stands for the texted code in the keys until the line asks for it.
const codeKey = "\x00code"

var sixDigits = regexp.MustCompile(`[0-9]{6}`)

// devTextedCode reads the newest code texted to the caller from a development server's mailbox.
func devTextedCode(ctx context.Context, client *http.Client, base, to string) (string, error) {
	box, err := devMailbox(ctx, client, base)
	if err != nil {
		return "", err
	}
	for _, m := range box {
		if code := sixDigits.FindString(m.Body); m.Channel == "sms" && m.Recipient == to && code != "" {
			return code, nil
		}
	}
	return "", errors.New("no code was texted to " + auth.MaskPhone(to) + " in the development mailbox")
}

func printTurn(w io.Writer, t twiliosim.Turn) {
	switch {
	case t.Path == "/ivr/voice":
		fmt.Fprintln(w, "\n[呼び出し]")
	case strings.HasPrefix(t.Path, ivr.CallbackPath+"?"):
		// the answer of a call back: answerCallback says so
	case strings.HasPrefix(t.Keys, twiliosim.DialPrefix):
		fmt.Fprintf(w, "\n[転送の結果: %s]\n", strings.TrimPrefix(t.Keys, twiliosim.DialPrefix))
	case t.Keys == "":
		fmt.Fprintln(w, "\n[入力なし]")
	default:
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
