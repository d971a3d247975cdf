package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivershared/riversharedmaintenance"
	"github.com/riverqueue/river/rivertype"

	"kagi/pgdb"
	"kagi/pgdb/pgtest"
)

// These tests deliver through the real outbox: river's workers on a fresh database, a real SMTP
// server (go-smtp) and a local stand-in for Twilio's REST API with twilio-go pointed at it.

const (
	testSMSFrom = "+815012345678"
)

var testSchema = pgdb.Migrations{Name: "notify", FS: MigrationFS, Then: MigrateRiver}

// auditLine is one line the outbox wrote to the audit trail.
type auditLine struct {
	accountID int64
	event     string
	detail    map[string]any
}

// outboxEnv is a started outbox with what it delivered to and what it audited.
type outboxEnv struct {
	t      testing.TB
	pool   *pgxpool.Pool
	outbox *Outbox
	events <-chan *river.Event

	mu     sync.Mutex
	audits []auditLine
}

type outboxOptions struct {
	mailer Mailer
	texter Texter
	now    func() time.Time
}

func newOutboxEnv(t testing.TB, opt outboxOptions) *outboxEnv {
	t.Helper()
	e := &outboxEnv{t: t, pool: pgtest.New(t, testSchema)}
	o, err := New(Config{
		Pool:   e.pool,
		Log:    testLog(t),
		Now:    opt.now,
		Mailer: opt.mailer,
		Texter: opt.texter,
		SMS:    opt.texter != nil,
		Brand:  testBrand,
		Audit: func(_ context.Context, _ pgx.Tx, accountID int64, event string, detail map[string]any) error {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.audits = append(e.audits, auditLine{accountID, event, detail})
			return nil
		},
		// Retries come back at once and idle workers look often: the tests wait on events,
		// not on time.
		RetryBase:    time.Millisecond,
		PollInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	events, cancel := o.client.Subscribe(river.EventKindJobCompleted, river.EventKindJobCancelled, river.EventKindJobFailed)
	t.Cleanup(cancel)
	ctx, stop := context.WithCancel(context.Background())
	if err := o.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop()
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := o.Stop(stopCtx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	e.outbox, e.events = o, events
	return e
}

// enqueue commits ev for to in its own transaction, as an event's transaction would.
func (e *outboxEnv) enqueue(to Recipient, ev Event) {
	e.t.Helper()
	err := pgx.BeginFunc(context.Background(), e.pool, func(tx pgx.Tx) error {
		return e.outbox.Enqueue(context.Background(), tx, to, ev)
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// waitFor waits for river's next event of kind and returns its job.
func (e *outboxEnv) waitFor(kind river.EventKind) *rivertype.JobRow {
	e.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev := <-e.events:
			if ev.Kind == kind {
				return ev.Job
			}
		case <-timeout:
			e.t.Fatalf("no %s event within 20s", kind)
		}
	}
}

// waitDone waits until n jobs have ended (completed or cancelled) and returns how many did each.
func (e *outboxEnv) waitDone(n int) (completed, cancelled int) {
	e.t.Helper()
	timeout := time.After(30 * time.Second)
	for completed+cancelled < n {
		select {
		case ev := <-e.events:
			switch {
			case ev.Kind == river.EventKindJobCompleted:
				completed++
			case ev.Kind == river.EventKindJobCancelled:
				cancelled++
			case ev.Job.State == rivertype.JobStateDiscarded:
				e.t.Fatalf("job %d discarded: %v", ev.Job.ID, ev.Job.Errors)
			}
		case <-timeout:
			e.t.Fatalf("%d of %d jobs ended within 30s", completed+cancelled, n)
		}
	}
	return completed, cancelled
}

func (e *outboxEnv) audited() []auditLine {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]auditLine(nil), e.audits...)
}

// jobStates lists the outbox's jobs' states in insertion order.
func (e *outboxEnv) jobStates() []string {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT state::text FROM river_job ORDER BY id`)
	if err != nil {
		e.t.Fatal(err)
	}
	states, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		e.t.Fatal(err)
	}
	return states
}

// jobIDs lists the outbox's jobs in insertion order.
func (e *outboxEnv) jobIDs() []int64 {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT id FROM river_job ORDER BY id`)
	if err != nil {
		e.t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		e.t.Fatal(err)
	}
	return ids
}

var testRecipient = Recipient{AccountID: 42, Email: "taro@example.jp", Phones: []string{"+819012345678", "+818012345678"}}

// Every kind of message reaches a real SMTP server, and every recovery event each registered
// phone through Twilio's Messaging API, sent from KAGI_SMS_FROM and free of links.
func TestOutboxDeliversEveryKind(t *testing.T) {
	t.Parallel()
	smtp := startSMTP(t, plainSMTP, nil)
	twilio := startTwilio(t, http.StatusCreated, createdMessage)
	e := newOutboxEnv(t, outboxOptions{
		mailer: mailerFor(t, fmt.Sprintf("smtp://%s:%d", smtp.host, smtp.port), testSender, false),
		texter: texterFor(t, twilio.URL, testSMSFrom),
		now:    func() time.Time { return testAt },
	})
	// The counters are the process's: other tests deliver too, so they can only have grown more.
	loginMails := testutil.ToFloat64(messagesDelivered.WithLabelValues(string(KindLogin), viaEmail))
	windowTexts := testutil.ToFloat64(messagesDelivered.WithLabelValues(string(KindWindowOpened), viaSMS))
	wantTexts := 0
	for _, k := range Kinds {
		e.enqueue(testRecipient, testEvent(k))
		if testEvent(k).Texted() {
			wantTexts += len(testRecipient.Phones)
		}
	}
	if completed, cancelled := e.waitDone(len(Kinds) + wantTexts); cancelled != 0 {
		t.Fatalf("%d delivered, %d cancelled; audits %v", completed, cancelled, e.audited())
	}
	if got := testutil.ToFloat64(messagesDelivered.WithLabelValues(string(KindLogin), viaEmail)) - loginMails; got < 1 {
		t.Errorf("kagi_messages_delivered_total{kind=login,channel=email} grew by %v, want at least 1", got)
	}
	if got := testutil.ToFloat64(messagesDelivered.WithLabelValues(string(KindWindowOpened), viaSMS)) - windowTexts; got < float64(len(testRecipient.Phones)) {
		t.Errorf("kagi_messages_delivered_total{kind=window_opened,channel=sms} grew by %v, want at least %d", got, len(testRecipient.Phones))
	}

	var subjects []string
	for _, r := range smtp.received() {
		d := decode(t, r.data)
		if !slices.Equal(r.to, []string{testRecipient.Email}) || d.from != " <"+testSender+">" {
			t.Errorf("mail from %q to %v", d.from, r.to)
		}
		if ContainsLink(d.subject) || ContainsLink(d.body) || strings.Contains(d.body, testSender) {
			t.Errorf("mail %q holds a link:\n%s", d.subject, d.body)
		}
		if !strings.Contains(d.body, "山田 太郎") || !strings.Contains(d.body, "\n"+testBrand+"\n") {
			t.Errorf("mail %q does not name the customer", d.subject)
		}
		subjects = append(subjects, d.subject)
	}
	for _, k := range Kinds {
		want, err := RenderEmail(testEvent(k), testBrand)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(subjects, want.Subject) {
			t.Errorf("no %s mail (%q) among %q", k, want.Subject, subjects)
		}
	}

	texted := map[string]int{}
	for _, r := range twilio.requests() {
		if r.form.Get("From") != testSMSFrom || ContainsLink(r.form.Get("Body")) || r.user != testSID ||
			!strings.HasPrefix(r.form.Get("Body"), "【"+testBrand+"】") {
			t.Errorf("text %v", r.form)
		}
		texted[r.form.Get("To")]++
	}
	for _, p := range testRecipient.Phones {
		if texted[p] != wantTexts/len(testRecipient.Phones) {
			t.Errorf("%s got %d texts, want %d", p, texted[p], wantTexts/len(testRecipient.Phones))
		}
	}
}

// An SMTP server that refuses for a while delays the mail; it is delivered, once, when the
// server takes mail again.
func TestOutboxRetriesUntilTheSMTPServerIsBack(t *testing.T) {
	t.Parallel()
	smtp := startSMTP(t, plainSMTP, nil)
	smtp.down.Store(true)
	e := newOutboxEnv(t, outboxOptions{mailer: mailerFor(t, fmt.Sprintf("smtp://%s:%d", smtp.host, smtp.port), testSender, false)})
	retries := testutil.ToFloat64(messageRetries.WithLabelValues(viaEmail))
	e.enqueue(testRecipient, testEvent(KindPasskeyCreated))
	for range 2 {
		if job := e.waitFor(river.EventKindJobFailed); job.State != rivertype.JobStateAvailable && job.State != rivertype.JobStateRetryable {
			t.Fatalf("a refused attempt left the job %s", job.State)
		}
	}
	if got := testutil.ToFloat64(messageRetries.WithLabelValues(viaEmail)) - retries; got < 2 {
		t.Errorf("kagi_message_retries_total{channel=email} grew by %v over two refused tries", got)
	}
	if got := smtp.received(); len(got) != 0 {
		t.Fatalf("delivered while the server refused: %d", len(got))
	}
	smtp.down.Store(false)
	e.waitFor(river.EventKindJobCompleted)
	if got := smtp.received(); len(got) != 1 {
		t.Fatalf("delivered %d times, want once", len(got))
	}
	if a := e.audited(); len(a) != 0 {
		t.Fatalf("a delivered mail was audited as undelivered: %v", a)
	}
}

// An event whose transaction rolls back sends nothing.
func TestOutboxRolledBackEventSendsNothing(t *testing.T) {
	t.Parallel()
	smtp := startSMTP(t, plainSMTP, nil)
	e := newOutboxEnv(t, outboxOptions{mailer: mailerFor(t, fmt.Sprintf("smtp://%s:%d", smtp.host, smtp.port), testSender, false)})
	ctx := context.Background()
	errEvent := errors.New("the event failed")
	err := pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
		if err := e.outbox.Enqueue(ctx, tx, testRecipient, testEvent(KindWindowOpened)); err != nil {
			return err
		}
		return errEvent
	})
	if !errors.Is(err, errEvent) {
		t.Fatal(err)
	}
	// A committed event after it is delivered; the rolled-back one never was in the outbox.
	e.enqueue(testRecipient, testEvent(KindLogin))
	e.waitFor(river.EventKindJobCompleted)
	got := smtp.received()
	if len(got) != 1 {
		t.Fatalf("%d mails, want only the committed one", len(got))
	}
	if want, _ := RenderEmail(testEvent(KindLogin), testBrand); decode(t, got[0].data).subject != want.Subject {
		t.Fatalf("delivered %q", decode(t, got[0].data).subject)
	}
	if states := e.jobStates(); !slices.Equal(states, []string{"completed"}) {
		t.Fatalf("jobs %v", states)
	}
}

