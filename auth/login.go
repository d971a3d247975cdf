package auth

import (
	"context"
	"errors"
	"time"

	"kagi"

	"github.com/jackc/pgx/v5"

	"kagi/notify"
	"kagi/pgdb"
)

// PasswordLogin is the outcome of a successful password login.
type PasswordLogin struct {
	// EmailCheck is set, and nothing else, when the password was right and the email check
	// (§2.12) now decides: no session yet.
	EmailCheck *EmailCheck
	AccountID  int64
	// LoginID is the login's login ID: the browser becomes a known device of it.
	LoginID           string
	Token             string
	ExpiresAt         time.Time
	Assurance         Assurance
	ViaFallbackWindow bool
}

var (
	errInvalidCredentials = kagi.Errorf(kagi.Unauthorized, "invalid_credentials", msgInvalidCredentials)
	errRateLimited        = kagi.Errorf(kagi.RateLimited, "rate_limited", msgRateLimited)
	// errBusy answers a password login that found the hashing line full: the same code as a
	// throttle, since the client does the same (try again later), and a message that does not
	// blame the customer.
	errBusy = &kagi.Error{Kind: kagi.RateLimited, Code: "rate_limited", Message: msgBusy, RetryAfter: time.Second}
)

// errPasskeyRequired refuses a password login to an account with a passkey and no open window
// (§2.2), with the way out as the support desk tells it now: the message names the voice line's
// number and the operators' hours, also given apart for the client to lay out. It is built from
// the clock alone, so a right and a wrong password get the same answer.
func (s *Service) errPasskeyRequired() *kagi.Error {
	sup := s.support.SupportAt(s.now())
	e := kagi.Errorf(kagi.Forbidden, "passkey_required", msgPasskeyRequired(sup))
	e.Extra = map[string]any{"voice_line": sup.VoiceLine, "support_hours": sup.Hours}
	return e
}

// passwordCandidateSQL finds the account a password login names ($1), with whether it has a
// passkey and the end of a pause of its password login in force at $2 (§2.12).
const passwordCandidateSQL = `
	SELECT a.id, a.password_hash, a.name, a.email, EXISTS (SELECT 1 FROM passkeys p WHERE p.account_id = a.id) AS has_passkey,
	       CASE WHEN a.password_paused_until > $2 THEN a.password_paused_until END AS password_paused_until,
	       a.suspended_at IS NOT NULL AS suspended
	FROM accounts a WHERE a.login_id = $1`

type passwordCandidate struct {
	ID           int64  `db:"id"`
	PasswordHash string `db:"password_hash"`
	Name         string `db:"name"`
	Email        string `db:"email"`
	HasPasskey   bool   `db:"has_passkey"`
	// PausedUntil is the end of a pause of the account's password login in force (§2.12).
	PausedUntil *time.Time `db:"password_paused_until"`
	// Suspended is the back office's suspension of the account (§12.2).
	Suspended bool `db:"suspended"`
}

