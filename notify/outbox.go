package notify

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// MigrationFS is the schema of the table notify owns (the development mailbox), as files
// 001_*.sql… for the project's migration runner. MigrateRiver adds the outbox's own tables.
var MigrationFS = mustSub(migrationFS, "migrations")

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err)
	}
	return sub
}

// MigrateRiver applies riverqueue/river's schema (its job table and friends), which the outbox
// is made of, without three of the indexes river makes on its job table, which neither river's
// workers nor kagi query by (river's fetch goes by state, queue, priority and time; only its
// test helpers and its web UI list jobs by kind):
//   - the two GIN indexes on a job's arguments and metadata: every row a message writes
//     (enqueued, fetched, completed: none of them a HOT update) would add its keys to both,
//     doubling the cost of each write in PostgreSQL (issue 23);
//   - the index on the job's kind: kagi's jobs are of two kinds, so each of those row versions
//     went into the same leaf page of an index of equal keys, which concurrent logins and the
//     completer fought over and PostgreSQL deduplicated again and again. Without it a passkey
//     login's statements, the notice's included, took about a third less time in PostgreSQL
//     (0.61–0.63 ms against 0.87–0.91 ms, the waits for that page included; issue 23).
//
// It is idempotent.
func MigrateRiver(ctx context.Context, pool *pgxpool.Pool) error {
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("notify: river migrations: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("notify: river migrations: %w", err)
	}
	if _, err := pool.Exec(ctx, dropRiverIndexesSQL); err != nil {
		return fmt.Errorf("notify: river's job table: %w", err)
	}
	return nil
}

const dropRiverIndexesSQL = `DROP INDEX IF EXISTS river_job_args_index, river_job_metadata_index, river_job_kind`

// AuditFunc writes one line of kagi's audit trail in tx (the auth core's Audit, adapted by
// whoever wires the outbox): notify cannot import the package that owns the trail.
type AuditFunc func(ctx context.Context, tx pgx.Tx, accountID int64, event string, detail map[string]any) error

// Recipient is whom an event is told to: the account's email address and, for the events that
// are also texted, its registered phones.
type Recipient struct {
	AccountID int64
	Email     string
	Phones    []string
}

// Defaults of Config.
const (
	// DefaultRetryBase is the wait before the first retry; each further retry waits twice as
	// long, up to maxRetryWait.
	DefaultRetryBase = 10 * time.Second
	maxRetryWait     = 30 * time.Minute
	// noticeAttempts bounds the tries of a notice: with the waits above, about six hours of
	// an SMTP server or Twilio being down are ridden out.
	noticeAttempts = 20
	// checkAttempts bounds the tries of an email check's code: its mail is useless after five
	// minutes, and the waits of five tries add up to less than that.
	checkAttempts = 5
)

// How long river keeps a job once it has ended, with its arguments: the address, the name, the
// emoji of an email check (SPEC §7). River's job cleaner deletes the jobs older than these on
// each of its runs, which come every 30 seconds (river's own interval; a test holds it to that).
const (
	// deliveredRetention keeps a delivered message's job a while for the tests and the operators
	// who look at what just went out; with the cleaner's interval it is gone within the hour.
	deliveredRetention = 45 * time.Minute
	// undeliveredRetention keeps a message that ended undelivered — cancelled (refused as
	// link-like, unrenderable, refused for good, an email check too late) or discarded (out of
	// tries) — a day: its end is audited with a masked address at once, and the job, with the
	// error river recorded of each try, is what whoever answers that alert the next morning
	// reads to find out why. A day bounds it, and the emoji of a check in it has been useless
	// since five minutes after it was made.
	undeliveredRetention = 24 * time.Hour
)

// Deliveries in flight and the shortest pause between fetches of due messages: at most
// maxDeliveries per fetchCooldown leave one replica (a burst of logins at the market's opening
// mails a login notice and an email check each) — 2,000 a second, four times the peak
// passkey-login rate. Under load each fetch takes what a tenth of a second brought (45 notices
// at 450 logins a second) in one statement, and river's completer marks them done in batches;
// a message after a quiet spell is fetched at once, as the cooldown only holds back the fetches
// that follow one (river also wakes the workers at most once per cooldown, so a message
// enqueued within it of another waits for the next fetch: at most the poll interval, a
// second). The deliveries beyond the SMTP mailer's connections wait for one.
const (
	maxDeliveries = 200
	fetchCooldown = 100 * time.Millisecond
)

