package pgdb

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Queuer is what both a pgx.Batch and a Tx offer: a statement queued to be sent together with
// others, in one round trip.
type Queuer interface {
	Queue(sql string, args ...any) *pgx.QueuedQuery
}

// Tx is a transaction that sends its BEGIN with its first statements and its writes with the
// statements that follow, so that neither costs a round trip of its own (SPEC §10): it begins
// in the batch of InTxBatch's first statements, and statements queued with Queue go in one pgx
// batch with the transaction's next statement, batch or commit, in the order they were queued
// and before it. Their results are read first, each by its callback when it has one, and an
// error of theirs is the error of the statement they went with, so the transaction fails as if
// they had been sent alone. The commit is one batch: the queued statements, then COMMIT. It is
// a pgx.Tx, so a library that takes one (river's driver) sends its statements through it and
// the queued writes travel with them.
//
// Queued statements go as pgx.Batch's do: in the connection's exec mode, with the batch's only
// option (a QueryRewriter). A statement sent with pgx options of its own (an exec mode, result
// formats) goes alone, after the queued ones. LargeObjects and Prepare are the underlying
// transaction's and send nothing queued.
type Tx struct {
	pgx.Tx
	conn       *pgxpool.Conn // released when the transaction ends
	queued     pgx.Batch
	queueExecs bool
	ended      bool
	// commitWith picks the statement that carries the COMMIT (CommitWith); once it has been
	// sent, committed is set and commitErr is the commit's outcome as far as it is known.
	commitWith func(sql string) bool
	committed  bool
	commitErr  error
	open       *batchRows // the rows of the statement that carried the COMMIT, until closed
	// queuedAfterCommit is a statement queued with Queue after the commit went (a mistake).
	queuedAfterCommit bool
}

// errAfterCommit refuses a statement that would run after the COMMIT went with CommitWith's
// statement: outside the transaction, it would not be whole with it.
var errAfterCommit = errors.New("pgdb: statement after the transaction's commit")

// Queue queues a statement to go with the transaction's next statement, batch or commit. Once
// the COMMIT went with CommitWith's statement, nothing queued is sent: Commit reports the
// mistake instead of running it outside the transaction.
func (tx *Tx) Queue(sql string, args ...any) *pgx.QueuedQuery {
	if tx.committed {
		tx.queuedAfterCommit = true
	}
	return tx.queued.Queue(sql, args...)
}

// CommitWith makes the transaction's COMMIT go in the round trip of its last statement, which
// a library sends (river's insert of a job), so that it costs no round trip of its own (SPEC
// §10): the first later Query whose SQL match accepts is sent with the queued statements
// before it and COMMIT after it. Statements before that one go as usual; statements after it
// are refused, except Execs. From CommitWith on, an Exec is queued and returns an empty command
// tag at once, for a last step that reads its Execs for their error only (river's wake-up of
// its workers after an enqueue): it goes with the commit, or, once the COMMIT went with the
// picked statement, after it, on its own. Commit then reports the commit's outcome. When no
// statement matches, Commit commits as usual.
//
// Everything that must hold for the transaction to commit has to be checked by PostgreSQL by
// then, as an error of a statement (a check read back by the caller comes too late): an error
// of any statement of that round trip makes the COMMIT a rollback, and an error the caller
// returns after that round trip no longer undoes the commit.
func (tx *Tx) CommitWith(match func(sql string) bool) {
	tx.commitWith = match
	tx.queueExecs = true
}

// take returns the queued statements and forgets them.
func (tx *Tx) take() *pgx.Batch {
	b := &pgx.Batch{QueuedQueries: tx.queued.QueuedQueries}
	tx.queued.QueuedQueries = nil
	return b
}

// flush sends the queued statements on their own, for a statement that cannot go with them.
func (tx *Tx) flush(ctx context.Context) error {
	if err := tx.usable(); err != nil {
		return err
	}
	if tx.queued.Len() == 0 {
		return nil
	}
	return tx.Tx.SendBatch(ctx, tx.take()).Close()
}

