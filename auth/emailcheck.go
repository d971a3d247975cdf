package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"math/big"
	"time"

	"kagi"

	"github.com/jackc/pgx/v5"

	"kagi/notify"
	"kagi/pgdb"
)

// The email check of §2.12 (ログイン追加認証): after a right password, kagi mails one emoji and
// the login page shows nine; the session is created only when the customer picks the mailed
// one. One wrong pick or five minutes end the check, and three failed checks of an account
// within a day pause its password login for a day.
const (
	emailCheckTTL       = 5 * time.Minute
	emailCheckChoices   = 9
	emailCheckIDBytes   = 18
	maxEmailChoiceBytes = 64
	// pauseAfter failed checks of one account within pauseWindow pause its password login for
	// pauseFor after the last of them.
	pauseAfter  = 3
	pauseWindow = 24 * time.Hour
	pauseFor    = 24 * time.Hour
)

// emojiPool is what the email check draws from: single code points with an emoji presentation
// of their own (no variation selector, no skin tone, no joiner), and no two that a customer
// could mistake for each other on a small screen (no dog and wolf, apple and tomato, …).
var emojiPool = []string{
	"🍎", "🍌", "🍇", "🍉", "🍓", "🍙", "🍣", "🍰", "🍩", "🐶",
	"🐱", "🐼", "🐧", "🐘", "🦒", "🐢", "🐙", "🐟", "🌸", "🌻",
	"🍀", "🌵", "🍄", "🚗", "🚲", "🚀", "⛵", "🎸", "🎹", "⚽",
	"🎈", "🎁", "🔑", "⏰", "📷", "📚", "🌈", "⛄", "🔔", "🎩",
}

// EmailCheck is a pending check as the login page shows it: the id to answer with and the nine
// emoji, one of which was mailed.
type EmailCheck struct {
	ID      string   `json:"id"`
	Choices []string `json:"choices"`
}

var (
	errCheckExpired = kagi.Errorf(kagi.Gone, "expired", msgEmailCheckExpired)
	errWrongChoice  = kagi.Errorf(kagi.Unauthorized, "wrong_choice", msgEmailCheckWrong)
)

// errPasswordPaused refuses every password login of an account whose password login is paused
// (§2.12), right or wrong, with the way back: the voice line, the pause's end.
func (s *Service) errPasswordPaused(until time.Time) *kagi.Error {
	sup := s.support.SupportAt(s.now())
	e := kagi.Errorf(kagi.Forbidden, "password_paused", msgPasswordPaused(sup, until))
	e.Extra = map[string]any{"voice_line": sup.VoiceLine, "paused_until": until.In(jst).Format(time.RFC3339)}
	return e
}

// checkKeyFrom derives the key of the email check's answer hashes from the server's secret.
func checkKeyFrom(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("kagi email check answer v1"))
	return m.Sum(nil)
}

// answerHash is the keyed hash a check's answer is stored as (§7): bound to the check, so one
// check's hash says nothing of another's, and keyed, so whoever reads the table cannot try the
// nine.
func (s *Service) answerHash(idHash []byte, emoji string) []byte {
	m := hmac.New(sha256.New, s.checkKey)
	m.Write(idHash)
	m.Write([]byte(emoji))
	return m.Sum(nil)
}

// cryptoIntN draws uniformly from [0, n) with crypto/rand.
func cryptoIntN(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return int(v.Int64())
}

// drawEmoji picks nine different emoji of the pool in a random order, and which is the answer.
func drawEmoji() (choices []string, answer string) {
	pool := append([]string(nil), emojiPool...)
	// A partial Fisher–Yates shuffle: the first nine places end up a uniform random draw.
	for i := range emailCheckChoices {
		j := i + cryptoIntN(len(pool)-i)
		pool[i], pool[j] = pool[j], pool[i]
	}
	choices = pool[:emailCheckChoices:emailCheckChoices]
	return choices, choices[cryptoIntN(emailCheckChoices)]
}

