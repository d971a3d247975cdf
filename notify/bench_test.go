package notify

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// BenchmarkOutboxToSMTP measures delivery through the outbox: each round enqueues a batch of
// login notices in one transaction and waits until river's workers have handed every one to a
// local SMTP server (go-smtp), its connections kept between messages as in production. Figure: messages
// per second, end to end (render, check, SMTP, job completion).
func BenchmarkOutboxToSMTP(b *testing.B) {
	const batch = 500
	smtp := startSMTP(b, plainSMTP, nil)
	e := newOutboxEnv(b, outboxOptions{mailer: mailerFor(b, fmt.Sprintf("smtp://%s:%d", smtp.host, smtp.port), testSender, false)})
	ev := testEvent(KindLogin)
	var delivered int
	start := time.Now()
	for b.Loop() {
		err := pgx.BeginFunc(context.Background(), e.pool, func(tx pgx.Tx) error {
			for range batch {
				if err := e.outbox.Enqueue(context.Background(), tx, testRecipient, ev); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		for n := 0; n < batch; {
			select {
			case got := <-e.events:
				if got.Kind != river.EventKindJobCompleted {
					b.Fatalf("job %d: %s %v", got.Job.ID, got.Kind, got.Job.Errors)
				}
				n++
			case <-time.After(60 * time.Second):
				b.Fatalf("%d of %d delivered within 60s", n, batch)
			}
		}
		delivered += batch
	}
	b.ReportMetric(float64(delivered)/time.Since(start).Seconds(), "messages/s")
	if got := len(smtp.received()); got != delivered {
		b.Fatalf("the server received %d of %d", got, delivered)
	}
}
