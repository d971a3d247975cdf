package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"kagi"

	"github.com/jackc/pgx/v5"

	"kagi/notify"
	"kagi/pgdb"
	"kagi/web"
)

// The password policy (SPEC §12.3), in characters: what a new password must be, whoever sets
// it (NewAccount.Validate for a new account, passwordPolicy for a change).
const (
	minPasswordChars = 8
	maxPasswordChars = 256
)

// passwordLengthOK reports whether pw is of a length the policy allows.
func passwordLengthOK(pw string) bool {
	n := utf8.RuneCountInString(pw)
	return n >= minPasswordChars && n <= maxPasswordChars
}

// maxTriedPasswordBytes bounds a password worth hashing to see whether it is the account's:
// the login's own limit. No account's password is longer (maxPasswordChars).
const maxTriedPasswordBytes = 1024

var (
	// errCurrentPasswordWrong is a change whose current password is not the account's: the same
	// code as the login's wrong password, and a failure the login ID's throttle counts.
	errCurrentPasswordWrong  = kagi.Errorf(kagi.Unauthorized, "invalid_credentials", msgCurrentPasswordWrong)
	errPasswordChangeLimited = kagi.Errorf(kagi.RateLimited, "rate_limited", msgPasswordChangeLimited)
	errPasswordChangeBusy    = &kagi.Error{Kind: kagi.RateLimited, Code: "rate_limited", Message: msgPasswordChangeBusy, RetryAfter: time.Second}
	// errPasswordChangeRecovery refuses the change to a recovery-only session (§2.11), as the
	// other refusals of what such a session may not do.
	errPasswordChangeRecovery = kagi.Errorf(kagi.Forbidden, "forbidden", msgPasswordChangeRecovery)
)

// weakPassword refuses a new password the policy does not allow.
func weakPassword(msg string) error { return kagi.Errorf(kagi.Invalid, "weak_password", msg) }

// passwordPolicy reports why pw cannot be the password of the account with loginID, as the
// refusal the customer reads (400 weak_password), or nil: 8 to 256 characters, and not the
// login ID, which anyone who knows the account knows.
func passwordPolicy(loginID, pw string) error {
	switch {
	case !passwordLengthOK(pw):
		return weakPassword(msgPasswordLength)
	case strings.EqualFold(pw, loginID):
		return weakPassword(msgPasswordIsLoginID)
	}
	return nil
}

// ChangePassword is the customer changing their own password from sess (SPEC §12.3). A
// recovery-only session may not (§2.11). The new password must follow the policy and differ
// from the current one, which must be right: a wrong one counts as a failed password login of
// the login ID (its throttle, so a stolen session cannot guess the password the login is
// locked for), a throttled login ID is refused before anything is hashed. Then, in one
// transaction, setPassword stores the new hash with everything that comes with it, keeping
// sess alone of the account's sessions.
func (s *Service) ChangePassword(ctx context.Context, sess Session, current, next string) error {
	if sess.Assurance == AssurancePasswordFallback {
		return errPasswordChangeRecovery
	}
	switch {
	case current == "" || next == "":
		return kagi.Errorf(kagi.Invalid, "invalid_request", msgPasswordChangeMissing)
	case len(current) > maxTriedPasswordBytes:
		return kagi.Errorf(kagi.Invalid, "invalid_request", msgCurrentPasswordTooLong)
	case next == current:
		return weakPassword(msgPasswordUnchanged)
	}
	if err := passwordPolicy(sess.LoginID, next); err != nil {
		return err
	}
	if s.passwords.Busy() {
		return errPasswordChangeBusy
	}
	key := throttleKey(sess.LoginID)
	at, err := s.reserveAttempt(ctx, s.pool, key)
	if err != nil {
		return err
	}
	if at.lockStarted {
		if err := s.auditLockout(ctx, sess.AccountID, key, at, Window{}, false); err != nil {
			return err
		}
	}
	if !at.allowed {
		return errPasswordChangeLimited
	}
	var stored string
	if err := s.pool.QueryRow(ctx, `SELECT password_hash FROM accounts WHERE id = $1`, sess.AccountID).Scan(&stored); err != nil {
		return err
	}
	// Hashing that found the line full tried nothing: the attempt is given back.
	busy := func() error {
		s.log.WarnContext(ctx, "password change refused: hashing busy")
		if err := refundAttempt(ctx, s.pool, key); err != nil {
			return err
		}
		return errPasswordChangeBusy
	}
	match, err := s.passwords.Verify(ctx, current, stored)
	if errors.Is(err, ErrBusy) {
		return busy()
	}
	if err != nil {
		return err
	}
	if !match {
		s.log.InfoContext(ctx, "password change refused", "account_id", sess.AccountID, "reason", "wrong_current_password")
		err := Audit(ctx, s.pool, AuditEvent{At: s.now(), AccountID: sess.AccountID, Actor: "customer", Event: "password_change_failed",
			Detail: map[string]any{"reason": "wrong_current_password", "assurance": string(sess.Assurance)}})
		if err != nil {
			return err
		}
		return errCurrentPasswordWrong
	}
	hash, err := s.passwords.Hash(ctx, next)
	if errors.Is(err, ErrBusy) {
		return busy()
	}
	if err != nil {
		return err
	}
	err = pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		// The account's lock first (LockAccount's order), then the acting session, which must
		// still live: a session ended a moment ago changes nothing.
		if err := s.lockSession(ctx, tx, sess); err != nil {
			return err
		}
		// The password checked above is still the account's: two changes that raced both
		// checked the old one, and only the first may replace it.
		var same bool
		if err := tx.QueryRow(ctx, `SELECT password_hash = $2 FROM accounts WHERE id = $1`, sess.AccountID, stored).Scan(&same); err != nil {
			return err
		}
		if !same {
			return errCurrentPasswordWrong
		}
		// The right password is no failure of the login ID.
		if err := refundAttempt(ctx, tx, key); err != nil {
			return err
		}
		_, err := s.setPassword(ctx, tx, sess.AccountID, hash, sess.TokenHash, "customer", false)
		return err
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "password changed", "account_id", sess.AccountID, "assurance", string(sess.Assurance))
	return nil
}

