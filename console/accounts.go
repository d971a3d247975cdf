package console

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"kagi"

	"github.com/jackc/pgx/v5"

	"kagi/auth"
	"kagi/hours"
	"kagi/pgdb"
	"kagi/recovery"
	"kagi/staff"
	"kagi/web"
)

// recentCallsShown bounds the calls a console card lists.
const recentCallsShown = 10

// Refusals of the console's API.
var (
	errStaffUnauthorized = kagi.Errorf(kagi.Unauthorized, "unauthorized", msgStaffUnauthorized)
	errStaffForbidden    = kagi.Errorf(kagi.Forbidden, "forbidden", msgStaffForbidden)
	errReasonRequired    = kagi.Errorf(kagi.Invalid, "reason_required", msgReasonRequired)
	errReasonTooLong     = kagi.Errorf(kagi.Invalid, "invalid_request", msgReasonTooLong)
	errReasonUnprintable = kagi.Errorf(kagi.Invalid, "invalid_request", msgReasonUnprintable)
	errQueryRequired     = kagi.Errorf(kagi.Invalid, "invalid_request", msgQueryRequired)
	errBadCursor         = kagi.Errorf(kagi.Invalid, "invalid_request", msgBadCursor)
	errAccountNotFound   = kagi.Errorf(kagi.NotFound, "not_found", msgAccountNotFound)
	errOutsideHours      = kagi.Errorf(kagi.Forbidden, "outside_business_hours", msgOutsideHours)
	errNoOpenWindow      = kagi.Errorf(kagi.Conflict, "no_window", msgNoOpenWindow)
	errNoPasskey         = kagi.Errorf(kagi.Conflict, "no_passkey", msgNoPasskey)
	errNothingToClear    = kagi.Errorf(kagi.Conflict, "nothing_to_clear", msgNothingToClear)
	// errNoPasskeyToRecover refuses a window for an account whose password already works.
	errNoPasskeyToRecover = kagi.Errorf(kagi.Conflict, "no_passkey", msgNoPasskeyNoWindow)
)

// staffReason is the reason a staff member gave, trimmed, or the refusal of a missing or
// overlong one, or of one that is not auth.OneLine: the audit trail keeps it as one line.
func staffReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return "", errReasonRequired
	case utf8.RuneCountInString(reason) > recovery.MaxReasonLen:
		return "", errReasonTooLong
	case !auth.OneLine(reason):
		return "", errReasonUnprintable
	}
	return reason, nil
}

