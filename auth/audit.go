package auth

import (
	"context"
	"encoding/json"
	"time"

	"kagi/pgdb"
)

// AuditEvent is one line of the audit trail. Detail holds facts only, never a secret (no
// password, PIN, digit string, token or key).
type AuditEvent struct {
	At        time.Time
	AccountID int64 // 0 when the event concerns no known account
	Actor     string
	Event     string
	Detail    map[string]any
}

// Audit writes ev on q, normally inside the transaction of the state change it records, so the
// change and its audit line commit or vanish together. Other packages audit through it.
func Audit(ctx context.Context, q pgdb.Querier, ev AuditEvent) error {
	_, err := q.Exec(ctx, auditSQL, ev.args()...)
	return err
}

// auditSQL writes one audit line. The detail goes as JSON text cast in the statement, so it is
// valid in every pgx exec mode, a transaction-mode pooler's (exec, simple protocol) too, where
// nothing tells pgx the parameter's type.
const auditSQL = `INSERT INTO audit_log (at, account_id, actor, event, detail) VALUES ($1, $2, $3, $4, $5::text::jsonb)`

// args are auditSQL's arguments for ev.
func (ev AuditEvent) args() []any {
	var account *int64
	if ev.AccountID != 0 {
		account = &ev.AccountID
	}
	detail := []byte("{}")
	if len(ev.Detail) > 0 {
		var err error
		if detail, err = json.Marshal(ev.Detail); err != nil {
			// A detail is built of strings, numbers, times and maps of them: it always
			// marshals. Were it not to, the line still says what happened.
			detail = []byte(`{"detail_unencodable":true}`)
		}
	}
	return []any{ev.At, account, ev.Actor, ev.Event, string(detail)}
}

// queueAudit is Audit queued on b (a batch, or a pgdb.Tx that sends it with its next statement),
// for a transaction that sends its writes together.
func queueAudit(b pgdb.Queuer, ev AuditEvent) {
	b.Queue(auditSQL, ev.args()...)
}