// errNoAccount is a password set for an account that does not exist.
var errNoAccount = errors.New("auth: no such account")

// setPassword makes hash (a PHC string from the PasswordHasher) the account's password in tx,
// with what a new password brings: every session of the account but keep (a token hash, or nil
// to end them all) ends through endSessions, so the applications that got tokens from them are
// logged out too (SPEC §11.5); an email check begun with the old password can no longer let
// anyone in; the change is audited under actor and told to the customer by mail and by text to
// the phones that can take one (§7). The account is locked first (LockAccount). It returns how
// many sessions ended. The customer's own change (ChangePassword) and the brokerage's (the
// back-office API, §12.2; byBrokerage, audited password_set and told as a reset) both set
// passwords through it.
func (s *Service) setPassword(ctx context.Context, tx pgx.Tx, accountID int64, hash string, keep []byte, actor string, byBrokerage bool) (int64, error) {
	now := s.now()
	if err := LockAccount(ctx, tx, accountID); err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, `UPDATE accounts SET password_hash = $2 WHERE id = $1`, accountID, hash)
	if err != nil {
		return 0, err
	}
	if tag.RowsAffected() != 1 {
		return 0, fmt.Errorf("set password of account %d: %w", accountID, errNoAccount)
	}
	checks, err := tx.Exec(ctx, `DELETE FROM email_checks WHERE account_id = $1`, accountID)
	if err != nil {
		return 0, err
	}
	ended, err := s.endSessionsBut(ctx, tx, accountID, keep)
	if err != nil {
		return 0, err
	}
	event, notice := "password_changed", notify.KindPasswordChanged
	detail := map[string]any{"sessions_ended": ended, "session_kept": keep != nil, "email_checks_ended": checks.RowsAffected()}
	if byBrokerage {
		event, notice, detail["by"] = "password_set", notify.KindPasswordReset, "brokerage"
	}
	if err := Audit(ctx, tx, AuditEvent{At: now, AccountID: accountID, Actor: actor, Event: event, Detail: detail}); err != nil {
		return 0, err
	}
	return ended, Notify(ctx, tx, s.outbox, accountID, notify.Event{Kind: notice, At: now})
}

func (s *Service) handleChangePassword(w http.ResponseWriter, r *http.Request, sess Session) error {
	var req struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if err := web.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := s.ChangePassword(r.Context(), sess, req.Current, req.New); err != nil {
		return err
	}
	return web.JSON(w, http.StatusOK, map[string]any{})
}