// usable says why no statement can be sent in the transaction any more, if so.
func (tx *Tx) usable() error {
	if tx.ended {
		return pgx.ErrTxClosed
	}
	if tx.committed {
		return errAfterCommit
	}
	return nil
}

// readQueued reads the results of the first n statements of br, the queued ones, running their
// callbacks, and returns the first error.
func readQueued(br pgx.BatchResults, queued []*pgx.QueuedQuery) error {
	for _, qq := range queued {
		var err error
		if qq.Fn != nil {
			err = qq.Fn(br)
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// hasOptions reports whether args begin with a pgx option that a batch cannot carry.
func hasOptions(args []any) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0].(type) {
	case pgx.QueryExecMode, pgx.QueryResultFormats, pgx.QueryResultFormatsByOID:
		return true
	}
	return false
}

// withQueued sends the queued statements and sql in one batch and reads the queued ones'
// results; the caller reads sql's and closes the batch.
func (tx *Tx) withQueued(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	if err := tx.usable(); err != nil {
		return nil, err
	}
	b := tx.take()
	queued := b.QueuedQueries
	b.Queue(sql, args...)
	br := tx.Tx.SendBatch(ctx, b)
	if err := readQueued(br, queued); err != nil {
		_ = br.Close() // the error above is the one that counts
		return nil, err
	}
	return br, nil
}

// Exec runs sql in the transaction, in the round trip of the queued statements.
func (tx *Tx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if tx.queueExecs && !tx.ended && !hasOptions(args) {
		// Also once the COMMIT went with CommitWith's statement: Commit then sends it after.
		tx.queued.Queue(sql, args...)
		return pgconn.CommandTag{}, nil
	}
	if tx.queued.Len() == 0 || hasOptions(args) {
		if err := tx.flush(ctx); err != nil {
			return pgconn.CommandTag{}, err
		}
		return tx.Tx.Exec(ctx, sql, args...)
	}
	br, err := tx.withQueued(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if closeErr := br.Close(); err == nil {
		err = closeErr
	}
	return tag, err
}

// Query runs sql in the transaction, in the round trip of the queued statements.
func (tx *Tx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if tx.commitWith != nil && !tx.committed && !tx.ended && !hasOptions(args) && tx.commitWith(sql) {
		return tx.queryCommitting(ctx, sql, args)
	}
	if tx.queued.Len() == 0 || hasOptions(args) {
		if err := tx.flush(ctx); err != nil {
			return nil, err
		}
		return tx.Tx.Query(ctx, sql, args...)
	}
	br, err := tx.withQueued(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// queryCommitting sends the queued statements, sql and COMMIT in one batch, for CommitWith. The
// rows' error is the commit's too: closing them reads its outcome, which Commit then reports.
func (tx *Tx) queryCommitting(ctx context.Context, sql string, args []any) (pgx.Rows, error) {
	b := tx.take()
	queued := b.QueuedQueries
	b.Queue(sql, args...)
	b.Queue("commit")
	tx.committed = true // whatever comes back, the transaction's end has been sent
	br := tx.Tx.SendBatch(ctx, b)
	err := readQueued(br, queued)
	var rows pgx.Rows
	if err == nil {
		rows, err = br.Query()
	}
	if err != nil {
		_ = br.Close() // the error above is the one that counts
		tx.commitErr = err
		return nil, err
	}
	tx.open = &batchRows{Rows: rows, br: br, commit: tx}
	return tx.open, nil
}

// QueryRow runs sql in the transaction, in the round trip of the queued statements.
func (tx *Tx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if (tx.queued.Len() == 0 && tx.commitWith == nil) || hasOptions(args) {
		if err := tx.flush(ctx); err != nil {
			return errRow{err}
		}
		return tx.Tx.QueryRow(ctx, sql, args...)
	}
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return errRow{err}
	}
	return firstRow{rows}
}

// SendBatch sends b in the transaction after the queued statements, in one round trip. b must
// not begin a transaction (pgx's Batch.BeginTx).
func (tx *Tx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := tx.usable(); err != nil {
		return pgx.FailedBatchResults(b, err)
	}
	if tx.queued.Len() == 0 {
		return tx.Tx.SendBatch(ctx, b)
	}
	all := tx.take()
	queued := all.QueuedQueries
	all.QueuedQueries = append(queued[:len(queued):len(queued)], b.QueuedQueries...)
	return &afterQueued{BatchResults: tx.Tx.SendBatch(ctx, all), queued: queued}
}

// CopyFrom copies after sending the queued statements.
func (tx *Tx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := tx.flush(ctx); err != nil {
		return 0, err
	}
	return tx.Tx.CopyFrom(ctx, table, columns, src)
}

// Begin starts a nested transaction (a savepoint) after sending the queued statements.
func (tx *Tx) Begin(ctx context.Context) (pgx.Tx, error) {
	if err := tx.flush(ctx); err != nil {
		return nil, err
	}
	return tx.Tx.Begin(ctx)
}

// Commit sends the queued statements and COMMIT in one batch. An error of theirs leaves the
// transaction uncommitted, for Rollback.
func (tx *Tx) Commit(ctx context.Context) error {
	if tx.ended {
		return pgx.ErrTxClosed
	}
	if tx.committed {
		return tx.afterCommit(ctx)
	}
	b := tx.take()
	queued := b.QueuedQueries
	b.Queue("commit")
	br := tx.Tx.SendBatch(ctx, b)
	err := readQueued(br, queued)
	if err == nil {
		err = commitOutcome(br)
	}
	if closeErr := br.Close(); err == nil {
		err = closeErr
	}
	if tx.Conn().PgConn().TxStatus() == 'I' {
		tx.end()
	}
	return err
}

// afterCommit is Commit once the COMMIT went with CommitWith's statement: it reads the commit's
// outcome if its rows were left open, sends the Execs queued since (river's wake-up) on their
// own, after the commit, and reports the commit's outcome, else theirs.
func (tx *Tx) afterCommit(ctx context.Context) error {
	if tx.open != nil {
		tx.open.Close()
	}
	if tx.commitErr != nil {
		// After an error PostgreSQL skips the rest of the round trip, COMMIT included: the
		// transaction is still open, failed, and is rolled back.
		_ = tx.Rollback(ctx)
		return tx.commitErr
	}
	defer tx.end()
	if tx.queuedAfterCommit {
		tx.queued.QueuedQueries = nil
		return errAfterCommit
	}
	if tx.queued.Len() == 0 {
		return nil
	}
	return tx.Conn().SendBatch(ctx, tx.take()).Close()
}

// commitOutcome reads the result of a batch's COMMIT, which a failed transaction answers with
// ROLLBACK rather than an error.
func commitOutcome(br pgx.BatchResults) error {
	tag, err := br.Exec()
	if err == nil && tag.String() == "ROLLBACK" {
		err = pgx.ErrTxCommitRollback
	}
	return err
}

// Rollback forgets the queued statements and rolls back. After a commit it only returns
// pgx.ErrTxClosed, like pgx's.
func (tx *Tx) Rollback(ctx context.Context) error {
	if tx.ended {
		return pgx.ErrTxClosed
	}
	defer tx.end()
	tx.queued.QueuedQueries = nil
	if tx.open != nil {
		tx.open.Close() // the COMMIT went with CommitWith's statement: read how it ended
	}
	if tx.Conn().PgConn().TxStatus() == 'I' {
		return nil // the batch that was to begin it failed, or a failed commit ended it
	}
	_, err := tx.Conn().Exec(ctx, "rollback")
	return err // on an error the pool drops the connection, which is not idle
}

// end returns the connection to the pool.
func (tx *Tx) end() {
	tx.ended = true
	tx.conn.Release()
}

// batchRows are the rows of a batch's last statement, or of the one before the COMMIT that
// ends it (commit set): closing them reads the COMMIT's outcome and closes the batch, and an
// error of either is theirs.
type batchRows struct {
	pgx.Rows
	br       pgx.BatchResults
	commit   *Tx
	closed   bool
	closeErr error
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *batchRows) Close() {
	r.Rows.Close()
	if r.closed {
		return
	}
	r.closed = true
	var err error
	if r.commit != nil {
		if err = r.Rows.Err(); err == nil {
			err = commitOutcome(r.br)
		}
	}
	if closeErr := r.br.Close(); err == nil {
		err = closeErr
	}
	r.closeErr = err
	if r.commit != nil {
		r.commit.commitErr, r.commit.open = err, nil
	}
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.closeErr
}

// firstRow is the first of rows, as pgx's QueryRow scans it.
type firstRow struct{ rows pgx.Rows }

func (r firstRow) Scan(dest ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// errRow is a row that could not be read.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// afterQueued are the results of a caller's batch sent after the queued statements: those are
// read first, by whichever of Exec, Query, QueryRow or Close comes first.
type afterQueued struct {
	pgx.BatchResults
	queued []*pgx.QueuedQuery
	err    error
}

func (r *afterQueued) readQueued() error {
	if r.queued != nil {
		r.err = readQueued(r.BatchResults, r.queued)
		r.queued = nil
	}
	return r.err
}

func (r *afterQueued) Exec() (pgconn.CommandTag, error) {
	if err := r.readQueued(); err != nil {
		return pgconn.CommandTag{}, err
	}
	return r.BatchResults.Exec()
}

func (r *afterQueued) Query() (pgx.Rows, error) {
	if err := r.readQueued(); err != nil {
		return nil, err
	}
	return r.BatchResults.Query()
}

func (r *afterQueued) QueryRow() pgx.Row {
	if err := r.readQueued(); err != nil {
		return errRow{err}
	}
	return r.BatchResults.QueryRow()
}

func (r *afterQueued) Close() error {
	err := r.readQueued()
	if closeErr := r.BatchResults.Close(); err == nil {
		err = closeErr
	}
	return err
}

// InTxBatch is InTx for a transaction whose first statements go in one batch with its BEGIN
// (pgx's Batch.BeginTx), so beginning costs no round trip of its own: first queues them on b,
// their callbacks recording what they read, and fn goes on in the transaction once they have
// been read. Both run again when the transaction is run again. An error of the first batch
// rolls back without calling fn.
func InTxBatch(ctx context.Context, pool *pgxpool.Pool, first func(b *pgx.Batch), fn func(*Tx) error) error {
	return retrying(func() error { return batchTx(ctx, pool, first, fn) })
}

// InTxBatchKeeping is InTxBatch, with InTxKeeping's refusals that commit.
func InTxBatchKeeping(ctx context.Context, pool *pgxpool.Pool, first func(b *pgx.Batch), fn func(*Tx) error) error {
	return keeping(fn, func(fn func(*Tx) error) error { return InTxBatch(ctx, pool, first, fn) })
}

// batchTx is one run of InTxBatch's transaction.
func batchTx(ctx context.Context, pool *pgxpool.Pool, first func(b *pgx.Batch), fn func(*Tx) error) (err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	first(b)
	// The transaction pgx begins on the connection runs the statements, savepoints included;
	// Tx ends it itself, so that the commit goes with the queued writes.
	br := conn.Conn().SendBatch(ctx, b)
	tx := &Tx{Tx: br.Tx(), conn: conn}
	defer func() {
		// As pgx.BeginFunc: after a commit this does nothing.
		if rollbackErr := tx.Rollback(ctx); rollbackErr != nil && !errors.Is(rollbackErr, pgx.ErrTxClosed) && err == nil {
			err = rollbackErr
		}
	}()
	if err := br.Close(); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
