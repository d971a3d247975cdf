package openid

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"unicode"
)

// Scopes a client may be allowed (SPEC §11.4): openid, which every client needs; profile, for
// the customer's name; account, for the account number; offline_access, for refresh tokens.
var Scopes = []string{"openid", "profile", "account", "offline_access"}

// Client is one of the brokerage's applications allowed to take kagi's login (SPEC §11.2),
// read from the file of KAGI_OIDC_CLIENTS once at start.
type Client struct {
	ID string
	// Public is a client that keeps no secret (a native app, a page's script): it proves
	// nothing but its PKCE verifier, and its secret check always fails.
	Public bool
	// SecretSHA256 is the SHA-256 of a confidential client's secret; nil for a public one.
	// kagi never holds the secret itself.
	SecretSHA256 []byte
	// RedirectURIs are where an authorization may be answered, matched exactly.
	RedirectURIs []string
	// PostLogoutRedirectURIs are where an RP-initiated logout may send the browser afterwards.
	PostLogoutRedirectURIs []string
	// BackchannelLogoutURI receives the logout tokens of the kagi sessions the client got
	// tokens from (SPEC §11.5); empty when the client takes none.
	BackchannelLogoutURI string
	// Scopes are the scopes the client may ask for, a subset of Scopes with openid always.
	Scopes []string
}

// CheckSecret reports whether secret is the confidential client's secret, comparing its
// SHA-256 with the stored one in constant time. A public client has no secret to check.
func (c Client) CheckSecret(secret string) bool {
	if c.Public || len(c.SecretSHA256) != sha256.Size {
		return false
	}
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(sum[:], c.SecretSHA256) == 1
}

// RedirectURIAllowed reports whether uri is one of the client's redirect URIs, by exact
// string comparison: no prefix, no normalisation, so no open redirect hides in a variant.
// RFC 8252 §7.3 asks an authorization server to accept any port on a loopback redirect URI
// of a native app; whether kagi does is a later decision of issue 24, and until then the
// port must match as listed.
func (c Client) RedirectURIAllowed(uri string) bool { return slices.Contains(c.RedirectURIs, uri) }

// PostLogoutRedirectURIAllowed reports whether uri is one of the client's post-logout redirect
// URIs, by exact string comparison as RedirectURIAllowed.
func (c Client) PostLogoutRedirectURIAllowed(uri string) bool {
	return slices.Contains(c.PostLogoutRedirectURIs, uri)
}

// ScopeAllowed reports whether the client may ask for scope.
func (c Client) ScopeAllowed(scope string) bool { return slices.Contains(c.Scopes, scope) }

