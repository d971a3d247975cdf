package auth

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"kagi/pgdb"
)

// The shape of an import (§12.1). A batch is one transaction: large, so that a million lines
// cost a few hundred statements, and bounded, so that memory stays flat whatever the file's
// length (the importer holds the batch being written and the one being prepared).
const (
	// DefaultImportBatch is how many lines one transaction writes.
	DefaultImportBatch = 10_000
	// MaxImportLine bounds a line; a longer one is a failed line, not a stalled import.
	MaxImportLine = 64 << 10
	// importChunk is how many lines are read and prepared together.
	importChunk = 1024
	// plainPerSlot bounds a batch's plain passwords per hashing slot: hashing them is the slow
	// part (tens of milliseconds each), so such a batch commits, and progress moves, every few
	// seconds instead of after minutes.
	plainPerSlot = 64
	// importWriters is how many batches are written at once, each by its own connection: one
	// PostgreSQL backend inserting is what bounds an import of hashes, and two use two cores.
	importWriters = 2
)

// ImportOptions say how Import treats what is already there and how it reports.
type ImportOptions struct {
	// Update replaces an existing account's name, email, password, PIN and phones with the
	// line's (audited account_updated), unless its customer uses kagi already (keptSQL: the
	// line fails); without it an existing account is left untouched.
	Update bool
	// BatchSize is how many lines one transaction writes; zero means DefaultImportBatch.
	BatchSize int
	// Progress, when set, is called after each committed batch with the counts so far.
	Progress func(ImportCounts)
	// Failure, when set, is called for each failed line, in line order, once its batch has
	// committed. Progress and Failure are never called at once.
	Failure func(ImportFailure)
}

// ImportCounts are an import's outcomes so far. Every line that is not blank ends as exactly
// one of Created, Existing, Updated and Failed once its batch has committed; Read counts the
// lines read, blank ones included, and runs ahead of them by the batches in flight.
type ImportCounts struct {
	Read, Created, Existing, Updated, Failed int64
	// Batches is how many transactions committed.
	Batches int64
}

// Done is how many lines have an outcome.
func (c ImportCounts) Done() int64 { return c.Created + c.Existing + c.Updated + c.Failed }

// ImportFailure is a line of which nothing was written, and why. Reason never repeats a
// password, PIN or hash.
type ImportFailure struct {
	Line   int64
	Reason string
}

