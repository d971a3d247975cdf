package recovery

import (
	"context"
	"net/http"
	"testing"

	"kagi/auth/authtest"
)

// The whole recovery of a customer who lost the phone, through the real HTTP API and virtual
// authenticators: the old phone's passkey exists, the voice line opened a window, the
// customer logs in with the password on the new phone and creates a passkey there, which
// replaces the old one and ends the window.
func TestRecoveryReplacesThePasskeyAndEndsTheWindow(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx := context.Background()
	acct := e.addAccount("taro", "1234567")
	phone := func() *authtest.Phone {
		return authtest.NewPhone(authtest.Config{BaseURL: e.srv.URL, Origin: "https://kagi.test", RPID: "kagi.test"})
	}
	oldPhone, newPhone := phone(), phone()

	first := e.browser()
	if status, body := e.passwordLogin(first, "taro"); status != http.StatusOK {
		t.Fatalf("first login: %d %v", status, body)
	}
	if _, err := oldPhone.Register(ctx, first); err != nil {
		t.Fatalf("first passkey: %v", err)
	}
	if status, body := e.passwordLogin(e.browser(), "taro"); status != http.StatusForbidden || body["error"] != "passkey_required" {
		t.Fatalf("password with a passkey and no window: %d %v", status, body)
	}

	e.open(acct.ID, ChannelIVR, "ivr:CA01", "")
	rescue := e.browser()
	if status, body := e.passwordLogin(rescue, "taro"); status != http.StatusOK || body["via_fallback_window"] != true {
		t.Fatalf("password through the window: %d %v", status, body)
	}
	if _, err := newPhone.Register(ctx, rescue); err != nil {
		t.Fatalf("replacing the passkey from the recovery session: %v", err)
	}

	if got := e.windows(acct.ID); len(got) != 1 || got[0].CloseReason != "closed_passkey_created" {
		t.Fatalf("windows %+v, want the one window closed_passkey_created", got)
	}
	if n := e.count(`SELECT count(*) FROM passkeys WHERE account_id = $1`, acct.ID); n != 1 {
		t.Fatalf("passkeys = %d", n)
	}
	if status, _, _ := e.do(rescue, "GET", "/api/v1/session", nil); status != http.StatusUnauthorized {
		t.Fatalf("recovery session after the replacement: %d, want it ended with its window", status)
	}
	if status, body := e.passwordLogin(e.browser(), "taro"); status != http.StatusForbidden || body["error"] != "passkey_required" {
		t.Fatalf("password after the window closed: %d %v", status, body)
	}
	if _, err := newPhone.Login(ctx, e.browser(), ""); err != nil {
		t.Fatalf("the new phone's passkey: %v", err)
	}
	if _, err := oldPhone.Login(ctx, e.browser(), ""); err == nil {
		t.Fatal("the old phone's passkey still logs in")
	}
}

// A recovery session whose window closes while the customer is at the phone's prompt can no
// longer store the passkey.
func TestRecoveryRegistrationAfterTheWindowClosedIsRefused(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx := context.Background()
	acct := e.addPasskeyAccount("taro", "1234567")
	e.open(acct.ID, ChannelIVR, "ivr:CA01", "")
	rescue := e.browser()
	if status, body := e.passwordLogin(rescue, "taro"); status != http.StatusOK {
		t.Fatalf("password through the window: %d %v", status, body)
	}
	phone := authtest.NewPhone(authtest.Config{BaseURL: e.srv.URL, Origin: "https://kagi.test", RPID: "kagi.test"})
	options, err := phone.BeginRegistration(ctx, rescue)
	if err != nil {
		t.Fatal(err)
	}
	credential, err := phone.Create(options)
	if err != nil {
		t.Fatal(err)
	}
	if closed, err := e.closeByStaff(ctx, acct.ID, "staff:suzuki", "お客様のご依頼"); err != nil || !closed {
		t.Fatalf("close: %v %v", closed, err)
	}
	if _, err := phone.FinishRegistration(ctx, rescue, credential); authtest.Status(err) != http.StatusUnauthorized {
		t.Fatalf("finish after the window closed: %v, want 401", err)
	}
	var stored []byte
	if err := e.pool.QueryRow(ctx, `SELECT public_key FROM passkeys WHERE account_id = $1`, acct.ID).Scan(&stored); err != nil || string(stored) != "not a real key" {
		t.Fatalf("the old passkey was replaced: %q %v", stored, err)
	}
}
