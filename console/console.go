// Package console is the operator console (§6): the support desk's pages and JSON API, served
// on a listener and origin of their own (KAGI_CONSOLE_LISTEN, KAGI_CONSOLE_URL), over the staff
// identity (package staff), the windows and lockouts (package recovery) and the accounts and
// audit trail (package auth). It owns no table: every change it makes is one of theirs, in one
// transaction, audited under the staff member ("staff:<login ID>") with their role and the
// reason they gave.
package console

import (
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/auth"
	"kagi/hours"
	"kagi/recovery"
	"kagi/staff"
)

// Config is everything the console needs, wired in cmd once the services exist.
type Config struct {
	Pool *pgxpool.Pool
	Log  *slog.Logger
	// Now is the clock; tests move it. Business hours are read with it.
	Now func() time.Time
	// Core is the auth core the console looks accounts up in, deletes passkeys through and
	// reads the audit trail of.
	Core *auth.Service
	// Staff is who may use the console: their logins, sessions and read limits.
	Staff *staff.Service
	// Windows opens and closes the customers' fallback windows.
	Windows *recovery.Service
	// Voice lists and clears the voice line's lockouts.
	Voice *recovery.VoiceVerifier
	// Calls lists an account's voice-line calls (ivr.CallLog). Nil lists none.
	Calls recovery.CallLog
	// Calendar is the support desk's hours (§5, KAGI_SUPPORT_CALENDAR), the voice line's own:
	// the console opens windows only within them. Nil means the regular hours.
	Calendar *hours.Calendar
	// SupportEnabled is KAGI_SUPPORT_ENABLED: switched off, nobody staffs the desk and the
	// console opens no window.
	SupportEnabled bool
	// SecureCookies sets the staff cookie Secure and __Host- prefixed: it follows the console's
	// origin, and only a plain-http console (development) turns it off.
	SecureCookies bool
}

// Service serves the console.
type Service struct {
	pool           *pgxpool.Pool
	log            *slog.Logger
	now            func() time.Time
	core           *auth.Service
	staff          *staff.Service
	windows        *recovery.Service
	voice          *recovery.VoiceVerifier
	calls          recovery.CallLog
	calendar       *hours.Calendar
	supportEnabled bool
	secure         bool
}

// New checks cfg and builds the console.
func New(cfg Config) (*Service, error) {
	if cfg.Pool == nil || cfg.Core == nil || cfg.Staff == nil || cfg.Windows == nil || cfg.Voice == nil {
		return nil, errors.New("console: Pool, Core, Staff, Windows and Voice are required")
	}
	s := &Service{pool: cfg.Pool, log: cfg.Log, now: cfg.Now, core: cfg.Core, staff: cfg.Staff, windows: cfg.Windows,
		voice: cfg.Voice, calls: cfg.Calls, calendar: cfg.Calendar, supportEnabled: cfg.SupportEnabled, secure: cfg.SecureCookies}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.calendar == nil {
		s.calendar = hours.Regular()
	}
	return s, nil
}
