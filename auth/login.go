package auth

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"kagi/pgdb"
	"kagi/web"
)

// PasswordLogin is the outcome of a successful password login.
type PasswordLogin struct {
	Token             string
	ExpiresAt         time.Time
	Assurance         Assurance
	ViaFallbackWindow bool
}

var (
	errInvalidCredentials = web.Errorf(http.StatusUnauthorized, "invalid_credentials", msgInvalidCredentials)
	errPasskeyRequired    = web.Errorf(http.StatusForbidden, "passkey_required", msgPasskeyRequired)
	errRateLimited        = web.Errorf(http.StatusTooManyRequests, "rate_limited", msgRateLimited)
)

type passwordCandidate struct {
	ID           int64  `db:"id"`
	PasswordHash string `db:"password_hash"`
	HasPasskey   bool   `db:"has_passkey"`
}

// LoginWithPassword applies §2.2–2.3: an account without a passkey logs in with its password;
// an account with one only through an open fallback window, and is otherwise refused with
// passkey_required whether or not the password was right. An unknown login ID and a wrong
// password answer alike and cost the same hash.
func (s *Service) LoginWithPassword(ctx context.Context, loginID, password string) (PasswordLogin, error) {
	if loginID == "" || password == "" || len(loginID) > 256 || len(password) > 1024 {
		return PasswordLogin{}, web.Errorf(http.StatusBadRequest, "invalid_request", msgMissingCredentials)
	}
	ok, err := s.reserveAttempt(ctx, s.pool, loginID)
	if err != nil {
		return PasswordLogin{}, err
	}
	if !ok {
		return PasswordLogin{}, errRateLimited
	}
	var c passwordCandidate
	rows, err := s.pool.Query(ctx, `
		SELECT a.id, a.password_hash, EXISTS (SELECT 1 FROM passkeys p WHERE p.account_id = a.id) AS has_passkey
		FROM accounts a WHERE a.login_id = $1`, loginID)
	if err != nil {
		return PasswordLogin{}, err
	}
	c, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[passwordCandidate])
	found := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return PasswordLogin{}, err
	}
	match, err := s.passwords.Verify(ctx, password, c.PasswordHash)
	if err != nil {
		return PasswordLogin{}, err
	}
	if !found {
		return PasswordLogin{}, s.auditFailure(ctx, 0, "unknown_login_id", errInvalidCredentials)
	}

	var win Window
	var windowOpen bool
	if c.HasPasskey {
		win, windowOpen, err = s.windows.OpenWindow(ctx, s.pool, c.ID, s.now())
		if err != nil {
			return PasswordLogin{}, err
		}
		if !windowOpen {
			reason := "passkey_required_password_wrong"
			if match {
				reason = "passkey_required_password_right"
			}
			return PasswordLogin{}, s.auditFailure(ctx, c.ID, reason, errPasskeyRequired)
		}
	}
	if !match {
		return PasswordLogin{}, s.auditFailure(ctx, c.ID, "wrong_password", errInvalidCredentials)
	}

	out := PasswordLogin{Assurance: AssurancePassword}
	err = pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		var until time.Time
		if c.HasPasskey {
			// Check the window again inside the transaction that creates the session, so a
			// window that ended a moment ago is not honoured.
			w, open, err := s.windows.OpenWindow(ctx, tx, c.ID, s.now())
			if err != nil {
				return err
			}
			if !open {
				return errPasskeyRequired
			}
			if err := s.windows.WindowUsed(ctx, tx, w, s.now()); err != nil {
				return err
			}
			win, until = w, w.ExpiresAt
			out.Assurance, out.ViaFallbackWindow = AssurancePasswordFallback, true
		}
		token, expires, err := s.createSession(ctx, tx, c.ID, out.Assurance, until)
		if err != nil {
			return err
		}
		out.Token, out.ExpiresAt = token, expires
		if err := clearAttempts(ctx, tx, loginID); err != nil {
			return err
		}
		detail := map[string]any{"method": "password", "assurance": string(out.Assurance)}
		if out.ViaFallbackWindow {
			detail["window_id"] = win.ID
		}
		return Audit(ctx, tx, AuditEvent{At: s.now(), AccountID: c.ID, Actor: "customer", Event: "login_succeeded", Detail: detail})
	})
	return out, err
}

// auditFailure records a refused login and returns the client-facing refusal.
func (s *Service) auditFailure(ctx context.Context, accountID int64, reason string, refusal error) error {
	err := Audit(ctx, s.pool, AuditEvent{At: s.now(), AccountID: accountID, Actor: "customer", Event: "login_failed",
		Detail: map[string]any{"method": "password", "reason": reason}})
	if err != nil {
		return err
	}
	return refusal
}
