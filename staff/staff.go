package staff

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"kagi/auth"
	"kagi/pgdb"
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

// Covers reports whether a staff member with role r may use a route meant for need: the roles
// nest, so a supervisor covers an operator and not the reverse.
func (r Role) Covers(need Role) bool {
	switch need {
	case RoleOperator:
		return r == RoleOperator || r == RoleSupervisor
	case RoleSupervisor:
		return r == RoleSupervisor
	}
	return false
}

// Staff is a support operator or supervisor: who the console and its audit trail name. Staff
// are not customers; their passkeys, ceremonies and sessions are in staff's own tables.
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

// actorBootstrap is who adds the very first staff members, before any supervisor has enrolled
// a passkey and so can be named as acting (§6): the command line itself.
const actorBootstrap = "cli"

var (
	// ErrExists is returned when a login ID is already a staff member's.
	ErrExists = errors.New("staff: a staff member with this login ID already exists")
	// ErrUnknown is returned when no staff member has the login ID.
	ErrUnknown = errors.New("staff: no staff member with this login ID")
	// ErrDisabled is returned when a disabled staff member is to get a new code.
	ErrDisabled = errors.New("staff: the staff member is disabled")
)

// Refusals of who is named as acting on the staff (§6 "Staff lifecycle"): only an enrolled,
// enabled supervisor may add, disable, enable, reissue a code or change a role, and nothing
// changes when the one named may not.
var (
	// ErrByRequired is returned when nobody is named as acting; only the staff added before any
	// supervisor has enrolled (the bootstrap) may be added so.
	ErrByRequired = errors.New("staff: an enrolled supervisor must be named as acting")
	// ErrByUnknown is returned when no staff member has the acting login ID.
	ErrByUnknown = errors.New("staff: no staff member has the acting login ID")
	// ErrByNotSupervisor is returned when the one acting is an operator.
	ErrByNotSupervisor = errors.New("staff: the one acting is not a supervisor")
	// ErrByDisabled is returned when the one acting is disabled.
	ErrByDisabled = errors.New("staff: the one acting is disabled")
	// ErrByNotEnrolled is returned when the one acting has no passkey yet: they have never
	// proved to be who the login ID names.
	ErrByNotEnrolled = errors.New("staff: the one acting has not enrolled a passkey")
	// ErrSelf is returned when a supervisor would disable or demote themselves: another
	// supervisor must, so there is always an enabled supervisor left who can undo it.
	ErrSelf = errors.New("staff: a supervisor cannot disable or demote themselves")
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
// that by may act: an enrolled, enabled supervisor. It returns ErrUnknown for an unknown
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
		return target, actor, ErrUnknown
	}
	return target, actor, nil
}

