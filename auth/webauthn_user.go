package auth

import (
	"encoding/base64"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Customers and support staff are two populations of one kind of person — one who logs in with
// a passkey — kept in tables of their own (auth's, staff's). What a passkey ceremony and a
// session are is written once, here, and used by both: the WebAuthn user adapter, the stored
// credential record, the key a ceremony is found by and the session token. So a fix to any of
// them reaches the console's logins as it reaches the customers'.

// PasskeyUser is a person as go-webauthn consumes them: the adapter keeps the library's
// interface out of Account, Passkey and the staff's types.
type PasskeyUser struct {
	// Handle is the WebAuthn user handle: random, and for staff prefixed (NewStaffUserHandle).
	Handle      []byte
	Name        string
	DisplayName string
	Credentials []webauthn.Credential
}

func (u PasskeyUser) WebAuthnID() []byte                         { return u.Handle }
func (u PasskeyUser) WebAuthnName() string                       { return u.Name }
func (u PasskeyUser) WebAuthnDisplayName() string                { return u.DisplayName }
func (u PasskeyUser) WebAuthnCredentials() []webauthn.Credential { return u.Credentials }

// CredentialRecord is a stored passkey as both passkeys and staff_credentials keep it: what
// an assertion is verified against and what the next login updates.
type CredentialRecord struct {
	CredentialID    []byte   `db:"credential_id"`
	PublicKey       []byte   `db:"public_key"`
	SignCount       int64    `db:"sign_count"`
	Transports      []string `db:"transports"`
	BackupEligible  bool     `db:"backup_eligible"`
	BackupState     bool     `db:"backup_state"`
	AttestationType string   `db:"attestation_type"`
}

// Credential rebuilds the record as the credential go-webauthn verifies an assertion against.
// Every passkey was registered with user verification, so the record says so.
func (c CredentialRecord) Credential() webauthn.Credential {
	flags := protocol.FlagUserPresent | protocol.FlagUserVerified
	if c.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if c.BackupState {
		flags |= protocol.FlagBackupState
	}
	transports := make([]protocol.AuthenticatorTransport, len(c.Transports))
	for i, t := range c.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID:              c.CredentialID,
		PublicKey:       c.PublicKey,
		AttestationType: c.AttestationType,
		Transport:       transports,
		Flags:           webauthn.NewCredentialFlags(flags),
		Authenticator:   webauthn.Authenticator{SignCount: uint32(c.SignCount)},
	}
}

// NewCredentialRecord is what a verified registration stores, with the authenticator's AAGUID
// in the canonical UUID form (the uuid columns take it as text). It fails only for an AAGUID
// that is not 16 bytes, which no verified registration has.
func NewCredentialRecord(cred *webauthn.Credential) (CredentialRecord, string, error) {
	aaguid, err := formatAAGUID(cred.Authenticator.AAGUID)
	if err != nil {
		return CredentialRecord{}, "", err
	}
	transports := make([]string, len(cred.Transport))
	for i, t := range cred.Transport {
		transports[i] = string(t)
	}
	attestation := cred.AttestationType
	if attestation == "" {
		attestation = "none"
	}
	return CredentialRecord{
		CredentialID: cred.ID, PublicKey: cred.PublicKey, SignCount: int64(cred.Authenticator.SignCount),
		Transports: transports, BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
		AttestationType: attestation,
	}, aaguid, nil
}

// NewSessionToken returns a fresh session token for a cookie and the hash it is stored and
// looked up by (TokenHash): 256 random bits, so the table alone opens no session.
func NewSessionToken() (token string, hash []byte) {
	token = base64.RawURLEncoding.EncodeToString(randomBytes(32))
	return token, TokenHash(token)
}

// user is the passkey's account with its one credential.
func (p storedPasskey) user() PasskeyUser {
	return PasskeyUser{Handle: p.UserHandle, Name: p.LoginID, DisplayName: p.Name,
		Credentials: []webauthn.Credential{p.Credential()}}
}
