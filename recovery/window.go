package recovery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"kagi"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"kagi/auth"
	"kagi/notify"
	"kagi/pgdb"
)

// Channel is who verified the customer and opened the window (§3.2).
type Channel string

const (
	// ChannelIVR is the automated voice line after a successful verification (§4).
	ChannelIVR Channel = "ivr"
	// ChannelOperator is a support operator (or the CLI acting for one) after verifying the
	// caller (§6).
	ChannelOperator Channel = "operator"
)

// closedByOperator is the close reason only this package gives; the core's two are in auth.
const closedByOperator auth.CloseReason = "closed_by_operator"

// Actors of the audit lines recovery writes on nobody's request but its own.
const (
	// actorExpiry records a window that ran out, whoever noticed first: the expiry job, or an
	// opening or closing that found it past its end.
	actorExpiry = "system:expiry"
	// actorCore is the auth core closing a window because the passkey changed; the core
	// audits the change itself with the customer or staff member who made it.
	actorCore = "system:auth"
	// actorCustomer matches the actor the core gives the customer's own login.
	actorCustomer = "customer"
)

// MaxReasonLen bounds the free-text reason an operator gives, in characters.
const MaxReasonLen = 500

var (
	// ErrUnknownAccount is returned when a window is opened for an account that does not exist.
	ErrUnknownAccount = errors.New("recovery: no such account")
	// ErrInvalid is wrapped by the errors of a request that cannot be carried out as given.
	ErrInvalid = errors.New("recovery: invalid request")
)

// errWindowClosed answers a password login whose window closed between the core's check and its
// use (an operator closed it, or it ran out, in that instant): the customer sees the same
// refusal as without a window.
var errWindowClosed = kagi.Errorf(kagi.Forbidden, "passkey_required", msgWindowClosed)

// errAccountSuspended refuses a window for a suspended account (§12.2); the voice line turns it
// into VoiceSuspended.
var errAccountSuspended = kagi.Errorf(kagi.Forbidden, "account_suspended", msgWindowSuspended)

// windowRow is a window as the queries of this file return it.
type windowRow struct {
	ID             int64     `db:"id"`
	OpenedVia      string    `db:"opened_via"`
	ExpiresAt      time.Time `db:"expires_at"`
	RestartedCount int       `db:"restarted_count"`
}

func (w windowRow) core() auth.Window {
	return auth.Window{ID: w.ID, ExpiresAt: w.ExpiresAt, OpenedVia: w.OpenedVia}
}

// OpenTx opens a fallback window for the account, or restarts the length of the one already
// open, inside the caller's transaction, so the voice line opens the window in the same commit
// as the verification that earned it. actor names who did it ("ivr:<CallSid>", "cli") and
// reason why; both are audited. An operator must give a reason. An unknown account fails the
// statement and with it the caller's transaction.
//
// A window past its end that the expiry job has not marked yet is not open: it is closed as
// expired (and audited so) and a new window is opened. A window still open is restarted, on the
// same row, by one INSERT … ON CONFLICT on the one-open-window index, so concurrent openings
// leave exactly one open window.
func (s *Service) OpenTx(ctx context.Context, tx pgx.Tx, accountID int64, via Channel, actor, reason string) (auth.Window, error) {
	return s.openTx(ctx, tx, accountID, via, actor, reason, "", "")
}

// OpenByStaff is OpenTx for a staff member of the operator console (§6), through the operator
// channel, with their role in the audit line. The console checks the desk's hours and the
// reason before.
func (s *Service) OpenByStaff(ctx context.Context, tx pgx.Tx, accountID int64, actor, role, reason string) (auth.Window, error) {
	return s.openTx(ctx, tx, accountID, ChannelOperator, actor, reason, "", role)
}