// pendingLogin is a right password waiting for the email check: loginKey is the login ID's
// throttle count, attemptKey the one the attempt was reserved under.
type pendingLogin struct {
	accountID            int64
	name, email          string
	viaWindow            bool
	loginKey, attemptKey []byte
}

// startEmailCheckSQL stores an account's pending check, replacing one it had.
const startEmailCheckSQL = `
	INSERT INTO email_checks AS c (id_hash, account_id, answer_hash, choices, via_window, login_key, attempt_key, created_at, expires_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
	ON CONFLICT (account_id) DO UPDATE SET
	    id_hash = EXCLUDED.id_hash, answer_hash = EXCLUDED.answer_hash, choices = EXCLUDED.choices, via_window = EXCLUDED.via_window,
	    login_key = EXCLUDED.login_key, attempt_key = EXCLUDED.attempt_key, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at`

// startEmailCheck stores the account's pending check, replacing any earlier one, and mails its
// emoji, in one transaction. The right password that started it is not a failure: the attempt
// reserved for it on the login ID's throttle is given back.
func (s *Service) startEmailCheck(ctx context.Context, p pendingLogin) (EmailCheck, error) {
	now := s.now()
	id := base64.RawURLEncoding.EncodeToString(randomBytes(emailCheckIDBytes))
	idHash := TokenHash(id)
	choices, answer := drawEmoji()
	expires := now.Add(emailCheckTTL)
	// Two round trips: BEGIN with the check, the attempt's refund and the audit line; then the
	// code's email, with the COMMIT.
	err := pgdb.InTxBatch(ctx, s.pool, func(b *pgx.Batch) {
		b.Queue(startEmailCheckSQL,
			idHash, p.accountID, s.answerHash(idHash, answer), choices, p.viaWindow, p.loginKey, p.attemptKey, now, expires)
		b.Queue(refundAttemptSQL, p.attemptKey)
		queueAudit(b, AuditEvent{At: now, AccountID: p.accountID, Actor: "customer", Event: "email_check_started",
			Detail: map[string]any{"via_window": p.viaWindow, "expires_at": expires}})
	}, func(tx *pgdb.Tx) error {
		return s.notifyEmailLast(ctx, tx, p.accountID, p.email, p.name, notify.Event{Kind: notify.KindEmailCheck, At: now, Emoji: answer, Until: expires})
	})
	if err != nil {
		return EmailCheck{}, err
	}
	return EmailCheck{ID: id, Choices: choices}, nil
}

// storedCheck is a pending check with what its pass needs of the account.
type storedCheck struct {
	AccountID   int64      `db:"account_id"`
	AnswerHash  []byte     `db:"answer_hash"`
	ViaWindow   bool       `db:"via_window"`
	LoginKey    []byte     `db:"login_key"`
	AttemptKey  []byte     `db:"attempt_key"`
	ExpiresAt   time.Time  `db:"expires_at"`
	LoginID     string     `db:"login_id"`
	Name        string     `db:"name"`
	Email       string     `db:"email"`
	HasPasskey  bool       `db:"has_passkey"`
	PausedUntil *time.Time `db:"password_paused_until"`
	Throttled   bool       `db:"throttled"`
	Suspended   bool       `db:"suspended"`
}

// validCheckID reports whether id could be one startEmailCheck gave out, so garbage is answered
// like an unknown check without a query.
func validCheckID(id string) bool {
	b, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil && len(b) == emailCheckIDBytes
}

// FinishEmailCheck answers a pending check with the emoji the customer picked. The right one
// creates the session the password login would have created (§2.11: password, or
// password_fallback while the window that let it in is still open), unless the login ID is
// throttled meanwhile. A wrong one ends the check, counts on the login ID's throttle and as one
// of the account's failed checks (the third in a day pauses password login); a pick of a check
// that ended answers expired. Every refusal counts against the client address.
func (s *Service) FinishEmailCheck(ctx context.Context, id, choice string) (PasswordLogin, error) {
	if err := s.checkClient(ctx, s.pool, limitEmailCheck); err != nil {
		return PasswordLogin{}, err
	}
	out, err := s.finishEmailCheckRequest(ctx, id, choice)
	return out, s.countRefusal(ctx, limitEmailCheck, err)
}

