package openid

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/cors"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"kagi/auth"
	"kagi/web"
)

// Token lifetimes. Both stay within MaxTokenLifetime, which the key store's publication
// counts on; neither outlives the kagi session the tokens came from.
const (
	AccessTokenLifetime = 10 * time.Minute
	IDTokenLifetime     = 15 * time.Minute
)

// ProviderConfig is what the OpenID Provider needs, loaded once at start.
type ProviderConfig struct {
	Pool *pgxpool.Pool
	Log  *slog.Logger
	// Issuer is KAGI_PUBLIC_URL: the issuer of every token and the base of every endpoint.
	Issuer string
	// Insecure lets an http issuer be (--dev on localhost only); op refuses one otherwise.
	Insecure bool
	// Secret is the server secret (KAGI_PIN_KEY): the subjects and the sealing of codes and
	// access tokens are derived from it, the same on every replica.
	Secret  []byte
	Clients []Client
	Keys    *KeyStore
	// Auth is the core: the sessions the logins made, the accounts and their holds.
	Auth *auth.Service
	// EmailCheck tells that every password login ends with the email check (KAGI_EMAIL_CHECK),
	// which its amr shows.
	EmailCheck bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Provider is kagi's OpenID Provider (SPEC §11) on zitadel/oidc's op package: op parses and
// checks the requests and issues, signs and verifies the tokens; kagi keeps the state in
// PostgreSQL (storage) and decides who is logged in well enough.
type Provider struct {
	op      *op.Provider
	storage *storage
	log     *slog.Logger
	issuer  string
	auth    *auth.Service
}

// Endpoints under /oauth2/. The callback is kagi's own (CallbackPath).
var (
	authorizeEndpoint  = op.NewEndpoint("oauth2/authorize")
	tokenEndpoint      = op.NewEndpoint("oauth2/token")
	userinfoEndpoint   = op.NewEndpoint("oauth2/userinfo")
	revocationEndpoint = op.NewEndpoint("oauth2/revoke")
	endSessionEndpoint = op.NewEndpoint("oauth2/end_session")
	keysEndpoint       = op.NewEndpoint("oauth2/keys")
)

// NewProvider checks cfg and builds the provider.
func NewProvider(cfg ProviderConfig) (*Provider, error) {
	if cfg.Pool == nil || cfg.Keys == nil || cfg.Auth == nil || cfg.Issuer == "" {
		return nil, errors.New("openid: a provider needs Pool, Keys, Auth and Issuer")
	}
	if len(cfg.Secret) < 16 {
		return nil, errors.New("openid: a provider needs a server secret of at least 16 bytes")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cryptoKey, err := hkdf.Key(sha256.New, cfg.Secret, nil, "kagi oidc token sealing v1", 32)
	if err != nil {
		return nil, err
	}
	clients := clientMap(cfg.Clients)
	st := &storage{pool: cfg.Pool, log: cfg.Log, now: cfg.Now, keys: cfg.Keys, auth: cfg.Auth, clients: clients,
		subjectKey: subjectKeyFrom(cfg.Secret), emailCheck: cfg.EmailCheck}
	conf := &op.Config{
		CryptoKey:      [32]byte(cryptoKey),
		CodeMethodS256: true,
		// Refresh tokens rotate (storage.CreateAccessAndRefreshTokens).
		GrantTypeRefreshToken: true,
		SupportedScopes:       Scopes,
		SupportedClaims:       supportedClaims,
	}
	opts := []op.Option{
		op.WithCustomEndpoints(authorizeEndpoint, tokenEndpoint, userinfoEndpoint, revocationEndpoint, endSessionEndpoint, keysEndpoint),
		// Cross-origin requests get no cookie's worth of trust: the token, userinfo and keys
		// endpoints may be called from an application's page, never with credentials.
		op.WithCORSOptions(&cors.Options{
			AllowedOrigins: []string{"*"},
			AllowedMethods: []string{http.MethodGet, http.MethodPost},
			AllowedHeaders: []string{"Authorization", "Content-Type"},
		}),
	}
	if cfg.Insecure {
		opts = append(opts, op.WithAllowInsecure())
	}
	p, err := op.NewProvider(conf, st, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, err
	}
	return &Provider{op: p, storage: st, log: cfg.Log, issuer: cfg.Issuer, auth: cfg.Auth}, nil
}

// subjectKeyFrom derives the key of the subjects (storage.subject) from the server secret.
func subjectKeyFrom(secret []byte) []byte {
	k, err := hkdf.Key(sha256.New, secret, nil, "kagi oidc subject v1", 32)
	if err != nil {
		panic(err) // only for a length HKDF cannot give, and 32 bytes it always can
	}
	return k
}

// supportedClaims are the claims kagi's ID tokens and userinfo carry.
var supportedClaims = []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "at_hash", "c_hash",
	"sid", "name", "account_number", "kagi_hold_until", "kagi_hold_reason"}

// Routes mounts the provider on the public listener's mux: discovery, the keys, and op's
// endpoints under /oauth2/, only those kagi serves. They are not browser routes of web: the
// token, userinfo and revocation endpoints are called by the applications, and op answers
// each in OAuth's own forms.
func (p *Provider) Routes(mux *http.ServeMux) {
	mux.Handle("GET /.well-known/openid-configuration", http.HandlerFunc(p.discovery))
	mux.Handle("GET "+keysEndpoint.Relative(), p.op)
	mux.Handle(authorizeEndpoint.Relative(), inJapanese(p.withSession(p.op)))
	mux.Handle("GET "+CallbackPath, web.Browser(http.HandlerFunc(p.callback)))
	mux.Handle("POST "+tokenEndpoint.Relative(), onlyGrants(p.op))
	mux.Handle(userinfoEndpoint.Relative(), p.op)
	mux.Handle("POST "+revocationEndpoint.Relative(), p.op)
	mux.Handle(endSessionEndpoint.Relative(), http.HandlerFunc(p.endSession))
}

// discovery is op's discovery document narrowed to what kagi does: the code flow with PKCE
// S256, refresh tokens, secrets sent by HTTP Basic or no secret (public clients), kagi's
// acr values, RP-initiated logout and back-channel logout with the session's sid.
func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	ctx := op.ContextWithIssuer(r.Context(), p.issuer)
	d := op.CreateDiscoveryConfig(ctx, p.op, p.storage)
	d.IntrospectionEndpoint, d.DeviceAuthorizationEndpoint, d.CheckSessionIframe = "", "", ""
	d.BackChannelLogoutSupported, d.BackChannelLogoutSessionSupported = true, true
	d.IntrospectionEndpointAuthMethodsSupported, d.IntrospectionEndpointAuthSigningAlgValuesSupported = nil, nil
	d.RevocationEndpointAuthSigningAlgValuesSupported, d.TokenEndpointAuthSigningAlgValuesSupported = nil, nil
	d.RequestObjectSigningAlgValuesSupported = nil
	d.RevocationEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodNone}
	d.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodNone}
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	d.ResponseModesSupported = []string{string(oidc.ResponseModeQuery), string(oidc.ResponseModeFormPost)}
	d.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
	d.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	d.ACRValuesSupported = []string{ACRPasskey, ACRPassword}
	d.SubjectTypesSupported = []string{"public"}
	op.Discover(w, d)
}