// Import reads JSON Lines from r, one AccountLine per line (a blank line is skipped), and
// stores them in batches, each one transaction: the batch's accounts are copied into a
// temporary table (COPY) and inserted from it into accounts, account_phones and audit_log
// (account_imported, actor "import") by a few set-based statements. Import is idempotent by
// account number: an account already there is counted Existing and left untouched, or with
// opt.Update replaced (Updated) unless the line changes nothing. A line fails, with nothing of
// it written while the rest goes on, when it is not a valid account line, when its account
// number or login ID appeared on an earlier line of the file, when its login ID belongs to
// another account already, or when it would update an account its customer uses in kagi.
//
// Plain passwords are hashed with kagi's Argon2id, as many at once as the hasher has slots;
// hashes of the kinds CheckStoredHash knows are stored as they are. Two batches are written at
// once. When ctx ends, the batches being written are finished and no other is begun; when the
// database fails, the batches committed so far stay (a batch after the failed one may have).
// Either way the error says why, the counts are those of the committed batches, and running
// the file again goes on.
func (s *Service) Import(ctx context.Context, r io.Reader, opt ImportOptions) (ImportCounts, error) {
	if opt.BatchSize <= 0 {
		opt.BatchSize = DefaultImportBatch
	}
	im := &importer{
		s: s, opt: opt,
		workers:       max(1, runtime.GOMAXPROCS(0)),
		plainPerBatch: plainPerSlot * cap(s.passwords.sem),
		numbers:       map[uint64]int64{},
		pending:       map[int]batchResult{},
		logins:        map[uint64]int64{},
		seed:          maphash.MakeSeed(),
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	chunks := make(chan []rawLine, 1)
	batches := make(chan importBatch)
	var wg sync.WaitGroup
	var readErr, prepErr, writeErr error
	var (
		writeOnce sync.Once
		skipped   atomic.Bool
	)
	wg.Go(func() {
		defer close(chunks)
		if readErr = im.read(ctx, r, chunks); readErr != nil {
			cancel(readErr)
		}
	})
	wg.Go(func() {
		defer close(batches)
		if prepErr = im.prepareBatches(ctx, chunks, batches); prepErr != nil {
			cancel(prepErr)
		}
	})
	for range importWriters {
		wg.Go(func() {
			for b := range batches {
				if ctx.Err() != nil {
					skipped.Store(true) // the others stop at ctx's end; what they had sent is dropped
					continue
				}
				res, err := im.write(ctx, b)
				if err != nil {
					writeOnce.Do(func() { writeErr = err })
					cancel(err)
					continue
				}
				im.report(res, false)
			}
		})
	}
	wg.Wait()
	im.report(batchResult{}, true)
	counts := im.counts()
	if skipped.Load() && writeErr == nil {
		writeErr = context.Cause(ctx)
	}
	for _, err := range []error{writeErr, readErr, prepErr} {
		if err != nil {
			return counts, fmt.Errorf("import stopped after %d lines in %d batches: %w", counts.Done(), counts.Batches, err)
		}
	}
	return counts, nil
}

// importer is one run of Import.
type importer struct {
	s             *Service
	opt           ImportOptions
	workers       int
	plainPerBatch int

	nread atomic.Int64
	// mu guards done and the results of the batches committed after one not yet reported.
	mu      sync.Mutex
	done    ImportCounts
	next    int
	pending map[int]batchResult

	// numbers and logins hold each account number and login ID of a valid line seen so far,
	// with its line: account numbers exactly (at most 12 digits fit a uint64 with their
	// length), login IDs as 64-bit fingerprints. A million lines cost some tens of megabytes;
	// two distinct login IDs of one file share a fingerprint with a chance of about 1 in 10^7.
	numbers, logins map[uint64]int64
	seed            maphash.Seed
}

func (im *importer) counts() ImportCounts {
	im.mu.Lock()
	defer im.mu.Unlock()
	c := im.done
	c.Read = im.nread.Load()
	return c
}

// rawLine is one line as read: its number in the file (from 1) and its bytes, or too long.
type rawLine struct {
	num     int64
	data    []byte
	tooLong bool
}

// read splits r into lines and sends them in chunks, skipping blank lines.
func (im *importer) read(ctx context.Context, r io.Reader, out chan<- []rawLine) error {
	br := bufio.NewReaderSize(r, MaxImportLine+2) // the line, and "\r\n"
	var (
		chunk []rawLine
		arena []byte
		num   int64
	)
	send := func() error {
		select {
		case out <- chunk:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		chunk, arena = nil, nil
		return nil
	}
	for {
		data, err := br.ReadSlice('\n')
		if len(data) > 0 || errors.Is(err, bufio.ErrBufferFull) {
			num++
			im.nread.Add(1)
			if errors.Is(err, bufio.ErrBufferFull) {
				chunk = append(chunk, rawLine{num: num, tooLong: true})
				for errors.Is(err, bufio.ErrBufferFull) { // the rest of the line
					_, err = br.ReadSlice('\n')
				}
			} else {
				data = bytes.TrimRight(data, "\r\n")
				if num == 1 {
					data = bytes.TrimPrefix(data, []byte("\uFEFF")) // a byte-order mark
				}
				if len(bytes.TrimSpace(data)) > 0 {
					if cap(arena)-len(arena) < len(data) {
						arena = make([]byte, 0, max(64<<10, len(data)))
					}
					start := len(arena)
					arena = append(arena, data...)
					chunk = append(chunk, rawLine{num: num, data: arena[start:len(arena):len(arena)]})
				}
			}
			if len(chunk) == importChunk {
				if err := send(); err != nil {
					return err
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read line %d: %w", num+1, err)
		}
	}
	if len(chunk) > 0 {
		return send()
	}
	return nil
}

// importLine is a line prepared to be written, or failed.
type importLine struct {
	num  int64
	acct preparedAccount
	// fail says why the line failed; "" while it has not.
	fail string
	// plain: the password came plain. unhashed: it was not hashed, since the account was
	// already there when the line was prepared and is then only reported.
	plain, unhashed bool
}

// importBatch is the lines one transaction writes, and its place in the file.
type importBatch struct {
	seq   int
	lines []importLine
}

// prepareBatches parses, validates and hashes the chunks, several lines at once, and sends them
// on in batches: opt.BatchSize lines, or fewer when many passwords came plain. It fails the
// lines that repeat an earlier one (claim), in the file's order.
func (im *importer) prepareBatches(ctx context.Context, in <-chan []rawLine, out chan<- importBatch) error {
	var (
		batch []importLine
		plain int
		seq   int
	)
	send := func() error {
		im.claim(batch)
		select {
		case out <- importBatch{seq: seq, lines: batch}:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		batch, plain = nil, 0
		seq++
		return nil
	}
	for chunk := range in {
		lines, err := im.prepareChunk(ctx, chunk)
		if err != nil {
			return err
		}
		for _, l := range lines {
			batch = append(batch, l)
			if l.plain && !l.unhashed {
				plain++
			}
			if len(batch) >= im.opt.BatchSize || plain >= im.plainPerBatch {
				if err := send(); err != nil {
					return err
				}
			}
		}
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if len(batch) > 0 {
		return send()
	}
	return nil
}

// prepareChunk turns a chunk's lines into importLines: parsed, validated and with their secrets
// hashed (prepareAccount), on im.workers goroutines. A plain password whose account is already
// there is not hashed without opt.Update: the line will only be reported.
func (im *importer) prepareChunk(ctx context.Context, chunk []rawLine) ([]importLine, error) {
	lines := make([]importLine, len(chunk))
	parsed := make([]AccountLine, len(chunk))
	im.parallel(len(chunk), func(i int) {
		raw := chunk[i]
		lines[i].num = raw.num
		if raw.tooLong {
			lines[i].fail = fmt.Sprintf("longer than %d bytes", MaxImportLine)
			return
		}
		l, err := ParseAccountLine(raw.data)
		if err != nil {
			lines[i].fail = err.Error()
			return
		}
		parsed[i] = l
		lines[i].plain = l.Password.Plain != nil && l.Password.Hash == nil
	})
	if !im.opt.Update {
		if err := im.markKnown(ctx, lines, parsed); err != nil {
			return nil, err
		}
	}
	var (
		mu     sync.Mutex
		failed error // the first error that is not the line's
	)
	stopped := func() bool { mu.Lock(); defer mu.Unlock(); return failed != nil }
	im.parallel(len(chunk), func(i int) {
		l := &lines[i]
		if l.fail != "" || stopped() {
			return
		}
		if l.unhashed {
			if err := parsed[i].Validate(); err != nil {
				l.fail = reason(err)
			}
			l.acct = preparedAccount{AccountLine: parsed[i]}
			return
		}
		p, err := im.s.prepareAccount(ctx, parsed[i])
		switch {
		case errors.Is(err, ErrBusy) || ctx.Err() != nil:
			mu.Lock()
			if failed == nil {
				failed = fmt.Errorf("line %d: hash the password: %w", l.num, cmp.Or(context.Cause(ctx), err))
			}
			mu.Unlock()
		case err != nil:
			l.fail = reason(err)
		default:
			l.acct = p
		}
	})
	if failed != nil {
		return nil, failed
	}
	return lines, nil
}

// markKnown marks the lines with a plain password whose account number is already there, so
// that a second run of a file of plain passwords costs no hashing.
func (im *importer) markKnown(ctx context.Context, lines []importLine, parsed []AccountLine) error {
	var numbers []string
	for i, l := range lines {
		if l.fail == "" && l.plain && accountNumberPattern.MatchString(parsed[i].AccountNumber) {
			numbers = append(numbers, parsed[i].AccountNumber)
		}
	}
	if len(numbers) == 0 {
		return nil
	}
	rows, err := im.s.pool.Query(ctx, `SELECT account_number FROM accounts WHERE account_number = ANY ($1::text[])`, numbers)
	if err != nil {
		return err
	}
	known, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for i := range lines {
		if lines[i].plain && slices.Contains(known, parsed[i].AccountNumber) {
			lines[i].unhashed = true
		}
	}
	return nil
}

// parallel runs f(0) … f(n-1) on im.workers goroutines.
func (im *importer) parallel(n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(im.workers, n) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}

// reason is a validation error as one line.
func reason(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// numberKey is an account number (1-12 digits, validated) as a map key: its value and its
// length, so "0123" and "123" differ.
func numberKey(n string) uint64 {
	v, _ := strconv.ParseUint(n, 10, 64)
	return v<<4 | uint64(len(n))
}

// claim fails the lines whose account number or login ID an earlier valid line of the file has,
// and records those of the others.
func (im *importer) claim(batch []importLine) {
	for i := range batch {
		l := &batch[i]
		if l.fail != "" {
			continue
		}
		nk, lk := numberKey(l.acct.AccountNumber), maphash.String(im.seed, l.acct.LoginID)
		if first, ok := im.numbers[nk]; ok {
			l.fail = fmt.Sprintf("account number %s repeats line %d", l.acct.AccountNumber, first)
			continue
		}
		if first, ok := im.logins[lk]; ok {
			l.fail = fmt.Sprintf("login ID %q repeats line %d", l.acct.LoginID, first)
			continue
		}
		im.numbers[nk], im.logins[lk] = l.num, l.num
	}
}

// stageSQL is the batch's temporary table, gone at commit (so a transaction-mode pooler's
// connection keeps nothing of it). account_id is set for an account to update, NULL for one
// to create.
const stageSQL = `CREATE TEMP TABLE import_stage (
	line bigint NOT NULL,
	account_id bigint,
	account_number text NOT NULL,
	login_id text NOT NULL,
	name text NOT NULL,
	email text NOT NULL,
	phones text[] NOT NULL,
	password_hash text NOT NULL,
	pin_hash bytea,
	pin_legacy_hash text,
	user_handle bytea,
	password_kind text NOT NULL,
	pin_kind text NOT NULL
) ON COMMIT DROP`

var stageColumns = []string{"line", "account_id", "account_number", "login_id", "name", "email", "phones",
	"password_hash", "pin_hash", "pin_legacy_hash", "user_handle", "password_kind", "pin_kind"}

// existingSQL finds the accounts a batch's lines name, by account number or login ID, through
// the two unique indexes.
const existingSQL = `SELECT id, account_number, login_id FROM accounts
	WHERE account_number = ANY ($1::text[]) OR login_id = ANY ($2::text[])`

// createSQL inserts the staged accounts to create, their phones and their audit lines, and
// returns the lines it did not insert: an account number or login ID that another writer took
// since existingSQL looked.
const createSQL = `WITH created AS (
	INSERT INTO accounts (login_id, account_number, name, email, password_hash, pin_hash, pin_legacy_hash, user_handle, created_at)
	SELECT login_id, account_number, name, email, password_hash, pin_hash, pin_legacy_hash, user_handle, $1::timestamptz
	FROM import_stage WHERE account_id IS NULL ORDER BY line
	ON CONFLICT DO NOTHING
	RETURNING id, account_number
), phones AS (
	INSERT INTO account_phones (account_id, phone)
	SELECT c.id, p.phone FROM created c JOIN import_stage s USING (account_number) CROSS JOIN unnest(s.phones) AS p (phone)
	ON CONFLICT DO NOTHING
), audit AS (
	INSERT INTO audit_log (at, account_id, actor, event, detail)
	SELECT $1::timestamptz, c.id, 'import', 'account_imported',
		jsonb_build_object('line', s.line, 'password', s.password_kind, 'pin', s.pin_kind)
	FROM created c JOIN import_stage s USING (account_number) ORDER BY s.line
)
SELECT line FROM import_stage WHERE account_id IS NULL AND account_number NOT IN (SELECT account_number FROM created)`

// keptSQL drops from the stage the accounts to update that stay as they are, and returns their
// lines (with their account numbers and which of the two they are):
//   - unchanged: the account already is as its line says; the line is reported existing, with
//     no audit line;
//   - in use: its customer uses kagi already — a passkey, a login, a verified call, a change of
//     password or contacts made in kagi, or the account was created in kagi, not imported ($1,
//     movedInEvents); the line fails. An import may only replace what the old system still
//     owns: once the customer has moved in, a stale file would silently undo a changed
//     password or contact and bypass the back office's notices, hold and ended sessions.
const keptSQL = `WITH judged AS (
	SELECT s.line, s.account_number,
		a.name = s.name AND a.email = s.email AND a.password_hash = s.password_hash
		AND a.pin_hash IS NOT DISTINCT FROM s.pin_hash AND a.pin_legacy_hash IS NOT DISTINCT FROM s.pin_legacy_hash
		AND ARRAY(SELECT p.phone FROM account_phones p WHERE p.account_id = a.id ORDER BY 1)
			= ARRAY(SELECT DISTINCT x FROM unnest(s.phones) AS x ORDER BY 1) AS unchanged,
		EXISTS (SELECT 1 FROM passkeys p WHERE p.account_id = a.id)
		OR EXISTS (SELECT 1 FROM audit_log l WHERE l.account_id = a.id AND l.event = ANY ($1::text[])) AS in_use
	FROM import_stage s JOIN accounts a ON a.id = s.account_id
)
DELETE FROM import_stage s USING judged j
	WHERE s.line = j.line AND (j.unchanged OR j.in_use)
	RETURNING s.line, s.account_number, j.unchanged`

// movedInEvents are the audit events that show a customer uses kagi (keptSQL).
var movedInEvents = []string{"login_succeeded", "passkey_created", "pin_rehashed", "password_changed", "password_set",
	"account_contacts_changed", "account_created"}

// updateSQL replaces the staged accounts' contacts and secrets with their lines', audited.
var updateSQL = []string{
	`UPDATE accounts a SET name = s.name, email = s.email, password_hash = s.password_hash,
		pin_hash = s.pin_hash, pin_legacy_hash = s.pin_legacy_hash
	FROM import_stage s WHERE s.account_id = a.id`,
	`DELETE FROM account_phones p USING import_stage s WHERE p.account_id = s.account_id AND p.phone <> ALL (s.phones)`,
	`INSERT INTO account_phones (account_id, phone)
	SELECT s.account_id, p.phone FROM import_stage s CROSS JOIN unnest(s.phones) AS p (phone) WHERE s.account_id IS NOT NULL
	ON CONFLICT DO NOTHING`,
	`INSERT INTO audit_log (at, account_id, actor, event, detail)
	SELECT $1::timestamptz, s.account_id, 'import', 'account_updated',
		jsonb_build_object('line', s.line, 'password', s.password_kind, 'pin', s.pin_kind)
	FROM import_stage s WHERE s.account_id IS NOT NULL ORDER BY s.line`,
}

// existing is an account a batch's line names.
type existing struct {
	ID            int64  `db:"id"`
	AccountNumber string `db:"account_number"`
	LoginID       string `db:"login_id"`
}

// batchResult is what a committed batch did.
type batchResult struct {
	seq      int
	counts   ImportCounts
	failures []ImportFailure
}

// report adds a committed batch's outcomes to the counts, and reports them when every batch
// before it is reported, so that failures come in line order; at the end (last) it reports
// what is left, in order, past the batches that did not commit.
func (im *importer) report(res batchResult, last bool) {
	im.mu.Lock()
	defer im.mu.Unlock()
	if !last {
		im.pending[res.seq] = res
	}
	for len(im.pending) > 0 {
		r, ok := im.pending[im.next]
		if !ok && !last {
			return
		}
		im.next++
		if !ok {
			continue
		}
		delete(im.pending, r.seq)
		im.done.Created += r.counts.Created
		im.done.Existing += r.counts.Existing
		im.done.Updated += r.counts.Updated
		im.done.Failed += r.counts.Failed
		im.done.Batches++
		if im.opt.Failure != nil {
			for _, f := range r.failures {
				im.opt.Failure(f)
			}
		}
		if im.opt.Progress != nil {
			c := im.done
			c.Read = im.nread.Load()
			im.opt.Progress(c)
		}
	}
}

// write stores a batch in one transaction and counts its outcomes.
func (im *importer) write(ctx context.Context, b importBatch) (batchResult, error) {
	batch := b.lines
	var (
		numbers, logins []string
		failures        []ImportFailure
		counts          ImportCounts
	)
	for _, l := range batch {
		if l.fail == "" {
			numbers = append(numbers, l.acct.AccountNumber)
			logins = append(logins, l.acct.LoginID)
		}
	}
	now := im.s.now()
	// A batch begun is finished even when ctx ends meanwhile (each statement is bounded by the
	// connection's statement_timeout): cancelled in flight, its commit could have happened
	// unseen, and the counts would then lie.
	ctx = context.WithoutCancel(ctx)
	err := pgdb.InTx(ctx, im.s.pool, func(tx pgx.Tx) error {
		failures, counts = nil, ImportCounts{}
		fail := func(l importLine, reason string) {
			failures = append(failures, ImportFailure{Line: l.num, Reason: reason})
			counts.Failed++
		}
		byNumber, byLogin := map[string]existing{}, map[string]existing{}
		if len(numbers) > 0 {
			rows, err := tx.Query(ctx, existingSQL, numbers, logins)
			if err != nil {
				return err
			}
			found, err := pgx.CollectRows(rows, pgx.RowToStructByName[existing])
			if err != nil {
				return err
			}
			for _, a := range found {
				byNumber[a.AccountNumber], byLogin[a.LoginID] = a, a
			}
		}
		var stage [][]any
		creates := 0
		for _, l := range batch {
			if l.fail != "" {
				fail(l, l.fail)
				continue
			}
			a, there := byNumber[l.acct.AccountNumber]
			owner, taken := byLogin[l.acct.LoginID]
			switch {
			case there && !im.opt.Update:
				counts.Existing++
			case there && a.LoginID != l.acct.LoginID:
				fail(l, fmt.Sprintf("account %s has login ID %q: an import does not change login IDs", a.AccountNumber, a.LoginID))
			case !there && taken:
				fail(l, fmt.Sprintf("login ID %q is already used by account %s", l.acct.LoginID, owner.AccountNumber))
			case !there && l.unhashed:
				fail(l, fmt.Sprintf("account %s was removed while the file was imported: import the line again", l.acct.AccountNumber))
			case there:
				stage = append(stage, l.stageRow(a.ID))
			default:
				stage = append(stage, l.stageRow(0))
				creates++
			}
		}
		if len(stage) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, stageSQL); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"import_stage"}, stageColumns, pgx.CopyFromRows(stage)); err != nil {
			return err
		}
		if creates > 0 {
			rows, err := tx.Query(ctx, createSQL, now)
			if err != nil {
				return err
			}
			lost, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return err
			}
			for _, num := range lost {
				fail(importLine{num: num}, "its account number or login ID was taken by another writer meanwhile: import the line again")
			}
			counts.Created += int64(creates - len(lost))
		}
		if updates := len(stage) - creates; updates > 0 {
			rows, err := tx.Query(ctx, keptSQL, movedInEvents)
			if err != nil {
				return err
			}
			kept, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
				Line      int64
				Number    string
				Unchanged bool
			}])
			if err != nil {
				return err
			}
			for _, k := range kept {
				if k.Unchanged {
					counts.Existing++
				} else {
					fail(importLine{num: k.Line}, fmt.Sprintf("account %s is in use in kagi (a passkey, a login or a change made there): "+
						"change it through the back office, which tells the customer", k.Number))
				}
			}
			counts.Updated += int64(updates - len(kept))
			if counts.Updated > 0 {
				b := &pgx.Batch{}
				for _, sql := range updateSQL[:3] {
					b.Queue(sql)
				}
				b.Queue(updateSQL[3], now)
				if err := tx.SendBatch(ctx, b).Close(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return batchResult{}, err
	}
	slices.SortFunc(failures, func(a, b ImportFailure) int { return cmp.Compare(a.Line, b.Line) })
	return batchResult{seq: b.seq, counts: counts, failures: failures}, nil
}

// stageRow is the line as a row of import_stage; accountID 0 creates the account.
func (l importLine) stageRow(accountID int64) []any {
	var id *int64
	if accountID != 0 {
		id = &accountID
	}
	p := l.acct
	return []any{l.num, id, p.AccountNumber, p.LoginID, p.Name, p.Email, p.Phones,
		p.passwordHash, p.pinHash, p.pinLegacy, p.userHandle, secretKind(p.Password), secretKind(p.PIN)}
}

// secretKind names what a line gave for a secret, for the audit trail: "plain", or the kind of
// its hash (already checked by Validate).
func secretKind(sec Secret) string {
	if sec.Hash == nil {
		return "plain"
	}
	h := *sec.Hash
	if strings.HasPrefix(h, "$2") {
		return HashBcrypt
	}
	kind, _, _ := strings.Cut(strings.TrimPrefix(h, "$"), "$")
	return kind
}
