package recovery

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"kagi/auth"
	"kagi/pgdb"
	"kagi/web"
)

// Role is what a staff member may do in the operator console (§6). A supervisor may do all an
// operator may, and more (clear lockouts, delete passkeys).
type Role string

const (
	RoleOperator   Role = "operator"
	RoleSupervisor Role = "supervisor"
)

// ParseRole reads a role as `kagi staff add --role` takes it.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleOperator, RoleSupervisor:
		return r, nil
	}
	return "", fmt.Errorf("role %q must be %s or %s", s, RoleOperator, RoleSupervisor)
}

// covers reports whether a staff member with role r may use a route meant for need: the roles
// nest, so a supervisor covers an operator and not the reverse.
func (r Role) covers(need Role) bool {
	switch need {
	case RoleOperator:
		return r == RoleOperator || r == RoleSupervisor
	case RoleSupervisor:
		return r == RoleSupervisor
	}
	return false
}

// Staff is a support operator or supervisor: who the console and its audit trail name. Staff
// are not customers; their passkeys, ceremonies and sessions are recovery's own tables.
type Staff struct {
	ID      int64  `db:"id"`
	LoginID string `db:"login_id"`
	Name    string `db:"name"`
	Role    Role   `db:"role"`
}

// Actor names the staff member in the audit trail, as every console action will.
func (st Staff) Actor() string { return "staff:" + st.LoginID }

// Lifetimes of the staff identity's secrets.
const (
	// enrollmentCodeTTL is how long `kagi staff add`'s code may be used (§6).
	enrollmentCodeTTL = 24 * time.Hour
	// staffSessionTTL bounds a staff session from its login: one working day.
	staffSessionTTL = 8 * time.Hour
	// staffSessionIdle ends a staff session left alone, a console on an unattended desk.
	staffSessionIdle = 30 * time.Minute
	// staffTouchAfter is how stale a session's last use may be before a request records it
	// again, so a session in use is written at most once a minute.
	staffTouchAfter = time.Minute
	// staffCeremonyTTL bounds a staff ceremony between begin and finish, like the customers'
	// (the browser's five-minute prompt and the round trips around it).
	staffCeremonyTTL = 6 * time.Minute
)

// Staff ceremony kinds, as staff_ceremonies spells them.
const (
	ceremonyEnroll = "enroll"
	ceremonyLogin  = "login"
)

// actorBootstrap is who adds the very first staff members, before any supervisor has enrolled
// a passkey and so can be named as acting (§6): the command line itself.
const actorBootstrap = "cli"

var (
	// ErrStaffExists is returned when a login ID is already a staff member's.
	ErrStaffExists = errors.New("recovery: a staff member with this login ID already exists")
	// ErrUnknownStaff is returned when no staff member has the login ID.
	ErrUnknownStaff = errors.New("recovery: no staff member with this login ID")
	// ErrStaffDisabled is returned when a disabled staff member is to get a new code.
	ErrStaffDisabled = errors.New("recovery: the staff member is disabled")
)

// Refusals of who is named as acting on the staff (§6 "Staff lifecycle"): only an enrolled,
// enabled supervisor may add, disable, enable, reissue a code or change a role, and nothing
// changes when the one named may not.
var (
	// ErrByRequired is returned when nobody is named as acting; only the staff added before any
	// supervisor has enrolled (the bootstrap) may be added so.
	ErrByRequired = errors.New("recovery: an enrolled supervisor must be named as acting")
	// ErrByUnknown is returned when no staff member has the acting login ID.
	ErrByUnknown = errors.New("recovery: no staff member has the acting login ID")
	// ErrByNotSupervisor is returned when the one acting is an operator.
	ErrByNotSupervisor = errors.New("recovery: the one acting is not a supervisor")
	// ErrByDisabled is returned when the one acting is disabled.
	ErrByDisabled = errors.New("recovery: the one acting is disabled")
	// ErrByNotEnrolled is returned when the one acting has no passkey yet: they have never
	// proved to be who the login ID names.
	ErrByNotEnrolled = errors.New("recovery: the one acting has not enrolled a passkey")
	// ErrOwnStaff is returned when a supervisor would disable or demote themselves: another
	// supervisor must, so there is always an enabled supervisor left who can undo it.
	ErrOwnStaff = errors.New("recovery: a supervisor cannot disable or demote themselves")
)

// lockedStaff is a staff member as a change of the staff reads them, their row locked.
type lockedStaff struct {
	Staff
	DisabledAt *time.Time `db:"disabled_at"`
	Enrolled   bool       `db:"enrolled"`
}

// lockStaffSQL locks the rows of the staff members named ($1), in id order so that two
// changes naming the same two members (one acting, one acted on) cannot deadlock. The staff
// row is the first lock every change of a member takes, an enrollment's finish too
// (enrollmentStaffSQL): their codes, ceremonies, passkeys and sessions come after it.
const lockStaffSQL = `
	SELECT s.id, s.login_id, s.name, s.role, s.disabled_at,
	       EXISTS (SELECT 1 FROM staff_credentials c WHERE c.staff_id = s.id) AS enrolled
	FROM staff s WHERE s.login_id = ANY ($1)
	ORDER BY s.id
	FOR UPDATE OF s`