// finishEmailCheckRequest is FinishEmailCheck past the client address's limit.
func (s *Service) finishEmailCheckRequest(ctx context.Context, id, choice string) (PasswordLogin, error) {
	if choice == "" || len(choice) > maxEmailChoiceBytes {
		return PasswordLogin{}, kagi.Errorf(kagi.Invalid, "invalid_request", msgEmailCheckChoose)
	}
	if !validCheckID(id) {
		return PasswordLogin{}, errCheckExpired
	}
	var (
		out  PasswordLogin
		pick checkPick
	)
	err := pgdb.InTxBatchKeeping(ctx, s.pool, func(b *pgx.Batch) {
		pick = checkPick{idHash: TokenHash(id), now: s.now()}
		pick.queue(b)
	}, func(tx *pgdb.Tx) error {
		var err error
		out, err = s.finishEmailCheck(ctx, tx, pick, choice)
		return err
	})
	if err == nil {
		s.logLogin(ctx, out.AccountID, "password", out.Assurance)
	}
	return out, err
}

// checkPick is a pick of a check: what the first batch of its transaction read.
type checkPick struct {
	idHash []byte
	now    time.Time
	// taken is whether the check was still there to take out, with c its row.
	taken bool
	c     storedCheck
}

// queue queues the pick's first statements, with the transaction's BEGIN: the account's lock
// (LockAccount's, taken through the check, the first as in every transaction that changes its
// sessions), then the check taken out whatever the pick — one pick per check.
func (p *checkPick) queue(b *pgx.Batch) {
	b.Queue(`
		SELECT a.id FROM accounts a JOIN email_checks c ON c.account_id = a.id
		WHERE c.id_hash = $1 FOR NO KEY UPDATE OF a`, p.idHash).QueryRow(func(row pgx.Row) error {
		var id int64 // only the lock matters: no check found, none is taken out below either
		return ignoreNoRows(row.Scan(&id))
	})
	b.Queue(`
		WITH c AS (DELETE FROM email_checks WHERE id_hash = $1 RETURNING *)
		SELECT c.account_id, c.answer_hash, c.via_window, c.login_key, c.attempt_key, c.expires_at,
		       a.login_id, a.name, a.email, EXISTS (SELECT 1 FROM passkeys p WHERE p.account_id = a.id) AS has_passkey,
		       CASE WHEN a.password_paused_until > $2 THEN a.password_paused_until END AS password_paused_until,
		       EXISTS (SELECT 1 FROM login_throttle t WHERE t.login_key IN (c.login_key, c.attempt_key) AND t.locked_until > $2) AS throttled,
		       a.suspended_at IS NOT NULL AS suspended
		FROM c JOIN accounts a ON a.id = c.account_id`, p.idHash, p.now).Query(func(rows pgx.Rows) error {
		var err error
		p.c, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[storedCheck])
		p.taken = err == nil
		return ignoreNoRows(err)
	})
}

