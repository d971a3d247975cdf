package recovery

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/auth"
	"kagi/pgdb"
)

// insertBulkAccounts adds n accounts with one set-based statement, for tests that need many.
// They have no password anyone knows and log in nowhere; they only own windows.
func insertBulkAccounts(t testing.TB, pool *pgxpool.Pool, n int) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `
		INSERT INTO accounts (login_id, account_number, name, email, password_hash, pin_hash, user_handle, created_at)
		SELECT 'bulk' || g, '8' || lpad(g::text, 9, '0'), 'bulk', 'bulk@example.jp', 'not-a-hash', '\x00',
		       decode(md5('bulk' || g), 'hex'), now()
		FROM generate_series(1, $1) g`, n)
	if err != nil {
		t.Fatal(err)
	}
}

// insertDueWindows opens a window that ran out at end for every bulk account, and gives each a
// recovery-only session, set-based.
func insertDueWindows(t testing.TB, pool *pgxpool.Pool, end time.Time) {
	t.Helper()
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
		INSERT INTO fallback_windows (account_id, opened_via, opened_by, opened_at, last_opened_at, expires_at)
		SELECT id, 'ivr', 'ivr:bulk', $1::timestamptz - interval '30 minutes', $1::timestamptz - interval '30 minutes', $1
		FROM accounts WHERE login_id LIKE 'bulk%'`, end)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pool.Exec(ctx, `
		INSERT INTO sessions (token_hash, account_id, assurance, created_at, authenticated_at, expires_at, last_seen_at)
		SELECT decode(md5('session' || id), 'hex'), id, 'password_fallback', $1::timestamptz - interval '20 minutes',
		       $1::timestamptz - interval '20 minutes', $1, $1::timestamptz - interval '20 minutes'
		FROM accounts WHERE login_id LIKE 'bulk%'`, end)
	if err != nil {
		t.Fatal(err)
	}
}

// insertClosedWindows writes n windows of the past, spread over the bulk accounts, set-based.
func insertClosedWindows(t testing.TB, pool *pgxpool.Pool, n int, before time.Time) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `
		WITH a AS (SELECT array_agg(id) AS ids FROM accounts WHERE login_id LIKE 'bulk%')
		INSERT INTO fallback_windows (account_id, opened_via, opened_by, opened_at, last_opened_at, expires_at, closed_at, close_reason)
		SELECT a.ids[1 + g % cardinality(a.ids)], 'ivr', 'ivr:bulk', t.at, t.at, t.at + interval '30 minutes',
		       t.at + interval '30 minutes', 'expired'
		FROM a, generate_series(1, $1) g,
		     LATERAL (SELECT $2::timestamptz - g * interval '1 minute' - interval '1 hour' AS at) t`, n, before)
	if err != nil {
		t.Fatal(err)
	}
}

func TestExpiryRunEndsDueWindowsOnly(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	due := e.addPasskeyAccount("taro", "1234567")
	later := e.addPasskeyAccount("hanako", "7654321")
	e.open(due.ID, ChannelIVR, "ivr:CA01", "")
	if status, body := e.passwordLogin(e.browser(), "taro"); status != http.StatusOK {
		t.Fatalf("login: %d %v", status, body)
	}
	e.clock.Advance(20 * time.Minute)
	e.open(later.ID, ChannelIVR, "ivr:CA02", "")
	laterSession := e.browser()
	if status, body := e.passwordLogin(laterSession, "hanako"); status != http.StatusOK {
		t.Fatalf("login: %d %v", status, body)
	}
	e.clock.Advance(15 * time.Minute) // taro's window ran out 5 minutes ago, hanako's has 15 left

	res := e.runExpiry()
	if res.Skipped || res.Windows != 1 || res.Sessions != 1 {
		t.Fatalf("run %+v, want taro's window and its recovery session ended", res)
	}
	for _, name := range []string{"sessions", "throttles"} {
		if _, ok := res.Purged[name]; !ok {
			t.Errorf("purge %q did not run: %v", name, res.Purged)
		}
	}
	if ws := e.windows(due.ID); len(ws) != 1 || ws[0].CloseReason != "expired" {
		t.Fatalf("taro's windows %+v", ws)
	}
	if ws := e.windows(later.ID); len(ws) != 1 || ws[0].Closed {
		t.Fatalf("hanako's windows %+v: must still be open", ws)
	}
	if status, _, _ := e.do(laterSession, "GET", "/api/v1/session", nil); status != http.StatusOK {
		t.Fatalf("hanako's recovery session ended with taro's window: %d", status)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE event = 'window_closed' AND actor = 'system:expiry'
		AND account_id = $1 AND detail->>'close_reason' = 'expired'`, due.ID); n != 1 {
		t.Fatalf("%d audit lines for the expiry, want 1", n)
	}
}

