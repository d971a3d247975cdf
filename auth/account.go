package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"kagi/pgdb"
)

// Account is a customer as the core knows them. Secrets (password hash, PIN hash) never leave
// the package in this type.
type Account struct {
	ID            int64     `db:"id"`
	LoginID       string    `db:"login_id"`
	AccountNumber string    `db:"account_number"`
	Name          string    `db:"name"`
	Email         string    `db:"email"`
	UserHandle    []byte    `db:"user_handle"`
	CreatedAt     time.Time `db:"created_at"`
	// SuspendedAt is when the back office suspended the account (§12.2), nil if it is not.
	SuspendedAt *time.Time `db:"suspended_at"`
}

// NewAccount is what `kagi account add` provides.
type NewAccount struct {
	LoginID       string
	Password      string
	AccountNumber string
	PIN           string
	Phones        []string
	Email         string
	Name          string
}

var (
	loginIDPattern       = regexp.MustCompile(`^[A-Za-z0-9._@-]{3,64}$`)
	accountNumberPattern = regexp.MustCompile(`^[0-9]{1,12}$`)
	pinPattern           = regexp.MustCompile(`^[0-9]{4}$`)
	e164Pattern          = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

// ValidPhone reports whether s is an E.164 number.
func ValidPhone(s string) bool { return e164Pattern.MatchString(s) }

// Validate lists every problem with n at once.
func (n NewAccount) Validate() error {
	errs := validateContacts(n.LoginID, n.AccountNumber, n.Name, n.Email, n.Phones)
	if err := checkPasswordPolicy(n.Password); err != nil {
		errs = append(errs, err)
	}
	if !pinPattern.MatchString(n.PIN) {
		errs = append(errs, errors.New("PIN must be exactly 4 digits"))
	}
	return errors.Join(errs...)
}

// checkPasswordPolicy is the rule a password kagi hashes itself must meet.
func checkPasswordPolicy(pw string) error {
	if !passwordLengthOK(pw) {
		return errors.New("password must be 8-256 characters")
	}
	return nil
}

// validateContacts lists the problems with an account's identifiers, name and addresses.
func validateContacts(loginID, accountNumber, name, email string, phones []string) []error {
	var errs []error
	if !loginIDPattern.MatchString(loginID) {
		errs = append(errs, errors.New("login ID must be 3-64 characters of letters, digits, '.', '_', '@' or '-'"))
	}
	if !accountNumberPattern.MatchString(accountNumber) {
		errs = append(errs, errors.New("account number must be 1-12 digits"))
	}
	if err := checkName(name); err != nil {
		errs = append(errs, err)
	}
	if err := checkEmail(email); err != nil {
		errs = append(errs, err)
	}
	if err := checkPhones(phones); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// OneLine reports whether s is text a person's name or an operator's reason may be: valid UTF-8
// with no control character. PostgreSQL cannot store a NUL; a name goes into the greeting of
// every mail to the customer, where a line break would add lines of the sender's choosing; and
// the console and the audit trail show a name or a reason as one line.
func OneLine(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// checkName refuses an empty name, an overlong one and one that is not OneLine.
func checkName(name string) error {
	if strings.TrimSpace(name) == "" || !OneLine(name) || utf8.RuneCountInString(name) > 200 {
		return errors.New("name is required: 1-200 characters, none of them a control character")
	}
	return nil
}

// checkEmail takes a plain address only (no display name, no comments).
func checkEmail(email string) error {
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		return fmt.Errorf("email %q is not a plain address", email)
	}
	return nil
}

// checkPhones takes one or more E.164 numbers.
func checkPhones(phones []string) error {
	if len(phones) == 0 {
		return errors.New("at least one phone number is required")
	}
	var errs []error
	for _, p := range phones {
		if !ValidPhone(p) {
			errs = append(errs, fmt.Errorf("phone %q is not an E.164 number like +819012345678", p))
		}
	}
	return errors.Join(errs...)
}

// ErrDuplicate reports a login ID or account number already in use.
var ErrDuplicate = errors.New("already exists")

// CreateAccount validates and stores a new account with its phones, in one transaction
// (`kagi account add`).
func (s *Service) CreateAccount(ctx context.Context, n NewAccount) (Account, error) {
	if err := n.Validate(); err != nil {
		return Account{}, err
	}
	return s.CreateAccountLine(ctx, AccountLine{
		AccountNumber: n.AccountNumber, LoginID: n.LoginID, Name: n.Name, Email: n.Email, Phones: n.Phones,
		Password: Secret{Plain: &n.Password}, PIN: Secret{Plain: &n.PIN},
	}, "cli")
}

// CreateAccountLine validates and stores one account as the brokerage hands it over (§12.1,
// §12.2), in one transaction, audited with actor. A login ID or account number in use is
// ErrDuplicate.
func (s *Service) CreateAccountLine(ctx context.Context, l AccountLine, actor string) (Account, error) {
	p, err := s.prepareAccount(ctx, l)
	if err != nil {
		return Account{}, err
	}
	var acct Account
	err = pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			INSERT INTO accounts (login_id, account_number, name, email, password_hash, pin_hash, pin_legacy_hash, user_handle, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			RETURNING id, login_id, account_number, name, email, user_handle, created_at, suspended_at`,
			p.LoginID, p.AccountNumber, p.Name, p.Email, p.passwordHash, p.pinHash, p.pinLegacy, p.userHandle, s.now())
		if err != nil {
			return err
		}
		acct, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Account])
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO account_phones (account_id, phone) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`, acct.ID, p.Phones); err != nil {
			return err
		}
		return Audit(ctx, tx, AuditEvent{At: s.now(), AccountID: acct.ID, Actor: actor, Event: "account_created"})
	})
	if dup := duplicateOf(err, p.LoginID, p.AccountNumber); dup != nil {
		return Account{}, dup
	}
	return acct, err
}

