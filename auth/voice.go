package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"github.com/jackc/pgx/v5"

	"kagi/notify"
	"kagi/pgdb"
)

// VoiceAccount is what the voice line needs to verify a caller: never shown to anyone, and the
// PIN hash never leaves the comparison in CallerMatches.
type VoiceAccount struct {
	ID            int64
	AccountNumber string
	HasPasskey    bool
	// Suspended is the back office's suspension (§12.2): the voice line refuses the account,
	// telling only a caller who passed the keyed checks.
	Suspended bool
	phones    []string
	pinHash   []byte
	// pinLegacy is a PIN hash an import brought (§12.1), until the next verified call replaces
	// it with pinHash.
	pinLegacy *string
}

// VoiceAccountByNumber loads the account the caller keyed in, on the caller's transaction.
func (s *Service) VoiceAccountByNumber(ctx context.Context, q pgdb.Querier, number string) (VoiceAccount, bool, error) {
	va := VoiceAccount{AccountNumber: number}
	err := q.QueryRow(ctx, `
		SELECT a.id, a.pin_hash, a.pin_legacy_hash,
		       EXISTS (SELECT 1 FROM passkeys p WHERE p.account_id = a.id), a.suspended_at IS NOT NULL,
		       COALESCE((SELECT array_agg(ph.phone) FROM account_phones ph WHERE ph.account_id = a.id), '{}')
		FROM accounts a WHERE a.account_number = $1`, number).Scan(&va.ID, &va.pinHash, &va.pinLegacy, &va.HasPasskey, &va.Suspended, &va.phones)
	if errors.Is(err, pgx.ErrNoRows) {
		va = VoiceAccount{AccountNumber: number}
		if decoy := s.pinDecoys.draw(number); decoy != "" { // decoy.go
			va.pinLegacy = &decoy
		}
		return va, false, nil
	}
	return va, err == nil, err
}

// AccountNumberKey is what the voice line's lockouts (§4.4) count an account number under: a
// keyed hash of the number exactly as the caller keyed it in (HMAC-SHA256 with the PIN key,
// under a label of its own so it never equals a PIN hash), hex-encoded. Every number keyed in
// gets one, whether or not it is an account's, so made-up numbers are counted and locked
// exactly like real ones and a lockout tells nothing about which numbers exist; and a number
// that is not an account's (perhaps another secret typed at the wrong prompt) is never stored.
func (s *Service) AccountNumberKey(number string) string {
	m := hmac.New(sha256.New, s.pinKey)
	m.Write([]byte("kagi-voice-account-v1\x00" + number))
	return hex.EncodeToString(m.Sum(nil))
}

// VoiceCodeHash is what the voice line stores of a code it texted (§4.8): a keyed hash (the PIN
// key, under a label of its own) bound to the call, so the code is never stored and a code
// texted for one call is worth nothing on another.
func (s *Service) VoiceCodeHash(callSid, code string) []byte {
	m := hmac.New(sha256.New, s.pinKey)
	m.Write([]byte("kagi-voice-code-v1\x00" + callSid + "\x00" + code))
	return m.Sum(nil)
}

// CallerMatches reports whether the caller's number is one of the account's registered phones
// and the PIN matches. Both checks always run, so the time taken does not tell which failed;
// an account that was not found (VoiceAccountByNumber's, with its decoy PIN hash) never matches
// but costs what an account's check does.
func (s *Service) CallerMatches(va VoiceAccount, from, pin string) bool {
	phoneOK := false
	for _, p := range va.phones {
		if p == from {
			phoneOK = true
		}
	}
	var pinOK bool
	if va.pinLegacy != nil {
		sh, err := parseStoredHash(*va.pinLegacy)
		pinOK = err == nil && sh.matches([]byte(pin))
	} else {
		stored := va.pinHash
		if stored == nil {
			stored = make([]byte, 32)
		}
		pinOK = s.PINMatches(va.AccountNumber, pin, stored)
	}
	return phoneOK && pinOK && va.ID != 0
}

// UpgradePIN replaces, in the verified call's transaction, a PIN hash an import brought
// (§12.1) with kagi's keyed hash of the PIN the caller just proved; an account with kagi's own
// hash is left alone. Call it only after CallerMatches.
func (s *Service) UpgradePIN(ctx context.Context, tx pgx.Tx, va VoiceAccount, pin string) error {
	if va.pinLegacy == nil || va.ID == 0 {
		return nil
	}
	tag, err := tx.Exec(ctx, `UPDATE accounts SET pin_hash = $2, pin_legacy_hash = NULL WHERE id = $1 AND pin_legacy_hash = $3`,
		va.ID, s.PINHash(va.AccountNumber, pin), *va.pinLegacy)
	if err != nil || tag.RowsAffected() == 0 {
		return err
	}
	return Audit(ctx, tx, AuditEvent{At: s.now(), AccountID: va.ID, Actor: "customer", Event: "pin_rehashed", Detail: map[string]any{}})
}

// MaskPhone hides the middle of a phone number for logs and staff screens: +819012345678 →
// +8190****5678 (notify.MaskPhone, which the outbox's audit lines use too).
func MaskPhone(p string) string { return notify.MaskPhone(p) }