// openTx is OpenTx recording, in the audit and the customer's notice, which second channel
// confirmed the caller ("sms"), if any, and in the audit the role of the staff member who
// opened it from the console, if one did.
func (s *Service) openTx(ctx context.Context, tx pgx.Tx, accountID int64, via Channel, actor, reason, confirmedBy, staffRole string) (auth.Window, error) {
	if err := validOpen(via, actor, reason); err != nil {
		return auth.Window{}, err
	}
	// The account first, as every transaction that changes its window or sessions does.
	// A suspended account logs in nowhere (§12.2): a window would only promise a login that
	// the core refuses.
	if suspended, err := auth.LockAccountSuspended(ctx, tx, accountID); err != nil || suspended {
		if err == nil {
			err = errAccountSuspended
		}
		return auth.Window{}, err
	}
	now := s.now()
	// A lost race against a caller whose clock is behind ours (a replica that just restarted
	// an open window we consider stale) is retried once it committed; more attempts than that
	// would mean something else is wrong.
	for range 3 {
		if err := s.expireStaleTx(ctx, tx, accountID, now); err != nil {
			return auth.Window{}, err
		}
		rows, err := tx.Query(ctx, openSQL, accountID, via, actor, reason, now, now.Add(s.window))
		if err != nil {
			return auth.Window{}, openError(err)
		}
		w, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[windowRow])
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return auth.Window{}, openError(err)
		}
		event := "window_opened"
		if w.RestartedCount > 0 {
			event = "window_restarted"
		}
		detail := map[string]any{"window_id": w.ID, "via": string(via), "reason": reason, "expires_at": w.ExpiresAt}
		if confirmedBy != "" {
			detail["confirmed_by"] = confirmedBy
		}
		if staffRole != "" {
			detail["staff_role"] = staffRole
		}
		err = auth.Audit(ctx, tx, auth.AuditEvent{At: now, AccountID: accountID, Actor: actor, Event: event, Detail: detail})
		if err != nil {
			return auth.Window{}, err
		}
		// The customer hears of it on every channel: whoever opened it may not be them.
		err = auth.Notify(ctx, tx, s.outbox, accountID, notify.Event{Kind: notify.KindWindowOpened, At: now,
			Channel: string(via), Until: w.ExpiresAt, Recovery: true, ConfirmedBy: confirmedBy})
		return w.core(), err
	}
	return auth.Window{}, fmt.Errorf("recovery: open window for account %d: the open window kept changing", accountID)
}

// openSQL inserts the account's window or restarts the open one. The WHERE of DO UPDATE leaves
// alone a conflicting window that is already past its end (only possible when another caller's
// clock is behind); no row comes back and OpenTx closes it as expired first.
const openSQL = `
	INSERT INTO fallback_windows AS w (account_id, opened_via, opened_by, reason, opened_at, last_opened_at, expires_at)
	VALUES ($1, $2, $3, $4, $5, $5, $6)
	ON CONFLICT (account_id) WHERE closed_at IS NULL DO UPDATE
	SET expires_at = GREATEST(w.expires_at, EXCLUDED.expires_at),
	    last_opened_at = EXCLUDED.last_opened_at,
	    restarted_count = w.restarted_count + 1
	WHERE w.expires_at > EXCLUDED.last_opened_at
	RETURNING w.id, w.opened_via, w.expires_at, w.restarted_count`

func validOpen(via Channel, actor, reason string) error {
	var errs []error
	if via != ChannelIVR && via != ChannelOperator {
		errs = append(errs, fmt.Errorf("channel %q is neither %q nor %q", via, ChannelIVR, ChannelOperator))
	}
	if strings.TrimSpace(actor) == "" {
		errs = append(errs, errors.New("actor is required"))
	}
	if via == ChannelOperator && strings.TrimSpace(reason) == "" {
		errs = append(errs, errors.New("an operator must give a reason"))
	}
	if utf8.RuneCountInString(reason) > MaxReasonLen {
		errs = append(errs, fmt.Errorf("reason is longer than %d characters", MaxReasonLen))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

func openError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" && pgErr.ConstraintName == "fallback_windows_account_id_fkey" {
		return ErrUnknownAccount
	}
	return fmt.Errorf("recovery: open window: %w", err)
}

// CloseByStaff closes the account's open window for a staff member of the operator console
// (closed_by_operator), in the caller's transaction, and tells the customer (§7); the
// recovery-only sessions it let in end with it (§2.11). It reports whether a window was open;
// one found past its end is recorded as expired, not as closed, and nobody is told.
func (s *Service) CloseByStaff(ctx context.Context, tx pgx.Tx, accountID int64, actor, role, reason string) (bool, error) {
	if strings.TrimSpace(actor) == "" || strings.TrimSpace(reason) == "" || utf8.RuneCountInString(reason) > MaxReasonLen {
		return false, fmt.Errorf("%w: a staff member closes a window with an actor and a reason of at most %d characters", ErrInvalid, MaxReasonLen)
	}
	now := s.now()
	closed, err := s.closeTx(ctx, tx, accountID, closedByOperator, actor, reason, role, now, false)
	if err != nil || !closed {
		return closed, err
	}
	return true, auth.Notify(ctx, tx, s.outbox, accountID, notify.Event{Kind: notify.KindWindowClosed, At: now})
}

// closeSQL closes the account's open window. One that is already past its end is closed as
// expired at its end, whatever the caller wanted, so the history stays truthful; with
// $4 (only stale) the caller wants nothing but that.
const closeSQL = `
	UPDATE fallback_windows
	SET closed_at = LEAST(expires_at, $2),
	    close_reason = CASE WHEN expires_at <= $2 THEN 'expired' ELSE $3 END
	WHERE account_id = $1 AND closed_at IS NULL AND (expires_at <= $2 OR NOT $4)
	RETURNING id, close_reason`