// lockStaff locks the target (loginID, "" for none) and the acting supervisor (by) and checks
// that by may act: an enrolled, enabled supervisor. It returns ErrUnknownStaff for an unknown
// target, after the checks of by.
func lockStaff(ctx context.Context, tx pgx.Tx, loginID, by string) (target, actor lockedStaff, err error) {
	if by == "" {
		return target, actor, ErrByRequired
	}
	names := []string{by}
	if loginID != "" && loginID != by {
		names = append(names, loginID)
	}
	rows, err := tx.Query(ctx, lockStaffSQL, names)
	if err != nil {
		return target, actor, err
	}
	locked, err := pgx.CollectRows(rows, pgx.RowToStructByName[lockedStaff])
	if err != nil {
		return target, actor, err
	}
	var foundActor, foundTarget bool
	for _, l := range locked {
		if l.LoginID == by {
			actor, foundActor = l, true
		}
		if l.LoginID == loginID {
			target, foundTarget = l, true
		}
	}
	switch {
	case !foundActor:
		return target, actor, ErrByUnknown
	case actor.Role != RoleSupervisor:
		return target, actor, ErrByNotSupervisor
	case actor.DisabledAt != nil:
		return target, actor, ErrByDisabled
	case !actor.Enrolled:
		return target, actor, ErrByNotEnrolled
	case loginID != "" && !foundTarget:
		return target, actor, ErrUnknownStaff
	}
	return target, actor, nil
}

// refusal reports whether err is one of the refusals a change of the staff returns as they
// are, not wrapped as a failure.
func refusal(err error) bool {
	for _, r := range []error{ErrStaffExists, ErrUnknownStaff, ErrStaffDisabled, ErrByRequired, ErrByUnknown,
		ErrByNotSupervisor, ErrByDisabled, ErrByNotEnrolled, ErrOwnStaff} {
		if errors.Is(err, r) {
			return true
		}
	}
	return false
}

// enrolledSupervisorSQL reports whether any supervisor may act: enabled, with a passkey.
const enrolledSupervisorSQL = `
	SELECT EXISTS (
	    SELECT 1 FROM staff s
	    WHERE s.role = 'supervisor' AND s.disabled_at IS NULL
	      AND EXISTS (SELECT 1 FROM staff_credentials c WHERE c.staff_id = s.id))`

// Refusals of the staff routes. Every failed passkey check says the same thing, as the
// customers' do.
var (
	errStaffUnauthorized = web.Errorf(http.StatusUnauthorized, "unauthorized", msgStaffUnauthorized)
	errStaffForbidden    = web.Errorf(http.StatusForbidden, "forbidden", msgStaffForbidden)
	errInvalidCode       = web.Errorf(http.StatusUnauthorized, "invalid_code", msgInvalidCode)
	errStaffPasskey      = web.Errorf(http.StatusUnauthorized, "passkey_failed", msgStaffPasskeyFailed)
	errStaffEnrollFailed = web.Errorf(http.StatusBadRequest, "passkey_failed", msgStaffPasskeyFailed)
	// errDeviceBoundRequired refuses a synced passkey (§6): a copy in a personal cloud account
	// would let whoever holds that account into the console.
	errDeviceBoundRequired = web.Errorf(http.StatusBadRequest, "device_bound_required", msgDeviceBoundRequired)
)

// staffLoginIDPattern is the login IDs a staff member may have (as the staff table checks).
var staffLoginIDPattern = regexp.MustCompile(`^[A-Za-z0-9._@-]{3,64}$`)

// maxStaffName bounds a staff member's name, in characters.
const maxStaffName = 100

// NewStaff is a staff member to add.
type NewStaff struct {
	LoginID string
	Name    string
	Role    Role
}

