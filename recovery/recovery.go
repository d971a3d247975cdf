// Package recovery rescues customers who can no longer use their passkey: the fallback windows
// of SPEC §3 (opened by the voice line or an operator, honoured by the auth core through
// auth.FallbackWindows, ended by the expiry job), the service API that tells the web login
// whether a window is open and whether the support desk answers (§5, by package hours'
// calendar), and the operator console's staff, who log in with passkeys of their own (§6).
//
// It imports auth and never the reverse: the core asks through the interface it declares, and
// ForAuth hands it this package's answer.
package recovery

import (
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/auth"
	"kagi/hours"
	"kagi/notify"
	"kagi/pgdb"
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
	// APIKeys are the bearer keys of the service API (KAGI_API_KEYS). With none, every service
	// API request is refused.
	APIKeys []string
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
	// WebAuthn is the relying party of the staff passkeys: the console's own origin
	// (KAGI_CONSOLE_URL), never the customers', so no customer origin sees a staff ceremony
	// (§6). Staff ceremonies follow the customers' policy all the same (auth.NewRelyingParty).
	// Nil serves no operator console: ConsoleRoutes mounts nothing.
	WebAuthn *webauthn.Config
	// SecureCookies sets the staff cookie Secure and __Host- prefixed: it follows the console's
	// origin, and only a plain-http console (development) turns it off.
	SecureCookies bool
	// Calendar is the support desk's hours (§5, KAGI_SUPPORT_CALENDAR), the voice line's own:
	// the operator console opens windows only within them. Nil means the regular hours.
	Calendar *hours.Calendar
	// SupportEnabled is KAGI_SUPPORT_ENABLED: switched off, nobody staffs the desk and the
	// console opens no window.
	SupportEnabled bool
	// Calls lists an account's voice-line calls on the console (ivr.CallLog). Nil lists none.
	Calls CallLog
	// StaffReadLimit bounds the console's searches and audit-trail reads per staff member
	// (§6, KAGI_STAFF_READ_LIMIT, see auth.ParseClientLimit), so a stolen staff session cannot
	// walk the whole customer base. Zero means DefaultStaffReadLimit.
	StaffReadLimit auth.ClientLimit
}

// DefaultStaffReadLimit is 300 reads an hour: several a minute all day at a busy desk, far
// below what copying the customer base would take.
var DefaultStaffReadLimit = auth.ClientLimit{Max: 300, Period: time.Hour}

// Service opens, checks and closes fallback windows and runs the expiry job.
type Service struct {
	pool    *pgxpool.Pool
	log     *slog.Logger
	now     func() time.Time
	window  time.Duration
	apiKeys [][sha256.Size]byte
	lockout LockoutPolicy
	// batch and purgeBatch are Config's ExpiryBatch and PurgeBatch.
	batch, purgeBatch int
	purges            []pgdb.Purge
	outbox            *notify.Outbox
	hold              time.Duration
	// secondFactor and sendLimits are Config's SecondFactor and SendLimits.
	secondFactor SecondFactor
	sendLimits   SendLimits
	// staffRP runs the staff passkey ceremonies; nil without Config.WebAuthn.
	staffRP *webauthn.WebAuthn
	// secure is Config's SecureCookies.
	secure bool
	// calendar, supportEnabled and calls are Config's Calendar, SupportEnabled and Calls.
	calendar       *hours.Calendar
	supportEnabled bool
	calls          CallLog
	// readLimit is Config's StaffReadLimit.
	readLimit auth.ClientLimit
	// core is the auth core the operator console reads and changes accounts through; nil
	// until UseCore, and then no console route beyond the staff identity's is served.
	core *auth.Service
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
		batch:   cfg.ExpiryBatch,
		outbox:  cfg.Outbox,
		hold:    cfg.RecoveryHold,

		purgeBatch:   cfg.PurgeBatch,
		secondFactor: cfg.SecondFactor,
		sendLimits:   cfg.SendLimits,
		secure:       cfg.SecureCookies,

		calendar:       cfg.Calendar,
		supportEnabled: cfg.SupportEnabled,
		calls:          cfg.Calls,
		readLimit:      cfg.StaffReadLimit,
	}
	if s.readLimit == (auth.ClientLimit{}) {
		s.readLimit = DefaultStaffReadLimit
	}
	if s.calendar == nil {
		s.calendar = hours.Regular()
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
	for _, k := range cfg.APIKeys {
		if k == "" {
			return nil, errors.New("recovery: an API key is empty")
		}
		s.apiKeys = append(s.apiKeys, sha256.Sum256([]byte(k)))
	}
	if cfg.WebAuthn != nil {
		rp, err := auth.NewRelyingParty(cfg.WebAuthn)
		if err != nil {
			return nil, fmt.Errorf("recovery: staff passkeys: %w", err)
		}
		s.staffRP = rp
	}
	s.purges = append(s.ownPurges(), cfg.Purges...)
	return s, nil
}

// UseCore hands the operator console the auth core it looks accounts up in and deletes
// passkeys through. The core is built after this service (auth.Config.Windows is ForAuth), so
// it comes separately; call it before ConsoleRoutes.
func (s *Service) UseCore(core *auth.Service) { s.core = core }
