package recovery

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"kagi/auth"
	"kagi/notify"
	"kagi/pgdb"
)

// LockoutPolicy is §4.4: so many failed verifications of one account, or from one caller
// number, within the last Window lock that subject out of the voice line for Lockout. The
// window rolls: a failure counts for Window after it happened, whenever the first one was.
type LockoutPolicy struct {
	AccountMax int
	CallerMax  int
	Window     time.Duration
	Lockout    time.Duration
}

// DefaultLockout is §4.4's 5 per account and 10 per caller number in 24 hours, for 24 hours.
var DefaultLockout = LockoutPolicy{AccountMax: 5, CallerMax: 10, Window: 24 * time.Hour, Lockout: 24 * time.Hour}

type subjectKind string

const (
	subjectAccount subjectKind = "account"
	subjectCaller  subjectKind = "caller"
)

// lockoutRow is one subject's lock row, locked FOR UPDATE for the rest of the transaction.
type lockoutRow struct {
	kind        subjectKind
	subject     string
	lockedUntil *time.Time
}

func (r lockoutRow) locked(now time.Time) bool {
	return r.lockedUntil != nil && r.lockedUntil.After(now)
}

// lockSubject fetches and row-locks a subject's lock row, creating it. Every failure of the
// subject is recorded while this lock is held, so a count read after it (in a later statement:
// a statement's snapshot is taken when it starts) sees every failure committed before.
func lockSubject(ctx context.Context, tx pgx.Tx, kind subjectKind, subject string, now time.Time) (lockoutRow, error) {
	r := lockoutRow{kind: kind, subject: subject}
	err := tx.QueryRow(ctx, `
		INSERT INTO voice_lockouts AS v (subject_kind, subject, touched_at)
		VALUES ($1, $2, $3)
		ON CONFLICT (subject_kind, subject) DO UPDATE SET
		    touched_at = GREATEST(v.touched_at, $3),
		    locked_until = CASE WHEN v.locked_until > $3 THEN v.locked_until END
		RETURNING locked_until`, kind, subject, now).Scan(&r.lockedUntil)
	return r, err
}

// recordFailureSQL records one failure of the account ($1) and, unless $2 is NULL, of the caller
// ($2) at $3 and counts each one's failures of the window before it. The count's snapshot
// predates the insert, so it does not include the failure being recorded.
const recordFailureSQL = `
	WITH recorded AS (
	    INSERT INTO voice_failures (subject_kind, subject, at)
	    SELECT kind, subject, $3::timestamptz
	    FROM (VALUES ('account', $1::text), ('caller', $2::text)) AS v (kind, subject)
	    WHERE subject IS NOT NULL
	)
	SELECT count(*) FILTER (WHERE subject_kind = 'account'), count(*) FILTER (WHERE subject_kind = 'caller')
	FROM voice_failures
	WHERE ((subject_kind = 'account' AND subject = $1::text) OR (subject_kind = 'caller' AND subject = $2::text))
	  AND at > $3::timestamptz - $4::interval`

// recordFailure counts one failed verification against the account and, unless caller is nil,
// the caller, whose rows the transaction holds locked, and starts the lockout of each that
// reached its limit with it. It reports which lockouts it started.
func recordFailure(ctx context.Context, tx pgx.Tx, acct lockoutRow, caller *lockoutRow, p LockoutPolicy, now time.Time) (acctLocked, callerLocked bool, err error) {
	var callerSubject *string
	if caller != nil {
		callerSubject = &caller.subject
	}
	var acctBefore, callerBefore int
	if err := tx.QueryRow(ctx, recordFailureSQL, acct.subject, callerSubject, now, p.Window).Scan(&acctBefore, &callerBefore); err != nil {
		return false, false, err
	}
	acctLocked, callerLocked = acctBefore+1 >= p.AccountMax, caller != nil && callerBefore+1 >= p.CallerMax
	starts := []lockoutRow{}
	if acctLocked {
		starts = append(starts, acct)
	}
	if callerLocked {
		starts = append(starts, *caller)
	}
	for _, row := range starts {
		_, err := tx.Exec(ctx, `UPDATE voice_lockouts SET locked_until = $3 WHERE subject_kind = $1 AND subject = $2`,
			row.kind, row.subject, now.Add(p.Lockout))
		if err != nil {
			return false, false, err
		}
	}
	return acctLocked, callerLocked, nil
}