// refusal reports whether err is one of the refusals a change of the staff returns as they
// are, not wrapped as a failure.
func refusal(err error) bool {
	for _, r := range []error{ErrExists, ErrUnknown, ErrDisabled, ErrByRequired, ErrByUnknown,
		ErrByNotSupervisor, ErrByDisabled, ErrByNotEnrolled, ErrSelf} {
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
	if strings.TrimSpace(n.Name) == "" || utf8.RuneCountInString(n.Name) > maxStaffName || !auth.OneLine(n.Name) {
		errs = append(errs, fmt.Errorf("name is required, at most %d characters, none of them a control character", maxStaffName))
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

// Add adds a staff member and issues their enrollment code (§6), audited under the
// supervisor by (a login ID). Until a supervisor has enrolled a passkey nobody can be named, so
// then by may be "" (the bootstrap, audited under the command line); after, it may not.
func (s *Service) Add(ctx context.Context, n NewStaff, by, reason string) (Enrollment, error) {
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
			return ErrExists
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
		return auth.Audit(ctx, tx, auth.AuditEvent{At: now, Actor: actor, Event: "staff_added", Detail: withReason(detail, reason)})
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "staff_login_id_key" {
		return Enrollment{}, ErrExists
	}
	if refusal(err) {
		return Enrollment{}, err
	}
	if err != nil {
		return Enrollment{}, fmt.Errorf("staff: add staff: %w", err)
	}
	return out, nil
}

// ReissueCode gives a staff member a new one-time enrollment code, for a lost or changed
// device: their earlier unused codes and unfinished enrollments stop working, and enrolling with
// the new code replaces their passkey (finishEnrollment), so the lost device's passkey and
// sessions end then. A disabled member gets none. Audited under the supervisor by, who may be
// the member themselves (a supervisor's own new device).
func (s *Service) ReissueCode(ctx context.Context, loginID, by, reason string) (Enrollment, error) {
	now := s.now()
	code := rand.Text()
	out := Enrollment{Code: code, ExpiresAt: now.Add(enrollmentCodeTTL)}
	err := pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		target, actor, err := lockStaff(ctx, tx, loginID, by)
		if err != nil {
			return err
		}
		if target.DisabledAt != nil {
			return ErrDisabled
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
			Detail: withReason(map[string]any{"staff": out.Staff.LoginID, "code_expires_at": out.ExpiresAt}, reason)})
	})
	if err != nil && !refusal(err) {
		err = fmt.Errorf("staff: reissue staff code: %w", err)
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

// withReason adds the reason the one acting gave to an audit line's detail, when they gave one:
// the console asks every change for one (§6), the command line takes --reason.
func withReason(detail map[string]any, reason string) map[string]any {
	if r := strings.TrimSpace(reason); r != "" {
		detail["reason"] = r
	}
	return detail
}

// codeHash is how an enrollment code is stored and looked up: as a session token is
// (auth.TokenHash). A code carries 130 random bits, so no key is needed to make the hash
// useless to whoever reads the table.
func codeHash(code string) []byte { return auth.TokenHash(code) }

// DisableResult is what Disable did.
type DisableResult struct {
	Staff Staff
	// AlreadyDisabled is set when the staff member was disabled before; nothing changed.
	AlreadyDisabled bool
	// SessionsEnded counts the staff member's sessions that ended with it.
	SessionsEnded int64
}

// Disable stops a staff member from using the console at once: in one transaction they
// are marked disabled and their sessions, unused codes and unfinished enrollments are deleted,
// and it is audited under the supervisor by, who may not be the member. A login or enrollment
// racing it holds the staff row (FOR SHARE) until it commits, so its new session is deleted
// here, or it finds the member disabled. The member's passkey is kept: Enable lets it
// log in again, as the same identity.
func (s *Service) Disable(ctx context.Context, loginID, by, reason string) (DisableResult, error) {
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
			return ErrSelf
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
			Detail: withReason(map[string]any{"staff": res.Staff.LoginID, "sessions_ended": res.SessionsEnded}, reason)})
	})
	if err != nil && !refusal(err) {
		err = fmt.Errorf("staff: disable staff: %w", err)
	}
	return res, err
}

// EnableResult is what Enable did.
type EnableResult struct {
	Staff Staff
	// AlreadyEnabled is set when the staff member was not disabled; nothing changed.
	AlreadyEnabled bool
	// Enrolled is set when the member has a passkey, which logs in again; without one they
	// need a new code (ReissueCode), since disabling deleted theirs.
	Enrolled bool
}

// Enable lets a disabled staff member use the console again as the same identity (§6): the
// same staff row, login ID and passkey, so the trail names one person before and after. Audited
// under the supervisor by.
func (s *Service) Enable(ctx context.Context, loginID, by, reason string) (EnableResult, error) {
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
			Detail: withReason(map[string]any{"staff": target.LoginID, "disabled_at": *target.DisabledAt, "enrolled": target.Enrolled}, reason)})
	})
	if err != nil && !refusal(err) {
		err = fmt.Errorf("staff: enable staff: %w", err)
	}
	return res, err
}

// RoleResult is what SetRole did.
type RoleResult struct {
	Staff Staff
	// From is the role before; Staff.Role the role now.
	From Role
}

// Changed reports whether the role changed; asking for the role a member has changes nothing.
func (r RoleResult) Changed() bool { return r.From != r.Staff.Role }