// A message whose text would hold a link is never sent: it ends cancelled, the refusal is
// audited, and the other messages go out.
func TestOutboxRefusesALinkLikeMessage(t *testing.T) {
	t.Parallel()
	smtp := startSMTP(t, plainSMTP, nil)
	e := newOutboxEnv(t, outboxOptions{mailer: mailerFor(t, fmt.Sprintf("smtp://%s:%d", smtp.host, smtp.port), testSender, false)})
	bad := testEvent(KindPasskeyCreated)
	bad.Provider = "https://evil.example/passkey"
	refused := testutil.ToFloat64(messagesUndelivered.WithLabelValues(string(KindPasskeyCreated), viaEmail, "link_like"))
	e.enqueue(testRecipient, bad)
	e.enqueue(testRecipient, testEvent(KindLogin))
	if completed, cancelled := e.waitDone(2); completed != 1 || cancelled != 1 {
		t.Fatalf("%d delivered, %d cancelled", completed, cancelled)
	}
	if got := smtp.received(); len(got) != 1 || strings.Contains(string(got[0].data), "evil") {
		t.Fatalf("received %d mails", len(got))
	}
	a := e.audited()
	if len(a) != 1 || a[0].event != "notification_refused" || a[0].accountID != 42 || a[0].detail["reason"] != "link_like" ||
		a[0].detail["kind"] != string(KindPasskeyCreated) || a[0].detail["to"] != "t***@example.jp" {
		t.Fatalf("audited %+v", a)
	}
	if states := e.jobStates(); !slices.Equal(states, []string{"cancelled", "completed"}) {
		t.Fatalf("jobs %v", states)
	}
	if got := testutil.ToFloat64(messagesUndelivered.WithLabelValues(string(KindPasskeyCreated), viaEmail, "link_like")) - refused; got < 1 {
		t.Errorf("kagi_messages_undelivered_total{reason=link_like} grew by %v, want at least 1", got)
	}
}

