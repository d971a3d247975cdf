package auth

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"kagi/pgdb"
)

// VoiceAccount is what the voice line needs to verify a caller: never shown to anyone, and the
// PIN hash never leaves the comparison in CallerMatches.
type VoiceAccount struct {
	ID            int64
	AccountNumber string
	HasPasskey    bool
	phones        []string
	pinHash       []byte
}

// VoiceAccountByNumber loads the account the caller keyed in, on the caller's transaction.
func (s *Service) VoiceAccountByNumber(ctx context.Context, q pgdb.Querier, number string) (VoiceAccount, bool, error) {
	va := VoiceAccount{AccountNumber: number}
	err := q.QueryRow(ctx, `
		SELECT a.id, a.pin_hash,
		       EXISTS (SELECT 1 FROM passkeys p WHERE p.account_id = a.id),
		       COALESCE((SELECT array_agg(ph.phone) FROM account_phones ph WHERE ph.account_id = a.id), '{}')
		FROM accounts a WHERE a.account_number = $1`, number).Scan(&va.ID, &va.pinHash, &va.HasPasskey, &va.phones)
	if errors.Is(err, pgx.ErrNoRows) {
		return VoiceAccount{AccountNumber: number}, false, nil
	}
	return va, err == nil, err
}

// CallerMatches reports whether the caller's number is one of the account's registered phones
// and the PIN matches. Both checks always run, so the time taken does not tell which failed;
// an account that was not found (zero VoiceAccount) never matches but costs the same.
func (s *Service) CallerMatches(va VoiceAccount, from, pin string) bool {
	phoneOK := false
	for _, p := range va.phones {
		if p == from {
			phoneOK = true
		}
	}
	stored := va.pinHash
	if stored == nil {
		stored = make([]byte, 32)
	}
	pinOK := s.PINMatches(va.AccountNumber, pin, stored)
	return phoneOK && pinOK && va.ID != 0
}

// MaskPhone hides the middle of a phone number for logs and staff screens: +819012345678 →
// +8190****5678. Anything too short to mask is hidden entirely.
func MaskPhone(p string) string {
	if len(p) < 10 {
		return "****"
	}
	return p[:5] + "****" + p[len(p)-4:]
}
