package auth

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"kagi/notify"
	"kagi/pgdb"
)

// NotifyMigrations is the schema of the outbox (package notify) that the core and recovery
// enqueue their messages into, river's job tables included. Apply it after Migrations.
var NotifyMigrations = pgdb.Migrations{Name: "notify", FS: notify.MigrationFS, Then: notify.MigrateRiver}

// NotifyAudit adapts Audit to the outbox, which records there a message that ended undelivered.
func NotifyAudit(now func() time.Time) notify.AuditFunc {
	return func(ctx context.Context, tx pgx.Tx, accountID int64, event string, detail map[string]any) error {
		return Audit(ctx, tx, AuditEvent{At: now(), AccountID: accountID, Actor: "system:notify", Event: event, Detail: detail})
	}
}

// Notify tells the account's holder of ev (§7) in tx: an email, and texts to the registered
// phones when ev is one of the recovery events, committed with the event or not at all. The
// holder's name is filled in here. With no outbox (o nil) it does nothing.
func Notify(ctx context.Context, tx pgx.Tx, o *notify.Outbox, accountID int64, ev notify.Event) error {
	if o == nil {
		return nil
	}
	var to notify.Recipient
	err := tx.QueryRow(ctx, `
		SELECT a.id, a.email, a.name,
		       COALESCE((SELECT array_agg(ph.phone ORDER BY ph.phone) FROM account_phones ph WHERE ph.account_id = a.id), '{}')
		FROM accounts a WHERE a.id = $1`, accountID).Scan(&to.AccountID, &to.Email, &ev.Name, &to.Phones)
	if err != nil {
		return err
	}
	return o.Enqueue(ctx, tx, to, ev)
}

// notifyEmailLast tells the holder of ev by email only, when the caller already has the
// address and name (a login's own query read them), as tx's last step: it costs no statement
// beyond the enqueue, and the COMMIT goes in the enqueue's round trip (notify's EnqueueLast),
// so whatever must hold for tx to commit is an error of its statements by then.
func (s *Service) notifyEmailLast(ctx context.Context, tx pgx.Tx, accountID int64, email, name string, ev notify.Event) error {
	if s.outbox == nil {
		return nil
	}
	ev.Name = name
	return s.outbox.EnqueueLast(ctx, tx, notify.Recipient{AccountID: accountID, Email: email}, ev)
}