// clearFailures forgets a subject's failures: an account's after a successful verification.
func clearFailures(ctx context.Context, tx pgx.Tx, r lockoutRow) error {
	_, err := tx.Exec(ctx, `DELETE FROM voice_failures WHERE subject_kind = $1 AND subject = $2`, r.kind, r.subject)
	return err
}

// The lockout purge of the expiry job: failures that no longer count, and lock rows nobody
// touched for a window and whose lockout is over, up to $3 of each, the oldest first. A lock
// row's touched_at is at least its last failure's time, so a purged row has no failure that
// still counts. Each finds its rows through the index on its time column and deletes them by
// ctid (voice_failures has no key). Lock rows a verification holds right now are skipped (the
// next run takes them): waiting for them, while holding others, could deadlock with that
// verification, which locks its account's row and then its caller's.
const (
	purgeFailuresSQL = `
		DELETE FROM voice_failures
		WHERE ctid = ANY (ARRAY(
		    SELECT ctid FROM voice_failures WHERE at <= $1::timestamptz - $2::interval ORDER BY at LIMIT $3))`
	purgeLockoutsSQL = `
		DELETE FROM voice_lockouts
		WHERE ctid = ANY (ARRAY(
		    SELECT ctid FROM voice_lockouts
		    WHERE touched_at <= $1::timestamptz - $2::interval AND (locked_until IS NULL OR locked_until <= $1)
		    ORDER BY touched_at LIMIT $3
		    FOR UPDATE SKIP LOCKED))`
)

// purgeLapsedLockouts removes up to limit failures and up to limit lock rows that no longer
// count.
func purgeLapsedLockouts(ctx context.Context, q pgdb.Querier, p LockoutPolicy, now time.Time, limit int) (int64, error) {
	var n int64
	for _, sql := range []string{purgeFailuresSQL, purgeLockoutsSQL} {
		tag, err := q.Exec(ctx, sql, now, p.Window, limit)
		if err != nil {
			return n, err
		}
		n += tag.RowsAffected()
	}
	return n, nil
}

// Lockout is a lock of the voice line in force on an account (§4.4), or the pause of its
// password login (§2.12), as the operator console shows and clears them.
type Lockout struct {
	// Kind is "account" (the account number), "caller" (one of the account's phones calling)
	// or "password_pause".
	Kind  string    `json:"kind"`
	Until time.Time `json:"until"`
	// Caller is the masked phone of a caller lockout.
	Caller string `json:"caller,omitempty"`
}

// LockoutPasswordPause is the Kind of a paused password login.
const LockoutPasswordPause = "password_pause"

// ErrNothingToClear is returned by ClearLockouts when no lockout is in force and the password
// login is not paused: nothing changed, nothing was audited, nobody was told.
var ErrNothingToClear = errors.New("recovery: nothing to clear")

// activeLockoutsSQL lists the lock rows in force of the account number's key ($1) and of the
// account's phones ($2) as callers.
const activeLockoutsSQL = `
	SELECT subject_kind, subject, locked_until FROM voice_lockouts
	WHERE ((subject_kind = 'account' AND subject = $1) OR (subject_kind = 'caller' AND subject = ANY ($2)))
	  AND locked_until > $3
	ORDER BY subject_kind, subject`

