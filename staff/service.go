// Package staff is the support desk's people as identities (§6): operators and supervisors,
// their one-time enrollment codes, their device-bound passkeys on the console's own relying
// party, their sessions, and the limit on how much of the customer base each may read. Staff
// are a second population of the same kind of person the customers are, so their ceremonies,
// session tokens and WebAuthn user are auth's one implementation over staff's own tables.
//
// It imports auth (the audit trail and the shared ceremony pieces) and nothing above it; the
// operator console (package console) serves it over HTTP.
package staff

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"kagi"

	"github.com/go-webauthn/webauthn/metadata"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"kagi/auth"
	"kagi/pgdb"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migrations is the schema of the staff tables. It refers to nothing of the other packages',
// and earlier versions of kagi kept the same tables in recovery's set: the first migration
// adopts them where they exist.
var Migrations = pgdb.Embedded("staff", migrationFS, "migrations")

// DefaultReadLimit is 300 reads an hour: several a minute all day at a busy desk, far below
// what copying the customer base would take.
var DefaultReadLimit = auth.ClientLimit{Max: 300, Period: time.Hour}

// Config is everything the staff identity needs, loaded once at start.
type Config struct {
	Pool *pgxpool.Pool
	Log  *slog.Logger
	// Now is the clock; tests move it. Codes, ceremonies, sessions and read limits read it.
	Now func() time.Time
	// WebAuthn is the relying party of the staff passkeys: the console's own origin
	// (KAGI_CONSOLE_URL), never the customers', so no customer origin sees a staff ceremony.
	// Staff ceremonies follow the customers' policy all the same (auth.NewRelyingParty).
	WebAuthn *webauthn.Config
	// Secret is the server secret (KAGI_PIN_KEY, at least 16 bytes) the staff logins'
	// challenges are sealed under, as the customers' are (auth.ChallengeSealer); the console's
	// RP ID binds them, so a customer's challenge is no staff member's.
	Secret []byte
	// ReadLimit bounds the console's searches and audit-trail reads per staff member
	// (KAGI_STAFF_READ_LIMIT, see auth.ParseClientLimit), so a stolen staff session cannot walk
	// the whole customer base. Zero means DefaultReadLimit.
	ReadLimit auth.ClientLimit
	// Authenticators, when not empty, are the only authenticator models staff may enroll
	// (KAGI_STAFF_AAGUIDS, their FIDO metadata statements from KAGI_STAFF_METADATA): the
	// enrollment then asks for the attestation and verifies it against the model's roots.
	// Empty: any device-bound authenticator.
	Authenticators []metadata.Statement
}

// Service is the staff identity: the lifecycle the command line and supervisors drive, and the
// ceremonies and sessions of the console's logins.
type Service struct {
	pool      *pgxpool.Pool
	log       *slog.Logger
	now       func() time.Time
	rp        *webauthn.WebAuthn
	readLimit auth.ClientLimit
	// allowed is the enrollment's allow-list of models, nil without one.
	allowed *allowList
	// sealer seals the staff logins' challenges under Config.Secret and the console's RP ID.
	sealer *auth.ChallengeSealer
}

// New checks cfg and builds the service.
func New(cfg Config) (*Service, error) {
	if cfg.Pool == nil || cfg.WebAuthn == nil {
		return nil, errors.New("staff: Pool and WebAuthn are required")
	}
	sealer, err := auth.NewChallengeSealer(cfg.Secret, cfg.WebAuthn.RPID)
	if err != nil {
		return nil, fmt.Errorf("staff: %w", err)
	}
	rp, err := auth.NewRelyingParty(cfg.WebAuthn)
	if err != nil {
		return nil, fmt.Errorf("staff: passkeys: %w", err)
	}
	allowed, err := newAllowList(cfg.WebAuthn, cfg.Authenticators)
	if err != nil {
		return nil, fmt.Errorf("staff: authenticators: %w", err)
	}
	s := &Service{pool: cfg.Pool, log: cfg.Log, now: cfg.Now, rp: rp, readLimit: cfg.ReadLimit, allowed: allowed, sealer: sealer}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.readLimit == (auth.ClientLimit{}) {
		s.readLimit = DefaultReadLimit
	}
	if s.readLimit.Max <= 0 || s.readLimit.Period <= 0 {
		return nil, errors.New("staff: ReadLimit must allow some reads")
	}
	return s, nil
}