// Validate lists every problem with n at once.
func (n NewStaff) Validate() error {
	var errs []error
	if !staffLoginIDPattern.MatchString(n.LoginID) {
		errs = append(errs, errors.New("login ID must be 3-64 characters of letters, digits, '.', '_', '@' or '-'"))
	}
	if strings.TrimSpace(n.Name) == "" || utf8.RuneCountInString(n.Name) > maxStaffName {
		errs = append(errs, fmt.Errorf("name is required, at most %d characters", maxStaffName))
	}
	if _, err := ParseRole(string(n.Role)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Enrollment is a staff member just added, with the one-time code that lets them enroll their
// passkey. The code exists nowhere else: only its hash is stored.
type Enrollment struct {
	Staff     Staff
	Code      string
	ExpiresAt time.Time
}

// AddStaff adds a staff member and issues their enrollment code (§6), audited under the
// supervisor by (a login ID). Until a supervisor has enrolled a passkey nobody can be named, so
// then by may be "" (the bootstrap, audited under the command line); after, it may not.
func (s *Service) AddStaff(ctx context.Context, n NewStaff, by string) (Enrollment, error) {
	if err := n.Validate(); err != nil {
		return Enrollment{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	now := s.now()
	code := rand.Text()
	out := Enrollment{Code: code, ExpiresAt: now.Add(enrollmentCodeTTL)}
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		actor, detail := actorBootstrap, map[string]any{"staff": n.LoginID, "role": string(n.Role), "code_expires_at": out.ExpiresAt}
		// A member who exists is said so first, whoever asks: scripts/run adds its demo
		// supervisor at every start and goes on when it exists.
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM staff WHERE login_id = $1)`, n.LoginID).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return ErrStaffExists
		}
		if by == "" {
			var anySupervisor bool
			if err := tx.QueryRow(ctx, enrolledSupervisorSQL).Scan(&anySupervisor); err != nil {
				return err
			}
			if anySupervisor {
				return ErrByRequired
			}
			detail["bootstrap"] = true
		} else {
			_, by, err := lockStaff(ctx, tx, "", by)
			if err != nil {
				return err
			}
			actor = by.Actor()
		}
		rows, err := tx.Query(ctx, `
			INSERT INTO staff (login_id, name, role, user_handle, created_at)
			VALUES ($1, $2, $3, $4, $5)
			RETURNING id, login_id, name, role`, n.LoginID, n.Name, n.Role, auth.NewStaffUserHandle(), now)
		if err != nil {
			return err
		}
		out.Staff, err = pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Staff])
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO staff_enrollment_codes (code_hash, staff_id, created_at, expires_at)
			VALUES ($1, $2, $3, $4)`, codeHash(code), out.Staff.ID, now, out.ExpiresAt)
		if err != nil {
			return err
		}
		return auth.Audit(ctx, tx, auth.AuditEvent{At: now, Actor: actor, Event: "staff_added", Detail: detail})
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "staff_login_id_key" {
		return Enrollment{}, ErrStaffExists
	}
	if refusal(err) {
		return Enrollment{}, err
	}
	if err != nil {
		return Enrollment{}, fmt.Errorf("recovery: add staff: %w", err)
	}
	return out, nil
}

// ReissueStaffCode gives a staff member a new one-time enrollment code, for a lost or changed
// device: their earlier unused codes and unfinished enrollments stop working, and enrolling with
// the new code replaces their passkey (finishEnrollment), so the lost device's passkey and
// sessions end then. A disabled member gets none. Audited under the supervisor by, who may be
// the member themselves (a supervisor's own new device).
func (s *Service) ReissueStaffCode(ctx context.Context, loginID, by string) (Enrollment, error) {
	now := s.now()
	code := rand.Text()
	out := Enrollment{Code: code, ExpiresAt: now.Add(enrollmentCodeTTL)}
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		target, actor, err := lockStaff(ctx, tx, loginID, by)
		if err != nil {
			return err
		}
		if target.DisabledAt != nil {
			return ErrStaffDisabled
		}
		out.Staff = target.Staff
		for _, sql := range []string{
			`DELETE FROM staff_enrollment_codes WHERE staff_id = $1`,
			`DELETE FROM staff_ceremonies WHERE staff_id = $1 AND kind = 'enroll'`,
		} {
			if _, err := tx.Exec(ctx, sql, out.Staff.ID); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO staff_enrollment_codes (code_hash, staff_id, created_at, expires_at)
			VALUES ($1, $2, $3, $4)`, codeHash(code), out.Staff.ID, now, out.ExpiresAt)
		if err != nil {
			return err
		}
		return auth.Audit(ctx, tx, auth.AuditEvent{At: now, Actor: actor.Actor(), Event: "staff_code_issued",
			Detail: map[string]any{"staff": out.Staff.LoginID, "code_expires_at": out.ExpiresAt}})
	})
	if err != nil && !refusal(err) {
		err = fmt.Errorf("recovery: reissue staff code: %w", err)
	}
	return out, err
}

// maxCodeLen bounds what is hashed and looked up as an enrollment code; rand.Text's codes are
// 26 characters.
const maxCodeLen = 64

// normalizeCode forgives how a person copies a code: surrounding blanks, inner spaces or
// hyphens, lower case. It reports false for what cannot be a code, which is then not looked up.
func normalizeCode(code string) (string, bool) {
	code = strings.ToUpper(strings.NewReplacer(" ", "", "-", "", "\t", "").Replace(strings.TrimSpace(code)))
	return code, code != "" && len(code) <= maxCodeLen
}

// codeHash is how an enrollment code is stored and looked up: its SHA-256. A code carries 130
// random bits, so no key is needed to make the hash useless to whoever reads the table.
func codeHash(code string) []byte {
	h := sha256.Sum256([]byte(code))
	return h[:]
}

// DisableResult is what DisableStaff did.
type DisableResult struct {
	Staff Staff
	// AlreadyDisabled is set when the staff member was disabled before; nothing changed.
	AlreadyDisabled bool
	// SessionsEnded counts the staff member's sessions that ended with it.
	SessionsEnded int64
}

// DisableStaff stops a staff member from using the console at once: in one transaction they
// are marked disabled and their sessions, unused codes and unfinished enrollments are deleted,
// and it is audited under the supervisor by, who may not be the member. A login or enrollment
// racing it holds the staff row (FOR SHARE) until it commits, so its new session is deleted
// here, or it finds the member disabled. The member's passkey is kept: EnableStaff lets it
// log in again, as the same identity.
func (s *Service) DisableStaff(ctx context.Context, loginID, by string) (DisableResult, error) {
	var res DisableResult
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.now()
		res = DisableResult{}
		target, actor, err := lockStaff(ctx, tx, loginID, by)
		if err != nil {
			return err
		}
		res.Staff = target.Staff
		if target.ID == actor.ID {
			return ErrOwnStaff
		}
		if target.DisabledAt != nil {
			res.AlreadyDisabled = true
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE staff SET disabled_at = $2 WHERE id = $1`, res.Staff.ID, now); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM staff_sessions WHERE staff_id = $1`, res.Staff.ID)
		if err != nil {
			return err
		}
		res.SessionsEnded = tag.RowsAffected()
		if _, err := tx.Exec(ctx, `DELETE FROM staff_enrollment_codes WHERE staff_id = $1`, res.Staff.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM staff_ceremonies WHERE staff_id = $1`, res.Staff.ID); err != nil {
			return err
		}
		return auth.Audit(ctx, tx, auth.AuditEvent{At: now, Actor: actor.Actor(), Event: "staff_disabled",
			Detail: map[string]any{"staff": res.Staff.LoginID, "sessions_ended": res.SessionsEnded}})
	})
	if err != nil && !refusal(err) {
		err = fmt.Errorf("recovery: disable staff: %w", err)
	}
	return res, err
}

