package recovery

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"kagi"

	"github.com/jackc/pgx/v5"

	"kagi/auth"
	"kagi/notify/notifytest"
	"kagi/pgdb"
)

// windowEvents is the account's audit trail restricted to the window's own lines.
func (e *testEnv) windowEvents(accountID int64) []string {
	e.t.Helper()
	var out []string
	for _, ev := range e.auditEvents(accountID) {
		if strings.HasPrefix(ev, "window_") {
			out = append(out, ev)
		}
	}
	return out
}

func TestWindowLetsPasswordLoginUntilItEnds(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addPasskeyAccount("taro", "1234567")

	if status, body := e.passwordLogin(e.browser(), "taro"); status != http.StatusForbidden || body["error"] != "passkey_required" {
		t.Fatalf("login before any window: %d %v, want 403 passkey_required", status, body)
	}

	w := e.open(acct.ID, ChannelIVR, "ivr:CA0123456789abcdef0123456789abcdef", "")
	if want := testStart.Add(30 * time.Minute); !w.ExpiresAt.Equal(want) || w.OpenedVia != "ivr" {
		t.Fatalf("window %+v, want ivr until %v", w, want)
	}

	first := e.browser()
	t.Run("password login through the window", func(t *testing.T) {
		status, body := e.passwordLogin(first, "taro")
		if status != http.StatusOK || body["via_fallback_window"] != true || body["assurance"] != "password_fallback" {
			t.Fatalf("%d %v, want 200 via the window with a password_fallback session", status, body)
		}
		status, body, _ = e.do(first, "GET", "/api/v1/session", nil)
		if status != http.StatusOK || body["assurance"] != "password_fallback" {
			t.Fatalf("session: %d %v", status, body)
		}
	})

	e.clock.Advance(29 * time.Minute)
	t.Run("still allowed 29 minutes later", func(t *testing.T) {
		status, body := e.passwordLogin(e.browser(), "taro")
		if status != http.StatusOK || body["via_fallback_window"] != true {
			t.Fatalf("%d %v", status, body)
		}
	})

	e.clock.Advance(2 * time.Minute)
	t.Run("passkey_required 31 minutes later without the expiry job", func(t *testing.T) {
		status, body := e.passwordLogin(e.browser(), "taro")
		if status != http.StatusForbidden || body["error"] != "passkey_required" {
			t.Fatalf("%d %v, want 403 passkey_required", status, body)
		}
		if status, body, _ := e.do(first, "GET", "/api/v1/session", nil); status != http.StatusUnauthorized {
			t.Fatalf("recovery session outlived its window: %d %v", status, body)
		}
		if ws := e.windows(acct.ID); len(ws) != 1 || ws[0].Closed {
			t.Fatalf("windows %+v: the job has not run, the row must still be unmarked", ws)
		}
	})

	t.Run("the expiry job marks it expired and audits it", func(t *testing.T) {
		if res := e.runExpiry(); res.Windows != 1 || res.Skipped {
			t.Fatalf("run: %+v, want 1 window expired", res)
		}
		ws := e.windows(acct.ID)
		if len(ws) != 1 || !ws[0].Closed || ws[0].CloseReason != "expired" || ws[0].UsedCount != 2 {
			t.Fatalf("windows %+v, want one expired window used twice", ws)
		}
		var closedAt time.Time
		if err := e.pool.QueryRow(context.Background(), `SELECT closed_at FROM fallback_windows WHERE id = $1`, w.ID).Scan(&closedAt); err != nil {
			t.Fatal(err)
		}
		if !closedAt.Equal(w.ExpiresAt) {
			t.Errorf("closed_at %v, want the window's end %v", closedAt, w.ExpiresAt)
		}
		want := []string{"window_opened", "window_used", "window_used", "window_closed:expired"}
		if got := e.windowEvents(acct.ID); !reflect.DeepEqual(got, want) {
			t.Fatalf("audit %v, want %v", got, want)
		}
		if res := e.runExpiry(); res.Windows != 0 {
			t.Fatalf("second run expired %d windows again", res.Windows)
		}
	})
}

func TestWindowHonouredOnlyBeforeItsEnd(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addPasskeyAccount("taro", "1234567")
	w := e.open(acct.ID, ChannelOperator, "staff:suzuki", "本人確認済み")
	core := e.svc.ForAuth()
	for _, c := range []struct {
		name string
		at   time.Time
		open bool
	}{
		{"at opening", testStart, true},
		{"a nanosecond before the end", w.ExpiresAt.Add(-time.Nanosecond), true},
		{"at the end", w.ExpiresAt, false},
		{"an hour later", w.ExpiresAt.Add(time.Hour), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, open, err := core.OpenWindow(context.Background(), e.pool, acct.ID, c.at)
			if err != nil {
				t.Fatal(err)
			}
			if open != c.open || (open && (got.ID != w.ID || !got.ExpiresAt.Equal(w.ExpiresAt))) {
				t.Fatalf("OpenWindow at %v = %+v, %v; want open=%v", c.at, got, open, c.open)
			}
		})
	}
}