// Twilio refusing a text for good (a 4xx such as an invalid number) ends it at once, visibly.
func TestOutboxTextRefusedForGoodEndsVisible(t *testing.T) {
	t.Parallel()
	smtp := startSMTP(t, plainSMTP, nil)
	twilio := startTwilio(t, http.StatusBadRequest, `{"code":21211,"message":"The 'To' number is not a valid phone number.","status":400}`)
	e := newOutboxEnv(t, outboxOptions{
		mailer: mailerFor(t, fmt.Sprintf("smtp://%s:%d", smtp.host, smtp.port), testSender, false),
		texter: texterFor(t, twilio.URL, testSMSFrom),
	})
	e.enqueue(Recipient{AccountID: 7, Email: "taro@example.jp", Phones: []string{"+819012345678"}}, testEvent(KindVoiceLockout))
	if completed, cancelled := e.waitDone(2); completed != 1 || cancelled != 1 {
		t.Fatalf("%d delivered, %d cancelled", completed, cancelled)
	}
	if n := len(twilio.requests()); n != 1 {
		t.Fatalf("Twilio was asked %d times, want once", n)
	}
	a := e.audited()
	if len(a) != 1 || a[0].event != "notification_failed" || a[0].detail["channel"] != "sms" ||
		a[0].detail["reason"] != "refused_by_server" || a[0].detail["to"] != "+8190****5678" {
		t.Fatalf("audited %+v", a)
	}
}