// onlyGrants lets through to op's token endpoint the two grants kagi issues tokens for: the
// authorization code and the refresh token. op would also try others (a JWT bearer
// assertion), which kagi has no keys for; they are refused here, in OAuth's form.
func onlyGrants(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch g := r.FormValue("grant_type"); g {
		case string(oidc.GrantTypeCode), string(oidc.GrantTypeRefreshToken):
			next.ServeHTTP(w, r)
		default:
			op.RequestError(w, r, oidc.ErrUnsupportedGrantType().WithDescription("only authorization_code and refresh_token"), nil)
		}
	})
}

// sessionKey carries the browser's kagi session through op's authorize handler to the storage.
type sessionKey struct{}

// authorizeState is what an authorization request learned of the browser: its session (nil
// for none) and, once the request is stored, where the browser goes next; and what op leaves
// of the request unparsed.
type authorizeState struct {
	session *auth.Session
	next    string
	// claims is the request's claims parameter (OpenID Connect Core 1.0 §5.5), which op does
	// not parse: its essential acr is a step-up, as acr_values is.
	claims string
}

// withSession looks up the browser's kagi session for op's authorize handler. op asks the
// client where the login page is (op.Client.LoginURL) after storing the request; the storage,
// having judged the session, says there whether the browser logs in or is sent on at once.
func (p *Provider) withSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, ok, err := p.auth.SessionFromRequest(r.Context(), r)
		if err != nil {
			p.log.ErrorContext(r.Context(), "authorize: session", "err", err)
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
			return
		}
		st := &authorizeState{claims: r.FormValue("claims")}
		if ok {
			st.session = &sess
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, st)))
	})
}

func stateOf(ctx context.Context) *authorizeState {
	st, _ := ctx.Value(sessionKey{}).(*authorizeState)
	return st
}

