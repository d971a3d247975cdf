package console

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"kagi"

	"github.com/fxamacker/cbor/v2"
	"github.com/go-webauthn/webauthn/metadata"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"kagi/auth/authtest"
	"kagi/staff"
)

// idFidoGenCeAAGUID is the certificate extension in which a packed attestation certificate
// names its model (id-fido-gen-ce-aaguid).
var idFidoGenCeAAGUID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 45724, 1, 1, 4}

// keyModel is an authenticator model as its vendor makes it: a root CA published in the model's
// FIDO metadata statement, and a batch attestation key whose certificate the root signed and
// which every key of the model signs its attestation with. The virtual authenticator only
// self-attests; attest re-signs its attestation as a key of this model would.
type keyModel struct {
	aaguid   uuid.UUID
	rootDER  []byte
	certDER  []byte
	attestor *ecdsa.PrivateKey
}

// newKeyModel makes a model of aaguid with a root CA of its own.
func newKeyModel(t *testing.T, aaguid string) *keyModel {
	t.Helper()
	id := uuid.MustParse(aaguid)
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// The library checks the certificates against the real clock, not the tests' one.
	now := time.Now()
	root := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Country: []string{"JP"}, Organization: []string{"Test Keys K.K."}, CommonName: "Test Keys Root CA " + aaguid},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(20 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, root, root, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	m := &keyModel{aaguid: id, rootDER: rootDER}
	m.certDER, m.attestor = issueAttestation(t, id, rootDER, rootKey)
	return m
}

