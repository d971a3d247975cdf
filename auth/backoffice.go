package auth

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"kagi"
	"kagi/notify"
	"kagi/pgdb"
	"kagi/web"
)

// The back-office API (SPEC §12.2): the brokerage's own servers create accounts, change their
// contacts, set a new password and suspend or resume an account, each call with a service key
// (§3.6) and audited as actor "api:NAME", the key's name. A request the API cannot carry out as
// given is refused with a 4xx and writes nothing.

// BackOfficeRoutes mounts the back-office API on mux, the public listener's, beside the service
// API of package recovery: JSON for servers holding a bearer key, no cookie, no browser
// protection.
func (s *Service) BackOfficeRoutes(mux *http.ServeMux) {
	h := func(f web.ServiceHandlerFunc) http.Handler { return web.Handle(s.log, s.serviceKeys.Require(f)) }
	mux.Handle("POST /api/v1/accounts", h(s.handleCreateAccount))
	mux.Handle("PATCH /api/v1/accounts/{number}", h(s.handleChangeContacts))
	mux.Handle("POST /api/v1/accounts/{number}/password", h(s.handleSetPassword))
	mux.Handle("POST /api/v1/accounts/{number}/suspend", h(s.handleSuspension(true)))
	mux.Handle("POST /api/v1/accounts/{number}/resume", h(s.handleSuspension(false)))
}

// apiActor is the audit trail's actor of a back-office call made with the key named keyName.
func apiActor(keyName string) string { return "api:" + keyName }

var (
	errBackOfficeNotFound = kagi.Errorf(kagi.NotFound, "not_found", msgBackOfficeNotFound)
	// errBackOfficeBusy answers a call that found the password hashing line full (a burst of
	// logins): nothing was written, and the same call may be made again shortly.
	errBackOfficeBusy = &kagi.Error{Kind: kagi.RateLimited, Code: "rate_limited", Message: msgBackOfficeBusy, RetryAfter: time.Second}
)

// errInvalid refuses a back-office request, listing every problem (English, naming fields and
// never a secret's value) beside the Japanese message.
func errInvalid(problems error) error {
	e := kagi.Errorf(kagi.Invalid, "invalid", msgBackOfficeInvalid)
	var list []string
	for _, line := range strings.Split(problems.Error(), "\n") {
		if line != "" {
			list = append(list, line)
		}
	}
	e.Extra = map[string]any{"problems": list}
	return e
}

// decodeStrict reads one JSON object into v: an unknown field (a typo that would otherwise be
// ignored), a second value or trailing bytes are refused.
func decodeStrict(body []byte, v any) error {
	if err := decodeStrictJSON(body, v); err != nil {
		return errInvalid(err)
	}
	return nil
}

// handleCreateAccount is POST /api/v1/accounts: one AccountLine, as `kagi import` reads it.
func (s *Service) handleCreateAccount(w http.ResponseWriter, r *http.Request, keyName string) error {
	body, err := web.ReadBody(w, r)
	if err != nil {
		return err
	}
	l, err := ParseAccountLine(body)
	if err != nil {
		return errInvalid(err)
	}
	if err := l.Validate(); err != nil {
		return errInvalid(err)
	}
	acct, err := s.CreateAccountLine(r.Context(), l, apiActor(keyName))
	var dup duplicateError
	if errors.As(err, &dup) {
		msg := msgBackOfficeLoginIDInUse
		if dup.field == "account_number" {
			msg = msgBackOfficeNumberInUse
		}
		e := kagi.Errorf(kagi.Conflict, "conflict", msg)
		e.Extra = map[string]any{"field": dup.field}
		return e
	}
	if errors.Is(err, ErrBusy) {
		return errBackOfficeBusy
	}
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusCreated, map[string]any{"account_number": acct.AccountNumber, "login_id": acct.LoginID})
}

// backOfficeAccount is an account as the back office changes it, read under LockAccount's lock.
type backOfficeAccount struct {
	ID          int64      `db:"id"`
	Name        string     `db:"name"`
	Email       string     `db:"email"`
	Phones      []string   `db:"phones"`
	SuspendedAt *time.Time `db:"suspended_at"`
}

