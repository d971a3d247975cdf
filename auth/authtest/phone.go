// Package authtest is a virtual smartphone for tests: a platform authenticator (built on
// github.com/descope/virtualwebauthn) in a browser that drives kagi's passkey API over HTTP and
// JSON only, the way the login and settings pages do. Any package's tests can use it against a
// running kagi: it imports nothing of kagi.
//
// The phone behaves like a synced passkey provider by default (iCloud Keychain on an iPhone):
// it keeps one discoverable credential per relying party and user handle, verifies the user,
// signs with ES256 and reports the backup flags. Config changes any of that, down to an
// authenticator or page a relying party must refuse. The browser's session is the
// *http.Client passed to each call (give it a cookie jar).
package authtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/descope/virtualwebauthn"
)

// User-Agents of real browsers, for the passkey creation rule (SPEC §2.4).
const (
	// UAiPhone is Safari on an iPhone with iOS 17.
	UAiPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	// UAAndroid is Chrome on an Android phone, with Chrome's reduced User-Agent.
	UAAndroid = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"
	// UAWindows is Chrome on a Windows PC: passkey login works there, creation does not.
	UAWindows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)

// AAGUIDs of the two passkey providers of the brokerage's FAQ.
const (
	AAGUIDiCloudKeychain        = "fbfc3007-154e-4ecc-8c0b-6e020557d7bd"
	AAGUIDGooglePasswordManager = "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4"
)

// Config describes the phone and the kagi it talks to.
type Config struct {
	// BaseURL is where the phone's browser sends its requests: kagi's URL, without a trailing
	// slash (for example an httptest.Server's URL).
	BaseURL string
	// Origin is the page's origin as the browser reports it in clientDataJSON; it must be one
	// of kagi's WebAuthn origins (another plays a phishing page relaying kagi's options).
	Origin string
	// RPID is kagi's WebAuthn relying party ID.
	RPID string
	// AuthenticatorRPID is the RP ID whose SHA-256 the authenticator writes into its
	// authenticator data; empty means RPID. Another one plays a broken or malicious
	// authenticator that signs for another relying party than the one the options name.
	AuthenticatorRPID string
	// UserAgent is the browser's User-Agent; empty means UAiPhone.
	UserAgent string
	// AAGUID identifies the passkey provider; empty means AAGUIDiCloudKeychain.
	AAGUID string
	// DeviceBound makes the passkeys device-bound (BE and BS flags clear), as a security key
	// keeps them; by default they are synced (BE and BS set).
	DeviceBound bool
	// Counting makes the authenticator count its signatures: each assertion carries a counter
	// one higher than the last. By default the counter stays 0, as synced passkeys report it.
	Counting bool
	// UserNotVerified makes the authenticator report the user present but not verified (UP
	// set, UV clear), as one without a screen lock or biometrics does; by default it verifies.
	UserNotVerified bool
	// Algorithm is the COSE algorithm of the passkeys the phone creates: AlgES256 (the
	// default when 0) or AlgRS256, the two virtualwebauthn can sign with.
	Algorithm int
}

// COSE algorithms the phone can create passkeys with (Config.Algorithm).
const (
	AlgES256 = -7
	AlgRS256 = -257
)

// Phone is the virtual smartphone. It is safe for concurrent use.
type Phone struct {
	cfg    Config
	aaguid [16]byte

	mu       sync.Mutex
	passkeys []*passkey // oldest first
}

// passkey is one discoverable credential the phone holds.
type passkey struct {
	rpID       string
	userHandle []byte
	userName   string
	cred       virtualwebauthn.Credential
}

// NewPhone returns a phone without passkeys. It panics on a malformed AAGUID or an
// algorithm it cannot sign with.
func NewPhone(cfg Config) *Phone {
	if cfg.UserAgent == "" {
		cfg.UserAgent = UAiPhone
	}
	if cfg.AAGUID == "" {
		cfg.AAGUID = AAGUIDiCloudKeychain
	}
	if cfg.Algorithm == 0 {
		cfg.Algorithm = AlgES256
	}
	if cfg.Algorithm != AlgES256 && cfg.Algorithm != AlgRS256 {
		panic(fmt.Sprintf("authtest: the phone cannot sign with COSE algorithm %d", cfg.Algorithm))
	}
	p := &Phone{cfg: cfg}
	raw, err := hexUUID(cfg.AAGUID)
	if err != nil {
		panic(err)
	}
	copy(p.aaguid[:], raw)
	return p
}

func hexUUID(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		return nil, fmt.Errorf("authtest: AAGUID %q is not a UUID", s)
	}
	return b, nil
}