// Config is what the outbox needs, loaded once at start.
type Config struct {
	Pool *pgxpool.Pool
	Log  *slog.Logger
	// Now is the clock the worker compares an email check's expiry with; tests move it.
	Now func() time.Time
	// Mailer delivers email. Nil makes an insert-only outbox (the command-line tools): it
	// enqueues, and the running server's workers deliver.
	Mailer Mailer
	// Texter delivers SMS. With SMS set and no Texter, texts are enqueued for a server that has one.
	Texter Texter
	// SMS says whether texts are enqueued at all (Twilio Messaging, or the dev mailbox, is
	// configured).
	SMS bool
	// Brand is the brokerage's name (KAGI_BRAND_NAME, e.g. 「デモ証券」; SPEC §4.9): every text
	// opens with it in 【】 and every email is signed with it. Empty leaves it out, as in
	// tests; `kagi serve` requires it outside --dev. Up to 20 characters, no link.
	Brand string
	// Audit records a message that ended undelivered. Required.
	Audit AuditFunc
	// RetryBase is the wait before the first retry. Zero means DefaultRetryBase.
	RetryBase time.Duration
	// PollInterval is how often idle workers look for due retries. Zero means river's default.
	PollInterval time.Duration
	// PollOnly has the workers look for new messages every PollInterval instead of being woken
	// by PostgreSQL's LISTEN/NOTIFY, which a transaction-mode pooler cannot carry (its
	// connections are no sessions of kagi's).
	PollOnly bool
	// Workers registers on the outbox's river client the workers of other packages' jobs
	// (the OpenID Provider's back-channel logout tokens), which they enqueue with EnqueueJobs
	// in the transaction of their event and which are retried as the messages are. Nil adds
	// none.
	Workers func(*river.Workers)
}

// Outbox enqueues messages in the transaction of their event and, when started, delivers them.
type Outbox struct {
	client    *river.Client[pgx.Tx]
	pool      *pgxpool.Pool
	log       *slog.Logger
	now       func() time.Time
	mailer    Mailer
	texter    Texter
	sms       bool
	brand     string
	audit     AuditFunc
	retryBase time.Duration
	working   bool
}

// New builds the outbox. It works messages only after Start, and only with a Mailer.
func New(cfg Config) (*Outbox, error) {
	if cfg.Pool == nil || cfg.Audit == nil {
		return nil, errors.New("notify: Pool and Audit are required")
	}
	if err := checkBrand(cfg.Brand); err != nil {
		return nil, err
	}
	o := &Outbox{
		pool: cfg.Pool, log: cfg.Log, now: cfg.Now, mailer: cfg.Mailer, texter: cfg.Texter, sms: cfg.SMS,
		brand: cfg.Brand, audit: cfg.Audit, retryBase: cfg.RetryBase,
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.retryBase <= 0 {
		o.retryBase = DefaultRetryBase
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &messageWorker{o: o})
	if cfg.Workers != nil {
		cfg.Workers(workers)
	}
	rc := &river.Config{
		Workers:           workers,
		Logger:            o.log.With("component", "outbox"),
		FetchPollInterval: cfg.PollInterval,
		PollOnly:          cfg.PollOnly,
		JobTimeout:        time.Minute,

		CompletedJobRetentionPeriod: deliveredRetention,
		CancelledJobRetentionPeriod: undeliveredRetention,
		DiscardedJobRetentionPeriod: undeliveredRetention,
		// River's nightly REINDEX needs the tables' owner, and kagi serves as a role that owns
		// no table (§6): it would only fail every night. The job table stays small (delivered
		// rows go within the hour), and autovacuum keeps its indexes.
		ReindexerSchedule: river.NeverSchedule(),
	}
	if cfg.Mailer != nil {
		o.working = true
		// River fetches at most once per FetchCooldown, up to the free workers. A poll
		// interval shorter than the cooldown (the tests') shortens it: river requires that.
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: maxDeliveries}}
		rc.FetchCooldown = fetchCooldown
		if cfg.PollInterval > 0 {
			rc.FetchCooldown = min(fetchCooldown, cfg.PollInterval)
		}
	}
	client, err := river.NewClient(riverpgxv5.New(cfg.Pool), rc)
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	o.client = client
	return o, nil
}

// Start runs the workers until Stop. An insert-only outbox has none to run.
func (o *Outbox) Start(ctx context.Context) error {
	if !o.working {
		return errors.New("notify: an outbox without a Mailer cannot deliver")
	}
	return o.client.Start(ctx)
}

