package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"kagi/auth/authtest"
)

// The ceremony policy of §2.5: user verification required, a discoverable credential
// required, attestation none, algorithms ES256, EdDSA and RS256 only, and nothing made for
// another origin or relying party accepted.

func TestCeremonyPolicyOptions(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addAccount(demoAccount)
	ctx := context.Background()

	t.Run("creation", func(t *testing.T) {
		options, err := e.newPhone(authtest.Config{}).BeginRegistration(ctx, e.loggedIn(acct, AssurancePassword))
		if err != nil {
			t.Fatal(err)
		}
		var o struct {
			PublicKey struct {
				RP struct {
					ID string `json:"id"`
				} `json:"rp"`
				AuthenticatorSelection struct {
					ResidentKey        string `json:"residentKey"`
					RequireResidentKey *bool  `json:"requireResidentKey"`
					UserVerification   string `json:"userVerification"`
				} `json:"authenticatorSelection"`
				Attestation      *string `json:"attestation"`
				PubKeyCredParams []struct {
					Type string `json:"type"`
					Alg  int    `json:"alg"`
				} `json:"pubKeyCredParams"`
			} `json:"publicKey"`
		}
		if err := json.Unmarshal(options, &o); err != nil {
			t.Fatal(err)
		}
		pk, sel := o.PublicKey, o.PublicKey.AuthenticatorSelection
		if pk.RP.ID != "kagi.test" {
			t.Errorf("rp.id %q, want kagi.test", pk.RP.ID)
		}
		if sel.ResidentKey != "required" || (sel.RequireResidentKey != nil && !*sel.RequireResidentKey) {
			t.Errorf("options %s: want a discoverable credential required", options)
		}
		if sel.UserVerification != "required" {
			t.Errorf("authenticatorSelection.userVerification %q, want required", sel.UserVerification)
		}
		if pk.Attestation != nil && *pk.Attestation != "none" {
			t.Errorf("attestation %q, want none", *pk.Attestation)
		}
		var algs []int
		for _, p := range pk.PubKeyCredParams {
			if p.Type != "public-key" {
				t.Errorf("pubKeyCredParams type %q", p.Type)
			}
			algs = append(algs, p.Alg)
		}
		if want := []int{-7, -8, -257}; !slices.Equal(algs, want) {
			t.Errorf("pubKeyCredParams algorithms %v, want %v (ES256, EdDSA, RS256)", algs, want)
		}
	})

	// The login options are the same with or without a login ID; taro has a passkey, which
	// options naming it would reveal.
	e.registeredPhone(acct, authtest.Config{})
	for _, loginID := range []string{"", "taro"} {
		t.Run("login with login ID "+loginID, func(t *testing.T) {
			options, err := e.newPhone(authtest.Config{}).BeginLogin(ctx, e.browser(), loginID)
			if err != nil {
				t.Fatal(err)
			}
			var o struct {
				PublicKey struct {
					RPID             string `json:"rpId"`
					UserVerification string `json:"userVerification"`
				} `json:"publicKey"`
			}
			if err := json.Unmarshal(options, &o); err != nil {
				t.Fatal(err)
			}
			if o.PublicKey.RPID != "kagi.test" || o.PublicKey.UserVerification != "required" {
				t.Errorf("options %s: want rpId kagi.test, userVerification required", options)
			}
			if containsKey(options, "allowCredentials") {
				t.Errorf("options %s name credentials", options)
			}
		})
	}
}

// deviations are ways an authenticator or page can depart from the phone kagi accepts, one
// at a time; the first is no departure, so a refusal of the others is theirs alone.
var deviations = []struct {
	name     string
	edit     func(*authtest.Config)
	accepted bool
}{
	{"as the policy asks", func(*authtest.Config) {}, true},
	{"user present but not verified", func(c *authtest.Config) { c.UserNotVerified = true }, false},
	{"signed for another origin", func(c *authtest.Config) { c.Origin = "https://evil.test" }, false},
	{"signed for a subdomain origin", func(c *authtest.Config) { c.Origin = "https://login.kagi.test" }, false},
	{"signed for the origin over http", func(c *authtest.Config) { c.Origin = "http://kagi.test" }, false},
	{"authenticator data for another RP ID", func(c *authtest.Config) { c.AuthenticatorRPID = "evil.test" }, false},
}

func TestCeremonyPolicyCreation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, d := range deviations {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			acct := e.addAccount(demoAccount)
			phone := e.newPhone(authtest.Config{}).Sync(d.edit)
			_, err := phone.Register(ctx, e.loggedIn(acct, AssurancePassword))
			_, stored, dbErr := e.svc.PasskeyOf(ctx, e.svc.pool, acct.ID)
			if dbErr != nil {
				t.Fatal(dbErr)
			}
			if d.accepted {
				if err != nil || !stored {
					t.Fatalf("register: %v, stored %v", err, stored)
				}
				return
			}
			wantRefusal(t, "register", err, http.StatusBadRequest, "passkey_failed")
			if stored || slices.Contains(e.auditEvents(acct.ID), "passkey_created") {
				t.Fatalf("refused passkey stored (%v) or audited (%v)", stored, e.auditEvents(acct.ID))
			}
		})
	}
}

