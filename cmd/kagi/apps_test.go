package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kagi/pgdb/pgtest"
)

const playFingerprint = "14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5"

// apkKeyHash is the origin of an Android app whose signing certificate has playFingerprint.
var apkKeyHash = func() string {
	b, _ := hex.DecodeString(strings.ReplaceAll(playFingerprint, ":", ""))
	return "android:apk-key-hash:" + base64.RawURLEncoding.EncodeToString(b)
}()

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The settings of the apps, related sites and OpenID clients (§11) are opt-in: a bad value is
// refused at start, outside --dev and in it, every problem named.
func TestAppSettings(t *testing.T) {
	t.Chdir(t.TempDir()) // --dev keeps its secrets under .kagi/ here
	prod := changed(prodEnv("postgres://127.0.0.1:1/none"), map[string]string{
		"KAGI_SMTP_URL": "smtp://127.0.0.1:1", "KAGI_MAIL_FROM": "no-reply@kagi-sec.example.jp", "KAGI_IVR_SECOND_FACTOR": "none",
	})
	dev := map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/none"}
	sum := sha256.Sum256([]byte("secret"))
	clients := writeFile(t, `[{"client_id": "trading-web", "client_secret_sha256": "`+hex.EncodeToString(sum[:])+`",
		"redirect_uris": ["https://trade.example.jp/cb"], "scopes": ["openid", "account"]}]`)
	badClients := writeFile(t, `[{"client_id": "trading-web", "redirect_uris": ["http://trade.example.jp/cb"], "scopes": ["openid"]},
		{"client_id": "trading-web", "public": true, "redirect_uris": ["https://trade.example.jp/cb"], "scopes": ["openid", "email"]}]`)
	cases := []struct {
		name    string
		dev     bool
		env     map[string]string
		refusal []string
		check   func(t *testing.T, c *config)
	}{
		{name: "nothing by default", env: prod, check: func(t *testing.T, c *config) {
			if c.OIDCClients != nil || c.OIDCKeyRotation != 720*time.Hour || len(c.Apps.RelatedOrigins)+len(c.Apps.AndroidApps)+len(c.Apps.AppleAppIDs) != 0 ||
				len(c.RPOrigins) != 1 || c.RPOrigins[0] != "https://login.example.jp" || c.RPOpaqueOrigins != nil {
				t.Errorf("defaults %+v %v %v %v %v", c.Apps, c.OIDCClients, c.OIDCKeyRotation, c.RPOrigins, c.RPOpaqueOrigins)
			}
		}},
		{name: "an Android app's origin, the apps and related sites", env: changed(prod, map[string]string{
			"KAGI_RP_ORIGINS":      "https://login.example.jp," + apkKeyHash,
			"KAGI_RELATED_ORIGINS": "https://trade.example.jp",
			"KAGI_ANDROID_APPS":    "jp.example.trade=" + playFingerprint,
			"KAGI_APPLE_APP_IDS":   "ABCDE12345.jp.example.trade",
			"KAGI_OIDC_CLIENTS":    clients, "KAGI_OIDC_KEY_ROTATION": "168h",
		}), check: func(t *testing.T, c *config) {
			if strings.Join(c.RPOrigins, " ") != "https://login.example.jp https://trade.example.jp" || len(c.RPOpaqueOrigins) != 1 || c.RPOpaqueOrigins[0] != apkKeyHash {
				t.Errorf("origins %v, opaque %v: want the related site's origin accepted in ceremonies, the app's apart", c.RPOrigins, c.RPOpaqueOrigins)
			}
			if len(c.OIDCClients) != 1 || !c.OIDCClients[0].CheckSecret("secret") || c.OIDCKeyRotation != 168*time.Hour {
				t.Errorf("clients %+v, rotation %v", c.OIDCClients, c.OIDCKeyRotation)
			}
			if len(c.Apps.AndroidApps) != 1 || len(c.Apps.AppleAppIDs) != 1 || len(c.Apps.RelatedOrigins) != 1 {
				t.Errorf("apps %+v", c.Apps)
			}
		}},
		{name: "Android origin of a SHA-1", env: changed(prod, map[string]string{"KAGI_RP_ORIGINS": "android:apk-key-hash:" + base64.RawURLEncoding.EncodeToString(make([]byte, 20))}),
			refusal: []string{"KAGI_RP_ORIGINS", "base64url (unpadded) SHA-256"}},
		{name: "RP origin with a path", env: changed(prod, map[string]string{"KAGI_RP_ORIGINS": "https://login.example.jp/login"}),
			refusal: []string{`KAGI_RP_ORIGINS: "https://login.example.jp/login" is neither an origin`}},
		{name: "RP origin over http outside --dev", env: changed(prod, map[string]string{"KAGI_RP_ORIGINS": "http://login.example.jp"}),
			refusal: []string{`KAGI_RP_ORIGINS: "http://login.example.jp" must use https outside --dev`}},
		{name: "RP origin over http in --dev", dev: true, env: changed(dev, map[string]string{"KAGI_RP_ORIGINS": "http://localhost:8080," + apkKeyHash})},
		{name: "bad related origin in --dev too", dev: true, env: changed(dev, map[string]string{"KAGI_RELATED_ORIGINS": "http://trade.example.jp"}),
			refusal: []string{"KAGI_RELATED_ORIGINS", "must be https"}},
		{name: "bad Android app in --dev too", dev: true, env: changed(dev, map[string]string{"KAGI_ANDROID_APPS": "jp.example.trade"}),
			refusal: []string{"KAGI_ANDROID_APPS", "PACKAGE=FINGERPRINT"}},
		{name: "bad Apple app ID", env: changed(prod, map[string]string{"KAGI_APPLE_APP_IDS": "jp.example.trade"}),
			refusal: []string{"KAGI_APPLE_APP_IDS", "TEAMID.bundle.id"}},
		{name: "clients file missing", env: changed(prod, map[string]string{"KAGI_OIDC_CLIENTS": filepath.Join(t.TempDir(), "none.json")}),
			refusal: []string{"KAGI_OIDC_CLIENTS", "none.json"}},
		{name: "bad clients file in --dev too, every entry named", dev: true, env: changed(dev, map[string]string{"KAGI_OIDC_CLIENTS": badClients}),
			refusal: []string{`KAGI_OIDC_CLIENTS: ` + badClients, `entry 1 (client_id "trading-web"): neither`, `entry 1 (client_id "trading-web"): redirect URI "http://trade.example.jp/cb" must be https`,
				`entry 2 (client_id "trading-web"): duplicate client_id`, `entry 2 (client_id "trading-web"): unknown scope "email"`}},
		{name: "key rotation too short", env: changed(prod, map[string]string{"KAGI_OIDC_KEY_ROTATION": "10m"}),
			refusal: []string{`KAGI_OIDC_KEY_ROTATION "10m" must be a duration between 1h and 8760h`}},
		{name: "key rotation not a duration", env: changed(prod, map[string]string{"KAGI_OIDC_KEY_ROTATION": "30d"}),
			refusal: []string{`KAGI_OIDC_KEY_ROTATION "30d"`}},
		{name: "every problem at once", env: changed(prod, map[string]string{
			"KAGI_RP_ORIGINS": "android:apk-key-hash:x", "KAGI_RELATED_ORIGINS": "ftp://x.example.jp", "KAGI_ANDROID_APPS": "x",
			"KAGI_APPLE_APP_IDS": "y", "KAGI_OIDC_CLIENTS": badClients, "KAGI_OIDC_KEY_ROTATION": "0",
		}), refusal: []string{"KAGI_RP_ORIGINS", "KAGI_RELATED_ORIGINS", "KAGI_ANDROID_APPS", "KAGI_APPLE_APP_IDS", "KAGI_OIDC_CLIENTS", "KAGI_OIDC_KEY_ROTATION"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadFor(forServe, tc.dev, tc.env)
			if tc.refusal == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tc.check != nil {
					tc.check(t, c)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tc.refusal {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("refusal %q does not say %q", err, want)
				}
			}
		})
	}
}

