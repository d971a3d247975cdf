package auth

import (
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// webauthnUser is an account as go-webauthn consumes it: the adapter keeps the library's types
// out of Account and Passkey.
type webauthnUser struct {
	handle      []byte
	name        string
	displayName string
	credentials []webauthn.Credential
}

func (u webauthnUser) WebAuthnID() []byte                         { return u.handle }
func (u webauthnUser) WebAuthnName() string                       { return u.name }
func (u webauthnUser) WebAuthnDisplayName() string                { return u.displayName }
func (u webauthnUser) WebAuthnCredentials() []webauthn.Credential { return u.credentials }

// credential rebuilds the stored passkey as the credential record go-webauthn verifies an
// assertion against. The passkey was registered with user verification, so the record says so.
func (p storedPasskey) credential() webauthn.Credential {
	flags := protocol.FlagUserPresent | protocol.FlagUserVerified
	if p.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if p.BackupState {
		flags |= protocol.FlagBackupState
	}
	transports := make([]protocol.AuthenticatorTransport, len(p.Transports))
	for i, t := range p.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID:              p.CredentialID,
		PublicKey:       p.PublicKey,
		AttestationType: p.AttestationType,
		Transport:       transports,
		Flags:           webauthn.NewCredentialFlags(flags),
		Authenticator:   webauthn.Authenticator{SignCount: uint32(p.SignCount)},
	}
}

// user is the passkey's account with its one credential.
func (p storedPasskey) user() webauthnUser {
	return webauthnUser{handle: p.UserHandle, name: p.LoginID, displayName: p.Name,
		credentials: []webauthn.Credential{p.credential()}}
}