// ConsolePasskey is an account's passkey as the console shows it (§2.7): no key material.
type ConsolePasskey struct {
	Provider   string     `json:"provider"`
	Synced     bool       `json:"synced"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// ConsoleWindow is the account's fallback window as the console shows it: open only while
// expires_at > now, as the core honours it (§3.3).
type ConsoleWindow struct {
	Open      bool       `json:"open"`
	ExpiresAt *time.Time `json:"expires_at"`
	OpenedVia *string    `json:"opened_via"`
}

// ConsoleAccount is one account as the console's search answers it. It carries no secret:
// no PIN or password hash, no credential ID or key, no phone digit beyond the masked form.
type ConsoleAccount struct {
	AccountNumber string `json:"account_number"`
	LoginID       string `json:"login_id"`
	Name          string `json:"name"`
	// SuspendedAt is when the back office suspended the account (§12.2), null if it is not:
	// the operator tells a caller why nothing lets them in.
	SuspendedAt *time.Time         `json:"suspended_at"`
	Passkey     *ConsolePasskey    `json:"passkey"`
	Window      ConsoleWindow      `json:"window"`
	Lockouts    []recovery.Lockout `json:"lockouts"`
	RecentCalls []recovery.Call    `json:"recent_calls"`
}

// auditStaffRead writes a console read to the trail under the staff member, with their role
// and client address (§6). It is written after the read, so a page never shows its own line.
func (s *Service) auditStaffRead(ctx context.Context, st staff.Staff, event string, accountID int64, detail map[string]any) error {
	detail["staff_role"] = string(st.Role)
	if a := web.ClientAddrOf(ctx); a.IsValid() {
		detail["client"] = a.String()
	}
	err := auth.Audit(ctx, s.pool, auth.AuditEvent{At: s.now(), AccountID: accountID, Actor: st.Actor(), Event: event, Detail: detail})
	if err != nil {
		return fmt.Errorf("console: audit a staff read: %w", err)
	}
	return nil
}

// Kinds of a console search as the trail records them: what q matched, never q itself.
const (
	qKindAccountNumber = "account_number"
	qKindLoginID       = "login_id"
	qKindBoth          = "both"
	qKindNone          = "none"
)

// FindAccounts looks q up as an account number and as a login ID and returns what matched
// (both, when one account's login ID is another's number), in one read-only snapshot. The
// search counts against st's read limit and is audited as staff_search with what q matched
// and how many accounts (§6), under the account when exactly one matched.
func (s *Service) FindAccounts(ctx context.Context, st staff.Staff, q string) ([]ConsoleAccount, error) {
	if err := s.staff.CountRead(ctx, st); err != nil {
		return nil, err
	}
	q = strings.TrimSpace(q)
	out := []ConsoleAccount{}
	var ids []int64
	byNumber, byLoginID := false, false
	if auth.LoginIDLookupable(q) {
		err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			var found []auth.Account
			for i, lookup := range []func(context.Context, pgdb.Querier, string) (auth.Account, bool, error){s.core.AccountByNumber, s.core.AccountByLoginID} {
				a, ok, err := lookup(ctx, tx, q)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				if i == 0 {
					byNumber = true
				} else {
					byLoginID = true
				}
				if !slices.ContainsFunc(found, func(f auth.Account) bool { return f.ID == a.ID }) {
					found = append(found, a)
				}
			}
			for _, a := range found {
				card, err := s.consoleAccount(ctx, tx, a)
				if err != nil {
					return err
				}
				out = append(out, card)
				ids = append(ids, a.ID)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("console: find accounts: %w", err)
		}
	}
	kind := qKindNone
	switch {
	case byNumber && byLoginID:
		kind = qKindBoth
	case byNumber:
		kind = qKindAccountNumber
	case byLoginID:
		kind = qKindLoginID
	}
	var account int64
	if len(ids) == 1 {
		account = ids[0]
	}
	if err := s.auditStaffRead(ctx, st, "staff_search", account, map[string]any{"q_kind": kind, "results": len(out)}); err != nil {
		return nil, err
	}
	return out, nil
}

// cardByNumber is the account's card as a search shows it, read in one read-only snapshot,
// after an action on it.
func (s *Service) cardByNumber(ctx context.Context, number string) (ConsoleAccount, error) {
	var card ConsoleAccount
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		a, err := s.consoleAccountByNumber(ctx, tx, number)
		if err != nil {
			return err
		}
		card, err = s.consoleAccount(ctx, tx, a)
		return err
	})
	return card, err
}

func (s *Service) consoleAccount(ctx context.Context, tx pgx.Tx, a auth.Account) (ConsoleAccount, error) {
	now := s.now()
	card := ConsoleAccount{AccountNumber: a.AccountNumber, LoginID: a.LoginID, Name: a.Name, SuspendedAt: a.SuspendedAt,
		Lockouts: []recovery.Lockout{}, RecentCalls: []recovery.Call{}}
	pk, ok, err := s.core.PasskeyOf(ctx, tx, a.ID)
	if err != nil {
		return card, err
	}
	if ok {
		card.Passkey = &ConsolePasskey{Provider: pk.Provider(), Synced: pk.Synced(), CreatedAt: pk.CreatedAt, LastUsedAt: pk.LastUsedAt}
	}
	w, ok, err := s.windows.ForAuth().OpenWindow(ctx, tx, a.ID, now)
	if err != nil {
		return card, err
	}
	if ok {
		card.Window = ConsoleWindow{Open: true, ExpiresAt: &w.ExpiresAt, OpenedVia: &w.OpenedVia}
	}
	va, _, err := s.core.VoiceAccountByNumber(ctx, tx, a.AccountNumber)
	if err != nil {
		return card, err
	}
	if card.Lockouts, err = s.voice.Lockouts(ctx, tx, va, now); err != nil {
		return card, err
	}
	if s.calls != nil {
		calls, err := s.calls.RecentCalls(ctx, tx, a.ID, recentCallsShown)
		if err != nil {
			return card, err
		}
		card.RecentCalls = append(card.RecentCalls, calls...)
	}
	return card, nil
}

// consoleAccountByNumber finds the account an action names, or refuses with not_found. A
// number no account can have is not looked up.
func (s *Service) consoleAccountByNumber(ctx context.Context, q pgdb.Querier, number string) (auth.Account, error) {
	if !auth.LoginIDLookupable(number) {
		return auth.Account{}, errAccountNotFound
	}
	a, ok, err := s.core.AccountByNumber(ctx, q, number)
	if err != nil {
		return auth.Account{}, err
	}
	if !ok {
		return auth.Account{}, errAccountNotFound
	}
	return a, nil
}

// OpenForStaff opens (or restarts) the account's window from the console, through the
// operator channel (§3.2), in business hours only (§5: the calendar the voice line uses). The
// customer is told by OpenTx's notice.
func (s *Service) OpenForStaff(ctx context.Context, st staff.Staff, number, reason string) (auth.Window, error) {
	var w auth.Window
	err := s.onAccount(ctx, number, reason, func(tx pgx.Tx, a auth.Account, reason string) error {
		if s.calendar.State(s.now(), s.supportEnabled) != hours.Open {
			return errOutsideHours
		}
		// Without a passkey the login ID and password already work (§2.3): a window would
		// only send the customer a confusing notice.
		if _, has, err := s.core.PasskeyOf(ctx, tx, a.ID); err != nil {
			return err
		} else if !has {
			return errNoPasskeyToRecover
		}
		var err error
		w, err = s.windows.OpenByStaff(ctx, tx, a.ID, st.Actor(), string(st.Role), reason)
		return err
	})
	return w, err
}

// onAccount runs a console action on the account number names (404 when none), once its
// reason is valid, in one transaction.
func (s *Service) onAccount(ctx context.Context, number, reason string, act func(tx pgx.Tx, a auth.Account, reason string) error) error {
	reason, err := staffReason(reason)
	if err != nil {
		return err
	}
	return pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		a, err := s.consoleAccountByNumber(ctx, tx, number)
		if err != nil {
			return err
		}
		return act(tx, a, reason)
	})
}

// CloseForStaff closes the account's open window from the console (closed_by_operator); the
// recovery-only sessions it let in end with it (§2.11), and the customer is told (§7).
func (s *Service) CloseForStaff(ctx context.Context, st staff.Staff, number, reason string) error {
	return s.onAccount(ctx, number, reason, func(tx pgx.Tx, a auth.Account, reason string) error {
		closed, err := s.windows.CloseByStaff(ctx, tx, a.ID, st.Actor(), string(st.Role), reason)
		if err != nil {
			return err
		}
		if !closed {
			return errNoOpenWindow
		}
		return nil
	})
}

// ClearLockouts lifts the voice-line lockouts of the account and of its registered phones as
// callers and the pause of its password login (recovery.VoiceVerifier.ClearLockouts), as a
// supervisor may. With nothing to clear it refuses with nothing_to_clear and changes nothing:
// the customer is told nothing (§6).
func (s *Service) ClearLockouts(ctx context.Context, st staff.Staff, number, reason string) (int, error) {
	reason, err := staffReason(reason)
	if err != nil {
		return 0, err
	}
	var cleared int
	err = pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if !auth.LoginIDLookupable(number) {
			return errAccountNotFound
		}
		va, ok, err := s.core.VoiceAccountByNumber(ctx, tx, number)
		if err != nil {
			return err
		}
		if !ok {
			return errAccountNotFound
		}
		cleared, err = s.voice.ClearLockouts(ctx, tx, va, st.Actor(), string(st.Role), reason)
		if errors.Is(err, recovery.ErrNothingToClear) {
			return errNothingToClear
		}
		return err
	})
	return cleared, err
}

// DeletePasskeyForStaff deletes the account's passkey through the core, as a supervisor may
// (§6): the core ends the account's sessions, closes its window (§2.8), audits the deletion
// under the staff member and tells the customer by email and text (§7). The reason and the
// role are audited beside it, in the same transaction.
func (s *Service) DeletePasskeyForStaff(ctx context.Context, st staff.Staff, number, reason string) error {
	return s.onAccount(ctx, number, reason, func(tx pgx.Tx, a auth.Account, reason string) error {
		if err := auth.LockAccount(ctx, tx, a.ID); err != nil {
			return err
		}
		_, ok, err := s.core.DeletePasskey(ctx, tx, a.ID, st.Actor())
		if err != nil {
			return err
		}
		if !ok {
			return errNoPasskey
		}
		return auth.Audit(ctx, tx, auth.AuditEvent{At: s.now(), AccountID: a.ID, Actor: st.Actor(), Event: "passkey_delete_requested",
			Detail: map[string]any{"reason": reason, "staff_role": string(st.Role)}})
	})
}

// StaffAuditQuery is the console's audit search: by account number, by staff member's login
// ID, older than a cursor. Empty fields select everything.
type StaffAuditQuery struct {
	AccountNumber string
	Staff         string
	Before        int64
}

// StaffAudit returns a page of the audit trail, newest first, and the next page's cursor (0
// after the last). An account number no account has selects nothing: an empty page, not an
// error, as a staff member who selects no line finds none. The read counts against st's read
// limit and is audited as staff_audit_read with its filters and how many lines it showed
// (§6); that line names no account, so it never pages through an account's own trail.
func (s *Service) StaffAudit(ctx context.Context, st staff.Staff, f StaffAuditQuery) ([]auth.AuditLine, int64, error) {
	if err := s.staff.CountRead(ctx, st); err != nil {
		return nil, 0, err
	}
	lines, next, err := s.staffAuditPage(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	filters := map[string]any{}
	if f.AccountNumber != "" {
		filters["account_number"] = f.AccountNumber
	}
	if f.Staff != "" {
		filters["staff"] = f.Staff
	}
	if f.Before != 0 {
		filters["before"] = strconv.FormatInt(f.Before, 10)
	}
	if err := s.auditStaffRead(ctx, st, "staff_audit_read", 0, map[string]any{"filters": filters, "results": len(lines)}); err != nil {
		return nil, 0, err
	}
	return lines, next, nil
}

func (s *Service) staffAuditPage(ctx context.Context, f StaffAuditQuery) ([]auth.AuditLine, int64, error) {
	q := auth.AuditQuery{Before: f.Before}
	if f.AccountNumber != "" {
		a, err := s.consoleAccountByNumber(ctx, s.pool, f.AccountNumber)
		if errors.Is(err, errAccountNotFound) {
			return []auth.AuditLine{}, 0, nil
		}
		if err != nil {
			return nil, 0, err
		}
		q.AccountID = a.ID
	}
	if f.Staff != "" {
		q.Actor = staff.Staff{LoginID: f.Staff}.Actor()
	}
	lines, next, err := auth.AuditTrail(ctx, s.pool, q)
	if err != nil {
		return nil, 0, fmt.Errorf("console: audit trail: %w", err)
	}
	if lines == nil {
		lines = []auth.AuditLine{}
	}
	for i, l := range lines {
		lines[i] = staffTrailLine(l)
	}
	return lines, next, nil
}

// staffTrailLine is an audit line as staff may read it. A password refused because the account
// has a passkey is audited with whether the password was right (for the security team's
// queries); staff see passkey_required either way (§2.2, §6), so a caller who talks an
// operator into reading the trail learns nothing of the password they tried.
func staffTrailLine(l auth.AuditLine) auth.AuditLine {
	if l.Event != "login_failed" {
		return l
	}
	switch l.Detail["reason"] {
	case "passkey_required_password_right", "passkey_required_password_wrong":
		d := maps.Clone(l.Detail)
		d["reason"] = "passkey_required"
		l.Detail = d
	}
	return l
}