// Stop lets running deliveries finish (within ctx) and stops the workers.
func (o *Outbox) Stop(ctx context.Context) error {
	if !o.working {
		return nil
	}
	return o.client.Stop(ctx)
}

// EnqueueJobs adds jobs of Config.Workers to tx, so they are worked if and only if tx commits.
func (o *Outbox) EnqueueJobs(ctx context.Context, tx pgx.Tx, jobs []river.InsertManyParams) error {
	if len(jobs) == 0 {
		return nil
	}
	_, err := o.client.InsertManyTx(ctx, tx, jobs)
	return err
}

// Enqueue adds the messages that tell to of ev — an email, and a text to each registered phone
// that can take one (Textable) when ev is Texted and SMS is on — to tx, so they are sent if and only if tx commits. Nothing
// is rendered here: the worker renders and checks each message right before it is sent.
func (o *Outbox) Enqueue(ctx context.Context, tx pgx.Tx, to Recipient, ev Event) error {
	var params []river.InsertManyParams
	if to.Email != "" {
		params = append(params, river.InsertManyParams{Args: messageArgs{Via: viaEmail, AccountID: to.AccountID, To: to.Email, Event: ev}})
	}
	if o.sms && ev.Texted() {
		for _, p := range to.Phones {
			if !Textable(p) {
				continue
			}
			params = append(params, river.InsertManyParams{Args: messageArgs{Via: viaSMS, AccountID: to.AccountID, To: p, Event: ev}})
		}
	}
	if len(params) == 0 {
		return nil
	}
	if _, err := o.client.InsertManyTx(ctx, tx, params); err != nil {
		return fmt.Errorf("notify: enqueue %s: %w", ev.Kind, err)
	}
	return nil
}

// LastCommitter is a transaction that can send its COMMIT in the round trip of a statement
// still to come (pgdb.Tx: its CommitWith).
type LastCommitter interface {
	CommitWith(match func(sql string) bool)
}

// EnqueueLast is Enqueue as tx's last step: when tx is a LastCommitter, its COMMIT goes in the
// round trip of river's insert of the messages (SPEC §10), so everything that must hold for tx
// to commit has to be checked by PostgreSQL by then; tx takes no statement after it but river's
// wake-up of its workers, which goes after the commit. When river sends anything else first
// (its read of the server's version, once per process), that goes as usual.
func (o *Outbox) EnqueueLast(ctx context.Context, tx pgx.Tx, to Recipient, ev Event) error {
	if c, ok := tx.(LastCommitter); ok {
		c.CommitWith(isRiverInsert)
	}
	return o.Enqueue(ctx, tx, to, ev)
}

// isRiverInsert recognises river's insert of jobs by the name its generated SQL carries. Should
// a new river send it under another name, the COMMIT goes on its own as before, and
// TestPasskeyLoginDatabaseWork counts the round trip it costs.
func isRiverInsert(sql string) bool {
	return strings.Contains(sql, "-- name: JobInsertFastMany ")
}

// How a message goes out (messageArgs.Via).
const (
	viaEmail = "email"
	viaSMS   = "sms"
)

// messageArgs is one message's job: the event and where it goes, not the text, which is
// rendered when it is sent.
type messageArgs struct {
	Via       string `json:"via"`
	AccountID int64  `json:"account_id"`
	To        string `json:"to"`
	Event     Event  `json:"event"`
}

func (messageArgs) Kind() string { return "notify_message" }

func (a messageArgs) InsertOpts() river.InsertOpts {
	if a.Event.Kind == KindEmailCheck {
		return river.InsertOpts{MaxAttempts: checkAttempts}
	}
	return river.InsertOpts{MaxAttempts: noticeAttempts}
}

type messageWorker struct {
	river.WorkerDefaults[messageArgs]
	o *Outbox
}

func (w *messageWorker) NextRetry(job *river.Job[messageArgs]) time.Time {
	return w.o.nextRetry(job.JobRow)
}

