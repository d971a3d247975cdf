package auth

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"kagi/pgdb"
)

// AuditQuery selects lines of the audit trail, newest first: of one account, of one actor (a
// staff member is the actor "staff:<login ID>"), written at or before a time, and after a
// cursor the previous page returned. Zero fields select everything.
type AuditQuery struct {
	AccountID int64
	Actor     string
	Until     time.Time
	// Before is the cursor: only lines older than the line with this id.
	Before int64
	// Limit bounds the page; zero or more than MaxAuditPage means MaxAuditPage.
	Limit int
}

// MaxAuditPage is the longest page of the audit trail one query returns.
const MaxAuditPage = 50

// AuditLine is one line of the audit trail as the operator console shows it.
type AuditLine struct {
	ID        int64          `db:"id" json:"id"`
	At        time.Time      `db:"at" json:"at"`
	AccountID *int64         `db:"account_id" json:"account_id"`
	Actor     string         `db:"actor" json:"actor"`
	Event     string         `db:"event" json:"event"`
	Detail    map[string]any `db:"detail" json:"detail"`
}

// AuditTrail returns a page of the trail and the cursor of the next page (0 when this is the
// last). The statement is built from the filters given, so that each is answered by its own
// index (audit_log_account, audit_log_actor, audit_log_at) and never by a plan made for all.
func AuditTrail(ctx context.Context, q pgdb.Querier, f AuditQuery) ([]AuditLine, int64, error) {
	limit := f.Limit
	if limit <= 0 || limit > MaxAuditPage {
		limit = MaxAuditPage
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.AccountID != 0 {
		where = append(where, "account_id = "+arg(f.AccountID))
	}
	if f.Actor != "" {
		where = append(where, "actor = "+arg(f.Actor))
	}
	if f.Before != 0 {
		where = append(where, "id < "+arg(f.Before))
	}
	if !f.Until.IsZero() {
		// The id bound lets the newest-first walk start at the last line written by then.
		t := arg(f.Until)
		where = append(where, "at <= "+t,
			"id <= (SELECT id FROM audit_log WHERE at <= "+t+" ORDER BY at DESC, id DESC LIMIT 1)")
	}
	sql := "SELECT id, at, account_id, actor, event, detail FROM audit_log"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY id DESC LIMIT " + arg(limit+1)
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, 0, err
	}
	lines, err := pgx.CollectRows(rows, pgx.RowToStructByName[AuditLine])
	if err != nil {
		return nil, 0, err
	}
	var next int64
	if len(lines) > limit {
		lines = lines[:limit]
		next = lines[limit-1].ID
	}
	return lines, next, nil
}
