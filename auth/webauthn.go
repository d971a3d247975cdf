package auth

import (
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// newRelyingParty fixes the ceremony policy of §2.5 on top of the deployment's RP identity:
// user verification and a discoverable credential required, attestation none.
func newRelyingParty(base *webauthn.Config) (*webauthn.WebAuthn, error) {
	cfg := *base
	if cfg.RPDisplayName == "" {
		cfg.RPDisplayName = "kagi"
	}
	cfg.AttestationPreference = protocol.PreferNoAttestation
	cfg.AuthenticatorSelection = protocol.AuthenticatorSelection{
		ResidentKey:        protocol.ResidentKeyRequirementRequired,
		RequireResidentKey: protocol.ResidentKeyRequired(),
		UserVerification:   protocol.VerificationRequired,
	}
	wa, err := webauthn.New(&cfg)
	if err != nil {
		return nil, fmt.Errorf("auth: webauthn config: %w", err)
	}
	return wa, nil
}
