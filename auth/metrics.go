package auth

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// clientLimited counts requests refused by a per-address limit, by route kind.
var clientLimited = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "kagi_client_limited_total",
	Help: "Requests refused because their client address was over its limit (KAGI_LIMIT_*), by route kind.",
}, []string{"kind"})

// anonymousLogins counts what anonymous traffic (login IDs no account has) did: an audit row
// belongs to an account, and a spray of made-up login IDs would otherwise fill the audit log
// with rows that belong to nobody.
var anonymousLogins = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "kagi_login_unknown_id_total",
	Help: "Password logins with a login ID no account has, by outcome (failed, throttled).",
}, []string{"outcome"})
