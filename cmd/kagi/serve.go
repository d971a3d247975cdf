package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"kagi/auth"
	"kagi/console"
	"kagi/ivr"
	"kagi/ivr/devphone"
	"kagi/ivr/twiliosim"
	"kagi/notify"
	"kagi/openid"
	"kagi/pgdb"
	"kagi/recovery"
	"kagi/staff"
	"kagi/web"
)

// schema lists every package's migrations in dependency order.
var schema = []pgdb.Migrations{auth.Migrations, auth.NotifyMigrations, staff.Migrations, recovery.Migrations, ivr.Migrations, openid.Migrations}

// app is the wired service graph shared by serve and the CLI commands.
type app struct {
	cfg      *config
	log      *slog.Logger
	pool     *pgxpool.Pool
	keys     *openid.KeyStore
	auth     *auth.Service
	recovery *recovery.Service
	voice    *recovery.VoiceVerifier
	staff    *staff.Service
	console  *console.Service
	outbox   *notify.Outbox
	// texter sends texts and caller places calls (Twilio, or the development mailbox); nil
	// for the command-line tools and without Twilio.
	texter notify.Texter
	caller notify.Caller
}

// newApp wires the services. A server (deliver) gets an outbox that sends; the command-line
// tools get one that only enqueues, for the running server to send.
func newApp(ctx context.Context, c *config, logOut io.Writer, deliver bool) (*app, error) {
	log := slog.New(web.RequestIDLogs(slog.NewJSONHandler(logOut, nil)))
	pool, err := pgdb.Open(ctx, c.DatabaseURL, c.Pooler)
	if err != nil {
		return nil, err
	}
	var (
		mailer notify.Mailer
		texter notify.Texter
		caller notify.Caller
	)
	if deliver {
		if mailer, texter, caller, err = senders(c, pool); err != nil {
			pool.Close()
			return nil, err
		}
	}
	// The OpenID Provider's signing keys sign the ID tokens and the back-channel logout tokens,
	// which the outbox delivers (§11.5).
	keys, err := openid.NewKeyStore(openid.KeyStoreConfig{Pool: pool, Secret: c.PINKey, Rotation: c.OIDCKeyRotation})
	if err != nil {
		pool.Close()
		return nil, err
	}
	logouts, err := openid.NewLogoutSender(openid.LogoutSenderConfig{Issuer: c.PublicURL.String(), Keys: keys, Clients: c.OIDCClients, Log: log})
	if err != nil {
		pool.Close()
		return nil, err
	}
	outbox, err := notify.New(notify.Config{
		Pool:   pool,
		Log:    log,
		Mailer: mailer,
		Texter: texter,
		SMS:    c.Twilio != nil || c.Dev,
		// Behind a transaction-mode pooler LISTEN cannot work: the workers poll.
		PollOnly: c.Pooler == pgdb.TransactionPooler,
		Brand:    c.BrandName,
		Audit:    auth.NotifyAudit(time.Now),
		Workers:  logouts.Register,
	})
	if err != nil {
		pool.Close()
		return nil, err
	}
	// Every end of a customer's session — the core's, the expiry job's, a window's — revokes
	// the applications' tokens from it and sends their logout tokens (§11.5).
	ends, err := openid.NewSessionEnds(openid.SessionEndsConfig{Secret: c.PINKey, Clients: c.OIDCClients, Outbox: outbox})
	if err != nil {
		pool.Close()
		return nil, err
	}
	// One set of service keys for the web login's check (recovery) and the back office (auth).
	apiKeys, err := web.NewServiceKeys(c.APIKeys)
	if err != nil {
		pool.Close()
		return nil, err
	}
	// Two relying parties with the same ceremony policy (auth.NewRelyingParty): the customers'
	// on the public origin, and the staff's on the console's own origin (§6), so no customer
	// origin ever sees a staff ceremony.
	rp := &webauthn.Config{RPID: c.RPID, RPDisplayName: "kagi", RPOrigins: c.RPOrigins, RPOpaqueOrigins: c.RPOpaqueOrigins}
	staffRP := &webauthn.Config{RPID: c.ConsoleURL.Hostname(), RPDisplayName: "kagi", RPOrigins: []string{c.ConsoleURL.String()}}
	secure := c.PublicURL.Scheme == "https"
	staffSvc, err := staff.New(staff.Config{Pool: pool, Log: log, WebAuthn: staffRP, Secret: c.PINKey, ReadLimit: c.StaffReadLimit,
		Authenticators: c.StaffAuthenticators})
	if err != nil {
		pool.Close()
		return nil, err
	}
	recoverySvc, err := recovery.New(recovery.Config{
		Outbox:       outbox,
		RecoveryHold: c.RecoveryHold,
		SecondFactor: c.SecondFactor,
		SendLimits:   c.SendLimits,
		Pool:         pool,
		Log:          log,
		SessionEnds:  ends,
		Window:       c.FallbackWindow,
		APIKeys:      apiKeys,
		// The expiry job runs each package's purges of its own tables; auth.Config.Throttle is
		// left at its default below, so the throttle purge gets the same.
		Purges: slices.Concat(auth.Purges(auth.PurgeConfig{SessionIdle: c.SessionIdle, SessionEnds: ends}), staff.Purges(), ivr.Purges(),
			openid.Purges(c.OIDCKeyRotation, openid.MaxTokenLifetime)),
	})
	if err != nil {
		pool.Close()
		return nil, err
	}
	authSvc, err := auth.New(auth.Config{
		Pool:            pool,
		Log:             log,
		Passwords:       auth.NewPasswordHasher(auth.DefaultArgon2, auth.HashSlots()),
		PINKey:          c.PINKey,
		WebAuthn:        rp,
		CreatePlatforms: c.CreatePlatforms,
		SecureCookies:   secure,
		Windows:         recoverySvc.ForAuth(),
		Outbox:          outbox,
		EmailCheck:      c.EmailCheck,
		LoginNotice:     c.LoginNotice,
		RecoveryHold:    c.RecoveryHold,
		SessionIdle:     c.SessionIdle,
		ClientLimits:    c.ClientLimits,
		Support:         recovery.Desk{Calendar: c.Calendar, Enabled: c.SupportEnabled, VoiceLine: c.VoiceLineNumber, Window: c.FallbackWindow},
		// A login made for an application's authorization request finishes it (§11.3); the
		// provider itself, which needs the core, is built with the public handler.
		Authorizations: openid.Authorizations{Pool: pool},
		SessionEnds:    ends,
		ServiceKeys:    apiKeys,
	})
	if err != nil {
		pool.Close()
		return nil, err
	}
	voice := recovery.NewVoiceVerifier(authSvc, recoverySvc)
	consoleSvc, err := console.New(console.Config{
		Pool: pool, Log: log, Core: authSvc, Staff: staffSvc, Windows: recoverySvc, Voice: voice,
		// The console opens windows in the voice line's business hours and lists its calls.
		Calls: ivr.CallLog{}, Calendar: c.Calendar, SupportEnabled: c.SupportEnabled,
		SecureCookies: c.ConsoleURL.Scheme == "https",
	})
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &app{cfg: c, log: log, pool: pool, keys: keys, auth: authSvc, recovery: recoverySvc, voice: voice, staff: staffSvc,
		console: consoleSvc, outbox: outbox, texter: texter, caller: caller}, nil
}