// SetRole makes a staff member an operator or a supervisor, audited under the supervisor
// by with both roles. A supervisor cannot demote themselves: another supervisor must, so the
// one acting always remains a supervisor who can act.
func (s *Service) SetRole(ctx context.Context, loginID string, role Role, by, reason string) (RoleResult, error) {
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
			return ErrSelf
		}
		if _, err := tx.Exec(ctx, `UPDATE staff SET role = $2 WHERE id = $1`, target.ID, role); err != nil {
			return err
		}
		res.Staff.Role = role
		return auth.Audit(ctx, tx, auth.AuditEvent{At: s.now(), Actor: actor.Actor(), Event: "staff_role_changed",
			Detail: withReason(map[string]any{"staff": target.LoginID, "from": string(target.Role), "to": string(role)}, reason)})
	})
	if err != nil && !refusal(err) {
		err = fmt.Errorf("staff: change staff role: %w", err)
	}
	return res, err
}

// enrolleeSQL finds the live code's staff member: not past the code's end, not disabled.
const enrolleeSQL = `
	SELECT s.id, s.user_handle, s.login_id, s.name
	FROM staff_enrollment_codes c JOIN staff s ON s.id = c.staff_id
	WHERE c.code_hash = $1 AND c.expires_at > $2 AND s.disabled_at IS NULL`

// BeginEnrollment checks the enrollment code and returns the creation options of the
// staff member's passkey (the ceremony policy of the customers' passkeys, without their
// smartphone rule: staff work at desktops). The code stays valid until an enrollment finishes.
func (s *Service) BeginEnrollment(ctx context.Context, code string) (*protocol.CredentialCreation, error) {
	code, ok := normalizeCode(code)
	if !ok {
		return nil, errInvalidCode
	}
	var (
		staffID int64
		user    auth.PasskeyUser
	)
	err := s.pool.QueryRow(ctx, enrolleeSQL, codeHash(code), s.now()).Scan(&staffID, &user.Handle, &user.Name, &user.DisplayName)
	if errors.Is(err, pgx.ErrNoRows) {
		s.log.InfoContext(ctx, "staff enrollment refused", "reason", "invalid_code")
		return nil, errInvalidCode
	}
	if err != nil {
		return nil, err
	}
	opts := []webauthn.RegistrationOption{webauthn.WithCredentialParameters(auth.CredentialParameters())}
	if s.allowed != nil {
		// The model is proved by its attestation, which the authenticator gives only when asked.
		opts = append(opts, webauthn.WithConveyancePreference(protocol.PreferDirectAttestation))
	}
	creation, wsess, err := s.rp.BeginRegistration(user, opts...)
	if err != nil {
		return nil, err
	}
	err = storeEnrollment(ctx, s.pool, creation.Response.Challenge, staffID, wsess, s.now().Add(staffCeremonyTTL))
	return creation, err
}

// storeEnrollment keeps an enrollment ceremony of the staff member under the key the
// customers' are kept under (auth.CeremonyKey): the finish carries the challenge in its signed
// client data, so no cookie ties begin and finish together and any replica finishes what
// another began. A login's ceremony is not stored: it is sealed into its challenge.
func storeEnrollment(ctx context.Context, q pgdb.Querier, challenge []byte, staffID int64, sess *webauthn.SessionData, expires time.Time) error {
	data, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `INSERT INTO staff_ceremonies (id, kind, staff_id, session, expires_at) VALUES ($1, 'enroll', $2, $3::text::jsonb, $4)`,
		auth.CeremonyKey(challenge), staffID, string(data), expires)
	return err
}

// staffCeremony is a stored enrollment ceremony, taken out of the table by its finish.
type staffCeremony struct {
	StaffID   int64
	Session   webauthn.SessionData
	ExpiresAt time.Time
}

// consumeEnrollment takes an enrollment ceremony out of the table: each is finished once,
// whatever the outcome. One past its end is returned too (and consumed); the caller refuses it.
func consumeEnrollment(ctx context.Context, tx pgx.Tx, id []byte) (staffCeremony, bool, error) {
	var (
		c    staffCeremony
		data []byte
	)
	err := tx.QueryRow(ctx, `DELETE FROM staff_ceremonies WHERE id = $1 AND kind = 'enroll' RETURNING staff_id, session, expires_at`, id).
		Scan(&c.StaffID, &data, &c.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return staffCeremony{}, false, nil
	}
	if err != nil {
		return staffCeremony{}, false, err
	}
	return c, true, json.Unmarshal(data, &c.Session)
}