func TestRecoverySessionMayOnlyRecover(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addPasskeyAccount("taro", "1234567")
	e.open(acct.ID, ChannelIVR, "ivr:CA01", "")
	c := e.browser()
	if status, body := e.passwordLogin(c, "taro"); status != http.StatusOK {
		t.Fatalf("login: %d %v", status, body)
	}
	status, body, _ := e.do(c, "GET", "/api/v1/session", nil)
	if status != http.StatusOK || body["assurance"] != "password_fallback" || body["login_id"] != "taro" {
		t.Fatalf("session: %d %v, want the recovery session with assurance password_fallback", status, body)
	}
	got, _ := time.Parse(time.RFC3339, fmt.Sprint(body["expires_at"]))
	if want := testStart.Add(30 * time.Minute); !got.Equal(want) {
		t.Errorf("session expires_at %v, want the window's end %v", body["expires_at"], want)
	}
	if status, body, _ := e.do(c, "POST", "/api/v1/logout", nil); status != http.StatusOK {
		t.Fatalf("logout: %d %v", status, body)
	}
	if status, _, _ := e.do(c, "GET", "/api/v1/session", nil); status != http.StatusUnauthorized {
		t.Fatalf("session after logout: %d", status)
	}
}

// addPasskeySession stores a full (passkey) session for the account and returns a browser
// holding it. It writes the row as auth does (the cookie token's SHA-256) because auth's
// passkey login API is being written at the same time as this package.
func (e *testEnv) addPasskeySession(accountID int64) *http.Client {
	e.t.Helper()
	token := "passkey-session-token-for-tests-0123456789"
	h := sha256.Sum256([]byte(token))
	now := e.clock.Now()
	_, err := e.pool.Exec(context.Background(), `
		INSERT INTO sessions (token_hash, account_id, assurance, created_at, authenticated_at, expires_at, last_seen_at)
		VALUES ($1, $2, 'passkey', $3, $3, $4, $3)`, h[:], accountID, now, now.Add(12*time.Hour))
	if err != nil {
		e.t.Fatal(err)
	}
	c := e.browser()
	u, _ := url.Parse(e.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: auth.SessionCookie, Value: token, Path: "/"}})
	return c
}

