package auth

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestThrottleBeforeTheWindowDoesNotBlockRecovery(t *testing.T) {
	t.Parallel()
	windows := &recordingWindows{open: map[int64]Window{}}
	e := newTestEnv(t, func(c *Config) { c.Windows = windows })
	acct := e.addAccount(demoAccount)
	e.insertPasskey(acct.ID, e.clock.Now(), e.clock.Now())

	// Someone who knows the customer's login ID keeps it locked out.
	for i := range DefaultThrottle.Max {
		if status, body := e.passwordLogin(e.browser(), "taro", "guess!guess!"); status != http.StatusForbidden {
			t.Fatalf("attempt %d: %d %v", i+1, status, body)
		}
	}
	if status, body := e.passwordLogin(e.browser(), "taro", "guess!guess!"); status != http.StatusTooManyRequests {
		t.Fatalf("attempt %d: %d %v, want 429", DefaultThrottle.Max+1, status, body)
	}

	// The customer calls the voice line, which opens a window: the lockout does not hold it.
	windows.openFor(acct.ID, Window{ID: 7, ExpiresAt: e.clock.Now().Add(30 * time.Minute), OpenedVia: "ivr"})
	status, body := e.passwordLogin(e.browser(), "taro", demoAccount.Password)
	if status != http.StatusOK || body["via_fallback_window"] != true {
		t.Fatalf("recovery login after someone else's failures: %d %v", status, body)
	}

	t.Run("guesses during the window are limited", func(t *testing.T) {
		for i := range DefaultThrottle.Max {
			if status, body := e.passwordLogin(e.browser(), "taro", "guess!guess!"); status != http.StatusUnauthorized {
				t.Fatalf("attempt %d: %d %v", i+1, status, body)
			}
		}
		if status, body := e.passwordLogin(e.browser(), "taro", demoAccount.Password); status != http.StatusTooManyRequests {
			t.Fatalf("right password after %d guesses in the window: %d %v, want 429", DefaultThrottle.Max, status, body)
		}
	})
	t.Run("each lockout is audited once", func(t *testing.T) {
		got := e.auditDetails(acct.ID, "login_throttled")
		if len(got) != 2 {
			t.Fatalf("login_throttled %v, want the lockout before the window and the one in it", got)
		}
		if _, ok := got[0]["window_id"]; ok || got[0]["locked_until"] == nil {
			t.Errorf("first lockout %v: want locked_until, no window", got[0])
		}
		if got[1]["window_id"] != float64(7) {
			t.Errorf("second lockout %v: want window_id 7", got[1])
		}
	})
}

// TestUnknownLoginIDsAreMetricsNotAuditRows: anonymous traffic — login IDs no account has —
// is counted in kagi_login_unknown_id_total, and the audit trail stays the accounts'.
func TestUnknownLoginIDsAreMetricsNotAuditRows(t *testing.T) {
	failed, throttled := anonymousLogins.WithLabelValues("failed"), anonymousLogins.WithLabelValues("throttled")
	failedBefore, throttledBefore := testutil.ToFloat64(failed), testutil.ToFloat64(throttled)
	e := newTestEnv(t)
	for range DefaultThrottle.Max + 3 {
		e.passwordLogin(e.browser(), "ghost", "wrong password!")
	}
	var n int
	if err := e.svc.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d audit rows (%v) for a login ID no account has, want none", n, err)
	}
	if got := testutil.ToFloat64(failed) - failedBefore; got != float64(DefaultThrottle.Max) {
		t.Errorf("failed unknown logins counted %v, want %d", got, DefaultThrottle.Max)
	}
	if got := testutil.ToFloat64(throttled) - throttledBefore; got != 1 {
		t.Errorf("lockouts of an unknown login ID counted %v, want 1", got)
	}
}

func TestPurgeLapsedThrottles(t *testing.T) {
	t.Parallel()
	policy := ThrottlePolicy{Max: 5, Window: 15 * time.Minute, Lockout: time.Hour}
	e := newTestEnv(t, func(c *Config) { c.Throttle = policy })
	e.addAccount(demoAccount)
	ctx := context.Background()
	for range policy.Max + 1 {
		e.passwordLogin(e.browser(), "taro", "wrong password!") // locked out
	}
	e.passwordLogin(e.browser(), "hanako", "wrong password!")
	e.clock.Advance(policy.Window)
	e.passwordLogin(e.browser(), "jiro", "wrong password!")
	n, err := PurgeLapsedThrottles(ctx, e.svc.pool, policy, e.clock.Now(), 1000)
	if err != nil || n != 1 {
		t.Fatalf("purged %d %v, want hanako's lapsed count only (taro is locked out, jiro's is fresh)", n, err)
	}

	t.Run("uses the index", func(t *testing.T) {
		tx, err := e.svc.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		// A small table is read sequentially whatever the indexes; forbid that to see
		// whether the planner could use one.
		if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
			t.Fatal(err)
		}
		rows, err := tx.Query(ctx, `EXPLAIN `+purgeThrottlesSQL, e.clock.Now(), policy.Window, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if p := strings.Join(plan, "\n"); !strings.Contains(p, "login_throttle_window") {
			t.Fatalf("plan does not use login_throttle_window:\n%s", p)
		}
	})
}