// Login is a staff session just made, by an enrollment or a login.
type Login struct {
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

// FinishEnrollment verifies the new credential (the attestation's PublicKeyCredential JSON)
// made for the code's staff member, and in one transaction stores it, uses the code up (a
// credential that fails verification leaves the code for another try), starts a staff session
// and audits the enrollment.
func (s *Service) FinishEnrollment(ctx context.Context, code string, credential []byte) (Login, error) {
	code, ok := normalizeCode(code)
	if !ok {
		return Login{}, errInvalidCode
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		s.log.InfoContext(ctx, "staff enrollment refused", "reason", "unparsable", "err", err)
		return Login{}, errStaffEnrollFailed
	}
	id, ok := auth.CeremonyKeyFromClientData(parsed.Response.CollectedClientData.Challenge)
	if !ok {
		return Login{}, errStaffEnrollFailed
	}
	var out Login
	err = pgdb.InTxKeeping(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = s.finishEnrollment(ctx, tx, codeHash(code), id, parsed)
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "staff_credentials_pkey" {
		return Login{}, errStaffEnrollFailed
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

func (s *Service) finishEnrollment(ctx context.Context, tx pgx.Tx, hash, id []byte, parsed *protocol.ParsedCredentialCreationData) (Login, error) {
	now := s.now()
	if _, err := tx.Exec(ctx, enrollmentStaffSQL, id); err != nil {
		return Login{}, err
	}
	c, found, err := consumeEnrollment(ctx, tx, id)
	if err != nil {
		return Login{}, err
	}
	if !found || !c.ExpiresAt.After(now) {
		s.log.InfoContext(ctx, "staff enrollment refused", "reason", "no_live_ceremony")
		return Login{}, pgdb.Keep(errStaffEnrollFailed)
	}
	var (
		st   Staff
		user auth.PasskeyUser
	)
	err = tx.QueryRow(ctx, liveCodeSQL, hash, c.StaffID, now).Scan(&st.ID, &st.LoginID, &st.Name, &st.Role, &user.Handle)
	if errors.Is(err, pgx.ErrNoRows) {
		s.log.InfoContext(ctx, "staff enrollment refused", "reason", "invalid_code", "staff_id", c.StaffID)
		return Login{}, pgdb.Keep(errInvalidCode)
	}
	if err != nil {
		return Login{}, err
	}
	user.Name, user.DisplayName = st.LoginID, st.Name
	rp := s.rp
	if s.allowed != nil {
		rp = s.allowed.rp
	}
	cred, err := rp.CreateCredential(user, c.Session, parsed)
	if err != nil && s.allowed != nil && notAllowed(err) {
		return Login{}, s.refuseAuthenticator(ctx, tx, st, now, parsed, s.allowed.refusal(parsed.Response.AttestationObject.AuthData.AttData.AAGUID), err)
	}
	if err != nil {
		s.log.InfoContext(ctx, "staff enrollment refused", "reason", "verification_failed", "staff", st.LoginID, "err", err)
		return Login{}, pgdb.Keep(errStaffEnrollFailed)
	}
	if s.allowed != nil {
		if reason := s.allowed.check(cred); reason != "" {
			return Login{}, s.refuseAuthenticator(ctx, tx, st, now, parsed, reason, nil)
		}
	}
	// Backup eligibility, not backup state: a passkey its provider may sync later is refused
	// as one already synced.
	if cred.Flags.BackupEligible {
		s.log.InfoContext(ctx, "staff enrollment refused", "reason", "backup_eligible", "staff", st.LoginID)
		return Login{}, pgdb.Keep(errDeviceBoundRequired)
	}
	rec, aaguid, err := auth.NewCredentialRecord(cred)
	if err != nil {
		return Login{}, pgdb.Keep(errStaffEnrollFailed)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM staff_enrollment_codes WHERE code_hash = $1`, hash); err != nil {
		return Login{}, err
	}
	// One passkey per staff member: a new enrollment (after a lost or changed device) replaces
	// the earlier passkey, and the sessions it made end with it.
	replaced, err := tx.Exec(ctx, `DELETE FROM staff_credentials WHERE staff_id = $1`, st.ID)
	if err != nil {
		return Login{}, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM staff_sessions WHERE staff_id = $1`, st.ID); err != nil {
		return Login{}, err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO staff_credentials (credential_id, staff_id, public_key, sign_count, aaguid, transports,
		                               backup_eligible, backup_state, attestation_type, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		rec.CredentialID, st.ID, rec.PublicKey, rec.SignCount, aaguid, rec.Transports,
		rec.BackupEligible, rec.BackupState, rec.AttestationType, now)
	if err != nil {
		return Login{}, err
	}
	login, err := s.createStaffSession(ctx, tx, st, now)
	if err != nil {
		return Login{}, err
	}
	err = auth.Audit(ctx, tx, auth.AuditEvent{At: now, Actor: st.Actor(), Event: "staff_enrolled",
		Detail: map[string]any{"staff": st.LoginID, "aaguid": aaguid, "backup_state": cred.Flags.BackupState,
			"replaced_passkeys": replaced.RowsAffected()}})
	return login, err
}

// refuseAuthenticator refuses an enrollment with a key that is not proved to be one of the
// allowed models, 400 authenticator_not_allowed, and audits it with why: the AAGUID the key
// claims and the attestation's format, never the credential or the code. The ceremony stays
// consumed; the code stays usable for the company's key.
func (s *Service) refuseAuthenticator(ctx context.Context, tx pgx.Tx, st Staff, now time.Time, parsed *protocol.ParsedCredentialCreationData, reason string, cause error) error {
	att := parsed.Response.AttestationObject
	aaguid := ""
	if id, err := uuid.FromBytes(att.AuthData.AttData.AAGUID); err == nil {
		aaguid = id.String()
	}
	s.log.InfoContext(ctx, "staff enrollment refused", "reason", "authenticator_not_allowed", "why", reason,
		"staff", st.LoginID, "aaguid", aaguid, "attestation_format", att.Format, "err", cause)
	err := auth.Audit(ctx, tx, auth.AuditEvent{At: now, Actor: st.Actor(), Event: "staff_enroll_refused",
		Detail: map[string]any{"staff": st.LoginID, "reason": "authenticator_not_allowed", "why": reason,
			"aaguid": aaguid, "attestation_format": att.Format}})
	if err != nil {
		return err
	}
	return pgdb.Keep(errAuthenticatorNotAllowed)
}

// BeginLogin starts a discoverable passkey login to the console, with one statement: the
// options name no credential and no staff member, so they tell nobody who has a passkey.
func (s *Service) BeginLogin(ctx context.Context) (*protocol.CredentialAssertion, error) {
	challenge := s.sealer.Seal(auth.SealedLogin{Expires: s.now().Add(staffCeremonyTTL)})
	assertion, _, err := s.rp.BeginDiscoverableLogin(webauthn.WithChallenge(challenge))
	return assertion, err
}

// staffCredential is a staff passkey with what an assertion is verified against.
type staffCredential struct {
	auth.CredentialRecord
	AAGUID     string     `db:"aaguid"`
	StaffID    int64      `db:"staff_id"`
	LoginID    string     `db:"login_id"`
	Name       string     `db:"name"`
	Role       Role       `db:"role"`
	UserHandle []byte     `db:"user_handle"`
	DisabledAt *time.Time `db:"disabled_at"`
}

// staffCredentialSQL finds a credential and its staff member, locking the credential for the
// counter update and the staff member against a concurrent disable.
const staffCredentialSQL = `
	SELECT c.credential_id, c.public_key, c.sign_count, c.transports, c.backup_eligible, c.backup_state,
	       c.attestation_type, c.aaguid::text AS aaguid, s.id AS staff_id, s.login_id, s.name, s.role, s.user_handle, s.disabled_at
	FROM staff_credentials c JOIN staff s ON s.id = c.staff_id
	WHERE c.credential_id = $1
	FOR UPDATE OF c FOR SHARE OF s`

// user is the credential's staff member with the credential, as go-webauthn verifies against.
func (c staffCredential) user() auth.PasskeyUser {
	return auth.PasskeyUser{Handle: c.UserHandle, Name: c.LoginID, DisplayName: c.Name,
		Credentials: []webauthn.Credential{c.Credential()}}
}

// FinishLogin verifies an assertion (its PublicKeyCredential JSON) and starts a staff
// session, in one transaction: the ceremony is consumed and, only if it was live, the
// credential looked up, verified (user verification required), its counter checked and
// updated, the session created and the login audited. Every refusal looks the same.
func (s *Service) FinishLogin(ctx context.Context, body []byte) (Login, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		s.log.InfoContext(ctx, "staff login refused", "reason", "unparsable", "err", err)
		return Login{}, errStaffPasskey
	}
	challenge, err := base64.RawURLEncoding.DecodeString(parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return Login{}, errStaffPasskey
	}
	// The ceremony travels sealed in its challenge, as the customers' do (auth.ChallengeSealer).
	sealed, ok := s.sealer.Open(challenge)
	if !ok || !sealed.Expires.After(s.now()) {
		s.log.InfoContext(ctx, "staff login refused", "reason", "no_live_ceremony")
		return Login{}, errStaffPasskey
	}
	var out Login
	err = pgdb.InTxKeeping(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = s.finishLogin(ctx, tx, challenge, sealed, parsed)
		return err
	})
	return out, err
}

func (s *Service) finishLogin(ctx context.Context, tx pgx.Tx, challenge []byte, sealed auth.SealedLogin, parsed *protocol.ParsedCredentialAssertionData) (Login, error) {
	now := s.now()
	fresh, err := auth.ConsumeChallenge(ctx, tx, challenge, sealed.Expires)
	if err != nil {
		return Login{}, err
	}
	if !fresh {
		s.log.InfoContext(ctx, "staff login refused", "reason", "ceremony_used")
		return Login{}, pgdb.Keep(errStaffPasskey)
	}
	session := webauthn.SessionData{Challenge: base64.RawURLEncoding.EncodeToString(challenge), UserVerification: protocol.VerificationRequired}
	rows, err := tx.Query(ctx, staffCredentialSQL, parsed.RawID)
	if err != nil {
		return Login{}, err
	}
	cred, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[staffCredential])
	if errors.Is(err, pgx.ErrNoRows) {
		// A customer's passkey picked on the staff page lands here too.
		s.log.InfoContext(ctx, "staff login refused", "reason", "unknown_credential")
		return Login{}, pgdb.Keep(errStaffPasskey)
	}
	if err != nil {
		return Login{}, err
	}
	st := Staff{ID: cred.StaffID, LoginID: cred.LoginID, Name: cred.Name, Role: cred.Role}
	refuse := func(reason string, cause error) (Login, error) {
		s.log.InfoContext(ctx, "staff login refused", "reason", reason, "staff", st.LoginID, "err", cause)
		err := auth.Audit(ctx, tx, auth.AuditEvent{At: now, Actor: st.Actor(), Event: "staff_login_failed",
			Detail: map[string]any{"staff": st.LoginID, "reason": reason}})
		if err != nil {
			return Login{}, err
		}
		return Login{}, pgdb.Keep(errStaffPasskey)
	}
	if cred.DisabledAt != nil {
		return refuse("disabled", nil)
	}
	user := cred.user()
	// s.rp has no metadata provider, even with the allow-list: go-webauthn would otherwise
	// check the model again at every login from the credential's attestation format, which
	// kagi does not keep. Nothing is lost: the model was proved at enrollment, by its
	// attestation chained to the model's roots, and the key is device-bound, so the private
	// key that signs here is still in that authenticator; the signature proves it. What the
	// enrollment proved is kept (the AAGUID and the attestation type), and a passkey enrolled
	// before the allow-list, or of a model since taken off it, is refused below.
	_, verified, err := s.rp.ValidatePasskeyLogin(func(_, userHandle []byte) (webauthn.User, error) {
		if !bytes.Equal(userHandle, user.Handle) {
			return nil, errors.New("user handle is not the credential's staff member")
		}
		return user, nil
	}, session, parsed)
	if err != nil {
		return refuse("verification_failed", err)
	}
	if s.allowed != nil {
		if why := s.allowed.checkStored(cred.AAGUID, cred.AttestationType); why != "" {
			// Told only to the key's holder, whose signature was good: enroll the company's key.
			s.log.InfoContext(ctx, "staff login refused", "reason", "authenticator_not_allowed", "why", why,
				"staff", st.LoginID, "aaguid", cred.AAGUID, "attestation_type", cred.AttestationType)
			err := auth.Audit(ctx, tx, auth.AuditEvent{At: now, Actor: st.Actor(), Event: "staff_login_failed",
				Detail: map[string]any{"staff": st.LoginID, "reason": "authenticator_not_allowed", "why": why, "aaguid": cred.AAGUID}})
			if err != nil {
				return Login{}, err
			}
			return Login{}, pgdb.Keep(errLoginAuthenticatorNotAllowed)
		}
	}
	if verified.Authenticator.CloneWarning {
		// The signature is good but the counter went back: two copies of the key are in use.
		// A retry cannot help; the page says what to do instead (§6).
		s.log.InfoContext(ctx, "staff login refused", "reason", "clone_warning", "staff", st.LoginID)
		err := auth.Audit(ctx, tx, auth.AuditEvent{At: now, Actor: st.Actor(), Event: "staff_login_failed",
			Detail: map[string]any{"staff": st.LoginID, "reason": "clone_warning"}})
		if err != nil {
			return Login{}, err
		}
		return Login{}, pgdb.Keep(errPasskeyCloned)
	}
	_, err = tx.Exec(ctx, `UPDATE staff_credentials SET sign_count = $2, backup_state = $3, last_used_at = $4 WHERE credential_id = $1`,
		cred.CredentialID, int64(verified.Authenticator.SignCount), verified.Flags.BackupState, now)
	if err != nil {
		return Login{}, err
	}
	login, err := s.createStaffSession(ctx, tx, st, now)
	if err != nil {
		return Login{}, err
	}
	err = auth.Audit(ctx, tx, auth.AuditEvent{At: now, Actor: st.Actor(), Event: "staff_login",
		Detail: map[string]any{"staff": st.LoginID, "method": "passkey"}})
	return login, err
}

// createStaffSession stores a new staff session in tx and returns its cookie token; only the
// token's hash is stored, as the customers' (auth.NewSessionToken).
func (s *Service) createStaffSession(ctx context.Context, tx pgx.Tx, st Staff, now time.Time) (Login, error) {
	token, hash := auth.NewSessionToken()
	expires := now.Add(staffSessionTTL)
	_, err := tx.Exec(ctx, `
		INSERT INTO staff_sessions (token_hash, staff_id, created_at, expires_at, last_seen_at)
		VALUES ($1, $2, $3, $4, $3)`, hash, st.ID, now, expires)
	return Login{Staff: st, Token: token, ExpiresAt: expires}, err
}

// Session is a live staff session, as the console's routes see it.
type Session struct {
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

// SessionOf returns the live staff session of a staff cookie's token. Only the staff cookie
// names a staff session: a customer's token is never in this table.
func (s *Service) SessionOf(ctx context.Context, token string) (Session, bool, error) {
	if token == "" || len(token) > maxTokenLen {
		return Session{}, false, nil
	}
	rows, err := s.pool.Query(ctx, staffSessionSQL, auth.TokenHash(token), s.now(), staffSessionIdle, staffTouchAfter)
	if err != nil {
		return Session{}, false, err
	}
	sess, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Session])
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, false, nil
	}
	return sess, err == nil, err
}

