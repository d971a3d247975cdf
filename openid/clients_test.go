package openid

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secretHash is the client_secret_sha256 of the secret "s3cret-of-the-trading-site".
var secretHash = func() string {
	sum := sha256.Sum256([]byte("s3cret-of-the-trading-site"))
	return hex.EncodeToString(sum[:])
}()

const goodClients = `[
  {"client_id": "trading-web", "client_secret_sha256": "` + "HASH" + `",
   "redirect_uris": ["https://trade.example.jp/callback"],
   "post_logout_redirect_uris": ["https://trade.example.jp/"],
   "backchannel_logout_uri": "https://trade.example.jp/backchannel",
   "scopes": ["openid", "profile", "account", "offline_access"]},
  {"client_id": "trading-app", "public": true,
   "redirect_uris": ["http://127.0.0.1:53123/cb", "http://[::1]/cb", "http://localhost:8000/cb"],
   "scopes": ["openid"]}
]`

func TestLoadClients(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "clients.json")
	if err := os.WriteFile(path, []byte(strings.Replace(goodClients, "HASH", secretHash, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	clients, err := LoadClients(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(clients) != 2 {
		t.Fatalf("%d clients, want 2", len(clients))
	}
	web, app := clients[0], clients[1]
	if web.ID != "trading-web" || web.Public || web.BackchannelLogoutURI != "https://trade.example.jp/backchannel" || !web.ScopeAllowed("account") {
		t.Errorf("confidential client %+v", web)
	}
	if app.ID != "trading-app" || !app.Public || app.SecretSHA256 != nil || app.ScopeAllowed("profile") {
		t.Errorf("public client %+v", app)
	}

	t.Run("secret checked against its hash", func(t *testing.T) {
		if !web.CheckSecret("s3cret-of-the-trading-site") {
			t.Error("the right secret refused")
		}
		for _, s := range []string{"", "s3cret-of-the-trading-sit", secretHash} {
			if web.CheckSecret(s) {
				t.Errorf("secret %q accepted", s)
			}
		}
		if app.CheckSecret("") || app.CheckSecret("anything") {
			t.Error("a public client's secret check passed")
		}
	})
	t.Run("redirect URIs match exactly", func(t *testing.T) {
		if !web.RedirectURIAllowed("https://trade.example.jp/callback") || !app.RedirectURIAllowed("http://127.0.0.1:53123/cb") {
			t.Error("a listed redirect URI refused")
		}
		for _, u := range []string{"https://trade.example.jp/callback/", "https://trade.example.jp/callback?x=1", "https://TRADE.example.jp/callback",
			"https://trade.example.jp/callbac", "https://trade.example.jp/callback#x"} {
			if web.RedirectURIAllowed(u) {
				t.Errorf("redirect URI %q accepted", u)
			}
		}
		if app.RedirectURIAllowed("http://127.0.0.1:53124/cb") {
			t.Error("another loopback port accepted (RFC 8252 port variance is not decided yet)")
		}
		if !web.PostLogoutRedirectURIAllowed("https://trade.example.jp/") || web.PostLogoutRedirectURIAllowed("https://trade.example.jp") {
			t.Error("post-logout redirect URI not matched exactly")
		}
	})
	t.Run("no file is no client", func(t *testing.T) {
		if c, err := LoadClients(""); c != nil || err != nil {
			t.Errorf("LoadClients(\"\") = %v, %v", c, err)
		}
	})
	t.Run("a missing file is refused", func(t *testing.T) {
		if _, err := LoadClients(filepath.Join(t.TempDir(), "none.json")); err == nil {
			t.Error("missing file accepted")
		}
	})
}

func TestParseClientsRefusals(t *testing.T) {
	t.Parallel()
	ok := `{"client_id": "ok", "public": true, "redirect_uris": ["https://a.example.jp/cb"], "scopes": ["openid"]}`
	for _, c := range []struct {
		name, file string
		want       []string // each must appear in the error
	}{
		{"not an array", `{"client_id": "x"}`, []string{"not a JSON array"}},
		{"duplicate client_id", `[` + ok + `,` + ok + `]`, []string{`entry 2 (client_id "ok"): duplicate client_id: entry 1 has it too`}},
		{"both secret and public", `[{"client_id": "both", "public": true, "client_secret_sha256": "` + secretHash + `", "redirect_uris": ["https://a.example.jp/cb"], "scopes": ["openid"]}]`,
			[]string{`entry 1 (client_id "both"): both client_secret_sha256 and "public": true`}},
		{"neither secret nor public", `[{"client_id": "neither", "redirect_uris": ["https://a.example.jp/cb"], "scopes": ["openid"]}]`,
			[]string{`entry 1 (client_id "neither"): neither client_secret_sha256 nor "public": true`}},
		{"public false is not public", `[{"client_id": "nope", "public": false, "redirect_uris": ["https://a.example.jp/cb"], "scopes": ["openid"]}]`,
			[]string{`entry 1 (client_id "nope"): neither`}},
		{"malformed hash", `[{"client_id": "short", "client_secret_sha256": "abcd", "redirect_uris": ["https://a.example.jp/cb"], "scopes": ["openid"]},
			{"client_id": "nothex", "client_secret_sha256": "` + strings.Repeat("zz", 32) + `", "redirect_uris": ["https://a.example.jp/cb"], "scopes": ["openid"]}]`,
			[]string{`entry 1 (client_id "short"): client_secret_sha256 must be`, `entry 2 (client_id "nothex"): client_secret_sha256 must be`}},
		{"no redirect URI", `[{"client_id": "nowhere", "public": true, "scopes": ["openid"]}]`,
			[]string{`entry 1 (client_id "nowhere"): no redirect URI`}},
		{"http off loopback", `[{"client_id": "plain", "public": true, "redirect_uris": ["http://trade.example.jp/cb", "http://10.0.0.1/cb"], "scopes": ["openid"]}]`,
			[]string{`redirect URI "http://trade.example.jp/cb" must be https`, `redirect URI "http://10.0.0.1/cb" must be https`}},
		{"custom scheme", `[{"client_id": "app", "public": true, "redirect_uris": ["jp.example.trade:/cb"], "scopes": ["openid"]}]`,
			[]string{`entry 1 (client_id "app"): redirect URI "jp.example.trade:/cb" must be https`}},
		{"relative", `[{"client_id": "rel", "public": true, "redirect_uris": ["/cb"], "scopes": ["openid"]}]`,
			[]string{`redirect URI "/cb" is not an absolute URL`}},
		{"fragment", `[{"client_id": "frag", "public": true, "redirect_uris": ["https://a.example.jp/cb#top", "https://a.example.jp/cb#"], "scopes": ["openid"]}]`,
			[]string{`redirect URI "https://a.example.jp/cb#top" has a fragment`, `redirect URI "https://a.example.jp/cb#" has a fragment`}},
		{"logout URIs checked too", `[{"client_id": "lo", "public": true, "redirect_uris": ["https://a.example.jp/cb"], "scopes": ["openid"],
			"post_logout_redirect_uris": ["http://a.example.jp/"], "backchannel_logout_uri": "ftp://a.example.jp/bc"}]`,
			[]string{`post-logout redirect URI "http://a.example.jp/" must be https`, `back-channel logout URI "ftp://a.example.jp/bc" must be https`}},
		{"unknown scope", `[{"client_id": "greedy", "public": true, "redirect_uris": ["https://a.example.jp/cb"], "scopes": ["openid", "email", "trade"]}]`,
			[]string{`entry 1 (client_id "greedy"): unknown scope "email"`, `unknown scope "trade"`}},
		{"openid scope required", `[{"client_id": "oauth", "public": true, "redirect_uris": ["https://a.example.jp/cb"], "scopes": ["profile"]}]`,
			[]string{`entry 1 (client_id "oauth"): scopes must include "openid"`}},
		{"unknown field", `[{"client_id": "typo", "public": true, "redirect_uri": ["https://a.example.jp/cb"], "scopes": ["openid"]}]`,
			[]string{`entry 1 (client_id "typo"): json: unknown field "redirect_uri"`, `entry 1 (client_id "typo"): no redirect URI`}},
		{"missing client_id", `[{"public": true, "redirect_uris": ["https://a.example.jp/cb"], "scopes": ["openid"]}]`,
			[]string{`entry 1 (client_id ""): client_id is missing`}},
		{"client_id with a space", `[{"client_id": "trading web", "public": true, "redirect_uris": ["https://a.example.jp/cb"], "scopes": ["openid"]}]`,
			[]string{`client_id must be at most 100 visible ASCII characters`}},
		{"not an object", `[` + ok + `, 42]`, []string{`entry 2 (client_id ""): not a client object`}},
		{"every problem at once", `[` + ok + `, {"client_id": "bad", "redirect_uris": ["http://a.example.jp/cb#x"], "scopes": ["email"]}, ` + ok + `]`,
			[]string{`entry 2 (client_id "bad"): neither`, `entry 2 (client_id "bad"): redirect URI "http://a.example.jp/cb#x" has a fragment`,
				`entry 2 (client_id "bad"): unknown scope "email"`, `entry 3 (client_id "ok"): duplicate client_id: entry 1 has it too`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			clients, err := ParseClients([]byte(c.file))
			if err == nil {
				t.Fatalf("accepted: %+v", clients)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not say %q", err, w)
				}
			}
		})
	}
}

func FuzzParseClients(f *testing.F) {
	f.Add([]byte(strings.Replace(goodClients, "HASH", secretHash, 1)))
	f.Add([]byte(`[{"client_id": "x", "public": true, "redirect_uris": ["http://[::1]:1/#"], "scopes": ["openid"]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		clients, err := ParseClients(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, c := range clients {
			if c.ID == "" || seen[c.ID] || len(c.RedirectURIs) == 0 || c.Public == (c.SecretSHA256 != nil) {
				t.Fatalf("accepted a bad client %+v", c)
			}
			seen[c.ID] = true
			for _, u := range c.RedirectURIs {
				if checkURI(u) != "" {
					t.Fatalf("accepted redirect URI %q", u)
				}
			}
		}
	})
}