func TestCeremonyPolicyAssertion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, d := range deviations {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			acct := e.addAccount(demoAccount)
			phone := e.registeredPhone(acct, authtest.Config{}).Sync(d.edit)
			// Both ways to log in: go-webauthn checks a discoverable login and one for a
			// known user in two functions.
			for _, loginID := range []string{"", "taro"} {
				c := e.browser()
				_, err := phone.Login(ctx, c, loginID)
				if d.accepted {
					if err != nil || !e.sessionAlive(c) {
						t.Fatalf("login with %q: %v", loginID, err)
					}
					continue
				}
				wantRefusal(t, "login with "+loginID, err, http.StatusUnauthorized, "passkey_failed")
				if e.sessionAlive(c) || e.passkeySessions(acct.ID) != 0 {
					t.Fatalf("login with %q refused, yet a passkey session exists", loginID)
				}
				failed := e.auditDetails(acct.ID, "login_failed")
				if len(failed) == 0 || failed[len(failed)-1]["reason"] != "verification_failed" {
					t.Fatalf("login with %q: audited failures %v, want verification_failed", loginID, failed)
				}
			}
		})
	}
}

// passkeySessions counts the account's sessions made by a passkey login.
func (e *testEnv) passkeySessions(accountID int64) int {
	e.t.Helper()
	var n int
	err := e.svc.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM sessions WHERE account_id = $1 AND assurance = 'passkey'`, accountID).Scan(&n)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// TestCeremonyPolicyAlgorithms registers and logs in with a key of each allowed algorithm and
// refuses keys of others. virtualwebauthn signs only ES256 and RS256, so the phone makes
// those; an authenticator with another key is played by rewriting the phone's creation
// response (withPublicKey) and, for EdDSA, signing the assertion here.
func TestCeremonyPolicyAlgorithms(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, alg := range []int{authtest.AlgES256, authtest.AlgRS256} {
		t.Run(webauthncose.COSEAlgorithmIdentifier(alg).String()+" from the phone", func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			acct := e.addAccount(demoAccount)
			phone := e.registeredPhone(acct, authtest.Config{Algorithm: alg})
			if got := e.storedAlgorithm(acct.ID); got != alg {
				t.Fatalf("stored key of algorithm %d, want %d", got, alg)
			}
			if _, err := phone.Login(ctx, e.browser(), ""); err != nil {
				t.Fatal(err)
			}
		})
	}

	ed25519Pub, ed25519Key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		key      coseKey
		accepted bool
	}{
		{"EdDSA", coseKey{KeyType: 1, Algorithm: -8, Curve: 6, X: ed25519Pub}, true},
		{"ES384", ecKey(t, elliptic.P384(), -35, 2), false},
		{"ES512", ecKey(t, elliptic.P521(), -36, 3), false},
	}
	for _, tc := range tests {
		t.Run(tc.name+" from another authenticator", func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			acct := e.addAccount(demoAccount)
			c := e.loggedIn(acct, AssurancePassword)
			phone := e.newPhone(authtest.Config{})
			options, err := phone.BeginRegistration(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			created, err := phone.Create(options)
			if err != nil {
				t.Fatal(err)
			}
			pk, err := phone.FinishRegistration(ctx, c, withPublicKey(t, created, tc.key))
			if !tc.accepted {
				wantRefusal(t, "register", err, http.StatusBadRequest, "passkey_failed")
				if _, stored, err := e.svc.PasskeyOf(ctx, e.svc.pool, acct.ID); err != nil || stored {
					t.Fatalf("refused passkey stored: %v %v", stored, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("register: %v", err)
			}
			if got := e.storedAlgorithm(acct.ID); got != int(tc.key.Algorithm) {
				t.Fatalf("stored key of algorithm %d, want %d", got, tc.key.Algorithm)
			}
			var co struct {
				PublicKey struct {
					User struct {
						ID string `json:"id"`
					} `json:"user"`
				} `json:"publicKey"`
			}
			if err := json.Unmarshal(options, &co); err != nil {
				t.Fatal(err)
			}
			browser := e.browser()
			request, err := phone.BeginLogin(ctx, browser, "")
			if err != nil {
				t.Fatal(err)
			}
			assertion := ed25519Assertion(t, request, pk.CredentialID, co.PublicKey.User.ID, ed25519Key)
			if _, err := phone.FinishLogin(ctx, browser, assertion); err != nil || !e.sessionAlive(browser) {
				t.Fatalf("login: %v", err)
			}
		})
	}
}

// storedAlgorithm is the COSE algorithm of the account's stored passkey.
func (e *testEnv) storedAlgorithm(accountID int64) int {
	e.t.Helper()
	var raw []byte
	if err := e.svc.pool.QueryRow(context.Background(), `SELECT public_key FROM passkeys WHERE account_id = $1`, accountID).Scan(&raw); err != nil {
		e.t.Fatal(err)
	}
	var key webauthncose.PublicKeyData
	if err := webauthncbor.Unmarshal(raw, &key); err != nil {
		e.t.Fatal(err)
	}
	return int(key.Algorithm)
}

// coseKey is a credential public key as a COSE_Key (RFC 9052 §7), for the keys
// virtualwebauthn cannot make.
type coseKey struct {
	KeyType   int64  `cbor:"1,keyasint"`
	Algorithm int64  `cbor:"3,keyasint"`
	Curve     int64  `cbor:"-1,keyasint"`
	X         []byte `cbor:"-2,keyasint"`
	Y         []byte `cbor:"-3,keyasint,omitempty"`
}

// ecKey is a new EC2 public key on curve for the COSE algorithm alg and curve crv.
func ecKey(t *testing.T, curve elliptic.Curve, alg, crv int64) coseKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	point, err := key.PublicKey.Bytes() // 0x04 || X || Y, each of the curve's full length
	if err != nil {
		t.Fatal(err)
	}
	n := (len(point) - 1) / 2
	return coseKey{KeyType: 2, Algorithm: alg, Curve: crv, X: point[1 : 1+n], Y: point[1+n:]}
}

// withPublicKey rewrites a creation response of the phone as an authenticator holding key
// would send it: the attested credential's public key replaced, and attestation "none" (what
// kagi asks for), which signs nothing. Origin, challenge, RP ID hash, flags and credential ID
// stay the phone's.
func withPublicKey(t *testing.T, created json.RawMessage, key coseKey) json.RawMessage {
	t.Helper()
	var res struct {
		ID       string `json:"id"`
		RawID    string `json:"rawId"`
		Type     string `json:"type"`
		Response struct {
			AttestationObject string `json:"attestationObject"`
			ClientDataJSON    string `json:"clientDataJSON"`
		} `json:"response"`
	}
	if err := json.Unmarshal(created, &res); err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(res.Response.AttestationObject)
	if err != nil {
		t.Fatal(err)
	}
	var obj struct {
		Fmt      string         `cbor:"fmt"`
		AttStmt  map[string]any `cbor:"attStmt"`
		AuthData []byte         `cbor:"authData"`
	}
	if err := webauthncbor.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	// rpIdHash (32), flags (1), signCount (4), AAGUID (16), credential ID length (2) and the
	// credential ID; the public key runs to the end (the phone sends no extensions).
	end := 55 + int(binary.BigEndian.Uint16(obj.AuthData[53:55]))
	cose, err := webauthncbor.Marshal(key)
	if err != nil {
		t.Fatal(err)
	}
	obj.AuthData = append(obj.AuthData[:end:end], cose...)
	obj.Fmt, obj.AttStmt = "none", map[string]any{}
	if raw, err = webauthncbor.Marshal(obj); err != nil {
		t.Fatal(err)
	}
	res.Response.AttestationObject = base64.RawURLEncoding.EncodeToString(raw)
	out, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ed25519Assertion answers request options as an authenticator holding the Ed25519 key of
// credentialID would on kagi's page: user present and verified, synced like the phone's
// passkeys, the counter 0. userHandle is base64url, as the creation options carried it.
func ed25519Assertion(t *testing.T, options json.RawMessage, credentialID, userHandle string, key ed25519.PrivateKey) json.RawMessage {
	t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			RPID      string `json:"rpId"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		t.Fatal(err)
	}
	clientData, err := json.Marshal(map[string]string{"type": "webauthn.get", "challenge": o.PublicKey.Challenge, "origin": testOrigin})
	if err != nil {
		t.Fatal(err)
	}
	rpIDHash := sha256.Sum256([]byte(o.PublicKey.RPID))
	const flags = 0x01 | 0x04 | 0x08 | 0x10 // UP, UV, BE, BS
	authData := append(rpIDHash[:], flags, 0, 0, 0, 0)
	clientDataHash := sha256.Sum256(clientData)
	signature := ed25519.Sign(key, append(slices.Clone(authData), clientDataHash[:]...))
	b64 := base64.RawURLEncoding.EncodeToString
	out, err := json.Marshal(map[string]any{
		"id": credentialID, "rawId": credentialID, "type": "public-key",
		"response": map[string]string{
			"authenticatorData": b64(authData),
			"clientDataJSON":    b64(clientData),
			"signature":         b64(signature),
			"userHandle":        userHandle,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