// EndSession logs the session out and audits it.
func (s *Service) EndSession(ctx context.Context, sess Session) error {
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

// Member is a staff member as a supervisor manages them (§6 "Staff lifecycle"): who they are,
// whether they may log in and whether they have a passkey yet. No secret: no code, no key.
type Member struct {
	Staff
	CreatedAt  time.Time  `db:"created_at"`
	DisabledAt *time.Time `db:"disabled_at"`
	Enrolled   bool       `db:"enrolled"`
}

// membersSQL lists every staff member, the disabled too (they keep their identity and may be
// enabled again), by login ID: one read-only statement.
const membersSQL = `
	SELECT s.id, s.login_id, s.name, s.role, s.created_at, s.disabled_at,
	       EXISTS (SELECT 1 FROM staff_credentials c WHERE c.staff_id = s.id) AS enrolled
	FROM staff s
	ORDER BY s.login_id`

// Members lists the staff for a supervisor's console. The staff are a desk's worth of people,
// so the list is not paged. It changes nothing and audits nothing: the console audits its read.
func (s *Service) Members(ctx context.Context) ([]Member, error) {
	rows, err := s.pool.Query(ctx, membersSQL)
	if err != nil {
		return nil, fmt.Errorf("staff: list staff: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Member])
	if err != nil {
		return nil, fmt.Errorf("staff: list staff: %w", err)
	}
	return out, nil
}