// The public listener serves the well-known documents of the settings given, and kagi's JSON
// 404 for the others; an app's origin is accepted by the relying party the server builds.
func TestPublicListenerServesWellKnownDocuments(t *testing.T) {
	t.Parallel()
	env := changed(prodEnv(pgtest.URL(t, schema...)), map[string]string{
		"KAGI_RP_ORIGINS":   "https://login.example.jp," + apkKeyHash,
		"KAGI_ANDROID_APPS": "jp.example.trade=" + playFingerprint,
	})
	a, err := addAppFlags(newFlagSet("test"), forCLI, "").open(context.Background(), envOf(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	h, err := a.handler(&readiness{pool: a.pool})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	get := func(path string) (*http.Response, string) {
		t.Helper()
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	res, body := get("/.well-known/assetlinks.json")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `"package_name":"jp.example.trade"`) || !strings.Contains(body, playFingerprint) ||
		res.Header.Get("Cache-Control") != "public, max-age=3600" {
		t.Errorf("assetlinks.json: %d %v %s", res.StatusCode, res.Header, body)
	}
	for _, path := range []string{"/.well-known/webauthn", "/.well-known/apple-app-site-association"} {
		if res, body := get(path); res.StatusCode != http.StatusNotFound || !strings.Contains(body, `"error":"not_found"`) {
			t.Errorf("%s without its setting: %d %s", path, res.StatusCode, body)
		}
	}
}
