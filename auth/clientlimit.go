package auth

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"kagi/pgdb"
	"kagi/web"
)

// ClientLimit is how many requests of one kind one client address may make in Period; Max 0
// switches the limit off (a load test from one address). The period starts with the address's
// first request and the count starts again after it.
type ClientLimit struct {
	Max    int
	Period time.Duration
}

// ParseClientLimit reads a limit written "N/period" ("120/1m"), or "0" for none.
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
// (§8, KAGI_LIMIT_*). They sit beside the per-login-ID throttle: that one protects a
// customer's password, these keep one address from storing unbounded ceremony rows or
// trying hundreds of login IDs (credential stuffing).
type ClientLimits struct {
	PasskeyBegin  ClientLimit
	PasskeyFinish ClientLimit
	PasswordLogin ClientLimit
	EmailCheck    ClientLimit
}

// DefaultClientLimits are loose enough for a carrier NAT, where thousands of customers share
// one address: passkey logins, which every customer makes, get 300 begins and finishes a
// minute (at least 60 a minute is the floor a NAT needs; 300 ceremonies a minute, each kept six
// minutes, bound one address's ceremony rows at 1,800). Password logins are the rare path once
// passkeys are required (accounts without one, recoveries): 100 an hour per address is far
// above what one NAT's customers make and far below a credential-stuffing run; the email
// check's three picks per login fit in 300 an hour.
var DefaultClientLimits = ClientLimits{
	PasskeyBegin:  ClientLimit{Max: 300, Period: time.Minute},
	PasskeyFinish: ClientLimit{Max: 300, Period: time.Minute},
	PasswordLogin: ClientLimit{Max: 100, Period: time.Hour},
	EmailCheck:    ClientLimit{Max: 300, Period: time.Hour},
}

// Route kinds, as client_limits spells them.
const (
	limitPasskeyBegin  = "passkey_begin"
	limitPasskeyFinish = "passkey_finish"
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

// hitSQL counts one request of $1 from $2 at $3, in one statement, so parallel requests
// cannot slip past the limit: a period that ran out starts again with this request.
const hitSQL = `
	INSERT INTO client_limits AS l (kind, client, hits, resets_at)
	VALUES ($1, $2, 1, $3::timestamptz + $4::interval)
	ON CONFLICT (kind, client) DO UPDATE SET
	    hits = CASE WHEN l.resets_at <= $3 THEN 1 ELSE LEAST(l.hits + 1, 1000000000) END,
	    resets_at = CASE WHEN l.resets_at <= $3 THEN EXCLUDED.resets_at ELSE l.resets_at END
	RETURNING hits, resets_at`

// limitOf returns the configured limit of a kind.
func (l ClientLimits) limitOf(kind string) ClientLimit {
	switch kind {
	case limitPasskeyBegin:
		return l.PasskeyBegin
	case limitPasskeyFinish:
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

// checkClient counts a request of kind from the request's client address and refuses it when
// the address is over its limit.
func (s *Service) checkClient(ctx context.Context, q pgdb.Querier, kind string) error {
	lim, client, ok := s.clientLimit(ctx, kind)
	if !ok {
		return nil
	}
	now := s.now()
	var (
		hits     int
		resetsAt time.Time
	)
	if err := q.QueryRow(ctx, hitSQL, kind, client, now, lim.Period).Scan(&hits, &resetsAt); err != nil {
		return err
	}
	return s.overLimit(ctx, kind, lim, client, hits, now, resetsAt)
}

// overLimit refuses a request that made its address's count hits go over lim: a 429 that says
// when to come back and blames nobody (many customers can share an address). The request that
// crosses the limit is logged, once per period.
func (s *Service) overLimit(ctx context.Context, kind string, lim ClientLimit, client netip.Prefix, hits int, now, resetsAt time.Time) error {
	if hits <= lim.Max {
		return nil
	}
	if hits == lim.Max+1 {
		s.log.WarnContext(ctx, "client address over its limit", "kind", kind,
			"client", client.String(), "limit", lim.String(), "until", resetsAt)
	}
	clientLimited.WithLabelValues(kind).Inc()
	e := web.Errorf(http.StatusTooManyRequests, "rate_limited", msgClientLimited)
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

// LimitPasskeyBegin counts a passkey ceremony's begin that another package serves to anyone
// (the operator console's staff login and enrollment) against the client address's limit of
// passkey begins, and refuses it over the limit: one address can no more store unbounded
// ceremony rows there than here.
func (s *Service) LimitPasskeyBegin(ctx context.Context) error {
	return s.checkClient(ctx, s.pool, limitPasskeyBegin)
}

// LimitPasskeyFinish is LimitPasskeyBegin for the ceremony's finish.
func (s *Service) LimitPasskeyFinish(ctx context.Context) error {
	return s.checkClient(ctx, s.pool, limitPasskeyFinish)
}