// finishEmailCheck is FinishEmailCheck's transaction past its first batch (checkPick).
func (s *Service) finishEmailCheck(ctx context.Context, tx *pgdb.Tx, pick checkPick, choice string) (PasswordLogin, error) {
	now, idHash, c := pick.now, pick.idHash, pick.c
	if !pick.taken {
		return PasswordLogin{}, pgdb.Keep(errCheckExpired) // unknown, or passed or replaced a moment ago
	}
	refuse := func(event string, detail map[string]any, refusal error) (PasswordLogin, error) {
		if err := Audit(ctx, tx, AuditEvent{At: now, AccountID: c.AccountID, Actor: "customer", Event: event, Detail: detail}); err != nil {
			return PasswordLogin{}, err
		}
		return PasswordLogin{}, pgdb.Keep(refusal)
	}
	if c.Suspended {
		// Suspended since the check began (§12.2): whatever was picked, the same refusal.
		return refuse("email_check_refused", map[string]any{"reason": "account_suspended"}, s.errAccountSuspended())
	}
	if !c.ExpiresAt.After(now) {
		return refuse("email_check_expired", map[string]any{}, errCheckExpired)
	}
	if !hmac.Equal(s.answerHash(idHash, choice), c.AnswerHash) {
		return PasswordLogin{}, s.failCheck(ctx, tx, c, now)
	}
	switch {
	case c.PausedUntil != nil:
		// Another check of the account failed a third time since this one began.
		return refuse("email_check_refused", map[string]any{"reason": "password_paused"}, s.errPasswordPaused(*c.PausedUntil))
	case c.Throttled:
		return refuse("email_check_refused", map[string]any{"reason": "throttled"}, errRateLimited)
	}
	// The rules of §2.2 are asked again: a passkey created since the password was checked
	// shuts the password out, and a window must still be open to let it in.
	var (
		win        Window
		windowOpen bool
	)
	if c.HasPasskey {
		if c.ViaWindow {
			var err error
			if win, windowOpen, err = s.windows.OpenWindow(ctx, tx, c.AccountID, now); err != nil {
				return PasswordLogin{}, err
			}
		}
		if !windowOpen {
			return refuse("login_failed", map[string]any{"method": "password", "reason": "passkey_required_after_email_check"}, s.errPasskeyRequired())
		}
	}
	return s.completePasswordLogin(ctx, tx, s.newPasswordLoginWrites(completedLogin{
		accountID: c.AccountID, loginID: c.LoginID, name: c.Name, email: c.Email, window: win, windowOpen: windowOpen,
		keys: [][]byte{c.LoginKey, c.AttemptKey}, emailChecked: true,
	}))
}

// failCheckSQL records a failed check of account $1 at $2 and counts the account's failed
// checks within $3 before it, this one included; $4 is the end of a pause that starts now, set
// when the count reaches $5 and no pause is in force. It returns the count and the pause's end
// when this failure started it.
const failCheckSQL = `
	WITH failed AS (
	    INSERT INTO email_check_failures (account_id, failed_at) VALUES ($1, $2)
	), counted AS (
	    SELECT count(*) + 1 AS failures FROM email_check_failures
	    WHERE account_id = $1 AND failed_at > $2::timestamptz - $3::interval
	), paused AS (
	    UPDATE accounts a SET password_paused_until = $4
	    FROM counted
	    WHERE a.id = $1 AND counted.failures >= $5 AND (a.password_paused_until IS NULL OR a.password_paused_until <= $2)
	    RETURNING a.password_paused_until
	)
	SELECT counted.failures, (SELECT password_paused_until FROM paused) FROM counted`

// failCheck ends a check with a wrong pick (§2.12): a failure on the login ID's throttle and
// one of the account's failed checks, the third of which within a day pauses its password login
// for a day, told by mail and SMS. The answer is wrong_choice either way; the pause shows at
// the next password login.
func (s *Service) failCheck(ctx context.Context, tx pgx.Tx, c storedCheck, now time.Time) error {
	if _, err := s.reserveAttempt(ctx, tx, c.AttemptKey); err != nil {
		return err
	}
	var (
		failures    int
		pausedUntil *time.Time
	)
	err := tx.QueryRow(ctx, failCheckSQL, c.AccountID, now, pauseWindow, now.Add(pauseFor), pauseAfter).Scan(&failures, &pausedUntil)
	if err != nil {
		return err
	}
	err = Audit(ctx, tx, AuditEvent{At: now, AccountID: c.AccountID, Actor: "customer", Event: "email_check_failed",
		Detail: map[string]any{"reason": "wrong_choice", "failed_checks": failures}})
	if err != nil {
		return err
	}
	if pausedUntil != nil {
		s.log.InfoContext(ctx, "password login paused", "account_id", c.AccountID, "until", *pausedUntil)
		err := Audit(ctx, tx, AuditEvent{At: now, AccountID: c.AccountID, Actor: "system", Event: "password_paused",
			Detail: map[string]any{"failed_checks": failures, "until": *pausedUntil}})
		if err != nil {
			return err
		}
		if err := Notify(ctx, tx, s.outbox, c.AccountID, notify.Event{Kind: notify.KindPasswordPaused, At: now, Until: *pausedUntil}); err != nil {
			return err
		}
	}
	return pgdb.Keep(errWrongChoice)
}