// closeTx closes the account's open window in tx (only if it ran out, with onlyStale), audits
// it (with the role of the staff member who closed it from the console, if one did) and ends
// the recovery-only sessions of the account (§2.11). It reports whether a window was closed
// with the reason asked for.
func (s *Service) closeTx(ctx context.Context, tx pgx.Tx, accountID int64, reason auth.CloseReason, actor, why, staffRole string, now time.Time, onlyStale bool) (bool, error) {
	// The account first, as every transaction that changes its window or sessions does.
	if err := auth.LockAccount(ctx, tx, accountID); err != nil {
		return false, err
	}
	type closed struct {
		ID     int64  `db:"id"`
		Reason string `db:"close_reason"`
	}
	rows, err := tx.Query(ctx, closeSQL, accountID, now, string(reason), onlyStale)
	if err != nil {
		return false, fmt.Errorf("recovery: close window: %w", err)
	}
	c, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[closed])
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("recovery: close window: %w", err)
	}
	if c.Reason == "expired" {
		actor, why, staffRole = actorExpiry, "", ""
	}
	detail := map[string]any{"window_id": c.ID, "close_reason": c.Reason}
	if why != "" {
		detail["reason"] = why
	}
	if staffRole != "" {
		detail["staff_role"] = staffRole
	}
	if err := auth.Audit(ctx, tx, auth.AuditEvent{At: now, AccountID: accountID, Actor: actor, Event: "window_closed", Detail: detail}); err != nil {
		return false, err
	}
	if err := auth.EndRecoverySessions(ctx, tx, s.sessionEnds, accountID); err != nil {
		return false, err
	}
	return c.Reason == string(reason), nil
}

// expireStaleTx records the account's window as expired if it ran out and nobody marked it yet.
func (s *Service) expireStaleTx(ctx context.Context, tx pgx.Tx, accountID int64, now time.Time) error {
	_, err := s.closeTx(ctx, tx, accountID, "expired", actorExpiry, "", "", now, true)
	return err
}

// ForAuth is the auth core's view of the windows: pass it as auth.Config.Windows.
func (s *Service) ForAuth() auth.FallbackWindows { return coreWindows{s} }

// coreWindows implements auth.FallbackWindows. Its method names are the core's ("OpenWindow" is
// the core's question "is one open?"), which is why it is not Service itself, where Open is the
// action.
type coreWindows struct{ s *Service }

// openWindowSQL is the core's check, on the one-open-window index. expires_at > now is in the
// query: a window is never honoured late, even when the expiry job is stopped (§3.3).
const openWindowSQL = `
	SELECT id, opened_via, expires_at, restarted_count
	FROM fallback_windows
	WHERE account_id = $1 AND closed_at IS NULL AND expires_at > $2`

func (c coreWindows) OpenWindow(ctx context.Context, q pgdb.Querier, accountID int64, now time.Time) (auth.Window, bool, error) {
	rows, err := q.Query(ctx, openWindowSQL, accountID, now)
	if err != nil {
		return auth.Window{}, false, fmt.Errorf("recovery: window check: %w", err)
	}
	w, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[windowRow])
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.Window{}, false, nil
	}
	if err != nil {
		return auth.Window{}, false, fmt.Errorf("recovery: window check: %w", err)
	}
	return w.core(), true, nil
}

// windowUsedSQL counts the login on the window. Its row lock orders the login against a
// concurrent close: a close that committed first makes it find nothing, and a close that comes
// after waits for the login's session to commit and then ends it.
const windowUsedSQL = `
	UPDATE fallback_windows SET used_count = used_count + 1, last_used_at = $2
	WHERE id = $1 AND closed_at IS NULL AND expires_at > $2
	RETURNING account_id`

func (c coreWindows) WindowUsed(ctx context.Context, tx pgx.Tx, w auth.Window, now time.Time) error {
	var accountID int64
	err := tx.QueryRow(ctx, windowUsedSQL, w.ID, now).Scan(&accountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return errWindowClosed
	}
	if err != nil {
		return fmt.Errorf("recovery: window used: %w", err)
	}
	return auth.Audit(ctx, tx, auth.AuditEvent{At: now, AccountID: accountID, Actor: actorCustomer, Event: "window_used",
		Detail: map[string]any{"window_id": w.ID}})
}

func (c coreWindows) CloseWindow(ctx context.Context, tx pgx.Tx, accountID int64, reason auth.CloseReason, now time.Time) error {
	_, err := c.s.closeTx(ctx, tx, accountID, reason, actorCore, "", "", now, false)
	return err
}