// duplicateOf turns a unique violation on accounts into ErrDuplicate naming what is in use.
func duplicateOf(err error, loginID, accountNumber string) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		switch pgErr.ConstraintName {
		case "accounts_login_id_key":
			return duplicateError{field: "login_id", msg: fmt.Sprintf("login ID %q: %v", loginID, ErrDuplicate)}
		case "accounts_account_number_key":
			return duplicateError{field: "account_number", msg: fmt.Sprintf("account number %s: %v", accountNumber, ErrDuplicate)}
		}
	}
	return nil
}

// duplicateError is ErrDuplicate with the field in use ("login_id" or "account_number"), which
// the back office's answer names.
type duplicateError struct{ field, msg string }

func (e duplicateError) Error() string { return e.msg }
func (e duplicateError) Unwrap() error { return ErrDuplicate }

// LockAccount row-locks the account until tx ends. Every transaction that changes what hangs
// off an account — its passkey, its sessions wholesale, its fallback window, a password login
// — takes this lock first, so two of them on one account queue up instead of locking sessions,
// passkey and window in different orders and deadlocking. It is FOR NO KEY UPDATE: the account's
// key never changes, and the lock then leaves alone the key-share locks that inserting a
// session or an audit line takes on the account (a passkey login finishing while the passkey
// is deleted waits for nothing it holds).
func LockAccount(ctx context.Context, tx pgx.Tx, accountID int64) error {
	_, err := tx.Exec(ctx, `SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE`, accountID)
	return err
}

// lockAccountsSQL takes LockAccount's lock on the accounts $1 in id order, skipping those
// another transaction holds; the primary key finds them.
const lockAccountsSQL = `SELECT id FROM accounts WHERE id = ANY ($1) ORDER BY id FOR NO KEY UPDATE SKIP LOCKED`

// LockAccounts is LockAccount for a batch, for the expiry job: it takes the lock on each of
// the accounts it can have at once and returns those, skipping any a login, an opening, a close
// or a passkey change holds right now. Waiting for those, while holding the others, could
// deadlock with a transaction that locks two accounts; skipped, an account's work is done by
// its holder or by the job's next batch.
func LockAccounts(ctx context.Context, tx pgx.Tx, accountIDs []int64) ([]int64, error) {
	rows, err := tx.Query(ctx, lockAccountsSQL, accountIDs)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// PINHash is the keyed hash stored for a voice-line PIN, bound to the account number so equal
// PINs of two accounts hash differently.
func (s *Service) PINHash(accountNumber, pin string) []byte {
	m := hmac.New(sha256.New, s.pinKey)
	m.Write([]byte("kagi-pin-v1\x00" + accountNumber + "\x00" + pin))
	return m.Sum(nil)
}

// PINMatches compares in constant time.
func (s *Service) PINMatches(accountNumber, pin string, stored []byte) bool {
	return hmac.Equal(s.PINHash(accountNumber, pin), stored)
}

const accountColumns = `a.id, a.login_id, a.account_number, a.name, a.email, a.user_handle, a.created_at, a.suspended_at`

// AccountByNumber finds an account by its account number.
func (s *Service) AccountByNumber(ctx context.Context, q pgdb.Querier, number string) (Account, bool, error) {
	return oneAccount(ctx, q, `SELECT `+accountColumns+` FROM accounts a WHERE a.account_number = $1`, number)
}

// maxLoginIDBytes bounds what is worth looking up as a login ID. Real ones are at most 64
// characters (NewAccount.Validate); the margin keeps a slightly long typo an ordinary miss.
const maxLoginIDBytes = 256

// LoginIDLookupable reports whether s could name an account at all: non-empty, valid UTF-8,
// no NUL byte and not absurdly long. PostgreSQL refuses text with a NUL or invalid UTF-8
// (SQLSTATE 22021), so whoever takes a login ID from a caller answers anything else as an
// unknown login ID without asking the database, instead of failing with a 500.
func LoginIDLookupable(s string) bool {
	return s != "" && len(s) <= maxLoginIDBytes && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// AccountByLoginID finds an account by its login ID. A login ID that is not LoginIDLookupable
// is not found, without a query.
func (s *Service) AccountByLoginID(ctx context.Context, q pgdb.Querier, loginID string) (Account, bool, error) {
	if !LoginIDLookupable(loginID) {
		return Account{}, false, nil
	}
	return oneAccount(ctx, q, `SELECT `+accountColumns+` FROM accounts a WHERE a.login_id = $1`, loginID)
}

func oneAccount(ctx context.Context, q pgdb.Querier, sql string, arg any) (Account, bool, error) {
	rows, err := q.Query(ctx, sql, arg)
	if err != nil {
		return Account{}, false, err
	}
	a, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Account])
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, false, nil
	}
	return a, err == nil, err
}
