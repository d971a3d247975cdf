package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testRootCertificate is a self-signed root CA, base64 DER as a metadata statement holds it.
func testRootCertificate(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Keys Root CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// The allow-list of staff authenticator models is opt-in, and refused in every mode when it
// cannot prove a model: AAGUIDs without the metadata file, a listed AAGUID without a statement
// in it, a malformed AAGUID; each problem named, all at once.
func TestStaffAuthenticatorAllowList(t *testing.T) {
	t.Chdir(t.TempDir()) // --dev keeps its secrets under .kagi/ here
	const (
		listed  = "cb69481e-8ff7-4039-93ec-0a2729a154a8"
		missing = "ee882879-721c-4913-9775-3dfcce97072a"
	)
	file := filepath.Join(t.TempDir(), "staff-metadata.json")
	stmt := fmt.Sprintf(`[{"aaguid": %q, "description": "Test Key", "protocolFamily": "fido2", "schema": 3,
		"attestationTypes": ["basic_full"], "attestationRootCertificates": [%q]}]`, listed, testRootCertificate(t))
	if err := os.WriteFile(file, []byte(stmt), 0o600); err != nil {
		t.Fatal(err)
	}
	selfOnly := filepath.Join(t.TempDir(), "self-only.json")
	if err := os.WriteFile(selfOnly, []byte(strings.Replace(stmt, "basic_full", "basic_surrogate", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	prod := changed(prodEnv("postgres://127.0.0.1:1/none"), map[string]string{
		"KAGI_SMTP_URL": "smtp://127.0.0.1:1", "KAGI_MAIL_FROM": "no-reply@kagi-sec.example.jp", "KAGI_IVR_SECOND_FACTOR": "none",
	})
	dev := map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/none"}
	cases := []struct {
		name    string
		dev     bool
		env     map[string]string
		refusal []string // nil: accepted
		models  int
	}{
		{name: "unset: any device-bound authenticator", env: prod},
		{name: "a listed model with its statement", env: changed(prod, map[string]string{"KAGI_STAFF_AAGUIDS": " " + strings.ToUpper(listed) + " ", "KAGI_STAFF_METADATA": file}), models: 1},
		{name: "AAGUIDs without metadata refused", env: changed(prod, map[string]string{"KAGI_STAFF_AAGUIDS": listed}),
			refusal: []string{"KAGI_STAFF_AAGUIDS needs KAGI_STAFF_METADATA"}},
		{name: "AAGUIDs without metadata refused in --dev too", dev: true, env: changed(dev, map[string]string{"KAGI_STAFF_AAGUIDS": listed}),
			refusal: []string{"KAGI_STAFF_AAGUIDS needs KAGI_STAFF_METADATA"}},
		{name: "metadata without AAGUIDs refused", env: changed(prod, map[string]string{"KAGI_STAFF_METADATA": file}),
			refusal: []string{"KAGI_STAFF_METADATA is set but KAGI_STAFF_AAGUIDS is not"}},
		{name: "a listed AAGUID missing from the file refused", env: changed(prod, map[string]string{"KAGI_STAFF_AAGUIDS": listed + "," + missing, "KAGI_STAFF_METADATA": file}),
			refusal: []string{"KAGI_STAFF_AAGUIDS: " + missing + " has no metadata statement"}},
		{name: "malformed AAGUIDs refused, each named", env: changed(prod, map[string]string{"KAGI_STAFF_AAGUIDS": "yubikey,{" + listed + "}", "KAGI_STAFF_METADATA": file}),
			refusal: []string{`"yubikey" is not an AAGUID`, `"{` + listed + `}" is not an AAGUID`}},
		{name: "AAGUIDs of commas only refused", env: changed(prod, map[string]string{"KAGI_STAFF_AAGUIDS": " , ", "KAGI_STAFF_METADATA": file}),
			refusal: []string{"KAGI_STAFF_AAGUIDS lists no AAGUID"}},
		{name: "the all-zero AAGUID refused", env: changed(prod, map[string]string{"KAGI_STAFF_AAGUIDS": "00000000-0000-0000-0000-000000000000", "KAGI_STAFF_METADATA": file}),
			refusal: []string{"all-zero AAGUID"}},
		{name: "an unreadable metadata file refused", env: changed(prod, map[string]string{"KAGI_STAFF_AAGUIDS": listed, "KAGI_STAFF_METADATA": file + ".gone"}),
			refusal: []string{"KAGI_STAFF_METADATA", ".gone"}},
		{name: "a statement without a certificate chain refused", env: changed(prod, map[string]string{"KAGI_STAFF_AAGUIDS": listed, "KAGI_STAFF_METADATA": selfOnly}),
			refusal: []string{"KAGI_STAFF_METADATA", "no attestation type with a certificate chain"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadFor(forServe, tc.dev, tc.env)
			if tc.refusal == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if len(c.StaffAuthenticators) != tc.models {
					t.Fatalf("%d models allowed, want %d", len(c.StaffAuthenticators), tc.models)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tc.refusal {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("refusal %q does not say %q", err, want)
				}
			}
		})
	}
}
