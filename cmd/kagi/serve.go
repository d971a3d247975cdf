package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"kagi/auth"
	"kagi/pgdb"
	"kagi/web"
)

// schema lists every package's migrations in dependency order.
var schema = []pgdb.Migrations{auth.Migrations}

// app is the wired service graph shared by serve and the CLI commands.
type app struct {
	cfg  *config
	log  *slog.Logger
	pool *pgxpool.Pool
	auth *auth.Service
}

func newApp(ctx context.Context, c *config, logOut io.Writer) (*app, error) {
	log := slog.New(slog.NewJSONHandler(logOut, nil))
	pool, err := pgdb.Open(ctx, c.DatabaseURL)
	if err != nil {
		return nil, err
	}
	authSvc, err := auth.New(auth.Config{
		Pool:            pool,
		Log:             log,
		Passwords:       auth.NewPasswordHasher(auth.DefaultArgon2, max(2, runtime.GOMAXPROCS(0))),
		PINKey:          c.PINKey,
		WebAuthn:        &webauthn.Config{RPID: c.RPID, RPDisplayName: "kagi", RPOrigins: c.RPOrigins},
		CreatePlatforms: c.CreatePlatforms,
		SecureCookies:   c.PublicURL.Scheme == "https",
	})
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &app{cfg: c, log: log, pool: pool, auth: authSvc}, nil
}

func (a *app) close() { a.pool.Close() }

// handler mounts every package's routes on one mux.
func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	a.auth.Routes(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.pool.Ping(ctx); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.Handler())
	return web.WithRequestID(mux)
}

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	dev := fs.Bool("dev", false, "development mode: generate secrets under .kagi/, allow plain http, enable /dev/ pages")
	flags := registerSettings(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := loadConfig(flags, *dev, getenv)
	if err != nil {
		return err
	}
	a, err := newApp(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer a.close()

	srv := &http.Server{
		Addr:              c.Listen,
		Handler:           a.handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      20 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	a.log.Info("kagi serving", "listen", c.Listen, "public_url", c.PublicURL.String(), "dev", c.Dev)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	a.log.Info("kagi stopped")
	return nil
}
