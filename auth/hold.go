package auth

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultRecoveryHold is how long after a recovery the brokerage's other applications are told
// to hold withdrawals and bank-account changes (§2.11, KAGI_RECOVERY_HOLD).
const DefaultRecoveryHold = 72 * time.Hour

// RecoveryHold is what §2.11 tells the brokerage's other applications about an account: when
// it was last recovered and until when sensitive actions should wait. Both are nil when no hold
// applies (none configured, never recovered, or the hold is over).
type RecoveryHold struct {
	RecoveredAt *time.Time
	HoldUntil   *time.Time
}

// HoldOf is the hold of an account last recovered at recoveredAt (nil: never), under a hold of
// length hold (0: off), at now.
func HoldOf(recoveredAt *time.Time, hold time.Duration, now time.Time) RecoveryHold {
	if recoveredAt == nil || hold <= 0 {
		return RecoveryHold{}
	}
	until := recoveredAt.Add(hold)
	if !until.After(now) {
		return RecoveryHold{}
	}
	return RecoveryHold{RecoveredAt: recoveredAt, HoldUntil: &until}
}

// HoldFields are the hold as the APIs write it (§2.11, §3.6): RFC 3339 in JST, or null.
type HoldFields struct {
	RecoveredAt *string `json:"recovered_at"`
	HoldUntil   *string `json:"hold_until"`
}

// Fields writes h for an API answer.
func (h RecoveryHold) Fields() HoldFields {
	if h.RecoveredAt == nil {
		return HoldFields{}
	}
	r, u := h.RecoveredAt.In(jst).Format(time.RFC3339), h.HoldUntil.In(jst).Format(time.RFC3339)
	return HoldFields{RecoveredAt: &r, HoldUntil: &u}
}

// markRecovered records in tx that the account was recovered now: a later recovery extends the
// hold.
func markRecovered(ctx context.Context, tx pgx.Tx, accountID int64, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE accounts SET recovered_at = GREATEST(recovered_at, $2) WHERE id = $1`, accountID, now)
	return err
}