// clientJSON is one entry of the clients file as written.
type clientJSON struct {
	ClientID               string   `json:"client_id"`
	ClientSecretSHA256     *string  `json:"client_secret_sha256"`
	Public                 *bool    `json:"public"`
	RedirectURIs           []string `json:"redirect_uris"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
	BackchannelLogoutURI   string   `json:"backchannel_logout_uri"`
	Scopes                 []string `json:"scopes"`
}

// maxClientIDLength bounds a client ID: it travels in every authorization request.
const maxClientIDLength = 100

// LoadClients reads the clients file of KAGI_OIDC_CLIENTS: a JSON array of clients. An empty
// path is no client. Every problem of the file is reported at once, each naming its entry by
// position and client_id, so one start tells the operator all that must be fixed.
func LoadClients(path string) ([]Client, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	clients, err := ParseClients(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return clients, nil
}

// ParseClients is LoadClients on the file's content.
func ParseClients(data []byte) ([]Client, error) {
	var entries []json.RawMessage
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("not a JSON array of clients: %w", err)
	}
	var errs []error
	var clients []Client
	firstAt := map[string]int{}
	for i, raw := range entries {
		c, problems := parseClient(raw)
		name := fmt.Sprintf("entry %d (client_id %q)", i+1, c.ID)
		if first, dup := firstAt[c.ID]; dup && c.ID != "" {
			problems = append(problems, fmt.Sprintf("duplicate client_id: entry %d has it too", first))
		} else {
			firstAt[c.ID] = i + 1
		}
		for _, p := range problems {
			errs = append(errs, fmt.Errorf("%s: %s", name, p))
		}
		if len(problems) == 0 {
			clients = append(clients, c)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return clients, nil
}

// parseClient reads one entry and lists its problems. The client ID is returned even from an
// entry with problems, to name it.
func parseClient(raw json.RawMessage) (Client, []string) {
	var problems []string
	var j clientJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		// Read it again leniently, to name the entry and find its other problems.
		j = clientJSON{}
		if json.Unmarshal(raw, &j) != nil {
			return Client{}, []string{"not a client object: " + err.Error()}
		}
		problems = append(problems, err.Error())
	}
	c := Client{
		ID:                     j.ClientID,
		RedirectURIs:           j.RedirectURIs,
		PostLogoutRedirectURIs: j.PostLogoutRedirectURIs,
		BackchannelLogoutURI:   j.BackchannelLogoutURI,
		Scopes:                 j.Scopes,
	}
	switch {
	case c.ID == "":
		problems = append(problems, "client_id is missing")
	case len(c.ID) > maxClientIDLength || strings.ContainsFunc(c.ID, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsGraphic(r) || r == ' ' }):
		problems = append(problems, fmt.Sprintf("client_id must be at most %d visible ASCII characters", maxClientIDLength))
	}
	public := j.Public != nil && *j.Public
	switch {
	case j.ClientSecretSHA256 != nil && public:
		problems = append(problems, `both client_secret_sha256 and "public": true: a client is either confidential or public`)
	case j.ClientSecretSHA256 == nil && !public:
		problems = append(problems, `neither client_secret_sha256 nor "public": true`)
	case public:
		c.Public = true
	default:
		sum, err := hex.DecodeString(*j.ClientSecretSHA256)
		if err != nil || len(sum) != sha256.Size {
			problems = append(problems, "client_secret_sha256 must be the secret's SHA-256 in hex (64 characters)")
		}
		c.SecretSHA256 = sum
	}
	if len(c.RedirectURIs) == 0 {
		problems = append(problems, "no redirect URI (redirect_uris)")
	}
	for _, u := range c.RedirectURIs {
		if p := checkURI(u); p != "" {
			problems = append(problems, "redirect URI "+p)
		}
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if p := checkURI(u); p != "" {
			problems = append(problems, "post-logout redirect URI "+p)
		}
	}
	if u := c.BackchannelLogoutURI; u != "" {
		if p := checkURI(u); p != "" {
			problems = append(problems, "back-channel logout URI "+p)
		}
	}
	for _, s := range c.Scopes {
		if !slices.Contains(Scopes, s) {
			problems = append(problems, fmt.Sprintf("unknown scope %q (%s)", s, strings.Join(Scopes, ", ")))
		}
	}
	if !slices.Contains(c.Scopes, "openid") {
		problems = append(problems, `scopes must include "openid"`)
	}
	return c, problems
}

// checkURI says what is wrong with a redirect or logout URI, or "" when it is fine: absolute,
// https — or http on a loopback address, a native app's or a test's (RFC 8252 §7.3) — and
// without a fragment (RFC 6749 §3.1.2).
func checkURI(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs():
		return fmt.Sprintf("%q is not an absolute URL", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Sprintf("%q has a fragment", raw)
	case u.User != nil:
		return fmt.Sprintf("%q carries a user name", raw)
	case u.Scheme == "https" && u.Host != "":
		return ""
	case u.Scheme == "http" && onLoopback(u.Hostname()):
		return ""
	}
	return fmt.Sprintf("%q must be https, or http on a loopback address (127.0.0.0/8, ::1, localhost)", raw)
}

// onLoopback reports whether host names this machine alone: localhost or a loopback address.
func onLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