// callback finishes an authorization request a login answered: op gives the browser the code
// for the client's redirect URI, or the OAuth error the request ended with. Only the browser
// holding the session that answered it may: any other goes to the login page.
func (p *Provider) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.URL.Query().Get("id")
	req, ok, err := loadAuthRequest(ctx, p.storage.pool, id, p.storage.now())
	if err != nil {
		p.log.ErrorContext(ctx, "authorize callback", "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	if !ok {
		http.Error(w, "この認可リクエストは期限切れか、使用済みです。アプリからもう一度ログインしてください。", http.StatusBadRequest)
		return
	}
	sess, ok, err := p.auth.SessionFromRequest(ctx, r)
	if err != nil {
		p.log.ErrorContext(ctx, "authorize callback: session", "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	if req.SessionHash == nil || !ok || string(sess.TokenHash) != string(req.SessionHash) {
		http.Redirect(w, r, loginURL(req.ID), http.StatusFound)
		return
	}
	if req.Failure != nil {
		op.AuthRequestError(w, r, req, oauthError(*req.Failure), p.op)
		return
	}
	op.AuthResponse(req, p.op, w, r)
}

// oauthError is the error an authorization request that cannot be met ends with, for the
// client (its description in ASCII, as RFC 6749 §4.1.2.1 asks).
func oauthError(failure string) *oidc.Error {
	if failure == unmetAuthenticationRequirements {
		e := &oidc.Error{Description: "the request asks for a passkey login, and the account has no passkey"}
		e.ErrorType = unmetAuthenticationRequirements
		return e
	}
	return oidc.ErrLoginRequired().WithDescription("the request asks for no login page, and the browser must log in")
}

// endSession is RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0, SPEC §11.5): op
// checks the id_token_hint and the client, and kagi ends the session the browser holds, as
// POST /api/v1/logout does — audited, and told to the applications that got tokens from it by
// back-channel logout. The browser is sent to the post_logout_redirect_uri, which must be
// exactly one of the client's (op would let a native client's loopback port vary), with the
// state; without one it is shown a short page.
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	ctx := op.ContextWithIssuer(r.Context(), p.issuer)
	r = r.WithContext(ctx)
	parsed, err := op.ParseEndSessionRequest(r, p.op.Decoder())
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	req, err := op.ValidateEndSessionRequest(ctx, parsed, p.op)
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	if uri := parsed.PostLogoutRedirectURI; uri != "" {
		if c, ok := p.storage.clients[req.ClientID]; !ok || !c.PostLogoutRedirectURIAllowed(uri) {
			op.RequestError(w, r, oidc.ErrInvalidRequest().WithDescription("post_logout_redirect_uri is not one of the client's, or no client is named"), nil)
			return
		}
	}
	// Without an ID token the application issued, nothing shows the request comes from an
	// application the customer uses: a link on any site could log them out. The customer is
	// asked first (OpenID Connect RP-Initiated Logout §2), and the answer is a same-origin POST.
	if parsed.IdTokenHint == "" {
		if r.Method != http.MethodPost || r.PostFormValue("confirm") != "1" {
			p.confirmLogout(w, parsed.ClientID, parsed.PostLogoutRedirectURI, parsed.State)
			return
		}
		if err := logoutOrigin.Check(r); err != nil {
			http.Error(w, "このリクエストは受け付けられません。", http.StatusForbidden)
			return
		}
	}
	if _, err := p.auth.Logout(ctx, w, r); err != nil {
		p.log.ErrorContext(ctx, "end session", "err", err)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	if parsed.PostLogoutRedirectURI != "" {
		http.Redirect(w, r, req.RedirectURI, http.StatusFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	io.WriteString(w, loggedOutPage)
}

// logoutOrigin refuses a confirmed logout posted from another site.
var logoutOrigin = http.NewCrossOriginProtection()

// confirmLogout asks the customer whether to log out, with the request's parameters kept in
// the form that answers it.
func (p *Provider) confirmLogout(w http.ResponseWriter, clientID, redirect, state string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("Cache-Control", "no-store")
	if err := confirmLogoutPage.Execute(w, map[string]string{"Action": endSessionEndpoint.Relative(),
		"ClientID": clientID, "Redirect": redirect, "State": state}); err != nil {
		p.log.Error("end session: confirmation page", "err", err)
	}
}

// inJapanese answers, in Japanese, an authorization request op refuses on kagi's own page
// instead of sending it back to the application (an unknown client, a redirect URI not
// registered: RFC 6749 §4.1.2.1 forbids redirecting those). op writes such a refusal as
// English plain text; the customer's browser shows this page instead (op has logged the
// reason). Redirects and every other answer pass as op wrote them.
func inJapanese(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&refusalPage{ResponseWriter: w}, r)
	})
}

// refusalPage replaces a plain-text client error's body with refusedPage.
type refusalPage struct {
	http.ResponseWriter
	replaced bool
}

func (p *refusalPage) WriteHeader(code int) {
	h := p.Header()
	if code >= 400 && code < 500 && strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		p.replaced = true
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Del("Content-Length")
		p.ResponseWriter.WriteHeader(code)
		p.ResponseWriter.Write([]byte(refusedPage))
		return
	}
	p.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (p *refusalPage) Unwrap() http.ResponseWriter { return p.ResponseWriter }

func (p *refusalPage) Write(b []byte) (int, error) {
	if p.replaced {
		return len(b), nil
	}
	return p.ResponseWriter.Write(b)
}
