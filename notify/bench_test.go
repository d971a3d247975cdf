package notify

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"kagi/pgdb/pgtest"
)

// The load of BenchmarkOutboxKeepsPace: go test -bench OutboxKeepsPace -outbox.rate 600 …
var (
	benchRate    = flag.Int("outbox.rate", 450, "login notices enqueued per second (the peak passkey-login rate at 8 clients)")
	benchClients = flag.Int("outbox.clients", 8, "transactions enqueueing at a time")
	benchFor     = flag.Duration("outbox.for", time.Minute, "how long the producer enqueues")
)

// smtpSinkEnv makes the test binary an SMTP server that accepts and discards every message
// (TestMain), so that the benchmark's process CPU is kagi's and not the relay's.
const smtpSinkEnv = "KAGI_BENCH_SMTP_SINK"

func TestMain(m *testing.M) {
	if os.Getenv(smtpSinkEnv) != "" {
		os.Exit(runSMTPSink())
	}
	os.Exit(m.Run())
}

// runSMTPSink serves SMTP on 127.0.0.1 until its standard input closes: it prints "port N"
// when listening and "received N" at the end.
func runSMTPSink() int {
	var n, conns atomic.Int64
	s := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		conns.Add(1)
		return sinkSession{n: &n}, nil
	}))
	s.Domain = "127.0.0.1"
	s.AllowInsecureAuth = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go s.Serve(l)
	fmt.Printf("port %d\n", l.Addr().(*net.TCPAddr).Port)
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = s.Close()
	fmt.Printf("received %d over %d connections\n", n.Load(), conns.Load())
	return 0
}

type sinkSession struct{ n *atomic.Int64 }

func (sinkSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (sinkSession) Reset()                                 {}
func (sinkSession) Logout() error                          { return nil }
func (s sinkSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	s.n.Add(1)
	return err
}

// startSMTPSink runs the sink in a process of its own and returns its port and what stops it
// and returns how many messages it received and over how many connections.
func startSMTPSink(b *testing.B) (port int, stop func() (received, connections int)) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), smtpSinkEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	var line string
	if lines.Scan() {
		line = lines.Text()
	}
	if _, err := fmt.Sscanf(line, "port %d", &port); err != nil {
		_ = cmd.Process.Kill()
		b.Fatalf("SMTP sink: %q: %v", line, err)
	}
	var once sync.Once
	received, connections := -1, -1
	stop = func() (int, int) {
		once.Do(func() {
			_ = in.Close()
			if lines.Scan() {
				_, _ = fmt.Sscanf(lines.Text(), "received %d over %d connections", &received, &connections)
			}
			_ = cmd.Wait()
		})
		return received, connections
	}
	b.Cleanup(func() { stop() })
	return port, stop
}

// statementCounter is a pgx tracer that counts the statements kagi sends and the transactions
// they end: a statement after which the connection is idle ended one (its own, or a COMMIT).
type statementCounter struct{ statements, transactions atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.statements.Add(1)
	return ctx
}

func (c *statementCounter) TraceQueryEnd(_ context.Context, conn *pgx.Conn, _ pgx.TraceQueryEndData) {
	if conn.PgConn().TxStatus() == 'I' {
		c.transactions.Add(1)
	}
}

func (c *statementCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	c.statements.Add(int64(d.Batch.Len()))
	return ctx
}
func (c *statementCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *statementCounter) TraceBatchEnd(_ context.Context, conn *pgx.Conn, _ pgx.TraceBatchEndData) {
	if conn.PgConn().TxStatus() == 'I' {
		c.transactions.Add(1)
	}
}

// costs is what a stretch of the benchmark spent: kagi's CPU (this process), PostgreSQL's (its
// postmaster and every backend, also the ones that ended), the statements and transactions.
type costs struct {
	kagi, postgres           time.Duration
	statements, transactions int64
}

func (c costs) sub(o costs) costs {
	return costs{c.kagi - o.kagi, c.postgres - o.postgres, c.statements - o.statements, c.transactions - o.transactions}
}

// scale is c, spent on from notices, for to notices.
func (c costs) scale(from, to int64) costs {
	if from == 0 {
		return costs{}
	}
	return costs{c.kagi * time.Duration(to) / time.Duration(from), c.postgres * time.Duration(to) / time.Duration(from),
		c.statements * to / from, c.transactions * to / from}
}

func (c costs) per(n int64) string {
	if n == 0 {
		return "nothing"
	}
	f := float64(n)
	return fmt.Sprintf("kagi %.3f ms CPU, PostgreSQL %.3f ms CPU, %.2f statements, %.2f transactions",
		float64(c.kagi.Microseconds())/1000/f, float64(c.postgres.Microseconds())/1000/f,
		float64(c.statements)/f, float64(c.transactions)/f)
}