func (a *app) close() { a.pool.Close() }

// senders are what delivers mail, texts and calls back: SMTP, or in development mode without it
// the database mailbox of /dev/mail; Twilio (Messaging and Calls) when configured, else in
// development mode the same mailbox, else no texts or calls.
func senders(c *config, pool *pgxpool.Pool) (notify.Mailer, notify.Texter, notify.Caller, error) {
	box := notify.DevMailbox{Pool: pool}
	var (
		mailer notify.Mailer = box
		texter notify.Texter
		caller notify.Caller
	)
	if c.Dev {
		texter, caller = box, box
	}
	if c.SMTP != nil {
		m, err := notify.NewSMTPMailer(*c.SMTP, c.MailFrom)
		if err != nil {
			return nil, nil, nil, err
		}
		mailer = m
	}
	if c.Twilio != nil {
		t, err := notify.NewTwilioTexter(*c.Twilio)
		if err != nil {
			return nil, nil, nil, err
		}
		texter, caller = t, t
	}
	return mailer, texter, caller, nil
}

// handler mounts every package's public routes on one mux: the public listener's. The operator
// console is not among them (consoleHandler): under /staff/ this one answers 404. The voice line
// is built here, not in newApp, because only the server needs Twilio's token.
func (a *app) handler(ready http.Handler) (http.Handler, error) {
	c := a.cfg
	line, err := ivr.NewHandler(ivr.HandlerConfig{
		Pool:           a.pool,
		Log:            a.log,
		PublicURL:      c.PublicURL.String(),
		AuthToken:      c.TwilioAuthToken,
		Voice:          c.IVRVoice,
		Brand:          c.BrandName,
		OperatorNumber: c.OperatorNumber,
		Calendar:       c.Calendar,
		SupportEnabled: c.SupportEnabled,
		Verifier:       a.voice,
		Texter:         a.texter,
		Caller:         a.caller,
	})
	if err != nil {
		return nil, err
	}
	provider, err := a.provider()
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	a.auth.Routes(mux)
	a.auth.BackOfficeRoutes(mux)
	provider.Routes(mux)
	a.recovery.Routes(mux)
	line.Routes(mux)
	auth.NewWellKnown(a.log, c.Apps).Routes(mux)
	mux.Handle("GET /api/v1/support/status", recovery.SupportStatusHandler(a.log, a.cfg.Calendar, a.cfg.SupportEnabled, time.Now))
	if a.cfg.Dev {
		mux.Handle("GET /dev/mail", web.Browser(notify.DevMailHandler(a.pool, a.log)))
		mux.Handle("GET /dev/mail.json", notify.DevMailJSONHandler(a.pool, a.log))
		devphone.Routes(mux, a.log, &twiliosim.Simulator{
			Client:    &http.Client{Timeout: 20 * time.Second},
			BaseURL:   "http://127.0.0.1" + listenPort(a.cfg.Listen),
			PublicURL: a.cfg.PublicURL.String(),
			Token:     a.cfg.TwilioAuthToken,
		}, a.pool)
	}
	mux.HandleFunc("GET /healthz", healthz)
	mux.Handle("GET /readyz", ready)
	return a.frame(mux, c.PublicURL), nil
}