// lockAccountByNumber finds the account numbered number and takes LockAccount's lock on it, in
// one statement; not found is the 404 of the back office.
func lockAccountByNumber(ctx context.Context, tx pgx.Tx, number string) (backOfficeAccount, error) {
	if !accountNumberPattern.MatchString(number) {
		return backOfficeAccount{}, errBackOfficeNotFound
	}
	rows, err := tx.Query(ctx, `
		SELECT a.id, a.name, a.email, a.suspended_at,
		       COALESCE((SELECT array_agg(ph.phone ORDER BY ph.phone) FROM account_phones ph WHERE ph.account_id = a.id), '{}') AS phones
		FROM accounts a WHERE a.account_number = $1 FOR NO KEY UPDATE OF a`, number)
	if err != nil {
		return backOfficeAccount{}, err
	}
	a, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[backOfficeAccount])
	if errors.Is(err, pgx.ErrNoRows) {
		return backOfficeAccount{}, errBackOfficeNotFound
	}
	return a, err
}

// ContactChange is the body of PATCH /api/v1/accounts/{number}: what is given is set, Phones
// replacing the whole set.
type ContactChange struct {
	Name   *string   `json:"name"`
	Email  *string   `json:"email"`
	Phones *[]string `json:"phones"`
}

// validate lists every problem with c at once.
func (c ContactChange) validate() error {
	var errs []error
	if c.Name != nil {
		errs = append(errs, checkName(*c.Name))
	}
	if c.Email != nil {
		errs = append(errs, checkEmail(*c.Email))
	}
	if c.Phones != nil {
		errs = append(errs, checkPhones(*c.Phones))
	}
	return errors.Join(errs...)
}

// phoneSet is phones sorted, each once.
func phoneSet(phones []string) []string {
	set := slices.Clone(phones)
	slices.Sort(set)
	return slices.Compact(set)
}

func (s *Service) handleChangeContacts(w http.ResponseWriter, r *http.Request, keyName string) error {
	body, err := web.ReadBody(w, r)
	if err != nil {
		return err
	}
	var c ContactChange
	if err := decodeStrict(body, &c); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return errInvalid(err)
	}
	changed, err := s.changeContacts(r.Context(), r.PathValue("number"), c, apiActor(keyName))
	if err != nil {
		return err
	}
	if changed == nil {
		changed = []string{}
	}
	return web.JSON(w, http.StatusOK, map[string]any{"changed": changed})
}

