// Package recovery rescues customers who can no longer use their passkey: the fallback windows
// of SPEC §3 (opened by the voice line or an operator, honoured by the auth core through
// auth.FallbackWindows, ended by the expiry job), the voice line's verification of a caller
// (PIN, caller ID, the second channel) and its lockouts (§4), and the service API that tells
// the brokerage's web login whether a window is open (§3.6). The operator console (package
// console) opens and closes windows and clears lockouts through it.
//
// It imports auth and never the reverse: the core asks through the interface it declares, and
// ForAuth hands it this package's answer.
package recovery

import (
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/auth"
	"kagi/notify"
	"kagi/pgdb"
	"kagi/web"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations is the schema of the tables recovery owns. It refers to auth's accounts, so apply
// it after auth.Migrations.
var Migrations = pgdb.Embedded("recovery", migrationFS, "migrations")

// Defaults of Config.
const (
	// DefaultWindow is the length of a fallback window (§3.1).
	DefaultWindow = 30 * time.Minute
	// DefaultExpiryBatch bounds how many windows one transaction of the expiry job closes, so a
	// backlog is worked off in short transactions that hold few locks.
	DefaultExpiryBatch = 5000
	// DefaultPurgeBatch bounds how many rows one statement of a purge removes, for the same
	// reason: a purge's rows are each a lock a request may be waiting for.
	DefaultPurgeBatch = 1000
)

// Config is everything recovery needs, loaded once at start.
type Config struct {
	Pool *pgxpool.Pool
	Log  *slog.Logger
	// Now is the clock; tests move it. Windows and the expiry job read nothing else.
	Now func() time.Time
	// Window is how long a window stays open after each (re)opening (KAGI_FALLBACK_WINDOW).
	// Zero means DefaultWindow.
	Window time.Duration
	// APIKeys are the bearer keys of the service API (KAGI_API_KEYS), shared with the auth
	// core's back-office API. Nil refuses every service API request.
	APIKeys *web.ServiceKeys
	// ExpiryBatch bounds the windows one transaction of the expiry job closes. Zero means
	// DefaultExpiryBatch.
	ExpiryBatch int
	// PurgeBatch bounds the rows one statement of a purge removes; the job repeats the purge
	// until it is done. Zero means DefaultPurgeBatch.
	PurgeBatch int
	// Lockout is the voice line's lockout policy (§4.4). Zero means DefaultLockout.
	Lockout LockoutPolicy
	// Purges are the clean-ups of the other packages' tables, which only they write: the auth
	// core's (auth.Purges) and the voice line's finished call state. The expiry job runs them
	// after its own.
	Purges []pgdb.Purge
	// SessionEnds is told of the recovery-only sessions a window's end ends (auth.SessionEnds):
	// the same as the core's Config.SessionEnds. Nil tells no one.
	SessionEnds auth.SessionEnds
	// Outbox takes the notices of §7 (a window opened, a voice-line lockout) in the
	// transaction of their event. Nil sends nothing.
	Outbox *notify.Outbox
	// RecoveryHold is the hold the service API reports after a recovery (§2.11,
	// KAGI_RECOVERY_HOLD); zero reports none. The auth core gets the same setting.
	RecoveryHold time.Duration
	// SecondFactor is how the voice line has the registered phone confirm a caller (§4.8).
	// Empty means SecondFactorNone.
	SecondFactor SecondFactor
	// SendLimits cap the codes texted and calls back placed per account and per calling
	// number (§4.8, KAGI_SECOND_CHANNEL_LIMIT, see ParseSendLimits). Nil means
	// DefaultSendLimits.
	SendLimits SendLimits
}

// Service opens, checks and closes fallback windows and runs the expiry job.
type Service struct {
	pool    *pgxpool.Pool
	log     *slog.Logger
	now     func() time.Time
	window  time.Duration
	apiKeys *web.ServiceKeys
	lockout LockoutPolicy
	// batch and purgeBatch are Config's ExpiryBatch and PurgeBatch.
	batch, purgeBatch int
	purges            []pgdb.Purge
	sessionEnds       auth.SessionEnds
	outbox            *notify.Outbox
	hold              time.Duration
	// secondFactor and sendLimits are Config's SecondFactor and SendLimits.
	secondFactor SecondFactor
	sendLimits   SendLimits
}

// New checks cfg and builds the service.
func New(cfg Config) (*Service, error) {
	if cfg.Pool == nil {
		return nil, errors.New("recovery: Pool is required")
	}
	if cfg.Window < 0 || cfg.ExpiryBatch < 0 || cfg.PurgeBatch < 0 {
		return nil, errors.New("recovery: Window, ExpiryBatch and PurgeBatch must not be negative")
	}
	s := &Service{
		pool:    cfg.Pool,
		log:     cfg.Log,
		now:     cfg.Now,
		window:  cfg.Window,
		lockout: cfg.Lockout,
		apiKeys: cfg.APIKeys,
		batch:   cfg.ExpiryBatch,
		outbox:  cfg.Outbox,
		hold:    cfg.RecoveryHold,

		purgeBatch:   cfg.PurgeBatch,
		secondFactor: cfg.SecondFactor,
		sendLimits:   cfg.SendLimits,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.window == 0 {
		s.window = DefaultWindow
	}
	if s.lockout == (LockoutPolicy{}) {
		s.lockout = DefaultLockout
	}
	switch s.secondFactor {
	case "":
		s.secondFactor = SecondFactorNone
	case SecondFactorNone, SecondFactorSMS, SecondFactorCallback, SecondFactorAuto:
	default:
		return nil, fmt.Errorf("recovery: unknown second factor %q", s.secondFactor)
	}
	if len(s.sendLimits) == 0 {
		s.sendLimits = DefaultSendLimits
	}
	if err := s.sendLimits.check(); err != nil {
		return nil, err
	}
	if s.batch == 0 {
		s.batch = DefaultExpiryBatch
	}
	if s.purgeBatch == 0 {
		s.purgeBatch = DefaultPurgeBatch
	}
	s.purges = append(s.ownPurges(), cfg.Purges...)
	s.sessionEnds = cfg.SessionEnds
	return s, nil
}
