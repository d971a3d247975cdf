package auth

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"kagi/pgdb"
)

// DefaultRecoveryHold is how long after a recovery, or a first passkey bound from a password
// session, the brokerage's other applications are told to hold withdrawals and bank-account
// changes (§2.11, §2.13, KAGI_RECOVERY_HOLD).
const DefaultRecoveryHold = 72 * time.Hour

// Why a hold applies (§2.11, §2.13): the hold_reason the APIs report.
const (
	// HoldRecovery follows a recovery: a fallback window used to log in, or the passkey created
	// or deleted from a recovery session.
	HoldRecovery = "recovery"
	// HoldPasskeyAdded follows the first passkey bound from a password session, which is only as
	// strong as the password and the email check that made it.
	HoldPasskeyAdded = "passkey_added"
	// HoldContactChanged follows a change of the account's email or phones by the back office
	// (§12.2): whoever changed them could now intercept what the brokerage sends.
	HoldContactChanged = "contact_changed"
)

// HoldState is what the accounts table keeps of an account's hold; sessions and the service
// API read it with the account in the same query.
type HoldState struct {
	// RecoveredAt is when the account was last recovered, nil if never.
	RecoveredAt *time.Time `db:"recovered_at"`
	// HoldFrom and HoldReason are the start and cause of the latest hold, nil if none began.
	HoldFrom   *time.Time `db:"hold_from"`
	HoldReason *string    `db:"hold_reason"`
}

// RecoveryHold is what §2.11 and §2.13 tell the brokerage's other applications about an
// account: when it was last recovered, until when sensitive actions should wait, and why. All
// are nil when no hold applies (none configured, none begun, or the hold is over).
type RecoveryHold struct {
	RecoveredAt *time.Time
	HoldUntil   *time.Time
	Reason      *string
}

// HoldOf is the hold an account in state st is under, with holds of length hold (0: off), at
// now.
func HoldOf(st HoldState, hold time.Duration, now time.Time) RecoveryHold {
	if st.HoldFrom == nil || st.HoldReason == nil || hold <= 0 {
		return RecoveryHold{}
	}
	until := st.HoldFrom.Add(hold)
	if !until.After(now) {
		return RecoveryHold{}
	}
	return RecoveryHold{RecoveredAt: st.RecoveredAt, HoldUntil: &until, Reason: st.HoldReason}
}

// HoldFields are the hold as the APIs write it (§2.11, §2.13, §3.6): RFC 3339 in JST, or null.
type HoldFields struct {
	RecoveredAt *string `json:"recovered_at"`
	HoldUntil   *string `json:"hold_until"`
	HoldReason  *string `json:"hold_reason"`
}

// Fields writes h for an API answer.
func (h RecoveryHold) Fields() HoldFields {
	if h.HoldUntil == nil {
		return HoldFields{}
	}
	u := h.HoldUntil.In(jst).Format(time.RFC3339)
	f := HoldFields{HoldUntil: &u, HoldReason: h.Reason}
	if h.RecoveredAt != nil {
		r := h.RecoveredAt.In(jst).Format(time.RFC3339)
		f.RecoveredAt = &r
	}
	return f
}

// markRecovered records in tx that the account was recovered now, which starts its hold: a
// later recovery extends it.
func markRecovered(ctx context.Context, tx pgx.Tx, accountID int64, now time.Time) error {
	_, err := tx.Exec(ctx, markRecoveredSQL, accountID, now)
	return err
}

// queueMarkRecovered is markRecovered queued on b, for a transaction that sends its writes
// together.
func queueMarkRecovered(b pgdb.Queuer, accountID int64, now time.Time) {
	b.Queue(markRecoveredSQL, accountID, now)
}

const markRecoveredSQL = `
	UPDATE accounts SET recovered_at = GREATEST(recovered_at, $2),
	    hold_from = CASE WHEN hold_from > $2 THEN hold_from ELSE $2 END,
	    hold_reason = CASE WHEN hold_from > $2 THEN hold_reason ELSE 'recovery' END
	WHERE id = $1`

// markContactChanged starts the hold of a change of email or phones (§12.2) in tx, unless a
// later hold began already.
func markContactChanged(ctx context.Context, tx pgx.Tx, accountID int64, now time.Time) error {
	_, err := tx.Exec(ctx, `
		UPDATE accounts SET hold_from = $2, hold_reason = 'contact_changed'
		WHERE id = $1 AND (hold_from IS NULL OR hold_from <= $2)`, accountID, now)
	return err
}

// markPasskeyAdded starts the hold of a first passkey bound from a password session (§2.13) in
// tx, unless a later hold began already.
func markPasskeyAdded(ctx context.Context, tx pgx.Tx, accountID int64, now time.Time) error {
	_, err := tx.Exec(ctx, `
		UPDATE accounts SET hold_from = $2, hold_reason = 'passkey_added'
		WHERE id = $1 AND (hold_from IS NULL OR hold_from <= $2)`, accountID, now)
	return err
}