func (w *messageWorker) Work(ctx context.Context, job *river.Job[messageArgs]) error {
	a, o := job.Args, w.o
	switch a.Via {
	case viaEmail:
		return o.deliver(ctx, job.JobRow, a, maskEmail(a.To), func() (func() error, error) {
			msg, err := RenderEmail(a.Event, o.brand)
			return func() error { return o.mailer.SendMail(ctx, Mail{To: a.To, Subject: msg.Subject, Body: msg.Body}) }, err
		})
	case viaSMS:
		return o.deliver(ctx, job.JobRow, a, MaskPhone(a.To), func() (func() error, error) {
			if o.texter == nil {
				return nil, errors.New("SMS is not configured on this server")
			}
			body, err := RenderSMS(a.Event, o.brand)
			return func() error { return o.texter.SendSMS(ctx, SMS{To: a.To, Body: body}) }, err
		})
	}
	return river.JobCancel(fmt.Errorf("notify: message %d goes via %q, which no sender knows", job.ID, a.Via))
}

// deliver runs one attempt at a message and decides how the job goes on: done; retried; or
// ended undelivered, audited — refused because its text is link-like, not renderable, refused
// for good by the server, out of tries, or an email check's code that is no use any more.
//
// prepare renders the message and returns what sends it; a message it cannot render is never
// sent, whatever the attempt.
func (o *Outbox) deliver(ctx context.Context, job *rivertype.JobRow, a messageArgs, to string, prepare func() (func() error, error)) error {
	ev := a.Event
	// The message's attributes are formatted only for a line that is written: a delivered
	// message's is not, unless debug logging is on.
	log := func(level slog.Level, msg string, more ...any) {
		if o.log.Enabled(ctx, level) {
			o.log.Log(ctx, level, msg, append([]any{"job_id", job.ID, "kind", string(ev.Kind), "channel", a.Via, "to", to, "attempt", job.Attempt}, more...)...)
		}
	}
	ended := func(event, reason string, cause error) error {
		log(slog.LevelWarn, "message not delivered", "reason", reason, "err", cause)
		err := pgx.BeginFunc(ctx, o.pool, func(tx pgx.Tx) error {
			return o.audit(ctx, tx, a.AccountID, event, map[string]any{
				"kind": string(ev.Kind), "channel": a.Via, "to": to, "job_id": job.ID, "reason": reason, "attempts": job.Attempt,
			})
		})
		if err != nil {
			return err // retried, so the end is audited once it can be
		}
		messagesUndelivered.WithLabelValues(string(ev.Kind), a.Via, reason).Inc()
		return river.JobCancel(fmt.Errorf("%s: %w", reason, cause))
	}
	if ev.Kind == KindEmailCheck && !ev.Until.After(o.now()) {
		return ended("notification_failed", "expired_before_delivery", errors.New("the email check ended before its code was sent"))
	}
	send, err := prepare()
	switch {
	case errors.Is(err, ErrLinkLike):
		return ended("notification_refused", "link_like", err)
	case err != nil:
		return ended("notification_failed", "unrenderable", err)
	}
	err = send()
	switch {
	case err == nil:
		// Counted, and logged only at debug level: a line per login notice was about 3 % of
		// kagi's CPU per passkey login in a profile (issue 23).
		messagesDelivered.WithLabelValues(string(ev.Kind), a.Via).Inc()
		log(slog.LevelDebug, "message delivered")
		return nil
	case IsPermanent(err):
		return ended("notification_failed", "refused_by_server", err)
	case job.Attempt >= job.MaxAttempts:
		return ended("notification_failed", "retries_exhausted", err)
	}
	messageRetries.WithLabelValues(a.Via).Inc()
	log(slog.LevelInfo, "message delivery failed; will retry", "err", err)
	return err
}

// nextRetry doubles the wait after each failed attempt, from RetryBase up to maxRetryWait, with
// a tenth of jitter so messages that failed together do not all come back together.
func (o *Outbox) nextRetry(job *rivertype.JobRow) time.Time {
	wait := o.retryBase
	for i := 1; i < job.Attempt && wait < maxRetryWait; i++ {
		wait *= 2
	}
	wait = min(wait, maxRetryWait)
	wait += time.Duration(rand.Int64N(int64(wait)/10 + 1))
	return time.Now().Add(wait)
}

// maskEmail hides the local part of an address for logs and the audit trail: t***@example.jp.
func maskEmail(a string) string {
	at := strings.LastIndexByte(a, '@')
	if at < 1 {
		return "***"
	}
	return a[:1] + "***" + a[at:]
}

// MaskPhone hides the middle of a phone number for logs, the audit trail and staff screens:
// +819012345678 → +8190****5678. Anything too short to mask is hidden entirely.
func MaskPhone(p string) string {
	if len(p) < 10 {
		return "****"
	}
	return p[:5] + "****" + p[len(p)-4:]
}