func TestOperatorCloseEndsRecoverySession(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addPasskeyAccount("taro", "1234567")
	e.open(acct.ID, ChannelOperator, "staff:suzuki", "本人確認済み")
	recovery := e.browser()
	if status, body := e.passwordLogin(recovery, "taro"); status != http.StatusOK {
		t.Fatalf("login: %d %v", status, body)
	}
	full := e.addPasskeySession(acct.ID)

	closed, err := e.closeByStaff(context.Background(), acct.ID, "staff:suzuki", "お客様のご依頼")
	if err != nil || !closed {
		t.Fatalf("CloseByStaff = %v, %v", closed, err)
	}
	if status, body, _ := e.do(recovery, "GET", "/api/v1/session", nil); status != http.StatusUnauthorized || body["error"] != "unauthorized" {
		t.Fatalf("recovery session after the close: %d %v, want 401", status, body)
	}
	if status, body, _ := e.do(full, "GET", "/api/v1/session", nil); status != http.StatusOK || body["assurance"] != "passkey" {
		t.Fatalf("passkey session after the close: %d %v, want it untouched", status, body)
	}
	if status, body := e.passwordLogin(e.browser(), "taro"); status != http.StatusForbidden || body["error"] != "passkey_required" {
		t.Fatalf("login after the close: %d %v", status, body)
	}
	if ws := e.windows(acct.ID); len(ws) != 1 || ws[0].CloseReason != "closed_by_operator" {
		t.Fatalf("windows %+v", ws)
	}

	t.Run("nothing to close", func(t *testing.T) {
		closed, err := e.closeByStaff(context.Background(), acct.ID, "staff:suzuki", "もう一度")
		if err != nil || closed {
			t.Fatalf("CloseByStaff = %v, %v; want false", closed, err)
		}
	})
	t.Run("a reason is required", func(t *testing.T) {
		if _, err := e.closeByStaff(context.Background(), acct.ID, "staff:suzuki", "  "); !errors.Is(err, ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
	want := []string{"window_opened", "window_used", "window_closed:closed_by_operator"}
	if got := e.windowEvents(acct.ID); !reflect.DeepEqual(got, want) {
		t.Fatalf("audit %v, want %v", got, want)
	}
}

func TestOperatorCloseOfARunOutWindowIsRecordedAsExpired(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addPasskeyAccount("taro", "1234567")
	e.open(acct.ID, ChannelOperator, "staff:suzuki", "本人確認済み")
	e.clock.Advance(45 * time.Minute)
	closed, err := e.closeByStaff(context.Background(), acct.ID, "staff:suzuki", "お客様のご依頼")
	if err != nil || closed {
		t.Fatalf("CloseByStaff = %v, %v; want false: the window had run out", closed, err)
	}
	if got, want := e.windowEvents(acct.ID), []string{"window_opened", "window_closed:expired"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("audit %v, want %v", got, want)
	}
}

func TestPasskeyChangeClosesWindow(t *testing.T) {
	t.Parallel()
	for _, reason := range []auth.CloseReason{auth.ClosedPasskeyCreated, auth.ClosedPasskeyDeleted} {
		t.Run(string(reason), func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			acct := e.addPasskeyAccount("taro", "1234567")
			e.open(acct.ID, ChannelIVR, "ivr:CA01", "")
			c := e.browser()
			if status, body := e.passwordLogin(c, "taro"); status != http.StatusOK {
				t.Fatalf("login: %d %v", status, body)
			}
			err := pgdb.InTx(context.Background(), e.pool, func(tx pgx.Tx) error {
				return e.svc.ForAuth().CloseWindow(context.Background(), tx, acct.ID, reason, e.clock.Now())
			})
			if err != nil {
				t.Fatal(err)
			}
			if ws := e.windows(acct.ID); len(ws) != 1 || ws[0].CloseReason != string(reason) {
				t.Fatalf("windows %+v, want closed as %s", ws, reason)
			}
			if status, _, _ := e.do(c, "GET", "/api/v1/session", nil); status != http.StatusUnauthorized {
				t.Fatalf("recovery session after the close: %d, want 401", status)
			}
		})
	}
}

func TestWindowUsedAfterCloseIsRefused(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addPasskeyAccount("taro", "1234567")
	w := e.open(acct.ID, ChannelIVR, "ivr:CA01", "")
	if _, err := e.closeByStaff(context.Background(), acct.ID, "staff:suzuki", "お客様のご依頼"); err != nil {
		t.Fatal(err)
	}
	err := pgdb.InTx(context.Background(), e.pool, func(tx pgx.Tx) error {
		return e.svc.ForAuth().WindowUsed(context.Background(), tx, w, e.clock.Now())
	})
	if we := (*kagi.Error)(nil); !errors.As(err, &we) || we.Code != "passkey_required" {
		t.Fatalf("WindowUsed on a closed window: %v, want passkey_required", err)
	}
}

func TestConcurrentOpensLeaveOneWindow(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addPasskeyAccount("taro", "1234567")
	const n = 50
	var wg sync.WaitGroup
	ids := make([]int64, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			w, err := e.openErr(context.Background(), acct.ID, ChannelIVR, "ivr:CA01", "")
			ids[i], errs[i] = w.ID, err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	if ids = slices.Compact(ids); len(ids) != 1 {
		t.Fatalf("openings returned windows %v, want one", ids)
	}
	ws := e.windows(acct.ID)
	if len(ws) != 1 || ws[0].Closed || ws[0].RestartedCount != n-1 {
		t.Fatalf("windows %+v, want one open window restarted %d times", ws, n-1)
	}
	opened := e.count(`SELECT count(*) FROM audit_log WHERE account_id = $1 AND event = 'window_opened'`, acct.ID)
	restarted := e.count(`SELECT count(*) FROM audit_log WHERE account_id = $1 AND event = 'window_restarted'`, acct.ID)
	if opened != 1 || restarted != n-1 {
		t.Fatalf("audited %d opened and %d restarted, want 1 and %d", opened, restarted, n-1)
	}
}

func TestReopenRestartsTheSameWindow(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addPasskeyAccount("taro", "1234567")
	first := e.open(acct.ID, ChannelIVR, "ivr:CA01", "")
	e.clock.Advance(10 * time.Minute)
	second := e.open(acct.ID, ChannelOperator, "staff:suzuki", "もう一度お電話")
	if second.ID != first.ID {
		t.Fatalf("reopening created window %d, want the open one %d restarted", second.ID, first.ID)
	}
	if want := testStart.Add(40 * time.Minute); !second.ExpiresAt.Equal(want) {
		t.Fatalf("restarted window ends %v, want %v (30 minutes from the restart)", second.ExpiresAt, want)
	}
	e.clock.Advance(35 * time.Minute) // 45 minutes after the first opening
	if _, open, _ := e.svc.ForAuth().OpenWindow(context.Background(), e.pool, acct.ID, e.clock.Now()); open {
		t.Fatal("window still open 35 minutes after its restart")
	}
	e.clock.Advance(-10 * time.Minute)
	if _, open, _ := e.svc.ForAuth().OpenWindow(context.Background(), e.pool, acct.ID, e.clock.Now()); !open {
		t.Fatal("window closed 25 minutes after its restart")
	}
	if got, want := e.windowEvents(acct.ID), []string{"window_opened", "window_restarted"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("audit %v, want %v", got, want)
	}
}

func TestReopenAfterUnmarkedExpiry(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addPasskeyAccount("taro", "1234567")
	old := e.open(acct.ID, ChannelIVR, "ivr:CA01", "")
	e.clock.Advance(31 * time.Minute) // the job has not run: the row is still unmarked
	w := e.open(acct.ID, ChannelIVR, "ivr:CA02", "")
	if w.ID == old.ID {
		t.Fatal("a window that had run out was restarted; it must be recorded as expired and a new one opened")
	}
	if want := e.clock.Now().Add(30 * time.Minute); !w.ExpiresAt.Equal(want) {
		t.Fatalf("new window ends %v, want %v", w.ExpiresAt, want)
	}
	ws := e.windows(acct.ID)
	if len(ws) != 2 || ws[0].CloseReason != "expired" || ws[1].Closed {
		t.Fatalf("windows %+v, want the old one expired and the new one open", ws)
	}
	if got, want := e.windowEvents(acct.ID), []string{"window_opened", "window_closed:expired", "window_opened"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("audit %v, want %v", got, want)
	}
	if res := e.runExpiry(); res.Windows != 0 {
		t.Fatalf("the job expired %d windows already recorded", res.Windows)
	}
}

func TestOpenRefusesBadRequests(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addPasskeyAccount("taro", "1234567")
	for _, c := range []struct {
		name          string
		account       int64
		via           Channel
		actor, reason string
		want          error
	}{
		{"unknown account", acct.ID + 1000, ChannelOperator, "cli", "確認済み", ErrUnknownAccount},
		{"unknown channel", acct.ID, "sms", "cli", "確認済み", ErrInvalid},
		{"operator without a reason", acct.ID, ChannelOperator, "cli", " ", ErrInvalid},
		{"no actor", acct.ID, ChannelIVR, "", "", ErrInvalid},
		{"reason too long", acct.ID, ChannelOperator, "cli", strings.Repeat("理", MaxReasonLen+1), ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := e.openErr(context.Background(), c.account, c.via, c.actor, c.reason); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows`); n != 0 {
		t.Fatalf("%d windows written by refused requests", n)
	}
}

func TestOpenTxCommitsWithTheCallersTransaction(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addPasskeyAccount("taro", "1234567")
	ctx := context.Background()
	errCallFailed := errors.New("the call's own step failed")
	err := pgdb.InTx(ctx, e.pool, func(tx pgx.Tx) error {
		if _, err := e.svc.OpenTx(ctx, tx, acct.ID, ChannelIVR, "ivr:CA01", ""); err != nil {
			return err
		}
		return errCallFailed
	})
	if !errors.Is(err, errCallFailed) {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows`); n != 0 {
		t.Fatalf("rolled-back opening left %d windows", n)
	}
	if got := e.windowEvents(acct.ID); len(got) != 0 {
		t.Fatalf("rolled-back opening left audit lines %v", got)
	}
	if got := notifytest.Kinds(t, e.pool, acct.ID); len(got) != 0 {
		t.Fatalf("rolled-back opening enqueued %v", got)
	}
	err = pgdb.InTx(ctx, e.pool, func(tx pgx.Tx) error {
		_, err := e.svc.OpenTx(ctx, tx, acct.ID, ChannelIVR, "ivr:CA01", "")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if ws := e.windows(acct.ID); len(ws) != 1 || ws[0].Closed {
		t.Fatalf("windows %+v", ws)
	}
}

// Someone who guesses the password during the window and locks its count does not keep the
// customer out for long: calling the voice line again restarts the window, with a fresh count.
func TestGuessesDuringTheWindowYieldToTheNextVerification(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addPasskeyAccount("taro", "1234567")
	e.open(acct.ID, ChannelIVR, "ivr:CA01", "")
	for range auth.DefaultThrottle.Max + 1 {
		e.do(e.browser(), "POST", "/api/v1/login/password", map[string]string{"login_id": "taro", "password": "wrong guess!"})
	}
	if status, body := e.passwordLogin(e.browser(), "taro"); status != http.StatusTooManyRequests {
		t.Fatalf("after the guesses: %d %v, want the window's count locked", status, body)
	}
	e.clock.Advance(time.Minute)
	e.open(acct.ID, ChannelIVR, "ivr:CA02", "")
	if status, body := e.passwordLogin(e.browser(), "taro"); status != http.StatusOK || body["via_fallback_window"] != true {
		t.Fatalf("after the customer called again: %d %v", status, body)
	}
}