// LoginWithPassword applies §2.2–2.3: an account without a passkey logs in with its password;
// an account with one only through an open fallback window, and is otherwise refused with
// passkey_required whether or not the password was right. An unknown login ID and a wrong
// password answer alike and cost the same: the same statements, the same hash.
//
// device is the value of the browser's device cookie ("" without one): when it is valid for
// the login ID, the attempt is counted on that device's own throttle.
func (s *Service) LoginWithPassword(ctx context.Context, loginID, password, device string) (PasswordLogin, error) {
	if loginID == "" || password == "" || len(password) > 1024 {
		return PasswordLogin{}, kagi.Errorf(kagi.Invalid, "invalid_request", msgLoginNotTried(loginID, password))
	}
	// Under a flood the login is refused before it costs the database anything.
	if s.passwords.Busy() {
		return PasswordLogin{}, errBusy
	}
	// One round trip before the hash: the client address's limit and the account, so the
	// attempt is counted where it belongs. An unknown login ID sends the same, and one that no
	// account can have (NUL, invalid UTF-8, too long) is never sent to the database.
	var (
		c       passwordCandidate
		found   bool
		refused error
	)
	b := &pgx.Batch{}
	s.queueCheckClient(ctx, b, limitPasswordLogin, &refused)
	if LoginIDLookupable(loginID) {
		b.Queue(passwordCandidateSQL, loginID, s.now()).Query(func(rows pgx.Rows) error {
			var err error
			c, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[passwordCandidate])
			found = err == nil
			return ignoreNoRows(err)
		})
	}
	if b.Len() > 0 {
		if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
			return PasswordLogin{}, err
		}
	}
	if refused != nil {
		return PasswordLogin{}, refused
	}
	// Only an account with a passkey needs a window (§2.2), and only its login is asked about
	// one: an unknown login ID and an account without a passkey send the same statements and
	// hear the same refusal, while an account with a passkey is told apart by its answer anyway
	// (passkey_required).
	var (
		win        Window
		windowOpen bool
	)
	if found && c.HasPasskey {
		var err error
		if win, windowOpen, err = s.windows.OpenWindow(ctx, s.pool, c.ID, s.now()); err != nil {
			return PasswordLogin{}, err
		}
	}
	// Where the attempt is counted, and which counts a success clears: the window's own count
	// while one is open; a known device's own count, whose success leaves the others' count
	// alone (an attacker's failures are not forgiven by the customer's login); else the login
	// ID's count of unknown devices.
	key := throttleKey(loginID)
	clears := [][]byte{key}
	if nonce, known := s.knownDevice(device, loginID); known && !windowOpen {
		key = deviceThrottleKey(loginID, nonce)
		clears = [][]byte{key}
	} else if windowOpen {
		key = windowThrottleKey(loginID, win)
		clears = append(clears, key)
	}
	at, err := s.reserveAttempt(ctx, s.pool, key)
	if err != nil {
		return PasswordLogin{}, err
	}
	if at.lockStarted {
		if err := s.auditLockout(ctx, c.ID, key, at, win, windowOpen); err != nil {
			return PasswordLogin{}, err
		}
	}
	if !at.allowed {
		return PasswordLogin{}, s.countFailure(ctx, errRateLimited)
	}

	stored := c.PasswordHash
	if !found {
		stored = s.passwordDecoys.draw(loginID) // decoy.go
	}
	match, err := s.passwords.Verify(ctx, password, stored)
	if errors.Is(err, ErrBusy) {
		s.log.WarnContext(ctx, "password login refused: hashing busy")
		return PasswordLogin{}, errBusy
	}
	if err != nil {
		return PasswordLogin{}, err
	}
	if !found {
		return PasswordLogin{}, s.auditFailure(ctx, 0, key, "unknown_login_id", errInvalidCredentials)
	}
	if c.PausedUntil != nil {
		// Right or wrong, the same answer (§2.12); a right password is no failure of the login ID.
		if match {
			if err := refundAttempt(ctx, s.pool, key); err != nil {
				return PasswordLogin{}, err
			}
		}
		return PasswordLogin{}, s.auditFailure(ctx, c.ID, key, "password_paused", s.errPasswordPaused(*c.PausedUntil))
	}
	if c.HasPasskey && !windowOpen {
		reason := "passkey_required_password_wrong"
		if match {
			reason = "passkey_required_password_right"
		}
		return PasswordLogin{}, s.auditFailure(ctx, c.ID, key, reason, s.errPasskeyRequired())
	}
	if !match {
		return PasswordLogin{}, s.auditFailure(ctx, c.ID, key, "wrong_password", errInvalidCredentials)
	}
	if c.Suspended {
		// Only whoever knows the password hears of the suspension (§12.2), as only the passkey's
		// holder does: to anyone else the login ID answers like any other, and an account with
		// a passkey says passkey_required above, right password or wrong. The right password
		// is no failure of the login ID.
		if err := refundAttempt(ctx, s.pool, key); err != nil {
			return PasswordLogin{}, err
		}
		return PasswordLogin{}, s.auditFailure(ctx, c.ID, key, "account_suspended", s.errAccountSuspended())
	}
	if s.passwords.NeedsRehash(c.PasswordHash) {
		s.rehashPassword(ctx, c.ID, password, c.PasswordHash)
	}

	if s.emailCheck {
		check, err := s.startEmailCheck(ctx, pendingLogin{
			accountID: c.ID, name: c.Name, email: c.Email, viaWindow: windowOpen,
			loginKey: clears[0], attemptKey: key,
		})
		if err != nil {
			return PasswordLogin{}, err
		}
		return PasswordLogin{EmailCheck: &check}, nil
	}
	l := completedLogin{
		accountID: c.ID, loginID: loginID, name: c.Name, email: c.Email, window: win, windowOpen: windowOpen,
		keys: clears,
	}
	var (
		p   *passwordLoginWrites
		out PasswordLogin
	)
	// Two round trips: BEGIN with the account's lock, then the writes with the notice's enqueue
	// and the COMMIT (or the COMMIT alone); through a window, the window's use between them.
	err = pgdb.InTxBatch(ctx, s.pool, func(b *pgx.Batch) {
		p = s.newPasswordLoginWrites(l)
		p.queueLock(b)
	}, func(tx *pgdb.Tx) error {
		var err error
		out, err = s.completePasswordLogin(ctx, tx, p)
		return err
	})
	if err != nil {
		return PasswordLogin{}, err
	}
	s.logLogin(ctx, out.AccountID, "password", out.Assurance)
	return out, nil
}