// The email check's code is no use once the check ended: a mail that could not go out in time
// is dropped, visibly, rather than arrive late and confuse.
func TestOutboxDropsAnEmailCheckCodePastItsEnd(t *testing.T) {
	t.Parallel()
	smtp := startSMTP(t, plainSMTP, nil)
	e := newOutboxEnv(t, outboxOptions{
		mailer: mailerFor(t, fmt.Sprintf("smtp://%s:%d", smtp.host, smtp.port), testSender, false),
		now:    func() time.Time { return testAt.Add(5 * time.Minute) },
	})
	e.enqueue(testRecipient, testEvent(KindEmailCheck))
	e.waitFor(river.EventKindJobCancelled)
	if got := smtp.received(); len(got) != 0 {
		t.Fatalf("a stale code was mailed")
	}
	if a := e.audited(); len(a) != 1 || a[0].detail["reason"] != "expired_before_delivery" {
		t.Fatalf("audited %+v", a)
	}
}

// The last try of a message that keeps failing is audited before river discards it.
func TestDeliverAuditsTheLastFailedTry(t *testing.T) {
	t.Parallel()
	var audits []string
	o := &Outbox{log: testLog(t), now: time.Now, retryBase: time.Second,
		audit: func(_ context.Context, _ pgx.Tx, _ int64, event string, detail map[string]any) error {
			audits = append(audits, event+":"+detail["reason"].(string))
			return nil
		}}
	o.pool = pgtest.New(t, testSchema)
	down := errors.New("connection refused")
	send := func() (func() error, error) { return func() error { return down }, nil }
	for _, tc := range []struct {
		attempt int
		want    []string
	}{
		{noticeAttempts - 1, nil},
		{noticeAttempts, []string{"notification_failed:retries_exhausted"}},
	} {
		audits = nil
		job := &rivertype.JobRow{ID: 1, Attempt: tc.attempt, MaxAttempts: noticeAttempts}
		err := o.deliver(context.Background(), job, messageArgs{Via: viaEmail, AccountID: 42, Event: testEvent(KindLogin)}, "t***@example.jp", send)
		if !errors.Is(err, down) {
			t.Fatalf("attempt %d: %v, want the delivery error so river retries or discards", tc.attempt, err)
		}
		if !slices.Equal(audits, tc.want) {
			t.Fatalf("attempt %d audited %v, want %v", tc.attempt, audits, tc.want)
		}
	}
}