// issueAttestation makes a batch attestation key for the model aaguid and its certificate as
// the packed format requires (version 3; C, O, OU "Authenticator Attestation", CN; not a CA;
// the model's AAGUID in a non-critical id-fido-gen-ce-aaguid), signed by the root.
func issueAttestation(t *testing.T, aaguid uuid.UUID, rootDER []byte, rootKey *ecdsa.PrivateKey) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ext, err := asn1.Marshal(aaguid[:])
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject: pkix.Name{Country: []string{"JP"}, Organization: []string{"Test Keys K.K."},
			OrganizationalUnit: []string{"Authenticator Attestation"}, CommonName: "Test Key Batch 1"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  false,
		ExtraExtensions:       []pkix.Extension{{Id: idFidoGenCeAAGUID, Value: ext}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root, &key.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

// statement is the model's FIDO metadata statement as the MDS publishes it, parsed as kagi
// serve parses KAGI_STAFF_METADATA.
func (m *keyModel) statement(t *testing.T) metadata.Statement {
	t.Helper()
	raw := fmt.Sprintf(`{"aaguid": %q, "description": "Test Key %s", "protocolFamily": "fido2", "schema": 3,
		"attestationTypes": ["basic_full"], "attestationRootCertificates": [%q]}`,
		m.aaguid, m.aaguid, base64.StdEncoding.EncodeToString(m.rootDER))
	var j metadata.StatementJSON
	if err := json.Unmarshal([]byte(raw), &j); err != nil {
		t.Fatal(err)
	}
	st, err := j.Parse()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// attestationObject is the CBOR attestation object of a registration.
type attestationObject struct {
	Fmt      string          `cbor:"fmt"`
	AttStmt  cbor.RawMessage `cbor:"attStmt"`
	AuthData []byte          `cbor:"authData"`
}

// rewriteAttestation returns the PublicKeyCredential JSON cred with its attestation object's
// format and statement replaced by what stmt makes of the authenticator data and the hash of
// the client data.
func rewriteAttestation(t *testing.T, cred json.RawMessage, stmt func(authData, clientDataHash []byte) (string, map[string]any)) json.RawMessage {
	t.Helper()
	var pkc map[string]any
	if err := json.Unmarshal(cred, &pkc); err != nil {
		t.Fatal(err)
	}
	resp := pkc["response"].(map[string]any)
	clientData, err := base64.RawURLEncoding.DecodeString(resp["clientDataJSON"].(string))
	if err != nil {
		t.Fatal(err)
	}
	rawObj, err := base64.RawURLEncoding.DecodeString(resp["attestationObject"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var obj attestationObject
	if err := cbor.Unmarshal(rawObj, &obj); err != nil {
		t.Fatal(err)
	}
	hash := sha256.Sum256(clientData)
	fmtName, attStmt := stmt(obj.AuthData, hash[:])
	out, err := cbor.Marshal(map[string]any{"fmt": fmtName, "attStmt": attStmt, "authData": obj.AuthData})
	if err != nil {
		t.Fatal(err)
	}
	resp["attestationObject"] = base64.RawURLEncoding.EncodeToString(out)
	b, err := json.Marshal(pkc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// attest re-signs a registration as a key of the model: a packed attestation, ES256 over
// authData || SHA-256(clientDataJSON) with the batch key, and its certificate in x5c.
func (m *keyModel) attest(t *testing.T) func(json.RawMessage) json.RawMessage {
	return signedBy(t, m.certDER, m.attestor)
}

// signedBy is attest with any attestation certificate and key.
func signedBy(t *testing.T, certDER []byte, key *ecdsa.PrivateKey) func(json.RawMessage) json.RawMessage {
	return func(cred json.RawMessage) json.RawMessage {
		return rewriteAttestation(t, cred, func(authData, clientDataHash []byte) (string, map[string]any) {
			digest := sha256.Sum256(append(append([]byte{}, authData...), clientDataHash...))
			sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
			if err != nil {
				t.Fatal(err)
			}
			return "packed", map[string]any{"alg": -7, "sig": sig, "x5c": [][]byte{certDER}}
		})
	}
}

// noAttestation is what a browser sends when it withholds the attestation: format "none".
func noAttestation(t *testing.T) func(json.RawMessage) json.RawMessage {
	return func(cred json.RawMessage) json.RawMessage {
		return rewriteAttestation(t, cred, func([]byte, []byte) (string, map[string]any) {
			return "none", map[string]any{}
		})
	}
}

// The company's security key model, and another model nobody listed.
const (
	aaguidCompanyKey = "cb69481e-8ff7-4039-93ec-0a2729a154a8"
	aaguidOtherKey   = "ee882879-721c-4913-9775-3dfcce97072a"
)

// With KAGI_STAFF_AAGUIDS a key enrolls only when its attestation proves it is a listed model:
// its certificate chains to the model's root. A key that merely claims the AAGUID (self
// attestation, or none), one chained to another root, and another model are refused with
// authenticator_not_allowed, audited, nothing stored, the code left for the company's key.
func TestStaffEnrollmentWithAnAllowListNeedsAnAttestedListedModel(t *testing.T) {
	t.Parallel()
	company := newKeyModel(t, aaguidCompanyKey)
	other := newKeyModel(t, aaguidOtherKey)
	// A forger's CA issuing a certificate that names the company's model.
	forger := newKeyModel(t, aaguidCompanyKey)

	cases := []struct {
		name   string
		aaguid string
		attest func(json.RawMessage) json.RawMessage
		why    string
	}{
		{"listed model self-attested", aaguidCompanyKey, nil, "attestation_not_verified"},
		{"listed model with no attestation", aaguidCompanyKey, noAttestation(t), "attestation_not_verified"},
		{"listed model chained to another root", aaguidCompanyKey, forger.attest(t), "attestation_not_verified"},
		{"unlisted model with its own valid chain", aaguidOtherKey, other.attest(t), "aaguid_not_listed"},
		{"unlisted model with no attestation", aaguidOtherKey, noAttestation(t), "aaguid_not_listed"},
		{"all-zero AAGUID with no attestation", "00000000-0000-0000-0000-000000000000", noAttestation(t), "aaguid_not_listed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, func(c *setup) {
				c.Staff.Authenticators = []metadata.Statement{company.statement(t)}
			})
			code := e.addStaff("suzuki", staff.RoleOperator)
			d := e.staffDesk(func(c *authtest.Config) { c.AAGUID = tc.aaguid })
			status, body := d.enrollAttested(code, tc.attest)
			expectStatus(t, "enroll", status, body, http.StatusBadRequest, "authenticator_not_allowed")
			if msg, _ := body["message"].(string); !strings.Contains(msg, "会社から支給されたセキュリティキー") || !strings.Contains(msg, "スーパーバイザー") {
				t.Fatalf("message %q does not send the staff member to the company's key or a supervisor", msg)
			}
			if n := e.count(`SELECT count(*) FROM staff_credentials`) + e.count(`SELECT count(*) FROM staff_sessions`); n != 0 {
				t.Fatalf("a refused key was stored or made a session (%d rows)", n)
			}
			if n := e.count(`SELECT count(*) FROM audit_log WHERE event = 'staff_enroll_refused' AND actor = 'staff:suzuki'
				AND detail->>'reason' = 'authenticator_not_allowed' AND detail->>'why' = $1 AND detail->>'aaguid' = $2`, tc.why, tc.aaguid); n != 1 {
				t.Fatalf("audit %v: no staff_enroll_refused saying %s for %s", e.staffAudit(), tc.why, tc.aaguid)
			}
			// The code is not used up: the company's key enrolls with it.
			status, body = e.staffDesk(func(c *authtest.Config) { c.AAGUID = aaguidCompanyKey }).enrollAttested(code, company.attest(t))
			expectStatus(t, "the company's key with the same code", status, body, http.StatusOK, "")
		})
	}
}

// The company's key, attested by its model's root, enrolls (the options ask for the
// attestation) and then logs in to the console; the trail says which model.
func TestStaffEnrollsTheCompanysKeyAndLogsIn(t *testing.T) {
	t.Parallel()
	company := newKeyModel(t, aaguidCompanyKey)
	e := newTestEnv(t, func(c *setup) {
		c.Staff.Authenticators = []metadata.Statement{company.statement(t)}
	})
	code := e.addStaff("suzuki", staff.RoleOperator)
	d := e.staffDesk(func(c *authtest.Config) { c.AAGUID = aaguidCompanyKey; c.Counting = true })
	status, _, raw := d.call("POST", "/staff/api/enroll/begin", map[string]string{"code": code})
	var opts struct {
		PublicKey struct {
			Attestation string `json:"attestation"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(raw, &opts); status != http.StatusOK || err != nil || opts.PublicKey.Attestation != "direct" {
		t.Fatalf("enroll begin: %d %s, want attestation direct", status, raw)
	}
	status, body := d.enrollAttested(code, company.attest(t))
	expectStatus(t, "enroll the company's key", status, body, http.StatusOK, "")
	if n := e.count(`SELECT count(*) FROM staff_credentials WHERE aaguid = $1 AND attestation_type = 'basic_full'`, aaguidCompanyKey); n != 1 {
		t.Fatal("the company's key was not stored as an attested key of its model")
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE event = 'staff_enrolled' AND detail->>'aaguid' = $1`, aaguidCompanyKey); n != 1 {
		t.Fatalf("audit %v: the enrollment does not name the model", e.staffAudit())
	}
	desk := &staffDesk{e: e, c: e.browser(), key: d.key}
	status, body = desk.login()
	expectStatus(t, "login with the company's key", status, body, http.StatusOK, "")
	if status, body = desk.me(); body["login_id"] != "suzuki" {
		t.Fatalf("me after login: %d %v", status, body)
	}
}

// Without an allow-list nothing changes: the options ask for no attestation and any
// device-bound key enrolls, self-attested or not, whatever model it claims.
func TestStaffEnrollmentWithoutAnAllowListTakesAnyDeviceBoundKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		attest func(*testing.T) func(json.RawMessage) json.RawMessage
	}{
		{"self-attested", func(*testing.T) func(json.RawMessage) json.RawMessage { return nil }},
		{"no attestation", noAttestation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			code := e.addStaff("suzuki", staff.RoleOperator)
			d := e.staffDesk(func(c *authtest.Config) { c.AAGUID = aaguidOtherKey })
			_, _, raw := d.call("POST", "/staff/api/enroll/begin", map[string]string{"code": code})
			if strings.Contains(string(raw), `"direct"`) {
				t.Fatalf("options without an allow-list ask for the attestation: %s", raw)
			}
			status, body := d.enrollAttested(code, tc.attest(t))
			expectStatus(t, "enroll", status, body, http.StatusOK, "")
			status, body = (&staffDesk{e: e, c: e.browser(), key: d.key}).login()
			expectStatus(t, "login", status, body, http.StatusOK, "")
		})
	}
}

// A passkey enrolled before the allow-list was set (nothing proved its model) logs in no more
// once kagi starts with it: 401 authenticator_not_allowed after a good signature, audited,
// no session; the member re-enrolls with the company's key.
func TestStaffPasskeyEnrolledBeforeTheAllowListIsRefusedAtLogin(t *testing.T) {
	t.Parallel()
	company := newKeyModel(t, aaguidCompanyKey)
	e := newTestEnv(t)
	d := e.staffDesk(func(c *authtest.Config) { c.AAGUID = aaguidCompanyKey })
	status, body := d.enroll(e.addStaff("suzuki", staff.RoleOperator))
	expectStatus(t, "enroll without an allow-list", status, body, http.StatusOK, "")

	// kagi restarted with KAGI_STAFF_AAGUIDS, on the same database.
	cfg := staff.Config{Pool: e.pool, Log: e.log, Now: e.clock.Now, Secret: []byte("test-pin-key-0123456789abcdef0123"), Authenticators: []metadata.Statement{company.statement(t)},
		WebAuthn: &webauthn.Config{RPID: consoleRPID, RPDisplayName: "kagi", RPOrigins: []string{consoleOrigin}}}
	restarted, err := staff.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	assertion, err := restarted.BeginLogin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	options, err := json.Marshal(assertion)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := d.key.Get(options)
	if err != nil {
		t.Fatal(err)
	}
	_, err = restarted.FinishLogin(ctx, signed)
	var werr *kagi.Error
	if !errors.As(err, &werr) || werr.Kind != kagi.Unauthorized || werr.Code != "authenticator_not_allowed" {
		t.Fatalf("login with a passkey enrolled before the allow-list: %v, want 401 authenticator_not_allowed", err)
	}
	if n := e.count(`SELECT count(*) FROM staff_sessions`); n != 1 {
		t.Fatalf("%d staff sessions, want only the enrollment's", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE event = 'staff_login_failed' AND detail->>'reason' = 'authenticator_not_allowed'
		AND detail->>'why' = 'attestation_not_verified'`); n != 1 {
		t.Fatalf("audit %v: the refusal is not audited with its reason", e.staffAudit())
	}
}

// A broken ceremony under the allow-list is still a failed passkey, not a model refused: an
// attestation signed by another key than its certificate's says "try again", 400 passkey_failed.
func TestStaffEnrollmentWithAnAllowListTellsABadSignatureFromAModel(t *testing.T) {
	t.Parallel()
	company := newKeyModel(t, aaguidCompanyKey)
	stranger := newKeyModel(t, aaguidCompanyKey)
	e := newTestEnv(t, func(c *setup) {
		c.Staff.Authenticators = []metadata.Statement{company.statement(t)}
	})
	code := e.addStaff("suzuki", staff.RoleOperator)
	d := e.staffDesk(func(c *authtest.Config) { c.AAGUID = aaguidCompanyKey })
	status, body := d.enrollAttested(code, signedBy(t, company.certDER, stranger.attestor))
	expectStatus(t, "enroll with a bad attestation signature", status, body, http.StatusBadRequest, "passkey_failed")
	if n := e.count(`SELECT count(*) FROM audit_log WHERE event = 'staff_enroll_refused'`); n != 0 {
		t.Fatal("a bad signature was audited as a model refused")
	}
}