// LiftPasswordPause ends the password pause of an account early (§2.12) in tx — a verified
// voice-line call, or a supervisor's lockout clear — and forgets its failed checks, so the
// count starts again; by is the audit trail's actor. It reports whether a pause was in force;
// the caller tells the customer.
func LiftPasswordPause(ctx context.Context, tx pgx.Tx, accountID int64, by string, now time.Time) (bool, error) {
	var lifted bool
	err := tx.QueryRow(ctx, `
		WITH forgotten AS (
		    DELETE FROM email_check_failures WHERE account_id = $1
		), paused AS (
		    SELECT password_paused_until AS until FROM accounts WHERE id = $1 AND password_paused_until IS NOT NULL
		), lifted AS (
		    UPDATE accounts SET password_paused_until = NULL WHERE id = $1 AND password_paused_until IS NOT NULL
		)
		SELECT COALESCE((SELECT until > $2 FROM paused), false)`, accountID, now).Scan(&lifted)
	if err != nil || !lifted {
		return false, err
	}
	return true, Audit(ctx, tx, AuditEvent{At: now, AccountID: accountID, Actor: by, Event: "password_pause_lifted"})
}

// PasswordPaused reports until when the account's password login is paused (§2.12), zero when
// it is not, for the operator console.
func PasswordPaused(ctx context.Context, q pgdb.Querier, accountID int64, now time.Time) (time.Time, error) {
	var until *time.Time
	err := q.QueryRow(ctx, `SELECT password_paused_until FROM accounts WHERE id = $1 AND password_paused_until > $2`, accountID, now).Scan(&until)
	if errors.Is(err, pgx.ErrNoRows) || until == nil {
		return time.Time{}, nil
	}
	return *until, err
}

// purgeEmailChecksSQL deletes up to $2 checks past their end, the oldest first, found through
// email_checks_expires.
const purgeEmailChecksSQL = `
	DELETE FROM email_checks
	WHERE id_hash = ANY (ARRAY(
	    SELECT id_hash FROM email_checks WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2))
	  AND expires_at <= $1`

// PurgeEmailChecks deletes up to limit checks past their end, for the expiry job.
func PurgeEmailChecks(ctx context.Context, q pgdb.Querier, now time.Time, limit int) (int64, error) {
	tag, err := q.Exec(ctx, purgeEmailChecksSQL, now, limit)
	return tag.RowsAffected(), err
}

// purgeCheckFailuresSQL deletes up to $3 failed checks older than $2 before $1, the oldest
// first, found through email_check_failures_failed_at and deleted by ctid (the table has no key).
const purgeCheckFailuresSQL = `
	DELETE FROM email_check_failures
	WHERE ctid = ANY (ARRAY(
	    SELECT ctid FROM email_check_failures WHERE failed_at <= $1::timestamptz - $2::interval ORDER BY failed_at LIMIT $3))
	  AND failed_at <= $1::timestamptz - $2::interval`

// PurgeCheckFailures deletes up to limit failed email checks that no longer count toward a
// pause (§2.12), for the expiry job.
func PurgeCheckFailures(ctx context.Context, q pgdb.Querier, now time.Time, limit int) (int64, error) {
	tag, err := q.Exec(ctx, purgeCheckFailuresSQL, now, pauseWindow, limit)
	return tag.RowsAffected(), err
}
