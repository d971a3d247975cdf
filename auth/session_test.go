package auth

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"kagi/auth/authtest"
	"kagi/pgdb"
)

// openWindow is a FallbackWindows with one window always open: the seam as recovery fills it,
// without recovery's tables (recovery's own tests cover the real thing).
type openWindow struct{ until time.Time }

func (o openWindow) OpenWindow(context.Context, pgdb.Querier, int64, time.Time) (Window, bool, error) {
	return Window{ID: 7, ExpiresAt: o.until, OpenedVia: "ivr"}, true, nil
}
func (openWindow) WindowUsed(context.Context, pgx.Tx, Window, time.Time) error { return nil }
func (openWindow) CloseWindow(context.Context, pgx.Tx, int64, CloseReason, time.Time) error {
	return nil
}

func TestRecoverySessionReachesTheSessionAndItsPasskey(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.Windows = openWindow{until: time.Date(2031, 6, 4, 1, 30, 0, 0, time.UTC)} })
	acct := e.addAccount(demoAccount)
	if _, err := e.svc.pool.Exec(context.Background(), `
		INSERT INTO passkeys (account_id, credential_id, public_key, aaguid, backup_eligible, backup_state, created_at)
		VALUES ($1, 'id', 'k', '00000000-0000-0000-0000-000000000000', true, true, $2)`, acct.ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	c := e.browser()
	status, body := e.passwordLogin(c, "taro", demoAccount.Password)
	if status != http.StatusOK || body["assurance"] != "password_fallback" || body["via_fallback_window"] != true {
		t.Fatalf("login through the window: %d %v", status, body)
	}

	// The core's routes are open to the recovery session: the session (its assurance says what
	// it is) and the passkey it exists to re-create.
	for _, route := range []struct{ method, path string }{{"GET", "/api/v1/session"}, {"GET", "/api/v1/passkeys/current"}} {
		if status, body := e.do(c, route.method, route.path, nil); status != http.StatusOK {
			t.Errorf("%s %s: %d %v, want it open to the recovery session", route.method, route.path, status, body)
		}
	}
}

// A session ends after KAGI_SESSION_IDLE without a request, beside its absolute lifetime; each
// request keeps it alive.
func TestSessionEndsWhenIdle(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addAccount(demoAccount)
	c := e.loggedIn(acct, AssurancePassword)
	for range 3 { // used every 29 minutes: alive for well over the idle timeout
		e.clock.Advance(29 * time.Minute)
		if status, _ := e.do(c, "GET", "/api/v1/session", nil); status != http.StatusOK {
			t.Fatalf("a session used every 29 minutes ended (%d)", status)
		}
	}
	e.clock.Advance(DefaultSessionIdle)
	if status, body := e.do(c, "GET", "/api/v1/session", nil); status != http.StatusUnauthorized {
		t.Fatalf("a session idle for 30 minutes: %d %v", status, body)
	}
}

// Creating the account's first passkey ends its other sessions (a password session, perhaps
// someone else's, must not outlive the move to passkeys); the session that created it stays.
func TestFirstPasskeyEndsOtherSessions(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addAccount(demoAccount)
	mine, other := e.loggedIn(acct, AssurancePassword), e.loggedIn(acct, AssurancePassword)
	if _, err := e.newPhone(authtest.Config{}).Register(context.Background(), mine); err != nil {
		t.Fatal(err)
	}
	if status, _ := e.do(mine, "GET", "/api/v1/session", nil); status != http.StatusOK {
		t.Fatalf("the session that created the passkey ended (%d)", status)
	}
	if status, _ := e.do(other, "GET", "/api/v1/session", nil); status != http.StatusUnauthorized {
		t.Fatalf("another password session outlived the first passkey (%d)", status)
	}
}
