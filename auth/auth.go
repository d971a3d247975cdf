// Package auth is kagi's core: accounts, password and passkey login, sessions and the login
// policy of SPEC §2. It knows nothing of phones or fallback windows; it asks a FallbackWindows
// it is given, which package recovery provides.
package auth

import (
	"context"
	"embed"
	"errors"
	"log/slog"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/notify"
	"kagi/pgdb"
	"kagi/web"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations is the schema of the tables auth owns. Apply it before any package that refers to
// accounts.
var Migrations = pgdb.Embedded("auth", migrationFS, "migrations")

// Assurance says how a session was made (§2.11). Other applications read it and allow
// sensitive actions only to AssurancePasskey.
type Assurance string

const (
	AssurancePasskey          Assurance = "passkey"
	AssurancePassword         Assurance = "password"
	AssurancePasswordFallback Assurance = "password_fallback"
)

// Window is an open fallback window as the core sees it.
type Window struct {
	ID        int64
	ExpiresAt time.Time
	OpenedVia string
}

// CloseReason says why the core closes a window.
type CloseReason string

const (
	ClosedPasskeyCreated CloseReason = "closed_passkey_created"
	ClosedPasskeyDeleted CloseReason = "closed_passkey_deleted"
	// ClosedAccountSuspended: the back office suspended the account (§12.2).
	ClosedAccountSuspended CloseReason = "closed_account_suspended"
)

// FallbackWindows is the seam through which the core learns that a fallback window lets an
// account with a passkey log in with its password (§3), and closes it when the passkey changes
// (§2.8). Every method runs on the caller's querier or transaction so the check and the state
// change it guards commit together. Package recovery implements it.
type FallbackWindows interface {
	// OpenWindow reports the account's window if it is open at now. Implementations must
	// compare expires_at > now in the query itself, so a window is never honoured late.
	OpenWindow(ctx context.Context, q pgdb.Querier, accountID int64, now time.Time) (Window, bool, error)
	// WindowUsed records, in the transaction that creates the session, that a password login
	// went through w. It is the last check of the window and the only one in that
	// transaction: it must lock w's row and refuse (return an error, normally the 403
	// passkey_required web error, which the core passes on) when w is no longer open at now
	// — closed, expired or replaced — so a window that ended a moment ago is never honoured.
	WindowUsed(ctx context.Context, tx pgx.Tx, w Window, now time.Time) error
	// CloseWindow closes the account's open window, if any.
	CloseWindow(ctx context.Context, tx pgx.Tx, accountID int64, reason CloseReason, now time.Time) error
}

// NoWindows is a FallbackWindows with no window ever open: the core alone, before recovery is
// wired in.
type NoWindows struct{}

func (NoWindows) OpenWindow(context.Context, pgdb.Querier, int64, time.Time) (Window, bool, error) {
	return Window{}, false, nil
}
func (NoWindows) WindowUsed(context.Context, pgx.Tx, Window, time.Time) error { return nil }
func (NoWindows) CloseWindow(context.Context, pgx.Tx, int64, CloseReason, time.Time) error {
	return nil
}

// Config is everything the core needs, loaded once at start.
type Config struct {
	Pool *pgxpool.Pool
	Log  *slog.Logger
	// Now is the clock; tests move it.
	Now func() time.Time
	// Passwords hashes and verifies passwords under a concurrency bound.
	Passwords *PasswordHasher
	// PINKey keys the voice-line PIN hashes.
	PINKey []byte
	// Windows answers whether a fallback window is open. Nil means NoWindows.
	Windows FallbackWindows
	// WebAuthn is the relying party configuration.
	WebAuthn *webauthn.Config
	// CreatePlatforms lists where a passkey may be created: "ios", "android", or "any".
	CreatePlatforms []string
	// SecureCookies sets the Secure flag; only plain-http development turns it off.
	SecureCookies bool
	// SessionTTL bounds every session; a fallback session also ends with its window.
	SessionTTL time.Duration
	// SessionIdle ends a session that made no request for this long (KAGI_SESSION_IDLE).
	// Zero means DefaultSessionIdle.
	SessionIdle time.Duration
	// Throttle limits failed password logins per login ID.
	Throttle ThrottlePolicy
	// ClientLimits limit the unauthenticated routes per client address (KAGI_LIMIT_*); the
	// zero value limits nothing, kagi serve passes DefaultClientLimits or the settings.
	ClientLimits ClientLimits
	// Outbox takes the messages of §7 in the transaction of their event. Nil sends nothing.
	Outbox *notify.Outbox
	// EmailCheck makes every password login finish with the emoji email check (§2.12,
	// KAGI_EMAIL_CHECK). It needs Outbox.
	EmailCheck bool
	// LoginNotice sends a notice of every successful login (§7, KAGI_LOGIN_NOTICE). A login
	// through a fallback window is always told.
	LoginNotice bool
	// RecoveryHold is how long after a recovery the sessions report a hold (§2.11,
	// KAGI_RECOVERY_HOLD); zero reports none.
	RecoveryHold time.Duration
	// Support tells the pages and the passkey_required message how to reach the voice line and
	// the operators. Nil means NoSupportDesk.
	Support SupportDesk
	// Authorizations finishes the OpenID Connect authorization a login was made for (SPEC
	// §11.3). Nil means no provider: the auth_request parameter is ignored.
	Authorizations Authorizations
	// SessionEnds is told of every session's end, in its transaction (SPEC §11.5): the
	// provider's back-channel logout. Nil tells no one. Purges and package recovery, which end
	// sessions too, must be given the same.
	SessionEnds SessionEnds
	// ServiceKeys are the bearer keys of the back-office API (§12.2, KAGI_API_KEYS), whose
	// names its audit lines carry. Nil refuses every back-office request.
	ServiceKeys *web.ServiceKeys
}

// DefaultSessionIdle ends a session after 30 minutes without a request.
const DefaultSessionIdle = 30 * time.Minute

// Service is the auth core.
type Service struct {
	pool      *pgxpool.Pool
	log       *slog.Logger
	now       func() time.Time
	passwords *PasswordHasher
	pinKey    []byte
	// deviceKey signs the device cookies (deviceKeyFrom).
	deviceKey []byte
	// checkKey keys the email check's answer hashes (checkKeyFrom).
	checkKey []byte
	windows  FallbackWindows
	webauthn *webauthn.WebAuthn
	// sealer seals the passkey logins' challenges (sealed.go), under the PIN key's derivation
	// and the customers' RP ID.
	sealer    *ChallengeSealer
	platforms []string
	secure    bool
	ttl       time.Duration
	idle      time.Duration
	throttle  ThrottlePolicy
	limits    ClientLimits
	outbox    *notify.Outbox
	// emailCheck and loginNotice are Config's EmailCheck and LoginNotice.
	emailCheck, loginNotice bool
	hold                    time.Duration
	support                 SupportDesk
	authz                   Authorizations
	ends                    SessionEnds
	serviceKeys             *web.ServiceKeys

	// passwordDecoys and pinDecoys are the hashes unknown login IDs and account numbers are
	// checked against (decoy.go).
	passwordDecoys, pinDecoys *decoyMix
}

// New checks cfg and builds the service.
func New(cfg Config) (*Service, error) {
	if cfg.Pool == nil || cfg.Passwords == nil || cfg.WebAuthn == nil {
		return nil, errors.New("auth: Pool, Passwords and WebAuthn are required")
	}
	if cfg.EmailCheck && cfg.Outbox == nil {
		return nil, errors.New("auth: the email check needs an Outbox to mail its code")
	}
	if len(cfg.PINKey) < 16 {
		return nil, errors.New("auth: PIN key must be at least 16 bytes")
	}
	s := &Service{
		pool:      cfg.Pool,
		log:       cfg.Log,
		now:       cfg.Now,
		passwords: cfg.Passwords,
		pinKey:    cfg.PINKey,
		deviceKey: deviceKeyFrom(cfg.PINKey),
		checkKey:  checkKeyFrom(cfg.PINKey),
		windows:   cfg.Windows,
		platforms: cfg.CreatePlatforms,
		secure:    cfg.SecureCookies,
		ttl:       cfg.SessionTTL,
		idle:      cfg.SessionIdle,
		throttle:  cfg.Throttle,
		limits:    cfg.ClientLimits,
		outbox:    cfg.Outbox,

		emailCheck:  cfg.EmailCheck,
		loginNotice: cfg.LoginNotice,
		hold:        cfg.RecoveryHold,
		support:     cfg.Support,
		authz:       cfg.Authorizations,
		ends:        cfg.SessionEnds,
		serviceKeys: cfg.ServiceKeys,

		passwordDecoys: newDecoyMix(cfg.PINKey, "kagi password decoy v1", passwordMixSQL),
		pinDecoys:      newDecoyMix(cfg.PINKey, "kagi PIN decoy v1", pinMixSQL),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.windows == nil {
		s.windows = NoWindows{}
	}
	if s.support == nil {
		s.support = NoSupportDesk{}
	}
	if len(s.platforms) == 0 {
		s.platforms = []string{"ios", "android"}
	}
	if s.ttl == 0 {
		s.ttl = 12 * time.Hour
	}
	if s.idle == 0 {
		s.idle = DefaultSessionIdle
	}
	if s.throttle == (ThrottlePolicy{}) {
		s.throttle = DefaultThrottle
	}
	wa, err := newRelyingParty(cfg.WebAuthn)
	if err != nil {
		return nil, err
	}
	s.webauthn = wa
	if s.sealer, err = NewChallengeSealer(cfg.PINKey, cfg.WebAuthn.RPID); err != nil {
		return nil, err
	}
	return s, nil
}
