package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-webauthn/webauthn/webauthn"

	"kagi/auth/authtest"
)

// fingerprint is how Play Console shows the SHA-256 of a signing certificate.
const fingerprint = "14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5"

func TestWellKnownDocuments(t *testing.T) {
	t.Parallel()
	related, err := ParseRelatedOrigins("https://trade.example.jp, https://www.example.co.jp")
	if err != nil {
		t.Fatal(err)
	}
	apps, err := ParseAndroidApps("jp.example.trade=" + fingerprint + ", jp.example.trade=" + strings.ToLower(strings.Replace(fingerprint, "14", "15", 1)) + ",jp.example.backoffice=" + fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	apple, err := ParseAppleAppIDs("ABCDE12345.jp.example.trade")
	if err != nil {
		t.Fatal(err)
	}
	full := http.NewServeMux()
	NewWellKnown(testLogger(t), AppAssociations{RelatedOrigins: related, AndroidApps: apps, AppleAppIDs: apple}).Routes(full)
	none := http.NewServeMux()
	NewWellKnown(testLogger(t), AppAssociations{}).Routes(none)

	get := func(mux *http.ServeMux, path string) (*http.Response, string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		body, _ := io.ReadAll(rec.Result().Body)
		return rec.Result(), string(body)
	}
	for _, c := range []struct {
		path, want string
	}{
		{"/.well-known/webauthn", `{"origins":["https://trade.example.jp","https://www.example.co.jp"]}`},
		{"/.well-known/assetlinks.json", `[{"relation":["delegate_permission/common.get_login_creds"],"target":{"namespace":"android_app","package_name":"jp.example.trade","sha256_cert_fingerprints":["` +
			fingerprint + `","` + strings.Replace(fingerprint, "14", "15", 1) + `"]}},` +
			`{"relation":["delegate_permission/common.get_login_creds"],"target":{"namespace":"android_app","package_name":"jp.example.backoffice","sha256_cert_fingerprints":["` + fingerprint + `"]}}]`},
		{"/.well-known/apple-app-site-association", `{"webcredentials":{"apps":["ABCDE12345.jp.example.trade"]}}`},
	} {
		t.Run(c.path, func(t *testing.T) {
			res, body := get(full, c.path)
			if res.StatusCode != http.StatusOK || strings.TrimSpace(body) != c.want {
				t.Errorf("%d %s\nwant %s", res.StatusCode, body, c.want)
			}
			if ct, cc := res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"); ct != "application/json" || cc != "public, max-age=3600" {
				t.Errorf("Content-Type %q, Cache-Control %q", ct, cc)
			}
			res, body = get(none, c.path)
			var e map[string]string
			if res.StatusCode != http.StatusNotFound || json.Unmarshal([]byte(body), &e) != nil || e["error"] != "not_found" || e["message"] == "" {
				t.Errorf("without its setting: %d %s, want kagi's JSON 404", res.StatusCode, body)
			}
		})
	}
}

func TestWellKnownSettingsRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		parse func(string) error
		value string
		want  []string
	}{
		{"android without fingerprint", func(v string) error { _, err := ParseAndroidApps(v); return err }, "jp.example.trade", []string{`"jp.example.trade" is not PACKAGE=FINGERPRINT`}},
		{"android bad package and short fingerprint", func(v string) error { _, err := ParseAndroidApps(v); return err },
			"trade=" + fingerprint + ",jp.example.trade=14:6D:E9", []string{`"trade" is not an Android package name`, "the fingerprint of jp.example.trade must be a SHA-256"}},
		{"android fingerprint without colons", func(v string) error { _, err := ParseAndroidApps(v); return err },
			"jp.example.trade=" + strings.ReplaceAll(fingerprint, ":", ""), []string{"the fingerprint of jp.example.trade"}},
		{"apple without team", func(v string) error { _, err := ParseAppleAppIDs(v); return err }, "jp.example.trade,abcde12345.jp.example.trade",
			[]string{`"jp.example.trade" is not TEAMID.bundle.id`, `"abcde12345.jp.example.trade" is not TEAMID.bundle.id`}},
		{"related http", func(v string) error { _, err := ParseRelatedOrigins(v); return err }, "http://trade.example.jp,https://trade.example.jp/login",
			[]string{`"http://trade.example.jp" must be https`, `"https://trade.example.jp/login" is not an origin`}},
		{"related beyond the label budget", func(v string) error { _, err := ParseRelatedOrigins(v); return err },
			"https://a.example,https://b.example,https://c.example,https://d.example,https://e.example,https://f.example", []string{"registrable domain labels"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.parse(c.value)
			if err == nil {
				t.Fatalf("%q accepted", c.value)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if o, err := ParseRelatedOrigins("http://localhost:3000"); err != nil || len(o) != 1 {
		t.Errorf("a loopback http origin: %v, %v", o, err)
	}
}

// An Android app's passkey login reaches kagi with the app's origin in the signed client data,
// android:apk-key-hash: and the base64url SHA-256 of its signing certificate (SPEC §11.6): a
// relying party that lists it accepts the passkey made on the site, and an app signed with
// another certificate is refused.
func TestAndroidAppOriginLogsIn(t *testing.T) {
	t.Parallel()
	cert := sha256.Sum256([]byte("the trading app's signing certificate"))
	appOrigin := "android:apk-key-hash:" + base64.RawURLEncoding.EncodeToString(cert[:])
	e := newTestEnv(t, func(c *Config) {
		c.WebAuthn = &webauthn.Config{RPID: "kagi.test", RPDisplayName: "kagi", RPOrigins: []string{testOrigin}, RPOpaqueOrigins: []string{appOrigin}}
	})
	acct := e.addAccount(demoAccount)
	ctx := context.Background()
	site := e.newPhone(authtest.Config{})
	if _, err := site.Register(ctx, e.loggedIn(acct, AssurancePassword)); err != nil {
		t.Fatal(err)
	}
	app := site.Sync(func(c *authtest.Config) { c.Origin = appOrigin })
	if login, err := app.Login(ctx, e.browser(), ""); err != nil || login.Assurance != "passkey" {
		t.Fatalf("login from the app: %+v %v", login, err)
	}
	other := sha256.Sum256([]byte("a repackaged app's certificate"))
	repackaged := site.Sync(func(c *authtest.Config) {
		c.Origin = "android:apk-key-hash:" + base64.RawURLEncoding.EncodeToString(other[:])
	})
	if _, err := repackaged.Login(ctx, e.browser(), ""); err == nil {
		t.Fatal("an app signed with another certificate logged in")
	}
}
