package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"kagi"

	"github.com/jackc/pgx/v5"

	"kagi/pgdb"
	"kagi/web"
)

// ClientLimit is how many failures of one kind one client address may make in Period before
// its requests of that kind are refused until the period ends; Max 0 switches the limit off (a
// load test from one address). The period starts with the address's first failure and the
// count starts again after it.
type ClientLimit struct {
	Max    int
	Period time.Duration
}

// ParseClientLimit reads a limit written "N/period" ("50/1h"), or "0" for none.
func ParseClientLimit(s string) (ClientLimit, error) {
	if s == "0" {
		return ClientLimit{}, nil
	}
	n, p, ok := strings.Cut(s, "/")
	max, err := strconv.Atoi(n)
	if !ok || err != nil || max < 1 {
		return ClientLimit{}, fmt.Errorf("%q must be requests per period, such as 120/1m, or 0 for no limit", s)
	}
	period, err := time.ParseDuration(p)
	if err != nil || period < time.Second || period > 24*time.Hour {
		return ClientLimit{}, fmt.Errorf("%q: the period must be a duration between 1s and 24h, such as 1m", s)
	}
	return ClientLimit{Max: max, Period: period}, nil
}

func (l ClientLimit) String() string {
	if l.Max == 0 {
		return "0"
	}
	period := l.Period.String() // "1m0s": said the way the setting is written instead
	switch {
	case l.Period%time.Hour == 0:
		period = strconv.Itoa(int(l.Period/time.Hour)) + "h"
	case l.Period%time.Minute == 0:
		period = strconv.Itoa(int(l.Period/time.Minute)) + "m"
	}
	return strconv.Itoa(l.Max) + "/" + period
}

// ClientLimits are the per-address limits of the routes anyone may call without a session
// (§8, KAGI_LIMIT_*). They count failures — a wrong password, a login ID no account has, a
// wrong emoji, a failed passkey login — and never a successful login, so the customers behind
// one carrier NAT all get in while one address cannot try hundreds of login IDs (credential
// stuffing). They sit beside the per-login-ID throttle, which protects one customer's password.
type ClientLimits struct {
	// PasskeyFinish counts failed passkey logins; an address over it is refused the begin and
	// the finish of a passkey login alike.
	PasskeyFinish ClientLimit
	// PasswordLogin counts refused password logins.
	PasswordLogin ClientLimit
	// EmailCheck counts wrong picks and picks of a check that ended or never was.
	EmailCheck ClientLimit
}

// DefaultClientLimits are set for a carrier NAT, where hundreds of customers log in from one
// IPv4 address at the market's opening: their successes cost nothing here, and their mistakes
// are a few percent of their logins. A failed passkey login is rare for a customer (a passkey
// deleted on another device, a cancelled unlock counts nothing) and buys an attacker nothing, so
// 120 an hour only bounds the signature checks and audit lines one address causes. 50 refused
// password logins an hour is about what the password logins of a few hundred customers behind
// one address get wrong at the opening (the rare path: accounts without a passkey and
// recoveries), while a stuffing run from that address gets 1,200 tries a day instead of
// millions. A wrong emoji ends its check, and three end the account's password login for a day
// (§2.12), so 20 an hour is more than one address's customers ever pick wrong.
var DefaultClientLimits = ClientLimits{
	PasskeyFinish: ClientLimit{Max: 120, Period: time.Hour},
	PasswordLogin: ClientLimit{Max: 50, Period: time.Hour},
	EmailCheck:    ClientLimit{Max: 20, Period: time.Hour},
}

// Route kinds, as client_limits spells them.
const (
	limitPasskeyLogin  = "passkey_login"
	limitPasswordLogin = "password_login"
	limitEmailCheck    = "email_check"
)

// limitClient is the key a client is counted under: its address, or its /64 for IPv6, where
// one subscriber is given a whole /64 and could otherwise change address at every request.
func limitClient(a netip.Addr) (netip.Prefix, bool) {
	if !a.IsValid() {
		return netip.Prefix{}, false
	}
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p, true
}

// failedSQL counts one failure of $1 from $2 at $3, in one statement: a period that ran out
// starts again with this failure.
const failedSQL = `
	INSERT INTO client_limits AS l (kind, client, hits, resets_at)
	VALUES ($1, $2, 1, $3::timestamptz + $4::interval)
	ON CONFLICT (kind, client) DO UPDATE SET
	    hits = CASE WHEN l.resets_at <= $3 THEN 1 ELSE LEAST(l.hits + 1, 1000000000) END,
	    resets_at = CASE WHEN l.resets_at <= $3 THEN EXCLUDED.resets_at ELSE l.resets_at END
	RETURNING hits, resets_at`

// overSQL finds the period's end of a client ($2) whose failures of $1 reached $4 at $3; no row
// when it may go on. A probe of the primary key, no write.
const overSQL = `SELECT resets_at FROM client_limits WHERE kind = $1 AND client = $2 AND resets_at > $3 AND hits >= $4`

// limitOf returns the configured limit of a kind.
func (l ClientLimits) limitOf(kind string) ClientLimit {
	switch kind {
	case limitPasskeyLogin:
		return l.PasskeyFinish
	case limitPasswordLogin:
		return l.PasswordLogin
	case limitEmailCheck:
		return l.EmailCheck
	}
	return ClientLimit{}
}