// changeContacts sets what c gives on the account numbered number, audited under actor, and
// returns what changed (notify.ContactName, ContactEmail, ContactPhones); nothing changed
// tells nobody. A change is told to the old and the new addresses alike — the old email and
// the new, every textable phone of the old set and of the new — so that whoever did not ask
// for it hears of it where they still read; a change of email or phones starts the hold of
// §12.2 (HoldContactChanged).
func (s *Service) changeContacts(ctx context.Context, number string, c ContactChange, actor string) ([]string, error) {
	var changed []string
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		changed = nil
		now := s.now()
		a, err := lockAccountByNumber(ctx, tx, number)
		if err != nil {
			return err
		}
		name, email, phones := a.Name, a.Email, a.Phones
		if c.Name != nil && *c.Name != a.Name {
			name, changed = *c.Name, append(changed, notify.ContactName)
		}
		if c.Email != nil && *c.Email != a.Email {
			email, changed = *c.Email, append(changed, notify.ContactEmail)
		}
		if c.Phones != nil && !slices.Equal(phoneSet(*c.Phones), a.Phones) {
			phones, changed = phoneSet(*c.Phones), append(changed, notify.ContactPhones)
		}
		if len(changed) == 0 {
			return Audit(ctx, tx, AuditEvent{At: now, AccountID: a.ID, Actor: actor, Event: "account_contacts_unchanged"})
		}
		if _, err := tx.Exec(ctx, `UPDATE accounts SET name = $2, email = $3 WHERE id = $1`, a.ID, name, email); err != nil {
			return err
		}
		held := slices.Contains(changed, notify.ContactEmail) || slices.Contains(changed, notify.ContactPhones)
		if slices.Contains(changed, notify.ContactPhones) {
			_, err := tx.Exec(ctx, `
				WITH gone AS (DELETE FROM account_phones WHERE account_id = $1)
				INSERT INTO account_phones (account_id, phone) SELECT $1, unnest($2::text[])`, a.ID, phones)
			if err != nil {
				return err
			}
		}
		ev := notify.Event{Kind: notify.KindContactChanged, At: now, Name: name, Contacts: changed}
		if held {
			if err := markContactChanged(ctx, tx, a.ID, now); err != nil {
				return err
			}
			if s.hold > 0 {
				ev.Until = now.Add(s.hold)
			}
		}
		err = Audit(ctx, tx, AuditEvent{At: now, AccountID: a.ID, Actor: actor, Event: "account_contacts_changed",
			Detail: map[string]any{"changed": changed, "hold": held}})
		if err != nil {
			return err
		}
		if s.outbox == nil {
			return nil
		}
		// The old email with every phone, old and new (Enqueue texts the textable ones); the new
		// email apart, when it changed.
		all := phoneSet(append(slices.Clone(a.Phones), phones...))
		if err := s.outbox.Enqueue(ctx, tx, notify.Recipient{AccountID: a.ID, Email: a.Email, Phones: all}, ev); err != nil {
			return err
		}
		if email != a.Email {
			return s.outbox.Enqueue(ctx, tx, notify.Recipient{AccountID: a.ID, Email: email}, ev)
		}
		return nil
	})
	return changed, err
}

func (s *Service) handleSetPassword(w http.ResponseWriter, r *http.Request, keyName string) error {
	body, err := web.ReadBody(w, r)
	if err != nil {
		return err
	}
	var req struct {
		Password *string `json:"password"`
	}
	if err := decodeStrict(body, &req); err != nil {
		return err
	}
	if req.Password == nil {
		return errInvalid(errors.New("password is required"))
	}
	if err := checkPasswordPolicy(*req.Password); err != nil {
		return errInvalid(err)
	}
	number := r.PathValue("number")
	// The account is looked up before the costly hash, so an unknown number costs nothing.
	if !accountNumberPattern.MatchString(number) {
		return errBackOfficeNotFound
	}
	if _, found, err := s.AccountByNumber(r.Context(), s.pool, number); err != nil || !found {
		if err == nil {
			err = errBackOfficeNotFound
		}
		return err
	}
	hash, err := s.passwords.Hash(r.Context(), *req.Password)
	if errors.Is(err, ErrBusy) {
		return errBackOfficeBusy
	}
	if err != nil {
		return err
	}
	var ended int64
	err = pgdb.InTx(r.Context(), s.pool, func(tx pgx.Tx) error {
		a, err := lockAccountByNumber(r.Context(), tx, number)
		if err != nil {
			return err
		}
		ended, err = s.setPassword(r.Context(), tx, a.ID, hash, nil, apiActor(keyName), true)
		return err
	})
	if err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, map[string]any{"sessions_ended": ended})
}

// maxSuspensionReason bounds the reason kept in the audit trail.
const maxSuspensionReason = 500

// handleSuspension is POST …/suspend (suspend true) and …/resume.
func (s *Service) handleSuspension(suspend bool) web.ServiceHandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, keyName string) error {
		body, err := web.ReadBody(w, r)
		if err != nil {
			return err
		}
		var req struct {
			Reason string `json:"reason"`
		}
		if len(bytes.TrimSpace(body)) > 0 {
			if err := decodeStrict(body, &req); err != nil {
				return err
			}
		}
		if !OneLine(req.Reason) || utf8.RuneCountInString(req.Reason) > maxSuspensionReason {
			return errInvalid(errors.New("reason must be one line of at most 500 characters, none of them a control character"))
		}
		res, err := s.setSuspended(r.Context(), r.PathValue("number"), suspend, strings.TrimSpace(req.Reason), apiActor(keyName))
		if err != nil {
			return err
		}
		out := map[string]any{"suspended": suspend, "changed": res.changed, "sessions_ended": res.ended}
		if res.suspendedAt != nil {
			out["suspended_at"] = res.suspendedAt.In(jst).Format(time.RFC3339)
		}
		return web.JSON(w, http.StatusOK, out)
	}
}

