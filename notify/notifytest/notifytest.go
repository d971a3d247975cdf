// Package notifytest reads what kagi's outbox was given, for the tests of the packages that
// enqueue: which messages, to whom, about what. Package notify's own tests deliver them.
package notifytest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/notify"
)

// Queued is one message in the outbox.
type Queued struct {
	// Channel is "email" or "sms".
	Channel string
	To      string
	Event   notify.Event
	// State is river's job state: available, completed, cancelled, discarded, …
	State string
}

// Messages returns the messages enqueued for the account, oldest first.
func Messages(t testing.TB, pool *pgxpool.Pool, accountID int64) []Queued {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT args, state FROM river_job WHERE kind = 'notify_message' AND (args->>'account_id')::bigint = $1 ORDER BY id`, accountID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []Queued
	for rows.Next() {
		var (
			state string
			raw   []byte
			args  struct {
				Via   string       `json:"via"`
				To    string       `json:"to"`
				Event notify.Event `json:"event"`
			}
		)
		if err := rows.Scan(&raw, &state); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &args); err != nil {
			t.Fatal(err)
		}
		out = append(out, Queued{Channel: args.Via, To: args.To, Event: args.Event, State: state})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Kinds lists the account's messages as "channel:kind" ("email:login", "sms:window_opened").
func Kinds(t testing.TB, pool *pgxpool.Pool, accountID int64) []string {
	t.Helper()
	var out []string
	for _, m := range Messages(t, pool, accountID) {
		out = append(out, m.Channel+":"+string(m.Event.Kind))
	}
	return out
}
