package web

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies are the peers whose X-Forwarded-For is believed (KAGI_TRUSTED_PROXIES): the
// load balancers and reverse proxies in front of the server, never a client.
type TrustedProxies []netip.Prefix

// ParseTrustedProxies reads a comma-separated list of CIDRs (a bare address is a one-address
// prefix).
func ParseTrustedProxies(s string) (TrustedProxies, error) {
	var out TrustedProxies
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8 or an address", f)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (t TrustedProxies) trusts(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientAddr is the address a request came from as the trusted proxies report it: the peer's
// own address, unless the peer is a trusted proxy; then X-Forwarded-For is read from the right
// (each proxy appends the address it saw) and the first address that is not a trusted proxy is
// the client's. Everything left of it was written by the client and may be forged, so it is
// never read. An entry that is not an address ends the walk at the last proxy that wrote one.
func (t TrustedProxies) ClientAddr(r *http.Request) netip.Addr {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := peer.Addr().Unmap()
	if !t.trusts(addr) {
		return addr
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		fields := strings.Split(hops[i], ",")
		for j := len(fields) - 1; j >= 0; j-- {
			hop, ok := parseHop(fields[j])
			if !ok {
				return addr
			}
			addr = hop
			if !t.trusts(addr) {
				return addr
			}
		}
	}
	return addr
}

// parseHop reads one X-Forwarded-For entry: an address, with a port when a proxy added one.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

const clientAddrKey ctxKey = 1

// WithClientAddr records each request's client address (see ClientAddr) for ClientAddrOf: the
// per-address limits and the logs.
func WithClientAddr(t TrustedProxies, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientAddrKey, t.ClientAddr(r))))
	})
}

// ClientAddrOf returns the client address WithClientAddr recorded; the zero Addr when none was.
func ClientAddrOf(ctx context.Context) netip.Addr {
	a, _ := ctx.Value(clientAddrKey).(netip.Addr)
	return a
}