// provider is the OpenID Provider of the brokerage's applications (§11), on the public URL as
// its issuer. Plain http is allowed only in --dev, where the public URL is on this machine.
func (a *app) provider() (*openid.Provider, error) {
	c := a.cfg
	return openid.NewProvider(openid.ProviderConfig{
		Pool: a.pool, Log: a.log, Issuer: c.PublicURL.String(), Insecure: c.Dev && c.PublicURL.Scheme == "http",
		Secret: c.PINKey, Clients: c.OIDCClients, Keys: a.keys, Auth: a.auth, EmailCheck: c.EmailCheck,
	})
}

// consoleHandler is the console listener's (KAGI_CONSOLE_LISTEN): the operator console alone,
// on its own origin (§6).
func (a *app) consoleHandler() http.Handler {
	mux := http.NewServeMux()
	a.console.Routes(mux)
	return a.frame(mux, a.cfg.ConsoleURL)
}

// frame is what every browser-facing listener puts around its mux: request ids, the client
// address behind the trusted proxies, metrics and the Japanese answer to an unmatched route,
// and HSTS when its origin is https.
func (a *app) frame(mux *http.ServeMux, origin *url.URL) http.Handler {
	var h http.Handler = web.WithRequestID(web.WithClientAddr(a.cfg.TrustedProxies, web.Measured(mux)))
	if origin.Scheme == "https" {
		h = web.StrictTransport(h)
	}
	return h
}

// adminHandler is the admin listener's (KAGI_ADMIN_LISTEN): /metrics, which the public listener
// never serves, and the same /healthz and /readyz.
func adminHandler(ready http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.Handler())
	mux.HandleFunc("GET /healthz", healthz)
	mux.Handle("GET /readyz", ready)
	return mux
}

// healthz answers liveness: the process serves.
func healthz(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) }

// readiness answers /readyz: 503 while the server drains on SIGTERM, when the database does not
// answer, or when its schema is behind this binary (a replica started before `kagi migrate`). A
// clock that differs from the database's by more than maxClockSkew is reported in the answer
// without failing it: every replica would fail alike, and the line must keep answering.
type readiness struct {
	pool     *pgxpool.Pool
	draining atomic.Bool
}

// maxClockSkew is the most the server's clock may differ from the database's before it is
// reported: windows, sessions and lockouts compare the server's time with times the database
// keeps.
const maxClockSkew = 2 * time.Second