// Sync returns another phone holding copies of p's passkeys, configured as p with edit
// applied: the same passkeys on another device or page, as a synced provider spreads them.
// Tests sign with a passkey kagi knows from an authenticator or a page kagi must refuse.
func (p *Phone) Sync(edit func(*Config)) *Phone {
	cfg := p.cfg
	edit(&cfg)
	q := NewPhone(cfg)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pk := range p.passkeys {
		c := *pk
		key := *pk.cred.Key // virtualwebauthn caches its signer in the Key: one per phone
		c.cred.Key = &key
		q.passkeys = append(q.passkeys, &c)
	}
	return q
}

// APIError is a refusal from kagi: the HTTP status and the error body.
type APIError struct {
	Status  int
	Code    string
	Message string
	// Body is the whole decoded error body, for fields beyond code and message.
	Body map[string]any
}

func (e *APIError) Error() string {
	return fmt.Sprintf("kagi answered %d %s: %s", e.Status, e.Code, e.Message)
}

// Code returns the error code of an *APIError (for example "passkey_exists"), or "" for any
// other error.
func Code(err error) string {
	var e *APIError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Status returns the HTTP status of an *APIError, or 0 for any other error.
func Status(err error) int {
	var e *APIError
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Passkey is the passkey as kagi's API shows it.
type Passkey struct {
	CredentialID   string     `json:"credential_id"`
	CreatedAt      time.Time  `json:"created_at"`
	LastUsedAt     *time.Time `json:"last_used_at"`
	BackupEligible bool       `json:"backup_eligible"`
	Synced         bool       `json:"synced"`
	Provider       string     `json:"provider"`
	AAGUID         string     `json:"aaguid"`
}

// Login is kagi's answer to a successful passkey login; the session cookie went to the client.
type Login struct {
	Assurance string    `json:"assurance"`
	ExpiresAt time.Time `json:"expires_at"`
	// Redirect is where the browser goes on to after a login made for an OpenID Connect
	// authorization request (LoginForAuthorization); empty otherwise.
	Redirect string `json:"redirect"`
}

// Current is the answer of GET /api/v1/passkeys/current.
type Current struct {
	Passkey *Passkey `json:"passkey"`
	User    struct {
		ID          string `json:"id"`
		Name        string `json:"name"`
		DisplayName string `json:"display_name"`
	} `json:"user"`
	RPID string `json:"rp_id"`
}

// Register creates a passkey for the account logged in on c: begin, the phone's prompt,
// finish. The phone keeps the credential even when kagi refuses it, as a real one does.
func (p *Phone) Register(ctx context.Context, c *http.Client) (Passkey, error) {
	options, err := p.BeginRegistration(ctx, c)
	if err != nil {
		return Passkey{}, err
	}
	credential, err := p.Create(options)
	if err != nil {
		return Passkey{}, err
	}
	return p.FinishRegistration(ctx, c, credential)
}

// Login logs c in with a passkey on the phone: with loginID "" the usernameless
// (discoverable) way, else for that login ID. The session cookie lands in c's jar.
func (p *Phone) Login(ctx context.Context, c *http.Client, loginID string) (Login, error) {
	assertion, err := p.Assert(ctx, c, loginID)
	if err != nil {
		return Login{}, err
	}
	return p.FinishLogin(ctx, c, assertion)
}

// Assert begins a login and signs its challenge: the assertion a finish sends, for a test that
// finishes it itself (twice, late, or while something else happens).
func (p *Phone) Assert(ctx context.Context, c *http.Client, loginID string) (json.RawMessage, error) {
	options, err := p.BeginLogin(ctx, c, loginID)
	if err != nil {
		return nil, err
	}
	return p.Get(options)
}

// LoginForAuthorization is Login on the login page opened for an application's OpenID Connect
// authorization request authRequest (/login?auth_request=…): the finish tells kagi of it, and
// the answer says where the browser goes on to.
func (p *Phone) LoginForAuthorization(ctx context.Context, c *http.Client, loginID, authRequest string) (Login, error) {
	assertion, err := p.Assert(ctx, c, loginID)
	if err != nil {
		return Login{}, err
	}
	var out Login
	err = p.call(ctx, c, http.MethodPost, "/api/v1/passkeys/login/finish?auth_request="+url.QueryEscape(authRequest), assertion, &out)
	return out, err
}

// BeginRegistration asks kagi for creation options; it returns the answer as received.
func (p *Phone) BeginRegistration(ctx context.Context, c *http.Client) (json.RawMessage, error) {
	var out json.RawMessage
	err := p.call(ctx, c, http.MethodPost, "/api/v1/passkeys/register/begin", struct{}{}, &out)
	return out, err
}

// BeginConditionalRegistration asks kagi for the post-recovery offer's creation options
// ({"mediation":"conditional"}), which a password manager completes without a prompt.
func (p *Phone) BeginConditionalRegistration(ctx context.Context, c *http.Client) (json.RawMessage, error) {
	var out json.RawMessage
	err := p.call(ctx, c, http.MethodPost, "/api/v1/passkeys/register/begin", map[string]string{"mediation": "conditional"}, &out)
	return out, err
}

// FinishRegistration sends the credential Create made and returns the stored passkey.
func (p *Phone) FinishRegistration(ctx context.Context, c *http.Client, credential json.RawMessage) (Passkey, error) {
	var out struct {
		Passkey Passkey `json:"passkey"`
	}
	err := p.call(ctx, c, http.MethodPost, "/api/v1/passkeys/register/finish", credential, &out)
	return out.Passkey, err
}

// BeginLogin asks kagi for request options, for loginID or ("") discoverable.
func (p *Phone) BeginLogin(ctx context.Context, c *http.Client, loginID string) (json.RawMessage, error) {
	body := map[string]string{}
	if loginID != "" {
		body["login_id"] = loginID
	}
	var out json.RawMessage
	err := p.call(ctx, c, http.MethodPost, "/api/v1/passkeys/login/begin", body, &out)
	return out, err
}

// FinishLogin sends the assertion Get made.
func (p *Phone) FinishLogin(ctx context.Context, c *http.Client, assertion json.RawMessage) (Login, error) {
	var out Login
	err := p.call(ctx, c, http.MethodPost, "/api/v1/passkeys/login/finish", assertion, &out)
	return out, err
}

// Current shows the passkey of the account logged in on c.
func (p *Phone) Current(ctx context.Context, c *http.Client) (Current, error) {
	var out Current
	err := p.call(ctx, c, http.MethodGet, "/api/v1/passkeys/current", nil, &out)
	return out, err
}

// Delete deletes the passkey of the account logged in on c. The phone keeps its copy, as a
// real password manager does until told otherwise.
func (p *Phone) Delete(ctx context.Context, c *http.Client) error {
	return p.call(ctx, c, http.MethodDelete, "/api/v1/passkeys/current", nil, nil)
}

// creationOptions are the members of PublicKeyCredentialCreationOptions the phone checks
// beyond what virtualwebauthn reads.
type creationOptions struct {
	PublicKey struct {
		RP struct {
			ID string `json:"id"`
		} `json:"rp"`
		PubKeyCredParams []credParam `json:"pubKeyCredParams"`
	} `json:"publicKey"`
}

type credParam struct {
	Alg int `json:"alg"`
}

// Create is navigator.credentials.create() on the phone: it makes a new credential of its
// algorithm (ES256 by default) for the options kagi sent (the whole begin answer,
// {"publicKey":…}) and returns the PublicKeyCredential JSON to finish with. Like a platform authenticator it refuses when it
// holds one of the excluded credentials, and replaces a credential it holds for the same
// relying party and user.
func (p *Phone) Create(options json.RawMessage) (json.RawMessage, error) {
	var co creationOptions
	if err := json.Unmarshal(options, &co); err != nil {
		return nil, fmt.Errorf("authtest: creation options: %w", err)
	}
	if co.PublicKey.RP.ID != p.cfg.RPID {
		return nil, fmt.Errorf("authtest: creation options for RP %q, the page is on %q", co.PublicKey.RP.ID, p.cfg.RPID)
	}
	if !slices.Contains(co.PublicKey.PubKeyCredParams, credParam{Alg: p.cfg.Algorithm}) {
		return nil, fmt.Errorf("authtest: the options do not allow COSE algorithm %d", p.cfg.Algorithm)
	}
	opts, err := virtualwebauthn.ParseAttestationOptions(string(options))
	if err != nil {
		return nil, fmt.Errorf("authtest: creation options: %w", err)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pk := range p.passkeys {
		if pk.rpID == opts.RelyingPartyID && pk.cred.IsExcludedForAttestation(*opts) {
			return nil, errors.New("authtest: the phone already holds an excluded credential (InvalidStateError)")
		}
	}
	pk := &passkey{rpID: opts.RelyingPartyID, userHandle: []byte(opts.UserID), userName: opts.UserName, cred: newCredential(p.cfg.Algorithm)}
	response := virtualwebauthn.CreateAttestationResponse(p.rp(), p.authenticator(pk), pk.cred, *opts)
	p.passkeys = slices.DeleteFunc(p.passkeys, func(old *passkey) bool {
		return old.rpID == pk.rpID && bytes.Equal(old.userHandle, pk.userHandle)
	})
	p.passkeys = append(p.passkeys, pk)
	return json.RawMessage(response), nil
}

// Get is navigator.credentials.get() on the phone: it signs the request options kagi sent
// (the whole begin answer) and returns the PublicKeyCredential JSON to finish with. With
// allowCredentials it uses the listed credential it holds; without (discoverable) the newest
// credential it holds for the relying party, as if the customer picked it.
func (p *Phone) Get(options json.RawMessage) (json.RawMessage, error) {
	opts, err := virtualwebauthn.ParseAssertionOptions(string(options))
	if err != nil {
		return nil, fmt.Errorf("authtest: request options: %w", err)
	}
	if opts.RelyingPartyID != p.cfg.RPID {
		return nil, fmt.Errorf("authtest: request options for RP %q, the page is on %q", opts.RelyingPartyID, p.cfg.RPID)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var chosen *passkey
	for _, pk := range slices.Backward(p.passkeys) {
		if pk.rpID == opts.RelyingPartyID && (len(opts.AllowCredentials) == 0 || pk.cred.IsAllowedForAssertion(*opts)) {
			chosen = pk
			break
		}
	}
	if chosen == nil {
		return nil, ErrNoPasskey
	}
	if p.cfg.Counting {
		chosen.cred.Counter++
	}
	return json.RawMessage(virtualwebauthn.CreateAssertionResponse(p.rp(), p.authenticator(chosen), chosen.cred, *opts)), nil
}

// ErrNoPasskey is Get's answer when the phone holds no passkey the options accept: the
// browser's NotAllowedError.
var ErrNoPasskey = errors.New("authtest: no passkey on the phone for this request (NotAllowedError)")

// SetCounter sets the signature counter of every passkey on the phone, to play an
// authenticator whose counter went backwards (a cloned key). With Counting, the next
// assertion carries n+1.
func (p *Phone) SetCounter(n uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pk := range p.passkeys {
		pk.cred.Counter = n
	}
}

// CredentialIDs lists the base64url IDs of the passkeys on the phone, oldest first.
func (p *Phone) CredentialIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, len(p.passkeys))
	for i, pk := range p.passkeys {
		ids[i] = base64.RawURLEncoding.EncodeToString(pk.cred.ID)
	}
	return ids
}

// rp is the relying party as virtualwebauthn signs for it: the RP ID hashed into the
// authenticator data, the origin written into the client data.
func (p *Phone) rp() virtualwebauthn.RelyingParty {
	id := p.cfg.AuthenticatorRPID
	if id == "" {
		id = p.cfg.RPID
	}
	return virtualwebauthn.RelyingParty{ID: id, Origin: p.cfg.Origin}
}

// authenticator is the phone's authenticator as virtualwebauthn models it, answering for pk:
// user present and (unless UserNotVerified) verified, the backup flags of the provider, pk's
// user handle.
func (p *Phone) authenticator(pk *passkey) virtualwebauthn.Authenticator {
	return virtualwebauthn.Authenticator{
		Options: virtualwebauthn.AuthenticatorOptions{
			UserHandle:      pk.userHandle,
			UserNotVerified: p.cfg.UserNotVerified,
			BackupEligible:  !p.cfg.DeviceBound,
			BackupState:     !p.cfg.DeviceBound,
		},
		Aaguid: p.aaguid,
	}
}

// newCredential makes a credential of the COSE algorithm alg whose key virtualwebauthn
// encodes correctly. virtualwebauthn v1.0.3 writes the EC2 coordinates without their leading
// zero bytes, which a relying party rightly refuses (about one key in 128), so such keys are
// thrown away. Its RSA keys are always whole: a 2048-bit modulus has its top bit set.
func newCredential(alg int) virtualwebauthn.Credential {
	if alg == AlgRS256 {
		return virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeRSA)
	}
	for {
		cred := virtualwebauthn.NewCredential(virtualwebauthn.KeyTypeEC2)
		if fullLengthCoordinates(cred.Key.Data) {
			return cred
		}
	}
}

func fullLengthCoordinates(pkcs8 []byte) bool {
	key, err := x509.ParsePKCS8PrivateKey(pkcs8)
	if err != nil {
		return false
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return false
	}
	point, err := ec.PublicKey.Bytes() // 0x04 || X (32 bytes) || Y (32 bytes)
	return err == nil && len(point) == 65 && point[1] != 0 && point[33] != 0
}

// call sends one JSON request as the phone's browser on a same-origin page would, and decodes
// a 200 answer into out (when out is not nil) or returns the refusal as an *APIError.
func (p *Phone) call(ctx context.Context, c *http.Client, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		raw, ok := body.(json.RawMessage)
		if !ok {
			var err error
			if raw, err = json.Marshal(body); err != nil {
				return err
			}
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.cfg.BaseURL+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", p.cfg.UserAgent)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		e := &APIError{Status: res.StatusCode}
		if json.Unmarshal(raw, &e.Body) == nil {
			e.Code, _ = e.Body["error"].(string)
			e.Message, _ = e.Body["message"].(string)
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("authtest: %s %s: %w", method, path, err)
	}
	return nil
}
