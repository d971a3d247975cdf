package staff

import (
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/metadata"
	"github.com/go-webauthn/webauthn/metadata/providers/memory"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"kagi/auth"
)

// The allow-list of staff authenticator models (KAGI_STAFF_AAGUIDS, §6). An AAGUID alone is the
// authenticator's own claim: with attestation "none" any software may claim any model. So with
// the allow-list the enrollment asks for the attestation ("direct") and go-webauthn verifies it
// against the listed model's FIDO metadata statement — the certificate chain up to one of the
// model's attestation roots — before kagi looks at the AAGUID at all.

// allowList is the enrollment relying party of the allow-list and the models it lets in.
type allowList struct {
	rp     *webauthn.WebAuthn
	models map[uuid.UUID]*metadata.Statement
}

// newAllowList builds the enrollment relying party for the models of statements on top of
// base: go-webauthn's metadata provider with each model's statement (its trust anchors and
// attestation types), and its AAGUID filter. It returns nil for no statements: no allow-list.
func newAllowList(base *webauthn.Config, statements []metadata.Statement) (*allowList, error) {
	if len(statements) == 0 {
		return nil, nil
	}
	l := &allowList{models: map[uuid.UUID]*metadata.Statement{}}
	entries := map[uuid.UUID]*metadata.Entry{}
	var permitted []uuid.UUID
	var errs []error
	for i := range statements {
		st := &statements[i]
		switch {
		case st.AaGUID == uuid.Nil:
			errs = append(errs, fmt.Errorf("metadata statement %q has no AAGUID", st.Description))
			continue
		case len(st.AttestationRootCertificates) == 0:
			errs = append(errs, fmt.Errorf("metadata statement of %s (%q) has no attestationRootCertificates", st.AaGUID, st.Description))
			continue
		case !st.AttestationTypes.HasCertificateTrustPath():
			errs = append(errs, fmt.Errorf("metadata statement of %s (%q) names no attestation type with a certificate chain (basic_full, attca, anonca)", st.AaGUID, st.Description))
			continue
		}
		if _, dup := l.models[st.AaGUID]; dup {
			continue
		}
		l.models[st.AaGUID] = st
		entries[st.AaGUID] = &metadata.Entry{AaGUID: st.AaGUID, MetadataStatement: *st}
		permitted = append(permitted, st.AaGUID)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	mds, err := memory.New(
		memory.WithMetadata(entries),
		// Only the listed models have an entry; any other AAGUID, the all-zero one too, fails.
		memory.WithValidateEntry(true),
		memory.WithValidateEntryPermitZeroAAGUID(false),
		// The attestation certificate must chain to one of the model's own roots.
		memory.WithValidateTrustAnchor(true),
		// The attestation must be of a type the model's statement declares: a model attesting
		// with a certificate (basic_full) cannot be played by a self-attested key.
		memory.WithValidateAttestationTypes(true),
		// The statements carry no status reports (those come in the MDS BLOB, which kagi does
		// not fetch): a model the brokerage stops trusting is taken off KAGI_STAFF_AAGUIDS.
		memory.WithValidateStatus(false),
	)
	if err != nil {
		return nil, err
	}
	cfg := *base
	cfg.MDS = mds
	cfg.Filtering = &webauthn.FilteringConfig{PermittedAAGUIDs: permitted}
	if l.rp, err = auth.NewRelyingParty(&cfg); err != nil {
		return nil, err
	}
	return l, nil
}

// verifiedAttestations are the attestation types whose certificate chain go-webauthn checked
// against the model's roots (metadata.AuthenticatorAttestationTypes.HasCertificateTrustPath).
var verifiedAttestations = map[string]bool{
	string(metadata.BasicFull): true,
	string(metadata.AttCA):     true,
	string(metadata.AnonCA):    true,
}

// check reports why a credential go-webauthn accepted is still not one of the models, or "".
// go-webauthn's checks leave two ways through, by their contract: an attestation of format
// "none" (which a browser may also send in place of the real one) skips the metadata, and the
// AAGUID filter never refuses the all-zero AAGUID. Neither proves a model, so neither enrolls.
func (l *allowList) check(cred *webauthn.Credential) string {
	aaguid, err := uuid.FromBytes(cred.Authenticator.AAGUID)
	if err != nil {
		return "aaguid_not_listed"
	}
	return l.checkStored(aaguid.String(), cred.AttestationType)
}

// checkStored is check for a passkey as staff_credentials keeps it (its AAGUID in the
// canonical form, its attestation type): one enrolled before the allow-list, or of a model
// since taken off it, was never proved to be one of the models listed now.
func (l *allowList) checkStored(aaguid, attestationType string) string {
	id, err := uuid.Parse(aaguid)
	if err != nil || l.models[id] == nil {
		return "aaguid_not_listed"
	}
	if !verifiedAttestations[attestationType] {
		return "attestation_not_verified"
	}
	return ""
}

// refusal names why go-webauthn refused (notAllowed) a key claiming aaguid: a model not
// listed, or a listed one whose attestation did not verify (self-attested, or chained to none
// of the model's roots).
func (l *allowList) refusal(aaguid []byte) string {
	id, err := uuid.FromBytes(aaguid)
	if err != nil || l.models[id] == nil {
		return "aaguid_not_listed"
	}
	return "attestation_not_verified"
}

// notAllowed reports whether err, from the allow-list's CreateCredential, refuses the
// authenticator rather than the ceremony: the model's metadata (no entry for the AAGUID, an
// attestation type the model does not use, a chain to none of its roots) or the AAGUID filter.
// go-webauthn wraps its errors by value, so they are told apart by their type name.
func notAllowed(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		var pe *protocol.Error
		if !errors.As(err, &pe) {
			return false
		}
		if pe.Type == protocol.ErrMetadata.Type || pe.Type == protocol.ErrPolicyRestriction.Type {
			return true
		}
		err = pe
	}
	return false
}