type suspension struct {
	changed     bool
	ended       int64
	suspendedAt *time.Time
}

// setSuspended suspends (suspend) or resumes the account numbered number, audited under actor
// with reason (may be empty). Suspending ends every session of the account; while it is
// suspended every login is refused (errAccountSuspended) and the voice line refuses it. Both
// are told to the customer by mail. Asking for the state the account is in changes nothing and
// tells nobody; it is audited all the same.
func (s *Service) setSuspended(ctx context.Context, number string, suspend bool, reason, actor string) (suspension, error) {
	var out suspension
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.now()
		a, err := lockAccountByNumber(ctx, tx, number)
		if err != nil {
			return err
		}
		out = suspension{suspendedAt: a.SuspendedAt}
		event := map[bool]string{true: "account_suspended", false: "account_resumed"}[suspend]
		detail := map[string]any{"reason": reason}
		if (a.SuspendedAt != nil) == suspend {
			detail["unchanged"] = true
			return Audit(ctx, tx, AuditEvent{At: now, AccountID: a.ID, Actor: actor, Event: event, Detail: detail})
		}
		out.changed = true
		kind := notify.KindAccountResumed
		if suspend {
			kind, out.suspendedAt = notify.KindAccountSuspended, &now
			// A passkey login locks the passkey and then creates its session: taking the passkey's
			// lock (after the account's, the one lock order) waits for one in flight, whose session
			// the statement below then ends, and one that comes after finds the suspension.
			if _, err := tx.Exec(ctx, `SELECT 1 FROM passkeys WHERE account_id = $1 FOR UPDATE`, a.ID); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE accounts SET suspended_at = $2 WHERE id = $1`, a.ID, now); err != nil {
				return err
			}
			if out.ended, err = s.endSessionsBut(ctx, tx, a.ID, nil); err != nil {
				return err
			}
			detail["sessions_ended"] = out.ended
			// An open window would still let the password in once the account is resumed.
			if err := s.windows.CloseWindow(ctx, tx, a.ID, ClosedAccountSuspended, now); err != nil {
				return err
			}
		} else {
			out.suspendedAt = nil
			if _, err := tx.Exec(ctx, `UPDATE accounts SET suspended_at = NULL WHERE id = $1`, a.ID); err != nil {
				return err
			}
		}
		if err := Audit(ctx, tx, AuditEvent{At: now, AccountID: a.ID, Actor: actor, Event: event, Detail: detail}); err != nil {
			return err
		}
		return Notify(ctx, tx, s.outbox, a.ID, notify.Event{Kind: kind, At: now})
	})
	return out, err
}

// errAccountSuspended refuses every login of a suspended account (§12.2), right password or
// wrong, with the support desk to call and its hours as the desk tells them now.
func (s *Service) errAccountSuspended() *kagi.Error {
	sup := s.support.SupportAt(s.now())
	e := kagi.Errorf(kagi.Forbidden, "account_suspended", msgAccountSuspended(sup))
	e.Extra = map[string]any{"support_hours": sup.Hours}
	return e
}

// LockAccountSuspended takes LockAccount's lock and reports, in the same statement, whether the
// account is suspended (§12.2): package recovery opens no window for such an account.
func LockAccountSuspended(ctx context.Context, tx pgx.Tx, accountID int64) (bool, error) {
	var suspended bool
	err := tx.QueryRow(ctx, `SELECT suspended_at IS NOT NULL FROM accounts WHERE id = $1 FOR NO KEY UPDATE`, accountID).Scan(&suspended)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return suspended, err
}