// clientLimit returns the limit of kind and the key the request's client (web.ClientAddrOf)
// is counted under; ok is false when nothing is to be counted: the limit is off, or the
// request has no address (only a caller inside the process).
func (s *Service) clientLimit(ctx context.Context, kind string) (lim ClientLimit, client netip.Prefix, ok bool) {
	lim = s.limits.limitOf(kind)
	client, ok = limitClient(web.ClientAddrOf(ctx))
	return lim, client, ok && lim.Max > 0
}

// checkClient refuses a request of kind from a client address whose failures reached their
// limit; it writes nothing. Parallel requests of an address may each pass before any of their
// failures is counted, so the count can overshoot by the requests in flight: a password's are
// bounded by the hashing line, and every later one is refused.
func (s *Service) checkClient(ctx context.Context, q pgdb.Querier, kind string) error {
	lim, client, ok := s.clientLimit(ctx, kind)
	if !ok {
		return nil
	}
	now := s.now()
	var resetsAt time.Time
	err := q.QueryRow(ctx, overSQL, kind, client, now, lim.Max).Scan(&resetsAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return s.limited(kind, now, resetsAt)
}

// queueCheckClient is checkClient queued on b, so that it goes with the request's other
// statements in one round trip: once b's results are read, *refused holds the refusal of a
// client address over its limit, and stays nil otherwise.
func (s *Service) queueCheckClient(ctx context.Context, b *pgx.Batch, kind string, refused *error) {
	lim, client, ok := s.clientLimit(ctx, kind)
	if !ok {
		return
	}
	now := s.now()
	b.Queue(overSQL, kind, client, now, lim.Max).QueryRow(func(row pgx.Row) error {
		var resetsAt time.Time
		if err := row.Scan(&resetsAt); err != nil {
			return ignoreNoRows(err)
		}
		*refused = s.limited(kind, now, resetsAt)
		return nil
	})
}

// clientFailed counts a failure of kind from the request's client address, and logs the one
// that reaches the limit (once per period).
func (s *Service) clientFailed(ctx context.Context, q pgdb.Querier, kind string) error {
	lim, client, ok := s.clientLimit(ctx, kind)
	if !ok {
		return nil
	}
	var (
		hits     int
		resetsAt time.Time
	)
	if err := q.QueryRow(ctx, failedSQL, kind, client, s.now(), lim.Period).Scan(&hits, &resetsAt); err != nil {
		return err
	}
	if hits == lim.Max {
		s.log.WarnContext(ctx, "client address reached its limit of failures", "kind", kind,
			"client", client.String(), "limit", lim.String(), "until", resetsAt)
	}
	return nil
}

// refusal reports whether err is the client's failure: a refusal other than a limit or a busy
// hashing line (RateLimited) or kagi being unable to serve (Unavailable), which are not the
// client's guess.
func refusal(err error) bool {
	var we *kagi.Error
	return errors.As(err, &we) && we.Kind != kagi.RateLimited && we.Kind != kagi.Unavailable
}

// countRefusal counts err against the request's client address when it is a refusal (see
// refusal), and returns err, or the error of counting it.
func (s *Service) countRefusal(ctx context.Context, kind string, err error) error {
	if !refusal(err) {
		return err
	}
	if cerr := s.clientFailed(ctx, s.pool, kind); cerr != nil {
		return cerr
	}
	return err
}

// limited is the refusal of a client address over its limit: a 429 that says when to come back
// and blames nobody (many customers can share an address).
func (s *Service) limited(kind string, now, resetsAt time.Time) error {
	clientLimited.WithLabelValues(kind).Inc()
	e := kagi.Errorf(kagi.RateLimited, "rate_limited", msgClientLimited)
	e.RetryAfter = resetsAt.Sub(now)
	return e
}

// purgeClientLimitsSQL deletes up to $2 lapsed counts, the oldest first, found through
// client_limits_resets_at and deleted by ctid (the key has two columns). The outer condition is
// asked again of a count a hit started again meanwhile, which is kept.
const purgeClientLimitsSQL = `
	DELETE FROM client_limits
	WHERE ctid = ANY (ARRAY(
	    SELECT ctid FROM client_limits WHERE resets_at <= $1 ORDER BY resets_at LIMIT $2))
	  AND resets_at <= $1`

// PurgeClientLimits deletes up to limit counts whose period is over, for the expiry job.
func PurgeClientLimits(ctx context.Context, q pgdb.Querier, now time.Time, limit int) (int64, error) {
	tag, err := q.Exec(ctx, purgeClientLimitsSQL, now, limit)
	return tag.RowsAffected(), err
}

// LimitedPasskeyStep runs a step of a passkey ceremony that another package serves to anyone
// (the operator console's staff login and enrollment) under the client address's limit of
// failed passkey logins: an address over it is refused before the step, and a step the client
// failed (a 4xx other than 429) counts against it, as a customer's failed passkey login does.
func (s *Service) LimitedPasskeyStep(ctx context.Context, step func() error) error {
	if err := s.checkClient(ctx, s.pool, limitPasskeyLogin); err != nil {
		return err
	}
	return s.countRefusal(ctx, limitPasskeyLogin, step())
}
