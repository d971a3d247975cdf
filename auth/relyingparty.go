package auth

import (
	"slices"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// NewRelyingParty is the relying party with the core's ceremony policy (§2.5) on top of base,
// for the other packages that run passkey ceremonies of their own — the operator console's
// staff passkeys — so theirs can never drift from the customers': the same RP identity, user
// verification and a discoverable credential required, attestation none.
func NewRelyingParty(base *webauthn.Config) (*webauthn.WebAuthn, error) {
	return newRelyingParty(base)
}

// CredentialParameters are the algorithms the core accepts for a passkey (§2.5), in order of
// preference, for the registrations of other packages (see NewRelyingParty).
func CredentialParameters() []protocol.CredentialParameter {
	return slices.Clone(credentialParameters)
}