// Lockouts lists what keeps the account from the voice line or from its password at now: the
// account number's lock, its phones' locks as callers, and the password pause.
func (v *VoiceVerifier) Lockouts(ctx context.Context, q pgdb.Querier, va auth.VoiceAccount, now time.Time) ([]Lockout, error) {
	type row struct {
		Kind    string    `db:"subject_kind"`
		Subject string    `db:"subject"`
		Until   time.Time `db:"locked_until"`
	}
	rows, err := q.Query(ctx, activeLockoutsSQL, v.auth.AccountNumberKey(va.AccountNumber), va.Phones(), now)
	if err != nil {
		return nil, err
	}
	locks, err := pgx.CollectRows(rows, pgx.RowToStructByName[row])
	if err != nil {
		return nil, err
	}
	out := []Lockout{}
	for _, l := range locks {
		lo := Lockout{Kind: l.Kind, Until: l.Until}
		if l.Kind == string(subjectCaller) {
			lo.Caller = auth.MaskPhone(l.Subject)
		}
		out = append(out, lo)
	}
	paused, err := auth.PasswordPaused(ctx, q, va.ID, now)
	if err != nil {
		return nil, err
	}
	if !paused.IsZero() {
		out = append(out, Lockout{Kind: LockoutPasswordPause, Until: paused})
	}
	return out, nil
}

// ClearLockouts lifts, in tx, the voice-line lockouts of the account number and of the
// account's registered phones as callers, and forgets their failures, so the customer may call
// again at once, and lifts a pause of the account's password login (§2.12), for a staff member
// (actor, role) who gave reason. It tells the customer and returns how many it lifted. With no
// lockout in force and no pause it returns ErrNothingToClear and changes nothing: no failure is
// forgotten, nothing is audited and the customer is told nothing (§6).
//
// The lock rows are taken in the voice line's order (the account number's, then the callers',
// in order of number) and the account's own row after them: a verification holds its lock rows
// before it takes the account's row to open a window, so taking the account's row first would
// invert that order.
func (v *VoiceVerifier) ClearLockouts(ctx context.Context, tx pgx.Tx, va auth.VoiceAccount, actor, role, reason string) (int, error) {
	now := v.windows.now()
	phones := va.Phones()
	slices.Sort(phones)
	subjects := []lockoutRow{{kind: subjectAccount, subject: v.auth.AccountNumberKey(va.AccountNumber)}}
	for _, p := range phones {
		subjects = append(subjects, lockoutRow{kind: subjectCaller, subject: p})
	}
	var lifted []map[string]any
	for _, sub := range subjects {
		var until *time.Time
		err := tx.QueryRow(ctx, `SELECT locked_until FROM voice_lockouts WHERE subject_kind = $1 AND subject = $2 FOR UPDATE`,
			sub.kind, sub.subject).Scan(&until)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return 0, err
		}
		if until != nil && until.After(now) {
			l := map[string]any{"kind": string(sub.kind), "until": *until}
			if sub.kind == subjectCaller {
				l["caller"] = auth.MaskPhone(sub.subject)
			}
			lifted = append(lifted, l)
		}
		if _, err := tx.Exec(ctx, `UPDATE voice_lockouts SET locked_until = NULL WHERE subject_kind = $1 AND subject = $2`,
			sub.kind, sub.subject); err != nil {
			return 0, err
		}
		if err := clearFailures(ctx, tx, sub); err != nil {
			return 0, err
		}
	}
	voiceLifted := len(lifted)
	paused, err := auth.LiftPasswordPause(ctx, tx, va.ID, actor, now)
	if err != nil {
		return 0, err
	}
	if paused {
		lifted = append(lifted, map[string]any{"kind": LockoutPasswordPause})
	}
	if len(lifted) == 0 {
		return 0, ErrNothingToClear
	}
	err = auth.Audit(ctx, tx, auth.AuditEvent{At: now, AccountID: va.ID, Actor: actor, Event: "voice_lockout_cleared",
		Detail: map[string]any{"reason": reason, "staff_role": role, "lifted": lifted}})
	if err != nil {
		return 0, err
	}
	// The holder hears of each on every channel: the line takes the account's calls again, the
	// password logs in again.
	outbox := v.windows.outbox
	if paused {
		if err := auth.Notify(ctx, tx, outbox, va.ID, notify.Event{Kind: notify.KindPasswordPauseLifted, At: now, Channel: notify.ChannelOperator}); err != nil {
			return 0, err
		}
	}
	if voiceLifted > 0 {
		if err := auth.Notify(ctx, tx, outbox, va.ID, notify.Event{Kind: notify.KindVoiceLockoutCleared, At: now, Recovery: true}); err != nil {
			return 0, err
		}
	}
	return len(lifted), nil
}
