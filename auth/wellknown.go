package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"

	"kagi"
	"kagi/web"
)

// The customers' passkeys are one relying party across the site and the brokerage's own apps
// and sites (SPEC §11.6): the one-passkey rule holds because it is one RP ID. The apps and the
// related sites learn that they may use it from three documents kagi serves on the RP ID's
// host, each from a setting read once at start.

// AppAssociations are what the well-known documents declare. Each list may be empty: its
// document then answers 404.
type AppAssociations struct {
	// RelatedOrigins are the other origins allowed to use the RP ID (KAGI_RELATED_ORIGINS,
	// WebAuthn Level 3 Related Origin Requests), served at /.well-known/webauthn.
	RelatedOrigins []string
	// AndroidApps may use the customers' passkeys (KAGI_ANDROID_APPS), served at
	// /.well-known/assetlinks.json.
	AndroidApps []AndroidApp
	// AppleAppIDs (TEAMID.bundle.id) may use them (KAGI_APPLE_APP_IDS), served at
	// /.well-known/apple-app-site-association.
	AppleAppIDs []string
}

// AndroidApp is an Android app that may use the customers' passkeys: its package name and the
// SHA-256 fingerprints of its signing certificates, as Play Console shows them.
type AndroidApp struct {
	Package      string
	Fingerprints []string
}

var (
	androidPackage = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$`)
	certSHA256     = regexp.MustCompile(`^[0-9A-F]{2}(:[0-9A-F]{2}){31}$`)
	appleAppID     = regexp.MustCompile(`^[A-Z0-9]{10}\.[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$`)
)

// ParseAndroidApps reads KAGI_ANDROID_APPS: comma-separated PACKAGE=FINGERPRINT, the
// fingerprint the signing certificate's SHA-256 as Play Console shows it (32 hex pairs with
// colons, 14:6D:…:E5). A package listed twice (an upload key and Play's app signing key) gets
// both fingerprints. Every problem is reported.
func ParseAndroidApps(v string) ([]AndroidApp, error) {
	var apps []AndroidApp
	var problems []string
	for _, item := range splitComma(v) {
		pkg, fp, ok := strings.Cut(item, "=")
		pkg, fp = strings.TrimSpace(pkg), strings.ToUpper(strings.TrimSpace(fp))
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%q is not PACKAGE=FINGERPRINT", item))
			continue
		case !androidPackage.MatchString(pkg):
			problems = append(problems, fmt.Sprintf("%q is not an Android package name such as jp.example.trade", pkg))
			continue
		case !certSHA256.MatchString(fp):
			problems = append(problems, fmt.Sprintf("the fingerprint of %s must be a SHA-256 as Play Console shows it: 32 hex pairs separated by colons", pkg))
			continue
		}
		i := slices.IndexFunc(apps, func(a AndroidApp) bool { return a.Package == pkg })
		if i < 0 {
			apps = append(apps, AndroidApp{Package: pkg})
			i = len(apps) - 1
		}
		if !slices.Contains(apps[i].Fingerprints, fp) {
			apps[i].Fingerprints = append(apps[i].Fingerprints, fp)
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return apps, nil
}

// ParseAppleAppIDs reads KAGI_APPLE_APP_IDS: comma-separated TEAMID.bundle.id, the team ID
// ten capitals or digits. Every problem is reported.
func ParseAppleAppIDs(v string) ([]string, error) {
	var ids, problems []string
	for _, id := range splitComma(v) {
		if !appleAppID.MatchString(id) {
			problems = append(problems, fmt.Sprintf("%q is not TEAMID.bundle.id, such as ABCDE12345.jp.example.trade", id))
			continue
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return ids, nil
}

// ParseRelatedOrigins reads KAGI_RELATED_ORIGINS: comma-separated origins, https (http only on
// a loopback address, for development), no more registrable domain labels than a browser reads
// (protocol.MaximumRelatedOriginLabels). Every problem is reported.
func ParseRelatedOrigins(v string) ([]string, error) {
	var origins, problems []string
	for _, o := range splitComma(v) {
		u, err := url.Parse(o)
		switch {
		case err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			problems = append(problems, fmt.Sprintf("%q is not an origin such as https://trade.example.jp", o))
		case u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname())):
			problems = append(problems, fmt.Sprintf("%q must be https (http on a loopback address only)", o))
		default:
			origins = append(origins, o)
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	if len(origins) == 0 {
		return nil, nil
	}
	related, err := protocol.NewRelatedOrigins(origins...)
	if err != nil {
		return nil, err
	}
	return related.Origins, nil
}

// WellKnown serves the three documents of AppAssociations: JSON, cacheable for an hour,
// computed once at start.
type WellKnown struct {
	log                             *slog.Logger
	webauthn, assetLinks, appleSite []byte
}

// NewWellKnown computes the documents of a.
func NewWellKnown(log *slog.Logger, a AppAssociations) *WellKnown {
	w := &WellKnown{log: log}
	if len(a.RelatedOrigins) > 0 {
		w.webauthn = mustJSON(map[string][]string{"origins": a.RelatedOrigins})
	}
	if len(a.AndroidApps) > 0 {
		type target struct {
			Namespace    string   `json:"namespace"`
			PackageName  string   `json:"package_name"`
			Fingerprints []string `json:"sha256_cert_fingerprints"`
		}
		type statement struct {
			Relation []string `json:"relation"`
			Target   target   `json:"target"`
		}
		var st []statement
		for _, app := range a.AndroidApps {
			st = append(st, statement{Relation: []string{"delegate_permission/common.get_login_creds"},
				Target: target{Namespace: "android_app", PackageName: app.Package, Fingerprints: app.Fingerprints}})
		}
		w.assetLinks = mustJSON(st)
	}
	if len(a.AppleAppIDs) > 0 {
		w.appleSite = mustJSON(map[string]any{"webcredentials": map[string][]string{"apps": a.AppleAppIDs}})
	}
	return w
}

// Routes mounts the documents on mux, on the RP ID's host (the public listener).
func (w *WellKnown) Routes(mux *http.ServeMux) {
	mux.Handle("GET /.well-known/webauthn", w.serve(w.webauthn))
	mux.Handle("GET /.well-known/assetlinks.json", w.serve(w.assetLinks))
	mux.Handle("GET /.well-known/apple-app-site-association", w.serve(w.appleSite))
}

// serve answers body as it is, or kagi's 404 when the setting behind it is unset. The
// documents are read by the platforms' verifiers, which follow no redirect.
func (w *WellKnown) serve(body []byte) http.Handler {
	return web.Handle(w.log, func(rw http.ResponseWriter, r *http.Request) error {
		if body == nil {
			return kagi.Errorf(kagi.NotFound, "not_found", msgNotFound)
		}
		h := rw.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("X-Content-Type-Options", "nosniff")
		_, err := rw.Write(body)
		return err
	})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

func splitComma(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// isLoopbackHost reports whether host names this machine alone: localhost or a loopback
// address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