func TestNextRetryBacksOffUpToTheCap(t *testing.T) {
	t.Parallel()
	o := &Outbox{retryBase: 10 * time.Second}
	prev := time.Duration(0)
	for attempt := 1; attempt <= noticeAttempts; attempt++ {
		wait := time.Until(o.nextRetry(&rivertype.JobRow{Attempt: attempt}))
		if wait < prev-time.Second || wait > maxRetryWait*11/10+time.Second {
			t.Fatalf("attempt %d waits %v after %v", attempt, wait, prev)
		}
		prev = min(wait, maxRetryWait)
	}
	if first := time.Until(o.nextRetry(&rivertype.JobRow{Attempt: 1})); first < 9*time.Second || first > 12*time.Second {
		t.Fatalf("first retry after %v, want about 10s", first)
	}
}

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// A notice is texted only to the registered phones that can take a text: a landline among them
// gets nothing that would fail, the mobiles and the email are told as ever.
func TestEnqueueTextsOnlyTextablePhones(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t, testSchema)
	o, err := New(Config{Pool: pool, Log: testLog(t), SMS: true, Audit: func(context.Context, pgx.Tx, int64, string, map[string]any) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	to := Recipient{AccountID: 42, Email: "taro@example.jp", Phones: []string{"+81312345678", "+819012345678", "+4915112345678", "+815012345678"}}
	err = pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
		return o.Enqueue(context.Background(), tx, to, testEvent(KindWindowOpened))
	})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(context.Background(), `SELECT args->>'via' || ':' || (args->>'to') FROM river_job ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"email:taro@example.jp", "sms:+819012345678", "sms:+4915112345678"}
	if !slices.Equal(got, want) {
		t.Errorf("enqueued %v, want %v", got, want)
	}
}

// A delivered message's job, with the address, name and emoji in its arguments, is deleted by
// river's own job cleaner within the hour (SPEC §7); one that ended undelivered within a day.
// The clock is moved by ageing the jobs' end in the database: river's cleaner reads the wall
// clock, and runs at once when the outbox starts.
func TestOutboxForgetsDeliveredMessagesWithinTheHour(t *testing.T) {
	t.Parallel()
	// River's cleaner runs this often; a job past deliveredRetention is gone one run later.
	every := riversharedmaintenance.JobCleanerIntervalDefault
	if every != 30*time.Second || deliveredRetention+every >= time.Hour {
		t.Fatalf("delivered jobs live up to %v + %v, not under an hour", deliveredRetention, every)
	}
	smtp := startSMTP(t, plainSMTP, nil)
	e := newOutboxEnv(t, outboxOptions{mailer: mailerFor(t, fmt.Sprintf("smtp://%s:%d", smtp.host, smtp.port), testSender, false)})
	linkLike := testEvent(KindPasskeyCreated)
	linkLike.Provider = "https://evil.example"
	for _, ev := range []Event{testEvent(KindLogin), testEvent(KindLogin), linkLike, linkLike, linkLike} {
		e.enqueue(testRecipient, ev)
	}
	if completed, cancelled := e.waitDone(5); completed != 2 || cancelled != 3 {
		t.Fatalf("%d delivered, %d cancelled", completed, cancelled)
	}
	ctx := context.Background()
	if err := e.outbox.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// In the order enqueued: two delivered, three refused, of which the last is made one that
	// ran out of tries.
	ended := []struct {
		ago   time.Duration
		state string
		kept  bool
	}{
		{time.Hour - every, "completed", false},
		{0, "completed", true},
		{undeliveredRetention + time.Minute, "cancelled", false},
		{undeliveredRetention - time.Hour, "cancelled", true},
		{undeliveredRetention + time.Minute, "discarded", false},
	}
	ids := e.jobIDs()
	if len(ids) != len(ended) {
		t.Fatalf("jobs %v", ids)
	}
	var want []int64
	for i, j := range ended {
		_, err := e.pool.Exec(ctx, `UPDATE river_job SET state = $2::river_job_state, finalized_at = now() - $3::interval WHERE id = $1`,
			ids[i], j.state, j.ago)
		if err != nil {
			t.Fatalf("ageing job %d: %v", ids[i], err)
		}
		if j.kept {
			want = append(want, ids[i])
		}
	}
	if err := e.outbox.Start(ctx); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(20 * time.Second)
	for {
		left := e.jobIDs()
		if slices.Equal(left, want) {
			return
		}
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("jobs %v are left, want %v", left, want)
		}
	}
}

// The outbox's job table keeps only the indexes river's queries use: no GIN index on a job's
// arguments or metadata (every message's three row versions would add their keys to them) and
// no index on the kind (a hot page of equal keys); and migrating again changes nothing.
func TestRiverJobTableKeepsOnlyTheIndexesRiverQueries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t, testSchema)
	if err := MigrateRiver(ctx, pool); err != nil {
		t.Fatalf("migrating again: %v", err)
	}
	rows, err := pool.Query(ctx, `SELECT indexname FROM pg_indexes WHERE tablename = 'river_job' ORDER BY indexname`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"river_job_pkey", "river_job_prioritized_fetching_index", "river_job_state_and_finalized_at_index", "river_job_unique_idx"}
	if !slices.Equal(got, want) {
		t.Errorf("river_job's indexes are %v, want %v", got, want)
	}
}
