package pgtest

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// Counter counts what a pool sends PostgreSQL, as a pgx tracer (ConnConfig.Tracer): statements
// (begin and commit not counted, each statement of a batch counted), commits, and round trips
// (each statement sent alone, begin and commit included, and each batch). Tests count a
// request's database work with it and fail when it grows; they never time it.
//
// Wakeups counts, among the statements, river's wake-up of its workers after an insert (its
// pg_notify), which river sends at most once per fetch cooldown: a test allows for it.
type Counter struct{ Statements, Commits, RoundTrips, Wakeups atomic.Int64 }

// Reset starts the counts again from zero.
func (c *Counter) Reset() {
	c.Statements.Store(0)
	c.Commits.Store(0)
	c.RoundTrips.Store(0)
	c.Wakeups.Store(0)
}

func (c *Counter) count(sql string) {
	switch sql = strings.ToLower(strings.TrimSpace(sql)); {
	case sql == "commit":
		c.Commits.Add(1)
	case sql == "begin" || strings.HasPrefix(sql, "begin "):
	default:
		c.Statements.Add(1)
		if strings.Contains(sql, "pg_notify(") {
			c.Wakeups.Add(1)
		}
	}
}

func (c *Counter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.RoundTrips.Add(1)
	c.count(d.SQL)
	return ctx
}

func (c *Counter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *Counter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.RoundTrips.Add(1)
	return ctx
}

func (c *Counter) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	c.count(d.SQL)
}

func (c *Counter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}
