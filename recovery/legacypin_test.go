package recovery

import (
	"bytes"
	"context"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"kagi/auth"
)

// An imported PIN hash (§12.1) verifies as it is, refuses a wrong PIN, and the first verified
// call replaces it with kagi's keyed hash, after which the PIN still works.
func TestImportedPINHashReplacedAtVerifiedCall(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	h, err := bcrypt.GenerateFromPassword([]byte(rightPIN), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hash, pw := string(h), testPassword
	acct, err := e.auth.CreateAccountLine(context.Background(), auth.AccountLine{
		AccountNumber: realNumber, LoginID: "taro", Name: "山田 太郎", Email: "taro@example.jp",
		Phones: []string{ownPhone}, Password: auth.Secret{Plain: &pw}, PIN: auth.Secret{Hash: &hash},
	}, "import")
	if err != nil {
		t.Fatal(err)
	}
	e.addPasskey(acct.ID)
	stored := func() (kagi []byte, legacy *string) {
		t.Helper()
		if err := e.pool.QueryRow(context.Background(), `SELECT pin_hash, pin_legacy_hash FROM accounts WHERE id = $1`, acct.ID).Scan(&kagi, &legacy); err != nil {
			t.Fatal(err)
		}
		return kagi, legacy
	}

	e.expect("a wrong PIN against the imported hash", e.verify(realNumber, ownPhone, wrongPIN), VoiceFailed)
	if kagi, legacy := stored(); kagi != nil || legacy == nil || *legacy != hash {
		t.Fatal("a failed call changed the imported PIN hash")
	}
	e.expect("the right PIN against the imported hash", e.verify(realNumber, ownPhone, rightPIN), VoiceVerified)
	kagi, legacy := stored()
	if legacy != nil || !bytes.Equal(kagi, e.auth.PINHash(realNumber, rightPIN)) {
		t.Fatalf("after the verified call: pin_hash %x, legacy %v; want kagi's keyed hash only", kagi, legacy)
	}
	e.expect("the right PIN against kagi's hash", e.verify(realNumber, ownPhone, rightPIN), VoiceVerified)
	e.expect("a wrong PIN against kagi's hash", e.verify(realNumber, ownPhone, wrongPIN), VoiceFailed)
}