func (rd *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rd.draining.Load() {
		http.Error(w, "draining", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	skew, err := clockSkew(ctx, rd.pool)
	if err != nil {
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	behind, err := pgdb.Behind(ctx, rd.pool, schema...)
	if err != nil {
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	if len(behind) > 0 {
		http.Error(w, "database schema behind this binary (run kagi migrate): "+strings.Join(behind, ", "), http.StatusServiceUnavailable)
		return
	}
	if skew > maxClockSkew || skew < -maxClockSkew {
		fmt.Fprintf(w, "ok; the clock differs from the database's by %s\n", skew.Round(time.Millisecond))
		return
	}
	w.Write([]byte("ok\n"))
}

// clockSkew is how far the server's clock is ahead of the database's (negative: behind).
func clockSkew(ctx context.Context, q pgdb.Querier) (time.Duration, error) {
	before := time.Now()
	var db time.Time
	if err := q.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&db); err != nil {
		return 0, err
	}
	after := time.Now()
	return before.Add(after.Sub(before) / 2).Sub(db), nil
}

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := newFlagSet("serve")
	flags := addAppFlags(fs, forServe, "development mode: generate secrets under .kagi/, allow plain http, enable /dev/ pages")
	if err := parseArgs(fs, args, stderr); err != nil {
		return err
	}
	a, err := flags.open(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	c := a.cfg
	if !c.Dev {
		if err := pgdb.CheckServing(ctx, a.pool, auditTable); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
	}
	if err := a.outbox.Start(ctx); err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.outbox.Stop(stopCtx); err != nil {
			a.log.Warn("outbox stop", "err", err)
		}
	}()
	stopExpiry, err := a.recovery.StartExpiry(c.ExpirySchedule)
	if err != nil {
		return err
	}
	defer stopExpiry()
	// The hashes unknown login IDs and account numbers are checked against, read before the
	// first request and every few minutes after.
	stopDecoys, err := a.auth.KeepDecoysFresh(ctx)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer stopDecoys()

	ready := &readiness{pool: a.pool}
	handler, err := a.handler(ready)
	if err != nil {
		return err
	}
	if skew, err := clockSkew(ctx, a.pool); err == nil && (skew > maxClockSkew || skew < -maxClockSkew) {
		a.log.Warn("the clock differs from the database's", "skew", skew.String())
	}
	srv, admin, console := newServer(handler), newServer(adminHandler(ready)), newServer(a.consoleHandler())
	public, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	adminLn, err := net.Listen("tcp", c.AdminListen)
	if err != nil {
		public.Close()
		return fmt.Errorf("serve: admin listener: %w", err)
	}
	consoleLn, err := net.Listen("tcp", c.ConsoleListen)
	if err != nil {
		public.Close()
		adminLn.Close()
		return fmt.Errorf("serve: console listener: %w", err)
	}
	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(public) }()
	go func() { errc <- admin.Serve(adminLn) }()
	go func() { errc <- console.Serve(consoleLn) }()
	if !c.Dev && c.SecondFactor == recovery.SecondFactorNone {
		a.log.Warn("voice line: KAGI_IVR_SECOND_FACTOR=none — a window opens on caller ID, account number and PIN alone; caller ID can be forged (§4.8)")
	}
	if !c.Dev && c.BareAPIKeys > 0 {
		a.log.Warn(fmt.Sprintf("KAGI_API_KEYS: %d key(s) without a name are audited by position as key1, key2, …; write each as name:key", c.BareAPIKeys))
	}
	if c.Dev && c.SMTP == nil {
		a.log.Info("development mode: emails and texts are kept in the database and shown at " + c.PublicURL.String() + "/dev/mail")
	}
	a.log.Info("kagi serving", "listen", public.Addr().String(), "admin", adminLn.Addr().String(), "public_url", c.PublicURL.String(),
		"console", consoleLn.Addr().String(), "console_url", c.ConsoleURL.String(), "dev", c.Dev)
	select {
	case err := <-errc:
		srv.Close()
		admin.Close()
		console.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Draining: /readyz fails so the load balancer stops sending requests, which are still
	// served meanwhile; then the listeners close, letting requests in flight finish.
	ready.draining.Store(true)
	a.log.Info("kagi draining", "delay", c.ShutdownDelay.String())
	time.Sleep(c.ShutdownDelay)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = errors.Join(srv.Shutdown(shutdownCtx), admin.Shutdown(shutdownCtx), console.Shutdown(shutdownCtx))
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	a.log.Info("kagi stopped")
	return nil
}

// newServer is an HTTP server with the timeouts of every kagi listener.
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      20 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
}