// logLogin logs a login whose transaction committed.
func (s *Service) logLogin(ctx context.Context, accountID int64, method string, a Assurance) {
	s.log.InfoContext(ctx, "login succeeded", "account_id", accountID, "method", method, "assurance", string(a))
}

// completedLogin is a password login that passed every check, the email check included when
// it applies. With emailChecked the transaction holds the account's lock already and asked
// again whether a passkey exists.
type completedLogin struct {
	accountID            int64
	loginID, name, email string
	// window let the password in when windowOpen.
	window     Window
	windowOpen bool
	// keys are the throttle counts the login cleared.
	keys         [][]byte
	emailChecked bool
}

// completePasswordLogin creates the session of a password login in tx, whose first batch
// read the account's lock (queueLock), unless the email check's pass holds it: §2.2 asked again
// under that lock, an account suspended since the password was checked is refused, and so is
// one given a passkey since, unless a window lets it in. Through a window the session is
// recovery-only and ends with the window, whose use is recorded (and refused when it closed a
// moment ago). The throttle counts are cleared, the login audited and told (§7): these writes
// go with the notice's enqueue and the COMMIT, in one round trip.
func (s *Service) completePasswordLogin(ctx context.Context, tx *pgdb.Tx, p *passwordLoginWrites) (PasswordLogin, error) {
	l := p.l
	switch {
	case p.suspended:
		return PasswordLogin{}, s.errAccountSuspended()
	case p.hasPasskey && !l.windowOpen:
		return PasswordLogin{}, s.errPasskeyRequired()
	}
	notice := notify.Event{Kind: notify.KindLogin, At: p.now, Method: "password"}
	if l.windowOpen {
		// WindowUsed locks the window's row and refuses a window that closed since it was
		// checked, so a window that ended a moment ago is not honoured. It is recovery's
		// statement, after the account's lock.
		if err := s.windows.WindowUsed(ctx, tx, l.window, p.now); err != nil {
			return PasswordLogin{}, err
		}
		p.until = l.window.ExpiresAt
		p.out.Assurance, p.out.ViaFallbackWindow = AssurancePasswordFallback, true
		p.detail["window_id"] = l.window.ID
		queueMarkRecovered(tx, l.accountID, p.now)
		notice = notify.Event{Kind: notify.KindWindowLogin, At: p.now, Until: p.until}
	}
	s.queuePasswordLoginWrites(tx, p)
	if l.windowOpen || s.loginNotice {
		return p.out, s.notifyEmailLast(ctx, tx, l.accountID, l.email, l.name, notice)
	}
	return p.out, nil
}

// passwordLoginWrites is a password login on its way to its commit: what its writes return and
// what its lock read.
type passwordLoginWrites struct {
	l      completedLogin
	now    time.Time
	out    PasswordLogin
	until  time.Time // the window's end, through a window
	detail map[string]any
	// hasPasskey and suspended are what the account's lock read (queueLock).
	hasPasskey, suspended bool
}

func (s *Service) newPasswordLoginWrites(l completedLogin) *passwordLoginWrites {
	return &passwordLoginWrites{
		l: l, now: s.now(),
		out:    PasswordLogin{AccountID: l.accountID, LoginID: l.loginID, Assurance: AssurancePassword},
		detail: map[string]any{"method": "password", "email_check": l.emailChecked},
	}
}