// ErrInvalid is wrapped by the errors of a change that cannot be carried out as given.
var ErrInvalid = errors.New("staff: invalid request")

// Refusals of the staff ceremonies. Every failed passkey check says the same thing, as the
// customers' do, but for a cloned key, which a retry cannot mend.
var (
	errInvalidCode       = kagi.Errorf(kagi.Unauthorized, "invalid_code", msgInvalidCode)
	errStaffPasskey      = kagi.Errorf(kagi.Unauthorized, "passkey_failed", msgStaffPasskeyFailed)
	errStaffEnrollFailed = kagi.Errorf(kagi.Invalid, "passkey_failed", msgStaffPasskeyFailed)
	// errPasskeyCloned refuses a login whose signature is good but whose counter went back:
	// someone holds a copy of the key. Only a new enrollment helps.
	errPasskeyCloned = kagi.Errorf(kagi.Unauthorized, "passkey_cloned", msgPasskeyCloned)
	// errDeviceBoundRequired refuses a synced passkey: a copy in a personal cloud account
	// would let whoever holds that account into the console.
	errDeviceBoundRequired = kagi.Errorf(kagi.Invalid, "device_bound_required", msgDeviceBoundRequired)
	// errAuthenticatorNotAllowed refuses a key that is not proved to be one of the models of
	// KAGI_STAFF_AAGUIDS: another model, or one whose attestation does not verify.
	errAuthenticatorNotAllowed = kagi.Errorf(kagi.Invalid, "authenticator_not_allowed", msgAuthenticatorNotAllowed)
	// errLoginAuthenticatorNotAllowed refuses a login with a passkey the allow-list did not
	// prove (enrolled before it, or of a model taken off it): only a new enrollment helps.
	errLoginAuthenticatorNotAllowed = kagi.Errorf(kagi.Unauthorized, "authenticator_not_allowed", msgLoginAuthenticatorNotAllowed)
	errReadsLimited                 = kagi.Errorf(kagi.RateLimited, "rate_limited", msgReadsLimited)
)

// readsLimited counts the console reads refused by KAGI_STAFF_READ_LIMIT.
var readsLimited = promauto.NewCounter(prometheus.CounterOpts{
	Name: "kagi_staff_reads_limited_total",
	Help: "Console searches and audit-trail reads refused because the staff member was over KAGI_STAFF_READ_LIMIT.",
})

// readSQL counts one read of staff member $1 at $2 in one statement: a period that ran out
// starts again with this read.
const readSQL = `
	INSERT INTO staff_reads AS r (staff_id, hits, resets_at)
	VALUES ($1, 1, $2::timestamptz + $3::interval)
	ON CONFLICT (staff_id) DO UPDATE SET
	    hits = CASE WHEN r.resets_at <= $2 THEN 1 ELSE LEAST(r.hits + 1, 1000000000) END,
	    resets_at = CASE WHEN r.resets_at <= $2 THEN EXCLUDED.resets_at ELSE r.resets_at END
	RETURNING hits, resets_at`

// CountRead counts a search or audit-trail read of st's and refuses it, 429 rate_limited, past
// the staff member's limit of reads. A refused read counts too: a script hammering the console
// stays refused until its period ends.
func (s *Service) CountRead(ctx context.Context, st Staff) error {
	var (
		hits     int
		resetsAt time.Time
	)
	now := s.now()
	if err := s.pool.QueryRow(ctx, readSQL, st.ID, now, s.readLimit.Period).Scan(&hits, &resetsAt); err != nil {
		return fmt.Errorf("staff: count a read: %w", err)
	}
	if hits <= s.readLimit.Max {
		return nil
	}
	if hits == s.readLimit.Max+1 {
		s.log.WarnContext(ctx, "staff member reached the read limit", "staff", st.LoginID,
			"limit", s.readLimit.String(), "until", resetsAt)
	}
	readsLimited.Inc()
	return errReadsLimited.After(resetsAt.Sub(now))
}

// Purges are the clean-ups of the staff tables for the expiry job: sessions, ceremonies and
// codes past their end.
func Purges() []pgdb.Purge {
	return []pgdb.Purge{
		{Name: "staff_sessions", Run: purgeWith(purgeStaffSessionsSQL)},
		{Name: "staff_ceremonies", Run: purgeWith(purgeStaffCeremoniesSQL)},
		{Name: "staff_enrollment_codes", Run: purgeWith(purgeStaffCodesSQL)},
	}
}
