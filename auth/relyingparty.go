package auth

import (
	"bytes"
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

// staffHandlePrefix starts the WebAuthn user handle of every staff passkey. Staff and customers
// share the relying party, so a staff member's passkey is offered on the customers' login page
// too; picked there, it is unknown to the core, and the page would tell the password manager to
// forget it (signalUnknownCredential) — locking the staff member out of the console. The core
// knows a staff passkey by this prefix and leaves it alone. A customer's handle is 32 random
// bytes, which start so by chance with a probability of 2⁻⁸⁸.
var staffHandlePrefix = []byte("kagi-staff:")

// NewStaffUserHandle returns a fresh user handle for a staff member's passkeys.
func NewStaffUserHandle() []byte {
	return append(slices.Clone(staffHandlePrefix), randomBytes(32)...)
}

// isStaffHandle reports whether a user handle is a staff member's (NewStaffUserHandle).
func isStaffHandle(h []byte) bool { return bytes.HasPrefix(h, staffHandlePrefix) }