// queueLock queues the account's lock, which asks again whether it has a passkey and is
// suspended, unless the email check's pass holds it already.
func (p *passwordLoginWrites) queueLock(b *pgx.Batch) {
	if !p.l.emailChecked {
		b.Queue(lockForPasswordLoginSQL, p.l.accountID).QueryRow(func(row pgx.Row) error { return row.Scan(&p.hasPasskey, &p.suspended) })
	}
}

// queuePasswordLoginWrites queues the session, the throttle counts' clearing and the audit line.
func (s *Service) queuePasswordLoginWrites(b pgdb.Queuer, p *passwordLoginWrites) {
	p.detail["assurance"] = string(p.out.Assurance)
	p.out.Token, p.out.ExpiresAt = s.queueSession(b, p.l.accountID, p.out.Assurance, p.until)
	b.Queue(clearAttemptsSQL, p.l.keys)
	queueAudit(b, AuditEvent{At: p.now, AccountID: p.l.accountID, Actor: "customer", Event: "login_succeeded", Detail: p.detail})
}

// lockForPasswordLoginSQL locks the account ($1) of a password login and asks whether it has a
// passkey now, and whether it is suspended (§12.2).
const lockForPasswordLoginSQL = `
	SELECT EXISTS (SELECT 1 FROM passkeys p WHERE p.account_id = a.id), a.suspended_at IS NOT NULL
	FROM accounts a WHERE a.id = $1 FOR NO KEY UPDATE OF a`

// auditLockout records the attempt that locked a login ID out: in the account's audit trail
// when the login ID is known, else as anonymous traffic (recordAnonymous).
func (s *Service) auditLockout(ctx context.Context, accountID int64, key []byte, at attempt, win Window, windowScoped bool) error {
	if accountID == 0 {
		return s.recordAnonymous(ctx, key, "throttled")
	}
	detail := map[string]any{"method": "password", "locked_until": at.lockedUntil}
	if windowScoped {
		detail["window_id"] = win.ID
	}
	s.log.InfoContext(ctx, "password login locked out", "account_id", accountID,
		"locked_until", at.lockedUntil, "window_scoped", windowScoped)
	return Audit(ctx, s.pool, AuditEvent{At: s.now(), AccountID: accountID, Actor: "customer", Event: "login_throttled", Detail: detail})
}

// countFailure counts a refused password login against the client address (§8) and returns
// the refusal.
func (s *Service) countFailure(ctx context.Context, refusal error) error {
	if err := s.clientFailed(ctx, s.pool, limitPasswordLogin); err != nil {
		return err
	}
	return refusal
}

// auditFailure records a refused login and returns the client-facing refusal: in the
// account's audit trail, or as anonymous traffic when the login ID is no account's; and it
// counts against the client address.
func (s *Service) auditFailure(ctx context.Context, accountID int64, key []byte, reason string, refusal error) error {
	s.log.InfoContext(ctx, "password login refused", "account_id", accountID, "reason", reason)
	err := s.clientFailed(ctx, s.pool, limitPasswordLogin)
	if err != nil {
		return err
	}
	if accountID == 0 {
		err = s.recordAnonymous(ctx, key, "failed")
	} else {
		err = Audit(ctx, s.pool, AuditEvent{At: s.now(), AccountID: accountID, Actor: "customer", Event: "login_failed",
			Detail: map[string]any{"method": "password", "reason": reason}})
	}
	if err != nil {
		return err
	}
	return refusal
}

// recordAnonymous counts what a login ID that no account has did, in a metric: the audit
// trail is the accounts', and a spray of made-up login IDs would fill it with rows of nobody.
// It still writes, and commits, one row — the login ID's throttle count, rewritten as it is —
// so that the refusal of an unknown login ID costs what an audited one costs: the same
// statements, each a write that waits for its commit, and no timing that tells them apart.
func (s *Service) recordAnonymous(ctx context.Context, key []byte, outcome string) error {
	anonymousLogins.WithLabelValues(outcome).Inc()
	_, err := s.pool.Exec(ctx, `UPDATE login_throttle SET failures = failures WHERE login_key = $1`, key)
	return err
}
