package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"kagi/pgdb"
	"kagi/pgdb/pgtest"
)

// The application's own role cannot change or remove a line of the audit trail: the trigger
// refuses UPDATE, DELETE and TRUNCATE, and an account with lines cannot be deleted from under
// them.
func TestAuditTrailIsAppendOnly(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t, Migrations)
	ctx := context.Background()
	var account int64
	if err := pool.QueryRow(ctx, `
		INSERT INTO accounts (login_id, password_hash, account_number, pin_hash, email, name, user_handle)
		VALUES ('taro', 'x', '1234567', 'x', 'taro@example.jp', '山田 太郎', '\x01') RETURNING id`).Scan(&account); err != nil {
		t.Fatal(err)
	}
	if err := Audit(ctx, pool, AuditEvent{At: time.Now(), AccountID: account, Actor: "customer", Event: "login_succeeded"}); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`UPDATE audit_log SET event = 'nothing_happened'`,
		`DELETE FROM audit_log`,
		`TRUNCATE audit_log`,
		`DELETE FROM accounts`,
	} {
		_, err := pool.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			t.Errorf("%s: %v, want a refusal", sql, err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE event = 'login_succeeded'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d lines left (%v), want the one written", n, err)
	}
}

func TestAuditTrailPagesNewestFirst(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t, Migrations)
	ctx := context.Background()
	var accounts [2]int64
	for i, login := range []string{"taro", "hanako"} {
		if err := pool.QueryRow(ctx, `
			INSERT INTO accounts (login_id, password_hash, account_number, pin_hash, email, name, user_handle)
			VALUES ($1, 'x', $2, 'x', $1 || '@example.jp', $1, $3) RETURNING id`, login, fmt.Sprintf("100000%d", i+1), []byte{byte(i)}).Scan(&accounts[i]); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Date(2031, 6, 4, 1, 0, 0, 0, time.UTC)
	for i := range 120 {
		actor := "customer"
		if i%3 == 0 {
			actor = "staff:sato"
		}
		if err := Audit(ctx, pool, AuditEvent{At: start.Add(time.Duration(i) * time.Minute), AccountID: accounts[i%2], Actor: actor, Event: fmt.Sprintf("e%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	page, next, err := AuditTrail(ctx, pool, AuditQuery{})
	if err != nil || len(page) != MaxAuditPage || page[0].Event != "e119" || next != page[MaxAuditPage-1].ID {
		t.Fatalf("first page: %d lines from %v, next %d, %v", len(page), page[0].Event, next, err)
	}
	page, _, _ = AuditTrail(ctx, pool, AuditQuery{Before: next})
	if len(page) != MaxAuditPage || page[0].Event != "e69" {
		t.Fatalf("second page starts at %s, want e69", page[0].Event)
	}
	page, next, _ = AuditTrail(ctx, pool, AuditQuery{Before: page[MaxAuditPage-1].ID})
	if len(page) != 20 || next != 0 {
		t.Fatalf("last page: %d lines, next %d; want 20 and no next", len(page), next)
	}
	for _, c := range []struct {
		name string
		q    AuditQuery
		n    int
		top  string
	}{
		{"by account", AuditQuery{AccountID: accounts[1]}, 50, "e119"},
		{"by staff member", AuditQuery{Actor: "staff:sato", Limit: 100}, 40, "e117"},
		{"until a time", AuditQuery{Until: start.Add(10 * time.Minute)}, 11, "e10"},
		{"a staff member's, of one account, until a time", AuditQuery{AccountID: accounts[0], Actor: "staff:sato", Until: start.Add(30 * time.Minute)}, 6, "e30"},
	} {
		t.Run(c.name, func(t *testing.T) {
			page, _, err := AuditTrail(ctx, pool, c.q)
			if err != nil || len(page) != c.n || page[0].Event != c.top {
				t.Fatalf("%d lines from %v (%v), want %d from %s", len(page), page, err, c.n, c.top)
			}
			for _, l := range page {
				if (c.q.AccountID != 0 && *l.AccountID != c.q.AccountID) || (c.q.Actor != "" && l.Actor != c.q.Actor) {
					t.Fatalf("line %+v does not match the filter", l)
				}
			}
		})
	}
}

// capturingQuerier records the query it is given and answers it with EXPLAIN's plan instead.
type capturingQuerier struct {
	pgdb.Querier
	t    *testing.T
	plan string
}

func (c *capturingQuerier) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := c.Querier.Query(ctx, "EXPLAIN "+sql, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		c.t.Fatal(err)
	}
	c.plan = strings.Join(lines, "\n")
	return c.Querier.Query(ctx, sql, args...)
}

// Each filter of the console's audit search is answered through an index, however long the
// trail has grown.
func TestAuditTrailSearchesThroughIndexes(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t, Migrations)
	ctx := context.Background()
	var account int64
	if _, err := pool.Exec(ctx, `
		INSERT INTO accounts (login_id, password_hash, account_number, pin_hash, email, name, user_handle)
		SELECT 'user' || g, 'x', g::text, 'x', 'user' || g || '@example.jp', 'u', int4send(g) FROM generate_series(1, 2000) g`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO audit_log (at, account_id, actor, event)
		SELECT timestamptz '2031-01-01' + g * interval '1 minute', 1 + g % 2000,
		       CASE WHEN g % 100 = 0 THEN 'staff:s' || (g % 7) ELSE 'customer' END, 'e'
		FROM generate_series(1, 50000) g`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE accounts, audit_log`); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `SELECT id FROM accounts WHERE login_id = 'user77'`).Scan(&account); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		q    AuditQuery
	}{
		{"by account", AuditQuery{AccountID: account}},
		{"by staff member", AuditQuery{Actor: "staff:s3"}},
		{"until a time", AuditQuery{Until: time.Date(2031, 1, 5, 0, 0, 0, 0, time.UTC)}},
		{"the next page", AuditQuery{Before: 1000}},
	} {
		t.Run(c.name, func(t *testing.T) {
			x := &capturingQuerier{Querier: pool, t: t}
			if _, _, err := AuditTrail(ctx, x, c.q); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(x.plan, "Seq Scan on audit_log") {
				t.Errorf("the search reads the whole trail:\n%s", x.plan)
			}
		})
	}
}

// The trail is never purged, so its indexes must not grow half empty: lines written one after
// another fill the pages of the index by time as they fill the primary key's. An entry of that
// index (a time and an id) takes 1.4 times the room of a primary key's (an id); descending, the
// index took in every line at its left end, where full pages are split in halves, and came to
// 2.5 times the primary key.
func TestAuditTrailTimeIndexStaysCompact(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t, Migrations)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `
		INSERT INTO audit_log (at, actor, event)
		SELECT timestamptz '2031-01-01' + g * interval '1 second', 'customer', 'e' FROM generate_series(1, 30000) g`); err != nil {
		t.Fatal(err)
	}
	var byTime, pkey int64
	if err := pool.QueryRow(ctx, `SELECT pg_relation_size('audit_log_at'), pg_relation_size('audit_log_pkey')`).Scan(&byTime, &pkey); err != nil {
		t.Fatal(err)
	}
	if ratio := float64(byTime) / float64(pkey); ratio > 1.8 {
		t.Errorf("the index by time is %.1f times the primary key (%d and %d bytes), want at most 1.8", ratio, byTime, pkey)
	}
}
