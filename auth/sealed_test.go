package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"kagi/auth/authtest"
)

func TestSealedChallengeOpensOnlyAsSealed(t *testing.T) {
	t.Parallel()
	secret := []byte("test-pin-key-0123456789abcdef0123")
	sealer, err := NewChallengeSealer(secret, "kagi.test")
	if err != nil {
		t.Fatal(err)
	}
	want := SealedLogin{LoginID: "taro", Expires: time.Date(2031, 6, 4, 1, 6, 0, 0, time.UTC)}
	challenge := sealer.Seal(want)
	if got, ok := sealer.Open(challenge); !ok || got.LoginID != want.LoginID || !got.Expires.Equal(want.Expires) {
		t.Fatalf("Open(Seal(%+v)) = %+v, %v", want, got, ok)
	}
	if again := sealer.Seal(want); bytes.Equal(again, challenge) {
		t.Fatal("two sealings of one ceremony gave one challenge")
	}
	if bytes.Contains(challenge, []byte("taro")) {
		t.Fatal("the login ID can be read in the challenge")
	}
	for i := range challenge {
		altered := bytes.Clone(challenge)
		altered[i] ^= 0x01
		if _, ok := sealer.Open(altered); ok {
			t.Fatalf("a challenge altered at byte %d opened", i)
		}
	}
	other, _ := NewChallengeSealer(secret, "other.test")
	otherSecret, _ := NewChallengeSealer([]byte("another-secret-0123456789abcdef"), "kagi.test")
	for name, c := range map[string][]byte{
		"another RP ID's":    other.Seal(want),
		"another secret's":   otherSecret.Seal(want),
		"truncated":          challenge[:len(challenge)-1],
		"empty":              nil,
		"random of its size": randomBytes(len(challenge)),
	} {
		if _, ok := sealer.Open(c); ok {
			t.Errorf("%s challenge opened", name)
		}
	}
}

// A signed assertion over a challenge kagi did not seal for this relying party — altered, or
// sealed for another RP ID — is refused like a made-up one, and uses up nothing.
func TestForeignChallengeRefusedAtFinish(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addAccount(demoAccount)
	ctx := context.Background()
	phone := e.registeredPhone(acct, authtest.Config{})
	other, err := NewChallengeSealer([]byte("test-pin-key-0123456789abcdef0123"), "other.test")
	if err != nil {
		t.Fatal(err)
	}
	for name, challenge := range map[string]func([]byte) []byte{
		"altered": func(c []byte) []byte { c = bytes.Clone(c); c[len(c)-1] ^= 1; return c },
		"another RP ID's": func([]byte) []byte {
			return other.Seal(SealedLogin{Expires: e.clock.Now().Add(time.Minute)})
		},
	} {
		options, err := phone.BeginLogin(ctx, e.browser(), "")
		if err != nil {
			t.Fatal(err)
		}
		var o map[string]map[string]any
		if err := json.Unmarshal(options, &o); err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(o["publicKey"]["challenge"].(string))
		if err != nil {
			t.Fatal(err)
		}
		o["publicKey"]["challenge"] = base64.RawURLEncoding.EncodeToString(challenge(raw))
		swapped, _ := json.Marshal(o)
		assertion, err := phone.Get(swapped)
		if err != nil {
			t.Fatal(err)
		}
		c := e.browser()
		_, err = phone.FinishLogin(ctx, c, assertion)
		wantRefusal(t, name+" challenge", err, http.StatusUnauthorized, "passkey_failed")
		if status, _ := e.do(c, "GET", "/api/v1/session", nil); status != http.StatusUnauthorized {
			t.Fatalf("%s challenge made a session: %d", name, status)
		}
	}
	var used int
	if err := e.svc.pool.QueryRow(ctx, `SELECT count(*) FROM used_challenges`).Scan(&used); err != nil || used != 0 {
		t.Fatalf("%d challenges recorded as used (%v), want none", used, err)
	}
	if lines := e.auditDetails(acct.ID, "login_failed"); len(lines) != 0 {
		t.Fatalf("a foreign challenge was audited on the account: %v", lines)
	}
}