// EnableResult is what EnableStaff did.
type EnableResult struct {
	Staff Staff
	// AlreadyEnabled is set when the staff member was not disabled; nothing changed.
	AlreadyEnabled bool
	// Enrolled is set when the member has a passkey, which logs in again; without one they
	// need a new code (ReissueStaffCode), since disabling deleted theirs.
	Enrolled bool
}

// EnableStaff lets a disabled staff member use the console again as the same identity (§6): the
// same staff row, login ID and passkey, so the trail names one person before and after. Audited
// under the supervisor by.
func (s *Service) EnableStaff(ctx context.Context, loginID, by string) (EnableResult, error) {
	var res EnableResult
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		target, actor, err := lockStaff(ctx, tx, loginID, by)
		if err != nil {
			return err
		}
		res = EnableResult{Staff: target.Staff, Enrolled: target.Enrolled, AlreadyEnabled: target.DisabledAt == nil}
		if res.AlreadyEnabled {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE staff SET disabled_at = NULL WHERE id = $1`, target.ID); err != nil {
			return err
		}
		return auth.Audit(ctx, tx, auth.AuditEvent{At: s.now(), Actor: actor.Actor(), Event: "staff_enabled",
			Detail: map[string]any{"staff": target.LoginID, "disabled_at": *target.DisabledAt, "enrolled": target.Enrolled}})
	})
	if err != nil && !refusal(err) {
		err = fmt.Errorf("recovery: enable staff: %w", err)
	}
	return res, err
}

// RoleResult is what SetStaffRole did.
type RoleResult struct {
	Staff Staff
	// From is the role before; Staff.Role the role now.
	From Role
}

// Changed reports whether the role changed; asking for the role a member has changes nothing.
func (r RoleResult) Changed() bool { return r.From != r.Staff.Role }

// SetStaffRole makes a staff member an operator or a supervisor, audited under the supervisor
// by with both roles. A supervisor cannot demote themselves: another supervisor must, so the
// one acting always remains a supervisor who can act.
func (s *Service) SetStaffRole(ctx context.Context, loginID string, role Role, by string) (RoleResult, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return RoleResult{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var res RoleResult
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		target, actor, err := lockStaff(ctx, tx, loginID, by)
		if err != nil {
			return err
		}
		res = RoleResult{Staff: target.Staff, From: target.Role}
		if target.Role == role {
			return nil
		}
		if target.ID == actor.ID {
			return ErrOwnStaff
		}
		if _, err := tx.Exec(ctx, `UPDATE staff SET role = $2 WHERE id = $1`, target.ID, role); err != nil {
			return err
		}
		res.Staff.Role = role
		return auth.Audit(ctx, tx, auth.AuditEvent{At: s.now(), Actor: actor.Actor(), Event: "staff_role_changed",
			Detail: map[string]any{"staff": target.LoginID, "from": string(target.Role), "to": string(role)}})
	})
	if err != nil && !refusal(err) {
		err = fmt.Errorf("recovery: change staff role: %w", err)
	}
	return res, err
}

// staffUser is a staff member as go-webauthn consumes it.
type staffUser struct {
	Handle      []byte
	LoginID     string
	Name        string
	credentials []webauthn.Credential
}

func (u staffUser) WebAuthnID() []byte                         { return u.Handle }
func (u staffUser) WebAuthnName() string                       { return u.LoginID }
func (u staffUser) WebAuthnDisplayName() string                { return u.Name }
func (u staffUser) WebAuthnCredentials() []webauthn.Credential { return u.credentials }

// enrolleeSQL finds the live code's staff member: not past the code's end, not disabled.
const enrolleeSQL = `
	SELECT s.id, s.user_handle, s.login_id, s.name
	FROM staff_enrollment_codes c JOIN staff s ON s.id = c.staff_id
	WHERE c.code_hash = $1 AND c.expires_at > $2 AND s.disabled_at IS NULL`

// BeginStaffEnrollment checks the enrollment code and returns the creation options of the
// staff member's passkey (the ceremony policy of the customers' passkeys, without their
// smartphone rule: staff work at desktops). The code stays valid until an enrollment finishes.
func (s *Service) BeginStaffEnrollment(ctx context.Context, code string) (*protocol.CredentialCreation, error) {
	code, ok := normalizeCode(code)
	if !ok {
		return nil, errInvalidCode
	}
	var (
		staffID int64
		user    staffUser
	)
	err := s.pool.QueryRow(ctx, enrolleeSQL, codeHash(code), s.now()).Scan(&staffID, &user.Handle, &user.LoginID, &user.Name)
	if errors.Is(err, pgx.ErrNoRows) {
		s.log.InfoContext(ctx, "staff enrollment refused", "reason", "invalid_code")
		return nil, errInvalidCode
	}
	if err != nil {
		return nil, err
	}
	creation, wsess, err := s.staffRP.BeginRegistration(user, webauthn.WithCredentialParameters(auth.CredentialParameters()))
	if err != nil {
		return nil, err
	}
	err = storeStaffCeremony(ctx, s.pool, ceremonyEnroll, creation.Response.Challenge, &staffID, wsess, s.now().Add(staffCeremonyTTL))
	return creation, err
}

// staffCeremonyID keys a staff ceremony by the SHA-256 of its challenge, as the customers' are
// keyed: the finish carries the challenge in its signed client data, so no cookie ties begin
// and finish together and any replica finishes what another began.
func staffCeremonyID(challenge []byte) []byte {
	h := sha256.Sum256(challenge)
	return h[:]
}

// staffCeremonyIDFromClientData derives the key from the challenge as the client data reports
// it (base64url without padding).
func staffCeremonyIDFromClientData(challenge string) ([]byte, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(challenge)
	if err != nil || len(raw) == 0 {
		return nil, false
	}
	return staffCeremonyID(raw), true
}

func storeStaffCeremony(ctx context.Context, q pgdb.Querier, kind string, challenge []byte, staffID *int64, sess *webauthn.SessionData, expires time.Time) error {
	data, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `INSERT INTO staff_ceremonies (id, kind, staff_id, session, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		staffCeremonyID(challenge), kind, staffID, data, expires)
	return err
}

// staffCeremony is a stored staff ceremony, taken out of the table by its finish.
type staffCeremony struct {
	StaffID   *int64
	Session   webauthn.SessionData
	ExpiresAt time.Time
}

// consumeStaffCeremony takes a ceremony out of the table: each is finished once, whatever the
// outcome. One past its end is returned too (and consumed); the caller refuses it.
func consumeStaffCeremony(ctx context.Context, tx pgx.Tx, id []byte, kind string) (staffCeremony, bool, error) {
	var (
		c    staffCeremony
		data []byte
	)
	err := tx.QueryRow(ctx, `DELETE FROM staff_ceremonies WHERE id = $1 AND kind = $2 RETURNING staff_id, session, expires_at`, id, kind).
		Scan(&c.StaffID, &data, &c.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return staffCeremony{}, false, nil
	}
	if err != nil {
		return staffCeremony{}, false, err
	}
	return c, true, json.Unmarshal(data, &c.Session)
}

// StaffLogin is a staff session just made, by an enrollment or a login.
type StaffLogin struct {
	Staff     Staff
	Token     string
	ExpiresAt time.Time
}

// liveCodeSQL locks the code ($1) of the enrollment's staff member ($2) while it is live (the
// staff row is locked already, enrollmentStaffSQL): a second enrollment with the code waits
// here and then finds it gone.
const liveCodeSQL = `
	SELECT s.id, s.login_id, s.name, s.role, s.user_handle
	FROM staff_enrollment_codes c JOIN staff s ON s.id = c.staff_id
	WHERE c.code_hash = $1 AND c.staff_id = $2 AND c.expires_at > $3 AND s.disabled_at IS NULL
	FOR UPDATE OF c FOR SHARE OF s`

// FinishStaffEnrollment verifies the new credential (the attestation's PublicKeyCredential JSON)
// made for the code's staff member, and in one transaction stores it, uses the code up (a
// credential that fails verification leaves the code for another try), starts a staff session
// and audits the enrollment.
func (s *Service) FinishStaffEnrollment(ctx context.Context, code string, credential []byte) (StaffLogin, error) {
	code, ok := normalizeCode(code)
	if !ok {
		return StaffLogin{}, errInvalidCode
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		s.log.InfoContext(ctx, "staff enrollment refused", "reason", "unparsable", "err", err)
		return StaffLogin{}, errStaffEnrollFailed
	}
	id, ok := staffCeremonyIDFromClientData(parsed.Response.CollectedClientData.Challenge)
	if !ok {
		return StaffLogin{}, errStaffEnrollFailed
	}
	var out StaffLogin
	err = pgdb.InTxKeeping(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = s.finishEnrollment(ctx, tx, codeHash(code), id, parsed)
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "staff_credentials_pkey" {
		return StaffLogin{}, errStaffEnrollFailed
	}
	return out, err
}

// enrollmentStaffSQL locks the staff row of an enrollment ceremony ($1) before anything else
// of the enrollment, the lock order of every change of a staff member (lockStaffSQL): were the
// ceremony and code taken first, a disable or a new code taking the staff row and then the
// ceremonies and codes would deadlock with it. FOR SHARE, as a login takes it, lets logins
// through and holds disables, new codes and role changes until the enrollment commits.
const enrollmentStaffSQL = `
	SELECT s.id FROM staff s
	WHERE s.id = (SELECT c.staff_id FROM staff_ceremonies c WHERE c.id = $1 AND c.kind = 'enroll')
	FOR SHARE OF s`

func (s *Service) finishEnrollment(ctx context.Context, tx pgx.Tx, hash, id []byte, parsed *protocol.ParsedCredentialCreationData) (StaffLogin, error) {
	now := s.now()
	if _, err := tx.Exec(ctx, enrollmentStaffSQL, id); err != nil {
		return StaffLogin{}, err
	}
	c, found, err := consumeStaffCeremony(ctx, tx, id, ceremonyEnroll)
	if err != nil {
		return StaffLogin{}, err
	}
	if !found || !c.ExpiresAt.After(now) {
		s.log.InfoContext(ctx, "staff enrollment refused", "reason", "no_live_ceremony")
		return StaffLogin{}, pgdb.Keep(errStaffEnrollFailed)
	}
	var (
		st   Staff
		user staffUser
	)
	err = tx.QueryRow(ctx, liveCodeSQL, hash, *c.StaffID, now).Scan(&st.ID, &st.LoginID, &st.Name, &st.Role, &user.Handle)
	if errors.Is(err, pgx.ErrNoRows) {
		s.log.InfoContext(ctx, "staff enrollment refused", "reason", "invalid_code", "staff_id", *c.StaffID)
		return StaffLogin{}, pgdb.Keep(errInvalidCode)
	}
	if err != nil {
		return StaffLogin{}, err
	}
	user.LoginID, user.Name = st.LoginID, st.Name
	cred, err := s.staffRP.CreateCredential(user, c.Session, parsed)
	if err != nil {
		s.log.InfoContext(ctx, "staff enrollment refused", "reason", "verification_failed", "staff", st.LoginID, "err", err)
		return StaffLogin{}, pgdb.Keep(errStaffEnrollFailed)
	}
	// Backup eligibility, not backup state: a passkey its provider may sync later is refused
	// as one already synced.
	if cred.Flags.BackupEligible {
		s.log.InfoContext(ctx, "staff enrollment refused", "reason", "backup_eligible", "staff", st.LoginID)
		return StaffLogin{}, pgdb.Keep(errDeviceBoundRequired)
	}
	aaguid, ok := aaguidOf(cred.Authenticator.AAGUID)
	if !ok {
		return StaffLogin{}, pgdb.Keep(errStaffEnrollFailed)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM staff_enrollment_codes WHERE code_hash = $1`, hash); err != nil {
		return StaffLogin{}, err
	}
	// One passkey per staff member: a new enrollment (after a lost or changed device) replaces
	// the earlier passkey, and the sessions it made end with it.
	replaced, err := tx.Exec(ctx, `DELETE FROM staff_credentials WHERE staff_id = $1`, st.ID)
	if err != nil {
		return StaffLogin{}, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM staff_sessions WHERE staff_id = $1`, st.ID); err != nil {
		return StaffLogin{}, err
	}
	transports := make([]string, len(cred.Transport))
	for i, t := range cred.Transport {
		transports[i] = string(t)
	}
	attestation := cred.AttestationType
	if attestation == "" {
		attestation = "none"
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO staff_credentials (credential_id, staff_id, public_key, sign_count, aaguid, transports,
		                               backup_eligible, backup_state, attestation_type, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		cred.ID, st.ID, cred.PublicKey, int64(cred.Authenticator.SignCount), aaguid, transports,
		cred.Flags.BackupEligible, cred.Flags.BackupState, attestation, now)
	if err != nil {
		return StaffLogin{}, err
	}
	login, err := s.createStaffSession(ctx, tx, st, now)
	if err != nil {
		return StaffLogin{}, err
	}
	err = auth.Audit(ctx, tx, auth.AuditEvent{At: now, Actor: st.Actor(), Event: "staff_enrolled",
		Detail: map[string]any{"staff": st.LoginID, "aaguid": aaguidText(aaguid), "backup_state": cred.Flags.BackupState,
			"replaced_passkeys": replaced.RowsAffected()}})
	return login, err
}

// aaguidOf is the authenticator's AAGUID as the uuid column takes it.
func aaguidOf(b []byte) ([16]byte, bool) {
	var out [16]byte
	if len(b) != len(out) {
		return out, false
	}
	copy(out[:], b)
	return out, true
}

// aaguidText writes an AAGUID in the canonical UUID form, for the audit trail.
func aaguidText(b [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// BeginStaffLogin starts a discoverable passkey login to the console, with one statement: the
// options name no credential and no staff member, so they tell nobody who has a passkey.
func (s *Service) BeginStaffLogin(ctx context.Context) (*protocol.CredentialAssertion, error) {
	assertion, wsess, err := s.staffRP.BeginDiscoverableLogin()
	if err != nil {
		return nil, err
	}
	err = storeStaffCeremony(ctx, s.pool, ceremonyLogin, assertion.Response.Challenge, nil, wsess, s.now().Add(staffCeremonyTTL))
	return assertion, err
}

// staffCredential is a staff passkey with what an assertion is verified against.
type staffCredential struct {
	CredentialID   []byte     `db:"credential_id"`
	PublicKey      []byte     `db:"public_key"`
	SignCount      int64      `db:"sign_count"`
	Transports     []string   `db:"transports"`
	BackupEligible bool       `db:"backup_eligible"`
	BackupState    bool       `db:"backup_state"`
	Attestation    string     `db:"attestation_type"`
	StaffID        int64      `db:"staff_id"`
	LoginID        string     `db:"login_id"`
	Name           string     `db:"name"`
	Role           Role       `db:"role"`
	UserHandle     []byte     `db:"user_handle"`
	DisabledAt     *time.Time `db:"disabled_at"`
}

// staffCredentialSQL finds a credential and its staff member, locking the credential for the
// counter update and the staff member against a concurrent disable.
const staffCredentialSQL = `
	SELECT c.credential_id, c.public_key, c.sign_count, c.transports, c.backup_eligible, c.backup_state,
	       c.attestation_type, s.id AS staff_id, s.login_id, s.name, s.role, s.user_handle, s.disabled_at
	FROM staff_credentials c JOIN staff s ON s.id = c.staff_id
	WHERE c.credential_id = $1
	FOR UPDATE OF c FOR SHARE OF s`

// user is the credential's staff member with the credential, as go-webauthn verifies against.
// It was enrolled with user verification, so the record says so.
func (c staffCredential) user() staffUser {
	flags := protocol.FlagUserPresent | protocol.FlagUserVerified
	if c.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if c.BackupState {
		flags |= protocol.FlagBackupState
	}
	transports := make([]protocol.AuthenticatorTransport, len(c.Transports))
	for i, t := range c.Transports {
		transports[i] = protocol.AuthenticatorTransport(t)
	}
	return staffUser{Handle: c.UserHandle, LoginID: c.LoginID, Name: c.Name, credentials: []webauthn.Credential{{
		ID:              c.CredentialID,
		PublicKey:       c.PublicKey,
		AttestationType: c.Attestation,
		Transport:       transports,
		Flags:           webauthn.NewCredentialFlags(flags),
		Authenticator:   webauthn.Authenticator{SignCount: uint32(c.SignCount)},
	}}}
}

// FinishStaffLogin verifies an assertion (its PublicKeyCredential JSON) and starts a staff
// session, in one transaction: the ceremony is consumed and, only if it was live, the
// credential looked up, verified (user verification required), its counter checked and
// updated, the session created and the login audited. Every refusal looks the same.
func (s *Service) FinishStaffLogin(ctx context.Context, body []byte) (StaffLogin, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		s.log.InfoContext(ctx, "staff login refused", "reason", "unparsable", "err", err)
		return StaffLogin{}, errStaffPasskey
	}
	id, ok := staffCeremonyIDFromClientData(parsed.Response.CollectedClientData.Challenge)
	if !ok {
		return StaffLogin{}, errStaffPasskey
	}
	var out StaffLogin
	err = pgdb.InTxKeeping(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = s.finishStaffLogin(ctx, tx, id, parsed)
		return err
	})
	return out, err
}

func (s *Service) finishStaffLogin(ctx context.Context, tx pgx.Tx, id []byte, parsed *protocol.ParsedCredentialAssertionData) (StaffLogin, error) {
	now := s.now()
	c, found, err := consumeStaffCeremony(ctx, tx, id, ceremonyLogin)
	if err != nil {
		return StaffLogin{}, err
	}
	if !found || !c.ExpiresAt.After(now) {
		s.log.InfoContext(ctx, "staff login refused", "reason", "no_live_ceremony")
		return StaffLogin{}, pgdb.Keep(errStaffPasskey)
	}
	rows, err := tx.Query(ctx, staffCredentialSQL, parsed.RawID)
	if err != nil {
		return StaffLogin{}, err
	}
	cred, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[staffCredential])
	if errors.Is(err, pgx.ErrNoRows) {
		// A customer's passkey picked on the staff page lands here too.
		s.log.InfoContext(ctx, "staff login refused", "reason", "unknown_credential")
		return StaffLogin{}, pgdb.Keep(errStaffPasskey)
	}
	if err != nil {
		return StaffLogin{}, err
	}
	st := Staff{ID: cred.StaffID, LoginID: cred.LoginID, Name: cred.Name, Role: cred.Role}
	refuse := func(reason string, cause error) (StaffLogin, error) {
		s.log.InfoContext(ctx, "staff login refused", "reason", reason, "staff", st.LoginID, "err", cause)
		err := auth.Audit(ctx, tx, auth.AuditEvent{At: now, Actor: st.Actor(), Event: "staff_login_failed",
			Detail: map[string]any{"staff": st.LoginID, "reason": reason}})
		if err != nil {
			return StaffLogin{}, err
		}
		return StaffLogin{}, pgdb.Keep(errStaffPasskey)
	}
	if cred.DisabledAt != nil {
		return refuse("disabled", nil)
	}
	user := cred.user()
	_, verified, err := s.staffRP.ValidatePasskeyLogin(func(_, userHandle []byte) (webauthn.User, error) {
		if !bytes.Equal(userHandle, user.Handle) {
			return nil, errors.New("user handle is not the credential's staff member")
		}
		return user, nil
	}, c.Session, parsed)
	if err != nil {
		return refuse("verification_failed", err)
	}
	if verified.Authenticator.CloneWarning {
		return refuse("clone_warning", nil)
	}
	_, err = tx.Exec(ctx, `UPDATE staff_credentials SET sign_count = $2, backup_state = $3, last_used_at = $4 WHERE credential_id = $1`,
		cred.CredentialID, int64(verified.Authenticator.SignCount), verified.Flags.BackupState, now)
	if err != nil {
		return StaffLogin{}, err
	}
	login, err := s.createStaffSession(ctx, tx, st, now)
	if err != nil {
		return StaffLogin{}, err
	}
	err = auth.Audit(ctx, tx, auth.AuditEvent{At: now, Actor: st.Actor(), Event: "staff_login",
		Detail: map[string]any{"staff": st.LoginID, "method": "passkey"}})
	return login, err
}

// createStaffSession stores a new staff session in tx and returns its cookie token; only the
// token's hash is stored.
func (s *Service) createStaffSession(ctx context.Context, tx pgx.Tx, st Staff, now time.Time) (StaffLogin, error) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	token := base64.RawURLEncoding.EncodeToString(b)
	expires := now.Add(staffSessionTTL)
	_, err := tx.Exec(ctx, `
		INSERT INTO staff_sessions (token_hash, staff_id, created_at, expires_at, last_seen_at)
		VALUES ($1, $2, $3, $4, $3)`, tokenHash(token), st.ID, now, expires)
	return StaffLogin{Staff: st, Token: token, ExpiresAt: expires}, err
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// staffSession is a live staff session as the routes see it.
type staffSession struct {
	Staff
	TokenHash []byte    `db:"token_hash"`
	ExpiresAt time.Time `db:"expires_at"`
}

// staffSessionSQL finds a live session — before its end, used within the idle timeout, of a
// staff member not disabled — and, when its last use is over $4 old, records this one: one
// statement on the primary key per request.
const staffSessionSQL = `
	WITH live AS (
	    SELECT ss.token_hash, ss.expires_at, s.id, s.login_id, s.name, s.role
	    FROM staff_sessions ss JOIN staff s ON s.id = ss.staff_id
	    WHERE ss.token_hash = $1 AND ss.expires_at > $2 AND ss.last_seen_at > $2::timestamptz - $3::interval
	      AND s.disabled_at IS NULL
	), touched AS (
	    UPDATE staff_sessions SET last_seen_at = $2
	    WHERE token_hash = $1 AND last_seen_at <= $2::timestamptz - $4::interval AND EXISTS (SELECT 1 FROM live)
	)
	SELECT * FROM live`

// maxTokenLen bounds a cookie value worth looking up; tokens are 43 characters.
const maxTokenLen = 128

// staffFromRequest returns the request's live staff session. A customer's session cookie is
// never read here: only the staff cookie names a staff session.
func (s *Service) staffFromRequest(ctx context.Context, r *http.Request) (staffSession, bool, error) {
	c, err := r.Cookie(s.staffCookieName())
	if err != nil || c.Value == "" || len(c.Value) > maxTokenLen {
		return staffSession{}, false, nil
	}
	rows, err := s.pool.Query(ctx, staffSessionSQL, tokenHash(c.Value), s.now(), staffSessionIdle, staffTouchAfter)
	if err != nil {
		return staffSession{}, false, err
	}
	sess, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[staffSession])
	if errors.Is(err, pgx.ErrNoRows) {
		return staffSession{}, false, nil
	}
	return sess, err == nil, err
}

// endStaffSession logs the session out and audits it.
func (s *Service) endStaffSession(ctx context.Context, sess staffSession) error {
	return pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM staff_sessions WHERE token_hash = $1`, sess.TokenHash); err != nil {
			return err
		}
		return auth.Audit(ctx, tx, auth.AuditEvent{At: s.now(), Actor: sess.Actor(), Event: "staff_logout",
			Detail: map[string]any{"staff": sess.LoginID}})
	})
}

// Purges of the staff tables (§3.4): up to $2 rows past their end, the oldest first, found
// through each table's expires_at index; the outer condition is asked again of a row changed
// meanwhile. A session ended by its idle timeout is refused at once and deleted at its end.
const (
	purgeStaffSessionsSQL = `
	DELETE FROM staff_sessions
	WHERE token_hash = ANY (ARRAY(
	    SELECT token_hash FROM staff_sessions WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2))
	  AND expires_at <= $1`
	purgeStaffCeremoniesSQL = `
	DELETE FROM staff_ceremonies
	WHERE id = ANY (ARRAY(
	    SELECT id FROM staff_ceremonies WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2))
	  AND expires_at <= $1`
	purgeStaffCodesSQL = `
	DELETE FROM staff_enrollment_codes
	WHERE code_hash = ANY (ARRAY(
	    SELECT code_hash FROM staff_enrollment_codes WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2))
	  AND expires_at <= $1`
)

// purgeWith is a Purge.Run of one of the statements above.
func purgeWith(sql string) func(context.Context, pgdb.Querier, time.Time, int) (int64, error) {
	return func(ctx context.Context, q pgdb.Querier, now time.Time, limit int) (int64, error) {
		tag, err := q.Exec(ctx, sql, now, limit)
		return tag.RowsAffected(), err
	}
}
