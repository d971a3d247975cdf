package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"math/big"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"kagi/notify"
	"kagi/pgdb"
	"kagi/web"
)

// The email check of §2.12 (ログイン追加認証): after a right password, kagi mails one emoji and
// the login page shows nine; the session is created only when the customer picks the mailed
// one. Three wrong picks or five minutes end the attempt.
const (
	emailCheckTTL       = 5 * time.Minute
	emailCheckMaxWrong  = 3
	emailCheckChoices   = 9
	emailCheckIDBytes   = 18
	maxEmailChoiceBytes = 64
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
	errCheckExpired = web.Errorf(http.StatusGone, "expired", msgEmailCheckExpired)
	errCheckFailed  = web.Errorf(http.StatusGone, "expired", msgEmailCheckTooManyWrong)
)

func errWrongChoice(left int) error {
	e := web.Errorf(http.StatusUnauthorized, "wrong_choice", msgEmailCheckWrong(left))
	e.Extra = map[string]any{"attempts_left": left}
	return e
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

// pendingLogin is a right password waiting for the email check.
type pendingLogin struct {
	accountID            int64
	name, email          string
	viaWindow            bool
	loginKey, attemptKey []byte
}

// startEmailCheck stores the account's pending check, replacing any earlier one, and mails its
// emoji, in one transaction.
func (s *Service) startEmailCheck(ctx context.Context, p pendingLogin) (EmailCheck, error) {
	now := s.now()
	id := base64.RawURLEncoding.EncodeToString(randomBytes(emailCheckIDBytes))
	choices, answer := drawEmoji()
	expires := now.Add(emailCheckTTL)
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO email_checks AS c (id_hash, account_id, answer, choices, via_window, login_key, attempt_key, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (account_id) DO UPDATE SET
			    id_hash = EXCLUDED.id_hash, answer = EXCLUDED.answer, choices = EXCLUDED.choices, via_window = EXCLUDED.via_window, login_key = EXCLUDED.login_key, attempt_key = EXCLUDED.attempt_key,
			    wrong_picks = 0, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at`,
			hashToken(id), p.accountID, answer, choices, p.viaWindow, p.loginKey, p.attemptKey, now, expires)
		if err != nil {
			return err
		}
		err = s.notifyEmail(ctx, tx, p.accountID, p.email, p.name, notify.Event{Kind: notify.KindEmailCheck, At: now, Emoji: answer, Until: expires})
		if err != nil {
			return err
		}
		return Audit(ctx, tx, AuditEvent{At: now, AccountID: p.accountID, Actor: "customer", Event: "email_check_started",
			Detail: map[string]any{"via_window": p.viaWindow, "expires_at": expires}})
	})
	if err != nil {
		return EmailCheck{}, err
	}
	return EmailCheck{ID: id, Choices: choices}, nil
}

// storedCheck is a pending check with what its pass needs of the account.
type storedCheck struct {
	AccountID  int64     `db:"account_id"`
	Answer     string    `db:"answer"`
	ViaWindow  bool      `db:"via_window"`
	LoginKey   []byte    `db:"login_key"`
	AttemptKey []byte    `db:"attempt_key"`
	WrongPicks int       `db:"wrong_picks"`
	ExpiresAt  time.Time `db:"expires_at"`
	LoginID    string    `db:"login_id"`
	Name       string    `db:"name"`
	Email      string    `db:"email"`
	HasPasskey bool      `db:"has_passkey"`
}

// validCheckID reports whether id could be one startEmailCheck gave out, so garbage is answered
// like an unknown check without a query.
func validCheckID(id string) bool {
	b, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil && len(b) == emailCheckIDBytes
}

// FinishEmailCheck answers a pending check with the emoji the customer picked. The right one
// creates the session the password login would have created (§2.11: password, or
// password_fallback while the window that let it in is still open); a wrong one counts toward
// the login ID's throttle and leaves fewer picks; the third wrong pick, or a pick after five
// minutes, ends the check.
func (s *Service) FinishEmailCheck(ctx context.Context, id, choice string) (PasswordLogin, error) {
	if choice == "" || len(choice) > maxEmailChoiceBytes {
		return PasswordLogin{}, web.Errorf(http.StatusBadRequest, "invalid_request", msgEmailCheckChoose)
	}
	if err := s.checkClient(ctx, s.pool, limitEmailCheck); err != nil {
		return PasswordLogin{}, err
	}
	if !validCheckID(id) {
		return PasswordLogin{}, errCheckExpired
	}
	var out PasswordLogin
	err := pgdb.InTxKeeping(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = s.finishEmailCheck(ctx, tx, hashToken(id), choice)
		return err
	})
	if err == nil {
		s.logLogin(ctx, out.AccountID, "password", out.Assurance)
	}
	return out, err
}

// finishEmailCheck is FinishEmailCheck's transaction. The account is locked first, as in every
// transaction that changes its sessions, then the check.
func (s *Service) finishEmailCheck(ctx context.Context, tx pgx.Tx, idHash []byte, choice string) (PasswordLogin, error) {
	now := s.now()
	// LockAccount's lock, taken through the check in one statement.
	var accountID int64
	err := tx.QueryRow(ctx, `
		SELECT a.id FROM accounts a JOIN email_checks c ON c.account_id = a.id
		WHERE c.id_hash = $1 FOR NO KEY UPDATE OF a`, idHash).Scan(&accountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return PasswordLogin{}, pgdb.Keep(errCheckExpired)
	}
	if err != nil {
		return PasswordLogin{}, err
	}
	rows, err := tx.Query(ctx, `
		SELECT c.account_id, c.answer, c.via_window, c.login_key, c.attempt_key, c.wrong_picks, c.expires_at,
		       a.login_id, a.name, a.email, EXISTS (SELECT 1 FROM passkeys p WHERE p.account_id = a.id) AS has_passkey
		FROM email_checks c JOIN accounts a ON a.id = c.account_id
		WHERE c.id_hash = $1
		FOR UPDATE OF c`, idHash)
	if err != nil {
		return PasswordLogin{}, err
	}
	c, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[storedCheck])
	if errors.Is(err, pgx.ErrNoRows) {
		return PasswordLogin{}, pgdb.Keep(errCheckExpired) // passed or replaced a moment ago
	}
	if err != nil {
		return PasswordLogin{}, err
	}
	end := func(event string, detail map[string]any, refusal error) (PasswordLogin, error) {
		if _, err := tx.Exec(ctx, `DELETE FROM email_checks WHERE id_hash = $1`, idHash); err != nil {
			return PasswordLogin{}, err
		}
		if err := Audit(ctx, tx, AuditEvent{At: now, AccountID: c.AccountID, Actor: "customer", Event: event, Detail: detail}); err != nil {
			return PasswordLogin{}, err
		}
		return PasswordLogin{}, pgdb.Keep(refusal)
	}
	if !c.ExpiresAt.After(now) {
		return end("email_check_expired", map[string]any{}, errCheckExpired)
	}
	if subtle.ConstantTimeCompare([]byte(choice), []byte(c.Answer)) != 1 {
		at, err := s.reserveAttempt(ctx, tx, c.AttemptKey)
		if err != nil {
			return PasswordLogin{}, err
		}
		wrong := c.WrongPicks + 1
		switch {
		case !at.allowed:
			return end("email_check_failed", map[string]any{"wrong_picks": wrong, "reason": "throttled"}, errRateLimited)
		case wrong >= emailCheckMaxWrong:
			return end("email_check_failed", map[string]any{"wrong_picks": wrong, "reason": "wrong_picks"}, errCheckFailed)
		}
		if _, err := tx.Exec(ctx, `UPDATE email_checks SET wrong_picks = $2 WHERE id_hash = $1`, idHash, wrong); err != nil {
			return PasswordLogin{}, err
		}
		if err := Audit(ctx, tx, AuditEvent{At: now, AccountID: c.AccountID, Actor: "customer", Event: "email_check_wrong",
			Detail: map[string]any{"wrong_picks": wrong}}); err != nil {
			return PasswordLogin{}, err
		}
		return PasswordLogin{}, pgdb.Keep(errWrongChoice(emailCheckMaxWrong - wrong))
	}
	// The rules of §2.2 are asked again: a passkey created since the password was checked
	// shuts the password out, and a window must still be open to let it in.
	var (
		win        Window
		windowOpen bool
	)
	if c.HasPasskey {
		if c.ViaWindow {
			if win, windowOpen, err = s.windows.OpenWindow(ctx, tx, c.AccountID, now); err != nil {
				return PasswordLogin{}, err
			}
		}
		if !windowOpen {
			return end("login_failed", map[string]any{"method": "password", "reason": "passkey_required_after_email_check"}, s.errPasskeyRequired())
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM email_checks WHERE id_hash = $1`, idHash); err != nil {
		return PasswordLogin{}, err
	}
	return s.completePasswordLogin(ctx, tx, completedLogin{
		accountID: c.AccountID, loginID: c.LoginID, name: c.Name, email: c.Email, window: win, windowOpen: windowOpen,
		keys: [][]byte{c.LoginKey, c.AttemptKey}, emailChecked: true,
	})
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