type benchDB struct {
	pool       *pgxpool.Pool
	counter    *statementCounter
	postmaster int
}

// newBenchDB is a fresh database with a pool that counts its statements, and preparing and
// caching them as kagi does talking to PostgreSQL directly.
func newBenchDB(b *testing.B) *benchDB {
	cfg, err := pgxpool.ParseConfig(pgtest.URL(b, testSchema))
	if err != nil {
		b.Fatal(err)
	}
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
	d := &benchDB{counter: &statementCounter{}}
	cfg.ConnConfig.Tracer = d.counter
	if d.pool, err = pgxpool.NewWithConfig(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.pool.Close)
	var backend int
	if err := d.pool.QueryRow(context.Background(), `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		b.Fatal(err)
	}
	if f := procStat(backend); len(f) > 1 {
		d.postmaster, _ = strconv.Atoi(f[1])
	}
	return d
}

// procStat is the fields of /proc/PID/stat after the command name (the first is the state), or
// nil.
func procStat(pid int) []string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(raw)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}

// clockTick is Linux's USER_HZ, the unit of /proc/PID/stat's times.
const clockTick = 10 * time.Millisecond

// postgresCPU is the CPU time of the postmaster, its ended children and its running ones.
func (d *benchDB) postgresCPU() time.Duration {
	ticks := func(f []string, from, to int) (n int64) {
		for i := from; i <= to && i < len(f); i++ {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			n += v
		}
		return n
	}
	if d.postmaster == 0 {
		return 0
	}
	// utime, stime, cutime, cstime are fields 14 to 17 of the file, 11 to 14 after the name.
	total := ticks(procStat(d.postmaster), 11, 14)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := procStat(pid); len(f) > 12 && f[1] == strconv.Itoa(d.postmaster) {
			total += ticks(f, 11, 12)
		}
	}
	return time.Duration(total) * clockTick
}

func (d *benchDB) costs() costs {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return costs{
		kagi:         time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		postgres:     d.postgresCPU(),
		statements:   d.counter.statements.Load(),
		transactions: d.counter.transactions.Load(),
	}
}

// produce enqueues a login notice per transaction, as the passkey login finish does, at rate a
// second from clients goroutines for span, and returns how many it enqueued. A producer behind
// its schedule catches up without waiting.
func produce(b *testing.B, o *Outbox, pool *pgxpool.Pool, rate, clients int, span time.Duration, enqueued *atomic.Int64) {
	total := int64(float64(rate) * span.Seconds())
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				k := next.Add(1) - 1
				if k >= total {
					return
				}
				time.Sleep(time.Until(start.Add(time.Duration(k) * time.Second / time.Duration(rate))))
				ev := testEvent(KindLogin)
				ev.At = time.Now()
				err := pgx.BeginFunc(context.Background(), pool, func(tx pgx.Tx) error {
					return o.Enqueue(context.Background(), tx, Recipient{AccountID: k, Email: testRecipient.Email}, ev)
				})
				if err != nil {
					b.Error(err)
					return
				}
				enqueued.Add(1)
			}
		})
	}
	wg.Wait()
}

func benchOutbox(b *testing.B, pool *pgxpool.Pool, mailer Mailer) *Outbox {
	o, err := New(Config{
		Pool:   pool,
		Log:    slog.New(slog.NewJSONHandler(io.Discard, nil)), // as kagi serve logs, without the writes
		Mailer: mailer,
		Brand:  testBrand,
		Audit: func(context.Context, pgx.Tx, int64, string, map[string]any) error {
			b.Error("a notice ended undelivered")
			return nil
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	return o
}

// BenchmarkOutboxKeepsPace enqueues login notices at the peak passkey-login rate
// (-outbox.rate, from -outbox.clients transactions at a time, for -outbox.for) and has river's
// workers deliver them over SMTP to a relay in a process of its own, its connections kept as in
// production. It prints the backlog every second, and what a notice costs: first the enqueueing
// alone (an outbox that does not deliver, on a database of its own), then enqueueing and
// delivering together, from the first notice until the last was delivered — kagi's CPU (this
// process's, getrusage), PostgreSQL's (its processes'), statements and transactions (a pgx
// tracer). The difference is the delivery's share. Figures are printed, never asserted: other
// work on the machine moves them, so compare them within one run.
func BenchmarkOutboxKeepsPace(b *testing.B) {
	rate, clients, span := *benchRate, *benchClients, *benchFor
	for b.Loop() {
		// The enqueueing alone.
		enq := newBenchDB(b)
		o := benchOutbox(b, enq.pool, nil)
		var enqueued atomic.Int64
		before := enq.costs()
		produce(b, o, enq.pool, rate, clients, span/4, &enqueued)
		enqueueCost, alone := enq.costs().sub(before), enqueued.Load()
		b.Logf("enqueue only: %d notices in %v: %s", alone, span/4, enqueueCost.per(alone))

		// Enqueueing and delivering.
		port, stopSink := startSMTPSink(b)
		db := newBenchDB(b)
		o = benchOutbox(b, db.pool, mailerFor(b, fmt.Sprintf("smtp://127.0.0.1:%d", port), testSender, false))
		events, cancel := o.client.SubscribeConfig(&river.SubscribeConfig{
			ChanSize: rate * int(span.Seconds()+60),
			Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobCancelled, river.EventKindJobFailed},
		})
		var delivered atomic.Int64
		done := make(chan struct{})
		go func() {
			defer close(done)
			for ev := range events {
				if ev.Kind != river.EventKindJobCompleted {
					b.Errorf("job %d: %s %v", ev.Job.ID, ev.Kind, ev.Job.Errors)
					continue
				}
				delivered.Add(1)
			}
		}()
		ctx, stopWorkers := context.WithCancel(context.Background())
		if err := o.Start(ctx); err != nil {
			b.Fatal(err)
		}
		enqueued.Store(0)
		start := time.Now()
		before = db.costs()
		produced := make(chan struct{})
		go func() {
			defer close(produced)
			produce(b, o, db.pool, rate, clients, span, &enqueued)
		}()
		var maxBacklog int64
		tick := time.NewTicker(time.Second)
	watch:
		for {
			select {
			case <-tick.C:
			case <-produced:
				break watch
			}
			e, d := enqueued.Load(), delivered.Load()
			maxBacklog = max(maxBacklog, e-d)
			b.Logf("%3.0fs: %6d enqueued, %6d delivered, backlog %5d", time.Since(start).Seconds(), e, d, e-d)
		}
		produceTime := time.Since(start)
		total := enqueued.Load()
		for delivered.Load() < total && time.Since(start) < produceTime+time.Minute {
			time.Sleep(5 * time.Millisecond)
		}
		drained := time.Since(start)
		all := db.costs().sub(before)
		tick.Stop()
		stopCtx, cancelStop := context.WithTimeout(context.Background(), 10*time.Second)
		if err := o.Stop(stopCtx); err != nil {
			b.Error(err)
		}
		cancelStop()
		stopWorkers()
		cancel()
		<-done
		got, conns := stopSink()
		if got != int(total) || delivered.Load() != total {
			b.Errorf("%d enqueued, %d completed, %d received by the relay", total, delivered.Load(), got)
		}
		b.Logf("the relay received %d messages over %d connections", got, conns)
		b.Logf("enqueue and deliver: %d notices enqueued in %v (%.0f/s), delivered by %v (%.0f/s), largest backlog %d, drained %v after the last",
			total, produceTime.Round(time.Millisecond), float64(total)/produceTime.Seconds(), drained.Round(time.Millisecond),
			float64(total)/drained.Seconds(), maxBacklog, (drained - produceTime).Round(time.Millisecond))
		b.Logf("a notice, enqueued and delivered: %s", all.per(total))
		deliver := all.sub(enqueueCost.scale(alone, total))
		b.Logf("a notice, delivered (the difference): %s", deliver.per(total))
		b.ReportMetric(float64(total)/drained.Seconds(), "delivered/s")
		b.ReportMetric(float64(maxBacklog), "max-backlog")
		b.ReportMetric(float64(deliver.kagi.Microseconds())/float64(max(total, 1)), "kagi-µs/delivery")
		b.ReportMetric(float64(all.transactions)/float64(max(total, 1)), "transactions/notice")
	}
}

// BenchmarkRenderLoginNotice is what the worker does to a login notice before sending it:
// render it and check it for links; and the link check of the rendered body alone.
func BenchmarkRenderLoginNotice(b *testing.B) {
	ev := testEvent(KindLogin)
	b.Run("render", func(b *testing.B) {
		for b.Loop() {
			if _, err := RenderEmail(ev, testBrand); err != nil {
				b.Fatal(err)
			}
		}
	})
	msg, err := RenderEmail(ev, testBrand)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("link check", func(b *testing.B) {
		for b.Loop() {
			if ContainsLink(msg.Body) {
				b.Fatal("link in the login notice")
			}
		}
	})
}
