package web

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"kagi"
)

func TestClientAddr(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.168.1.7, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"untrusted peer: its own address", "203.0.113.5:4711", nil, "203.0.113.5"},
		{"forged X-Forwarded-For from an untrusted peer is ignored", "203.0.113.5:4711", []string{"198.51.100.1"}, "203.0.113.5"},
		{"trusted peer: the address it saw", "10.1.2.3:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"the right-most untrusted hop, not what the client wrote left of it", "10.1.2.3:80", []string{"1.1.1.1, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"several header lines read as one list", "10.1.2.3:80", []string{"1.1.1.1, 198.51.100.1", "192.168.1.7"}, "198.51.100.1"},
		{"every hop trusted: the left-most", "10.1.2.3:80", []string{"10.5.5.5, 10.6.6.6"}, "10.5.5.5"},
		{"garbage ends the walk at the last proxy", "10.1.2.3:80", []string{"1.1.1.1, nonsense"}, "10.1.2.3"},
		{"a hop with a port", "10.1.2.3:80", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"trusted peer without the header: the peer", "192.168.1.7:80", nil, "192.168.1.7"},
		{"IPv4-mapped peer is its IPv4 address", "[::ffff:203.0.113.9]:1", nil, "203.0.113.9"},
		{"IPv6 proxy range", "[fd00::1]:80", []string{"2001:db8::2"}, "2001:db8::2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := trusted.ClientAddr(r); got != netip.MustParseAddr(c.want) {
				t.Errorf("client address = %v, want %s", got, c.want)
			}
		})
	}
	t.Run("no trusted proxies: always the peer", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "10.1.2.3:80"
		r.Header.Set("X-Forwarded-For", "198.51.100.1")
		if got := TrustedProxies(nil).ClientAddr(r); got != netip.MustParseAddr("10.1.2.3") {
			t.Errorf("client address = %v", got)
		}
	})
}

// FuzzClientAddr sends whatever X-Forwarded-For a client may write. What the client writes is
// only ever to the left of what the trusted proxies append, so it never changes the address the
// per-address limits count: the one the last proxy saw; and a peer that is no proxy is itself,
// whatever it sends.
func FuzzClientAddr(f *testing.F) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.168.1.7, fd00::/8")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"", "1.1.1.1", "10.9.9.9", "nonsense", "1.1.1.1, 10.2.2.2,", "[2001:db8::1]:443, fd00::9", "fe80::1%eth0", ",,, ", "::ffff:10.1.1.1"} {
		f.Add(seed)
	}
	const client = "198.51.100.23"
	f.Fuzz(func(t *testing.T, written string) {
		for _, c := range []struct {
			name, peer string
			xff        []string
			want       string
		}{
			{"appended by the proxy to the client's line", "10.1.2.3:80", []string{written + ", " + client}, client},
			{"appended as a line of its own", "10.1.2.3:80", []string{written, client}, client},
			{"through two proxies", "[fd00::7]:80", []string{written + ", " + client + ", 10.4.4.4"}, client},
			{"from a peer that is no proxy", "203.0.113.5:4711", []string{written, client}, "203.0.113.5"},
		} {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = c.peer
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := trusted.ClientAddr(r); got != netip.MustParseAddr(c.want) {
				t.Fatalf("%s, the client having written %q: client address %v, want %s", c.name, written, got, c.want)
			}
		}
	})
}

func TestParseTrustedProxiesRefusesWhatIsNotACIDR(t *testing.T) {
	for _, s := range []string{"10.0.0.0/33", "proxy.example.jp", "10.0.0.0/8,,x"} {
		if _, err := ParseTrustedProxies(s); err == nil {
			t.Errorf("ParseTrustedProxies(%q) accepted it", s)
		}
	}
}

func TestRetryAfterIsWholeSeconds(t *testing.T) {
	w := httptest.NewRecorder()
	e := kagi.Errorf(kagi.RateLimited, "rate_limited", "しばらくしてから再度お試しください。")
	e.RetryAfter = 1500 * time.Millisecond
	WriteError(w, httptest.NewRequest(http.MethodPost, "/", nil), nil, e)
	if got := w.Header().Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After = %q, want 2", got)
	}
}