func TestExpirySkipsWhileAnotherReplicaRunsIt(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addPasskeyAccount("taro", "1234567")
	e.open(acct.ID, ChannelIVR, "ivr:CA01", "")
	e.clock.Advance(time.Hour)

	ctx := context.Background()
	other, err := e.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	if _, err := other.Exec(ctx, `SELECT pg_advisory_lock($1)`, expiryLockKey); err != nil {
		t.Fatal(err)
	}
	if res := e.runExpiry(); !res.Skipped || res.Windows != 0 {
		t.Fatalf("run while another holds the lock: %+v, want skipped", res)
	}
	if ws := e.windows(acct.ID); ws[0].Closed {
		t.Fatal("a skipped run closed a window")
	}
	if _, err := other.Exec(ctx, `SELECT pg_advisory_unlock($1)`, expiryLockKey); err != nil {
		t.Fatal(err)
	}
	if res := e.runExpiry(); res.Skipped || res.Windows != 1 {
		t.Fatalf("run after the lock was released: %+v", res)
	}
}

func TestExpiryRunnersExpireEachWindowOnce(t *testing.T) {
	t.Parallel()
	const windows = 500
	small := func(c *Config) { c.ExpiryBatch = 25 } // many statements per run, so runs overlap
	e := newTestEnv(t, small)
	insertBulkAccounts(t, e.pool, windows)
	insertDueWindows(t, e.pool, e.clock.Now())
	e.clock.Advance(time.Minute)

	pool2, err := pgxpool.New(context.Background(), e.pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer pool2.Close()
	replicas := []*Service{e.svc, newService(t, pool2, e.clock, small)}

	var expired, ended, skipped atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for _, svc := range replicas {
		for range 2 {
			wg.Go(func() {
				for range 10 {
					res, err := svc.RunExpiry(context.Background())
					if err != nil {
						errs <- err
						return
					}
					expired.Add(res.Windows)
					ended.Add(res.Sessions)
					if res.Skipped {
						skipped.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d of 40 runs skipped", skipped.Load())
	if expired.Load() != windows || ended.Load() != windows {
		t.Fatalf("runs expired %d windows and ended %d sessions, want %d each", expired.Load(), ended.Load(), windows)
	}
	if n := e.count(`SELECT count(*) FROM fallback_windows WHERE closed_at IS NULL`); n != 0 {
		t.Fatalf("%d windows still open", n)
	}
	lines := e.count(`SELECT count(*) FROM audit_log WHERE event = 'window_closed' AND detail->>'close_reason' = 'expired'`)
	distinct := e.count(`SELECT count(DISTINCT detail->>'window_id') FROM audit_log WHERE event = 'window_closed'`)
	if lines != windows || distinct != windows {
		t.Fatalf("%d expiry audit lines for %d windows, want exactly one for each of %d", lines, distinct, windows)
	}
}

// planNode is a node of EXPLAIN (FORMAT JSON).
type planNode struct {
	NodeType     string     `json:"Node Type"`
	RelationName string     `json:"Relation Name"`
	IndexName    string     `json:"Index Name"`
	Plans        []planNode `json:"Plans"`
}

func (n planNode) walk(f func(planNode)) {
	f(n)
	for _, c := range n.Plans {
		c.walk(f)
	}
}

func explain(t *testing.T, q pgdb.Querier, sql string, args ...any) planNode {
	t.Helper()
	var raw []byte
	if err := q.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+sql, args...).Scan(&raw); err != nil {
		t.Fatalf("explain: %v", err)
	}
	var out []struct{ Plan planNode }
	if err := json.Unmarshal(raw, &out); err != nil || len(out) != 1 {
		t.Fatalf("explain output %s: %v", raw, err)
	}
	return out[0].Plan
}

func TestIdleExpiryProbesOnlyTheIndex(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	insertBulkAccounts(t, e.pool, 1000)
	insertClosedWindows(t, e.pool, 20000, e.clock.Now())
	acct := e.addPasskeyAccount("taro", "1234567")
	e.open(acct.ID, ChannelIVR, "ivr:CA01", "") // open, not due
	now := e.clock.Now()
	insertLiveRows(t, e.pool, 20000, now)
	if _, err := e.pool.Exec(context.Background(), `ANALYZE accounts, fallback_windows, audit_log`); err != nil {
		t.Fatal(err)
	}
	noSeqScan := func(t *testing.T, plan planNode, index string) {
		t.Helper()
		var usesIndex bool
		plan.walk(func(n planNode) {
			if n.NodeType == "Seq Scan" && slices.Contains([]string{"fallback_windows", "accounts", "sessions", "audit_log", "staff_sessions", "staff_credentials"}, n.RelationName) {
				t.Errorf("sequential scan of %s", n.RelationName)
			}
			usesIndex = usesIndex || n.IndexName == index
		})
		if index != "" && !usesIndex {
			t.Errorf("plan does not use %s", index)
		}
	}
	for _, c := range []struct {
		name  string
		sql   string
		args  []any
		index string
	}{
		{"due windows", dueAccountsSQL, []any{now, DefaultExpiryBatch}, "fallback_windows_due"},
		{"core's window check", openWindowSQL, []any{acct.ID, now}, ""},
		{"service API check", windowCheckSQL, []any{"taro", now}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			noSeqScan(t, explain(t, e.pool, c.sql, c.args...), c.index)
		})
	}
	// A batch's statements, recovery's and auth's, each planned just before it runs, in a
	// transaction rolled back afterwards: idle (one probe and nothing more), and an hour on,
	// when taro's window and its recovery session are due.
	for _, c := range []struct {
		name       string
		at         time.Time
		statements int
	}{
		{"idle batch", now, 1},
		{"batch with a due window", now.Add(time.Hour), 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			tx, err := e.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			x := &planningTx{Tx: tx, t: t}
			if _, _, _, err := expireBatch(ctx, x, nil, c.at, DefaultExpiryBatch); err != nil {
				t.Fatal(err)
			}
			if len(x.plans) != c.statements {
				t.Fatalf("the batch ran %d statements, want %d", len(x.plans), c.statements)
			}
			noSeqScan(t, x.plans[0], "fallback_windows_due")
			for _, plan := range x.plans[1:] {
				noSeqScan(t, plan, "")
			}
		})
	}
	t.Run("purges", func(t *testing.T) {
		for _, p := range e.svc.purges {
			t.Run(p.Name, func(t *testing.T) {
				// Each purge runs in a transaction of its own, as RunExpiry runs it.
				ctx := context.Background()
				tx, err := e.pool.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback(ctx)
				x := &planningTx{Tx: tx, t: t}
				if _, err := p.Run(ctx, x, now, DefaultPurgeBatch); err != nil {
					t.Fatal(err)
				}
				if len(x.plans) == 0 {
					t.Fatal("the purge ran no statement")
				}
				for _, plan := range x.plans {
					plan.walk(func(n planNode) {
						if n.NodeType == "Seq Scan" {
							t.Errorf("sequential scan of %s", n.RelationName)
						}
					})
				}
			})
		}
	})
	if res := e.runExpiry(); res.Windows != 0 {
		t.Fatalf("idle run expired %d windows", res.Windows)
	}
}

// insertLiveRows fills the tables the expiry job purges with n rows each that are not due at
// now, set-based, and analyzes them: an idle run must find its few due rows through an index
// however many live ones there are.
func insertLiveRows(t *testing.T, pool *pgxpool.Pool, n int, now time.Time) {
	t.Helper()
	for _, sql := range []string{
		`INSERT INTO webauthn_ceremonies (id, kind, session, expires_at)
		 SELECT decode(md5('ceremony' || g), 'hex'), 'login', '{}', $2::timestamptz + interval '5 minutes'
		 FROM generate_series(1, $1) g`,
		`INSERT INTO sessions (token_hash, account_id, assurance, created_at, authenticated_at, expires_at, last_seen_at)
		 SELECT decode(md5('live' || g), 'hex'), a.ids[1 + g % cardinality(a.ids)], 'passkey', $2, $2,
		        $2::timestamptz + interval '1 hour', $2
		 FROM (SELECT array_agg(id) AS ids FROM accounts) a, generate_series(1, $1) g`,
		`INSERT INTO login_throttle (login_key, failures, window_start)
		 SELECT decode(md5('throttle' || g), 'hex'), 1, $2 FROM generate_series(1, $1) g`,
		`INSERT INTO voice_lockouts (subject_kind, subject, touched_at)
		 SELECT 'caller', '+8190' || lpad(g::text, 8, '0'), $2 FROM generate_series(1, $1) g`,
		`INSERT INTO voice_failures (subject_kind, subject, at)
		 SELECT 'caller', '+8190' || lpad(g::text, 8, '0'), $2 FROM generate_series(1, $1) g`,
		`INSERT INTO email_check_failures (account_id, failed_at)
		 SELECT a.ids[1 + g % cardinality(a.ids)], $2 FROM (SELECT array_agg(id) AS ids FROM accounts) a, generate_series(1, $1) g`,
		`INSERT INTO voice_sends (subject_kind, subject, at)
		 SELECT 'caller', '+8190' || lpad(g::text, 8, '0'), $2 FROM generate_series(1, $1) g`,
		`INSERT INTO email_checks (id_hash, account_id, answer_hash, choices, via_window, login_key, attempt_key, created_at, expires_at)
		 SELECT decode(md5('check' || a.id), 'hex'), a.id, '\x00', array_fill('🍎'::text, ARRAY[9]), false, '\x00', '\x00',
		        $2, $2::timestamptz + interval '5 minutes'
		 FROM accounts a WHERE $1 > 0`,
		`INSERT INTO voice_codes (call_sid, account_id, account_key, caller, code_hash, created_at, expires_at)
		 SELECT 'CA' || g, a.ids[1 + g % cardinality(a.ids)], 'key', '+819000000000', '\x00', $2,
		        $2::timestamptz + interval '10 minutes'
		 FROM (SELECT array_agg(id) AS ids FROM accounts) a, generate_series(1, $1) g`,
		`INSERT INTO voice_callbacks (id, call_sid, account_id, account_key, phone, created_at, expires_at)
		 SELECT 'callback-' || lpad(g::text, 8, '0'), 'CA' || g, a.ids[1 + g % cardinality(a.ids)], 'key', '+81300000000', $2,
		        $2::timestamptz + interval '10 minutes'
		 FROM (SELECT array_agg(id) AS ids FROM accounts) a, generate_series(1, $1) g`,
		`INSERT INTO client_limits (kind, client, hits, resets_at)
		 SELECT 'password_login', ('10.' || g / 65536 || '.' || g / 256 % 256 || '.' || g % 256)::inet, 1,
		        $2::timestamptz + interval '1 minute'
		 FROM generate_series(1, $1) g`,
		`INSERT INTO staff (login_id, name, role, user_handle, created_at)
		 SELECT 'live-staff', 'live', 'operator', '\x01', $2 WHERE $1 > 0`,
		`INSERT INTO staff_sessions (token_hash, staff_id, created_at, expires_at, last_seen_at)
		 SELECT decode(md5('staff-session' || g), 'hex'), s.id, $2, $2::timestamptz + interval '8 hours', $2
		 FROM staff s, generate_series(1, $1) g`,
		`INSERT INTO staff_ceremonies (id, kind, session, expires_at)
		 SELECT decode(md5('staff-ceremony' || g), 'hex'), 'login', '{}', $2::timestamptz + interval '5 minutes'
		 FROM generate_series(1, $1) g`,
		`INSERT INTO staff_enrollment_codes (code_hash, staff_id, created_at, expires_at)
		 SELECT decode(md5('staff-code' || g), 'hex'), s.id, $2, $2::timestamptz + interval '24 hours'
		 FROM staff s, generate_series(1, $1) g`,
		`ANALYZE webauthn_ceremonies, sessions, login_throttle, voice_lockouts, voice_failures, voice_sends, email_checks, voice_codes,
		 voice_callbacks, client_limits, staff, staff_sessions, staff_ceremonies, staff_enrollment_codes`,
	} {
		var args []any
		if sql[0] != 'A' {
			args = []any{n, now}
		}
		if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
}

// planningTx records the plan of each statement of a transaction and then runs it, so the
// plans of statements that take the rows of the ones before can be checked, whichever
// package's SQL they are.
type planningTx struct {
	pgx.Tx
	t     *testing.T
	plans []planNode
}

func (x *planningTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	x.plans = append(x.plans, explain(x.t, x.Tx, sql, args...))
	return x.Tx.Exec(ctx, sql, args...)
}

func (x *planningTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	x.plans = append(x.plans, explain(x.t, x.Tx, sql, args...))
	return x.Tx.Query(ctx, sql, args...)
}

func (x *planningTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	x.plans = append(x.plans, explain(x.t, x.Tx, sql, args...))
	return x.Tx.QueryRow(ctx, sql, args...)
}

// A backlog larger than the purge batch — here the core's ceremonies and the voice line's old
// failures after a day without the job — is worked off in one run, a batch per transaction.
func TestExpiryPurgesABacklogInBatches(t *testing.T) {
	t.Parallel()
	const batch, due, live = 10, 35, 5
	var batches int
	ceremonies := pgdb.Purge{Name: "ceremonies", Run: func(ctx context.Context, q pgdb.Querier, now time.Time, limit int) (int64, error) {
		batches++
		return auth.PurgeCeremonies(ctx, q, now, limit)
	}}
	e := newTestEnv(t, func(c *Config) { c.PurgeBatch = batch; c.Purges = []pgdb.Purge{ceremonies} })
	now := e.clock.Now()
	for _, sql := range []string{
		`INSERT INTO webauthn_ceremonies (id, kind, session, expires_at)
		 SELECT decode(md5('ceremony' || g), 'hex'), 'login', '{}',
		        CASE WHEN g <= $2 THEN $3::timestamptz - g * interval '1 second' ELSE $3::timestamptz + interval '5 minutes' END
		 FROM generate_series(1, $1::int + $2::int) g`,
		`INSERT INTO voice_failures (subject_kind, subject, at)
		 SELECT 'caller', '+8190' || lpad(g::text, 8, '0'),
		        CASE WHEN g <= $2 THEN $3::timestamptz - interval '25 hours' ELSE $3 END
		 FROM generate_series(1, $1::int + $2::int) g`,
	} {
		if _, err := e.pool.Exec(context.Background(), sql, live, due, now); err != nil {
			t.Fatal(err)
		}
	}
	res := e.runExpiry()
	if res.Purged["ceremonies"] != due || batches != 4 {
		t.Errorf("purged %d ceremonies in %d batches, want %d in 4 (%d, %d, %d, then %d)", res.Purged["ceremonies"], batches, due, batch, batch, batch, due-3*batch)
	}
	if res.Purged["voice_lockouts"] != due {
		t.Errorf("purged %d voice-line failures, want %d", res.Purged["voice_lockouts"], due)
	}
	if n := e.count(`SELECT count(*) FROM webauthn_ceremonies`) + e.count(`SELECT count(*) FROM voice_failures`); n != 2*live {
		t.Errorf("%d rows left, want the %d live ones", n, 2*live)
	}
}

func TestExpirySchedule(t *testing.T) {
	t.Parallel()
	for _, spec := range []string{"@every 1m", "@every 30s", "*/10 * * * * *", "0 3 * * *", "@hourly"} {
		if err := ValidateSchedule(spec); err != nil {
			t.Errorf("ValidateSchedule(%q) = %v, want nil", spec, err)
		}
	}
	for _, spec := range []string{"", "every minute", "61 * * * *", "* * *", "@every", "@every soon"} {
		if err := ValidateSchedule(spec); err == nil {
			t.Errorf("ValidateSchedule(%q) accepted a bad spec", spec)
		}
	}
	e := newTestEnv(t)
	if stop, err := e.svc.StartExpiry("every minute"); err == nil || stop != nil {
		if stop != nil {
			stop()
		}
		t.Fatal("StartExpiry accepted a bad spec")
	}
}

func TestExpiryJobSurvivesAPanickingRun(t *testing.T) {
	t.Parallel()
	runs := make(chan int32, 16)
	var n atomic.Int32
	probe := pgdb.Purge{Name: "probe", Run: func(context.Context, pgdb.Querier, time.Time, int) (int64, error) {
		k := n.Add(1)
		runs <- k
		if k == 1 {
			panic("a purge went wrong")
		}
		return 0, nil
	}}
	e := newTestEnv(t, func(c *Config) { c.Purges = []pgdb.Purge{probe} })
	stop, err := e.svc.StartExpiry("* * * * * *") // every second: the job's own clock is real time
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for want := int32(1); want <= 2; want++ {
		select {
		case k := <-runs:
			if k != want {
				t.Fatalf("run %d, want %d", k, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("run %d did not come: the panic stopped the job or left its lock held", want)
		}
	}
}
