package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"time"

	"kagi"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"kagi/notify"
	"kagi/pgdb"
)

// Passkey is an account's one passkey as the security settings page and the operator console
// show it (§2.7): no key material.
type Passkey struct {
	AccountID      int64      `db:"account_id"`
	CredentialID   []byte     `db:"credential_id"`
	AAGUID         string     `db:"aaguid"`
	BackupEligible bool       `db:"backup_eligible"`
	BackupState    bool       `db:"backup_state"`
	CreatedAt      time.Time  `db:"created_at"`
	LastUsedAt     *time.Time `db:"last_used_at"`
}

// Provider names the password manager that keeps the passkey ("iCloud Keychain", …) when its
// AAGUID is a known one, else "".
func (p Passkey) Provider() string { return providerName(p.AAGUID) }

// Synced reports whether the passkey is backed up to the provider's cloud (the BS flag), so it
// survives the loss of the phone that made it.
func (p Passkey) Synced() bool { return p.BackupState }

// PasskeyLogin is the outcome of a successful passkey login.
type PasskeyLogin struct {
	AccountID int64
	LoginID   string
	Token     string
	ExpiresAt time.Time
}

// reauthWindow is how recently a session must have authenticated to delete the passkey (§2.9).
const reauthWindow = 10 * time.Minute

// credentialParameters are the algorithms a passkey may use (§2.5), in order of preference.
var credentialParameters = []protocol.CredentialParameter{
	{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgES256},
	{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgEdDSA},
	{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgRS256},
}

var (
	errPasskeyExists      = kagi.Errorf(kagi.Conflict, "passkey_exists", msgPasskeyExists)
	errSmartphoneRequired = kagi.Errorf(kagi.Forbidden, "smartphone_required", msgSmartphoneRequired)
	errNoPasskey          = kagi.Errorf(kagi.NotFound, "no_passkey", msgNoPasskey)
	errReauthRequired     = kagi.Errorf(kagi.Forbidden, "reauth_required", msgReauthRequired)
	errRegisterFailed     = kagi.Errorf(kagi.Invalid, "passkey_failed", msgCeremonyFailed)
	errRegisterExpired    = kagi.Errorf(kagi.Invalid, "ceremony_expired", msgCeremonyExpired)
	// errConditionalOnlyAfterRecovery refuses the post-recovery offer to any other session.
	errConditionalOnlyAfterRecovery = kagi.Errorf(kagi.Forbidden, "forbidden", msgConditionalOnlyAfterRecovery)
)

// errLoginFailed is the one answer to every failed passkey login: an attacker learns nothing
// of which check failed. credentialUnknown adds "credential_unknown":true when, on a live
// ceremony, no account has the credential at all, so the login page can tell the password
// manager to forget it (WebAuthn signalUnknownCredential) without doing so for a passkey that
// merely timed out. Without a live ceremony it is never said, so it cannot be probed.
func errLoginFailed(credentialUnknown bool) error {
	e := kagi.Errorf(kagi.Unauthorized, "passkey_failed", msgCeremonyFailed)
	if credentialUnknown {
		e.Extra = map[string]any{"credential_unknown": true}
	}
	return e
}

// registrant is the account a registration is for, with its current passkey if any.
type registrant struct {
	UserHandle   []byte  `db:"user_handle"`
	LoginID      string  `db:"login_id"`
	Name         string  `db:"name"`
	CredentialID []byte  `db:"credential_id"`
	AAGUID       *string `db:"aaguid"`
}

func (r registrant) user() PasskeyUser {
	return PasskeyUser{Handle: r.UserHandle, Name: r.LoginID, DisplayName: r.Name}
}

// registrantFor loads the account of a registration. Two registrations of one account that
// race both may see no passkey; the primary key of passkeys lets only one of them store it.
func registrantFor(ctx context.Context, q pgdb.Querier, accountID int64) (registrant, error) {
	rows, err := q.Query(ctx, `
		SELECT a.user_handle, a.login_id, a.name, p.credential_id, p.aaguid::text AS aaguid
		FROM accounts a LEFT JOIN passkeys p ON p.account_id = a.id
		WHERE a.id = $1`, accountID)
	if err != nil {
		return registrant{}, err
	}
	return pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[registrant])
}

// BeginRegistration starts creating the account's passkey (§2.1, §2.4): refused when the
// account already has one, unless the session came through a fallback window and the new
// passkey is to replace it, and refused from anything but a smartphone. It returns the
// creation options for navigator.credentials.create().
//
// With conditional set it begins the post-recovery offer (§8): a mediated registration, which
// the password manager completes without a prompt of its own right after the recovery login,
// and whose finish therefore accepts a credential made without user presence or verification
// (every login with it still requires verification). Only a recovery session may begin one.
func (s *Service) BeginRegistration(ctx context.Context, sess Session, userAgent string, conditional bool) (*protocol.CredentialCreation, error) {
	reg, err := registrantFor(ctx, s.pool, sess.AccountID)
	if err != nil {
		return nil, err
	}
	if reg.CredentialID != nil && sess.Assurance != AssurancePasswordFallback {
		return nil, errPasskeyExists
	}
	if conditional && sess.Assurance != AssurancePasswordFallback {
		return nil, errConditionalOnlyAfterRecovery
	}
	if !creationAllowed(s.platforms, userAgent) {
		return nil, errSmartphoneRequired
	}
	// No excludeCredentials: the account's only passkey is either absent or being replaced,
	// and a replacement made on the phone that holds the old passkey must not be refused.
	opts := []webauthn.RegistrationOption{webauthn.WithCredentialParameters(credentialParameters)}
	var (
		creation *protocol.CredentialCreation
		wsess    *webauthn.SessionData
	)
	if conditional {
		opts = append(opts, webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationPreferred,
		}))
		creation, wsess, err = s.webauthn.BeginMediatedRegistration(reg.user(), protocol.MediationConditional, opts...)
	} else {
		creation, wsess, err = s.webauthn.BeginRegistration(reg.user(), opts...)
	}
	if err != nil {
		return nil, err
	}
	if err := storeRegistration(ctx, s.pool, creation.Response.Challenge, sess.AccountID, wsess, s.now().Add(ceremonyTTL)); err != nil {
		return nil, err
	}
	return creation, nil
}

// FinishRegistration verifies the new credential (the attestation's PublicKeyCredential JSON)
// and stores it as the account's passkey, in one transaction: the ceremony is consumed, the
// rules of BeginRegistration are checked again, a passkey being replaced by a recovery session
// is deleted with every session of the account, the fallback window is closed (§2.8) and the
// creation audited.
func (s *Service) FinishRegistration(ctx context.Context, sess Session, userAgent string, body []byte) (Passkey, error) {
	if !creationAllowed(s.platforms, userAgent) {
		return Passkey{}, errSmartphoneRequired
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		s.log.InfoContext(ctx, "passkey registration refused", "reason", "unparsable", "err", err)
		return Passkey{}, errRegisterFailed
	}
	id, ok := CeremonyKeyFromClientData(parsed.Response.CollectedClientData.Challenge)
	if !ok {
		return Passkey{}, errRegisterFailed
	}
	var pk Passkey
	err = pgdb.InTxKeeping(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		pk, err = s.finishRegistration(ctx, tx, sess, id, parsed)
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && (pgErr.ConstraintName == "passkeys_pkey" || pgErr.ConstraintName == "passkeys_credential_id_key") {
		// Another registration of the account won the race (the primary key allows one
		// passkey), or the credential is registered already.
		return Passkey{}, errPasskeyExists
	}
	return pk, err
}

// finishRegistration is FinishRegistration's transaction.
func (s *Service) finishRegistration(ctx context.Context, tx pgx.Tx, sess Session, id []byte, parsed *protocol.ParsedCredentialCreationData) (Passkey, error) {
	now := s.now()
	c, ok, err := consumeRegistration(ctx, tx, id, sess.AccountID)
	if err != nil {
		return Passkey{}, err
	}
	if !ok {
		s.log.InfoContext(ctx, "passkey registration refused", "reason", "unknown_ceremony", "account_id", sess.AccountID)
		return Passkey{}, pgdb.Keep(errRegisterFailed)
	}
	if !c.ExpiresAt.After(now) {
		return Passkey{}, pgdb.Keep(errRegisterExpired)
	}
	if err := s.lockSession(ctx, tx, sess); err != nil {
		return Passkey{}, err
	}
	reg, err := registrantFor(ctx, tx, sess.AccountID)
	if err != nil {
		return Passkey{}, err
	}
	replacing := reg.CredentialID != nil
	if replacing && sess.Assurance != AssurancePasswordFallback {
		return Passkey{}, pgdb.Keep(errPasskeyExists)
	}
	cred, err := s.webauthn.CreateCredential(reg.user(), c.Session, parsed)
	if err != nil {
		s.log.InfoContext(ctx, "passkey registration refused", "reason", "verification_failed", "account_id", sess.AccountID, "err", err)
		return Passkey{}, pgdb.Keep(errRegisterFailed)
	}
	rec, aaguid, err := NewCredentialRecord(cred)
	if err != nil {
		return Passkey{}, pgdb.Keep(errRegisterFailed)
	}
	if replacing {
		if _, err := tx.Exec(ctx, `DELETE FROM passkeys WHERE account_id = $1`, sess.AccountID); err != nil {
			return Passkey{}, err
		}
	}
	// Every other session ends: one made with the password (perhaps someone else's) must not
	// outlive the account's move to passkeys, and whoever holds a replaced passkey (the thief
	// of a lost phone) is logged out with it.
	ended, err := s.endSessionsBut(ctx, tx, sess.AccountID, actingSession(sess))
	if err != nil {
		return Passkey{}, err
	}
	rows, err := tx.Query(ctx, `
		INSERT INTO passkeys (account_id, credential_id, public_key, sign_count, aaguid, transports,
		                      backup_eligible, backup_state, attestation_type, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		RETURNING `+passkeyColumns,
		sess.AccountID, rec.CredentialID, rec.PublicKey, rec.SignCount, aaguid, rec.Transports,
		rec.BackupEligible, rec.BackupState, rec.AttestationType, now)
	if err != nil {
		return Passkey{}, err
	}
	pk, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Passkey])
	if err != nil {
		return Passkey{}, err
	}
	if err := s.windows.CloseWindow(ctx, tx, sess.AccountID, ClosedPasskeyCreated, now); err != nil {
		return Passkey{}, err
	}
	detail := map[string]any{
		"aaguid":          pk.AAGUID,
		"provider":        pk.Provider(),
		"replaced":        replacing,
		"backup_eligible": pk.BackupEligible,
		"backup_state":    pk.BackupState,
		"assurance":       string(sess.Assurance),
	}
	detail["sessions_ended"] = ended
	if replacing {
		if reg.AAGUID != nil {
			detail["replaced_aaguid"] = *reg.AAGUID
		}
	}
	if err := Audit(ctx, tx, AuditEvent{At: now, AccountID: sess.AccountID, Actor: "customer", Event: "passkey_created", Detail: detail}); err != nil {
		return Passkey{}, err
	}
	ev := notify.Event{Kind: notify.KindPasskeyCreated, At: now, Provider: providerDisplayName(pk.Provider()),
		Recovery: sess.Assurance == AssurancePasswordFallback}
	switch {
	case sess.Assurance == AssurancePasswordFallback:
		if replacing {
			ev.Kind = notify.KindPasskeyReplaced
		}
		err = markRecovered(ctx, tx, sess.AccountID, now)
	case sess.Assurance == AssurancePassword:
		// The first passkey bound from a password session is only as strong as the password
		// and the email check that made it (§2.13): told on every channel, and held.
		ev.Kind = notify.KindPasskeyAdded
		if s.hold > 0 {
			ev.Until = now.Add(s.hold)
		}
		err = markPasskeyAdded(ctx, tx, sess.AccountID, now)
	}
	if err != nil {
		return Passkey{}, err
	}
	return pk, Notify(ctx, tx, s.outbox, sess.AccountID, ev)
}

// BeginLogin starts a passkey login (§2.5) without a statement (§10): the ceremony travels
// sealed as its own challenge (sealed.go). The options are always the discoverable ones, never
// with allowCredentials: every passkey is a resident key, so the authenticator finds it without
// being told, and options that named a credential would tell anyone which login IDs have a
// passkey. With a login ID, the sealed ceremony is bound to it, so only the passkey of that
// login ID's account can finish it; nothing of the binding goes back readable, and an unknown
// login ID or one without a passkey is bound the same way (and finishes for nobody). A login
// ID no account can have (see LoginIDLookupable) is not bound.
func (s *Service) BeginLogin(ctx context.Context, loginID string) (*protocol.CredentialAssertion, error) {
	if !LoginIDLookupable(loginID) {
		loginID = ""
	}
	challenge := s.sealer.Seal(SealedLogin{LoginID: loginID, Expires: s.now().Add(ceremonyTTL)})
	assertion, _, err := s.webauthn.BeginDiscoverableLogin(webauthn.WithChallenge(challenge))
	return assertion, err
}

// storedPasskey is a passkey with what an assertion is verified against.
type storedPasskey struct {
	AccountID int64 `db:"account_id"`
	CredentialRecord
	AAGUID     string `db:"aaguid"`
	UserHandle []byte `db:"user_handle"`
	LoginID    string `db:"login_id"`
	Name       string `db:"name"`
	Email      string `db:"email"`
	Suspended  bool   `db:"suspended"`
}

// ignoreNoRows is err, but nil for no row: an answer a batched query may find nothing for.
func ignoreNoRows(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	return err
}

// passkeyByCredentialSQL finds the passkey with the credential ID ($1) and locks it for the
// counter update.
const passkeyByCredentialSQL = `
	SELECT p.account_id, p.credential_id, p.public_key, p.sign_count, p.aaguid::text AS aaguid,
	       p.transports, p.backup_eligible, p.backup_state, p.attestation_type,
	       a.user_handle, a.login_id, a.name, a.email, a.suspended_at IS NOT NULL AS suspended
	FROM passkeys p JOIN accounts a ON a.id = p.account_id
	WHERE p.credential_id = $1
	FOR UPDATE OF p`

// FinishLogin verifies an assertion (its PublicKeyCredential JSON) and creates a passkey
// session, in one transaction (§10): the ceremony found by the challenge is consumed and, only
// if it is live, the credential looked up, the signature and flags checked by go-webauthn, the
// signature counter checked and updated (§2.6), the session created and the login audited.
// Every refusal looks the same to the client.
func (s *Service) FinishLogin(ctx context.Context, body []byte) (PasskeyLogin, error) {
	out, err := s.finishLoginRequest(ctx, body)
	return out, s.countRefusal(ctx, limitPasskeyLogin, err)
}

// finishLoginRequest is FinishLogin but for counting its refusal.
func (s *Service) finishLoginRequest(ctx context.Context, body []byte) (PasskeyLogin, error) {
	parsed, challenge, sealed, reason := s.openLoginRequest(body)
	if reason != "" {
		// Refused before any database work; an address over its limit is told so (the limit's
		// probe is part of the finish's first round trip otherwise).
		s.log.InfoContext(ctx, "passkey login refused", "reason", reason)
		if err := s.checkClient(ctx, s.pool, limitPasskeyLogin); err != nil {
			return PasskeyLogin{}, err
		}
		return PasskeyLogin{}, errLoginFailed(false)
	}
	var (
		out PasskeyLogin
		lk  *loginLookup
	)
	err := pgdb.InTxBatchKeeping(ctx, s.pool, func(b *pgx.Batch) {
		lk = s.queueLoginLookup(ctx, b, challenge, sealed, parsed)
	}, func(tx *pgdb.Tx) error {
		var err error
		out, err = s.finishLogin(ctx, tx, lk, challenge, sealed, parsed)
		return err
	})
	if lk != nil && lk.suspendedMeanwhile {
		// Whatever the error went through on its way (river's insert, the commit), the answer
		// is the suspension's.
		return PasskeyLogin{}, s.errAccountSuspended()
	}
	if err == nil {
		s.logLogin(ctx, out.AccountID, "passkey", AssurancePasskey)
	}
	return out, err
}

// openLoginRequest parses an assertion and opens its sealed challenge, or says why it cannot
// be finished: unparsable, not a challenge of this server's (altered, made up, another relying
// party's), or past its end.
func (s *Service) openLoginRequest(body []byte) (*protocol.ParsedCredentialAssertionData, []byte, SealedLogin, string) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return nil, nil, SealedLogin{}, "unparsable"
	}
	challenge, err := base64.RawURLEncoding.DecodeString(parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return nil, nil, SealedLogin{}, "unknown_ceremony"
	}
	sealed, ok := s.sealer.Open(challenge)
	if !ok {
		return nil, nil, SealedLogin{}, "unknown_ceremony"
	}
	if !sealed.Expires.After(s.now()) {
		return nil, nil, SealedLogin{}, "ceremony_expired"
	}
	return parsed, challenge, sealed, ""
}

// loginLookup is what the finish's first round trip reads (§10), with the transaction's BEGIN:
// the client address's limit, when on; the challenge used up; the credential looked up and
// locked. An address over its limit is refused and the transaction rolls back, using nothing
// up. The ceremony is used up whatever follows: without a live one that nobody used, nothing
// about the credential is told or audited, so nobody can probe credential IDs or fill an
// account's audit trail with failures by replaying an assertion.
type loginLookup struct {
	now                time.Time
	over, fresh, known bool
	resetsAt           time.Time
	pk                 storedPasskey
	// suspendedMeanwhile is a suspension committed while the finish waited for the passkey.
	suspendedMeanwhile bool
}

// queueLoginLookup queues the finish's first statements on b; their callbacks fill in the
// lookup when the batch is read.
func (s *Service) queueLoginLookup(ctx context.Context, b *pgx.Batch, challenge []byte, sealed SealedLogin, parsed *protocol.ParsedCredentialAssertionData) *loginLookup {
	lk := &loginLookup{now: s.now()}
	if lim, client, ok := s.clientLimit(ctx, limitPasskeyLogin); ok {
		b.Queue(overSQL, limitPasskeyLogin, client, lk.now, lim.Max).QueryRow(func(row pgx.Row) error {
			err := row.Scan(&lk.resetsAt)
			lk.over = err == nil
			return ignoreNoRows(err)
		})
	}
	b.Queue(consumeChallengeSQL, CeremonyKey(challenge), sealed.Expires).QueryRow(func(row pgx.Row) error {
		return ignoreNoRows(row.Scan(&lk.fresh))
	})
	b.Queue(passkeyByCredentialSQL, parsed.RawID).Query(func(rows pgx.Rows) error {
		p, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[storedPasskey])
		lk.pk, lk.known = p, err == nil
		return ignoreNoRows(err)
	})
	return lk
}

// finishLogin is FinishLogin's transaction, for a live sealed ceremony, once the lookup has
// been read: its writes go in one more round trip with the login notice's enqueue, and the
// commit in a third (§10); without the notice, or for a refusal, the writes go with the commit.
func (s *Service) finishLogin(ctx context.Context, tx *pgdb.Tx, lk *loginLookup, challenge []byte, sealed SealedLogin, parsed *protocol.ParsedCredentialAssertionData) (PasskeyLogin, error) {
	now, pk := lk.now, lk.pk
	if lk.over {
		return PasskeyLogin{}, s.limited(limitPasskeyLogin, now, lk.resetsAt)
	}
	if !lk.fresh {
		s.log.InfoContext(ctx, "passkey login refused", "reason", "ceremony_used")
		return PasskeyLogin{}, pgdb.Keep(errLoginFailed(false))
	}
	if !lk.known {
		// A staff member's passkey is the console's, not unknown: the page must not have the
		// password manager forget it.
		staff := isStaffHandle(parsed.Response.UserHandle)
		s.log.InfoContext(ctx, "passkey login refused", "reason", "unknown_credential", "staff_passkey", staff)
		return PasskeyLogin{}, pgdb.Keep(errLoginFailed(!staff))
	}
	// A refusal's audit lines go with the commit.
	refuse := func(reason string, cause error) (PasskeyLogin, error) {
		s.log.InfoContext(ctx, "passkey login refused", "reason", reason, "account_id", pk.AccountID, "err", cause)
		queueAudit(tx, AuditEvent{At: now, AccountID: pk.AccountID, Actor: "customer", Event: "login_failed",
			Detail: map[string]any{"method": "passkey", "reason": reason}})
		return PasskeyLogin{}, pgdb.Keep(errLoginFailed(false))
	}
	if sealed.LoginID != "" && sealed.LoginID != pk.LoginID {
		return refuse("credential_not_allowed", nil)
	}

	user := pk.user()
	// The ceremony as go-webauthn began it: the sealed challenge, user verification required.
	// Its end was checked against kagi's clock above.
	session := webauthn.SessionData{Challenge: base64.RawURLEncoding.EncodeToString(challenge), UserVerification: protocol.VerificationRequired}
	var (
		cred *webauthn.Credential
		err  error
	)
	if sealed.LoginID != "" {
		// Begun with the login ID: the account and its credential are fixed.
		session.UserID = user.WebAuthnID()
		session.AllowedCredentialIDs = [][]byte{pk.CredentialID}
		cred, err = s.webauthn.ValidateLogin(user, session, parsed)
	} else {
		_, cred, err = s.webauthn.ValidatePasskeyLogin(func(_, userHandle []byte) (webauthn.User, error) {
			if !bytes.Equal(userHandle, user.WebAuthnID()) {
				return nil, errors.New("user handle is not the credential's account")
			}
			return user, nil
		}, session, parsed)
	}
	if err != nil {
		return refuse("verification_failed", err)
	}
	if cred.Authenticator.CloneWarning {
		queueAudit(tx, AuditEvent{At: now, AccountID: pk.AccountID, Actor: "customer", Event: "passkey_clone_warning",
			Detail: map[string]any{
				"stored_sign_count":    pk.SignCount,
				"presented_sign_count": parsed.Response.AuthenticatorData.Counter,
				"aaguid":               pk.AAGUID,
				"provider":             providerName(pk.AAGUID),
			}})
		return refuse("clone_warning", nil)
	}
	if pk.Suspended {
		// The holder of the passkey, and only they, learn that the account is suspended (§12.2).
		s.log.InfoContext(ctx, "passkey login refused", "reason", "account_suspended", "account_id", pk.AccountID)
		err := Audit(ctx, tx, AuditEvent{At: now, AccountID: pk.AccountID, Actor: "customer", Event: "login_failed",
			Detail: map[string]any{"method": "passkey", "reason": "account_suspended"}})
		if err != nil {
			return PasskeyLogin{}, err
		}
		return PasskeyLogin{}, pgdb.Keep(s.errAccountSuspended())
	}

	// The writes in one round trip with the commit: the counter and last use, the session and
	// the audit line are queued, and go with the login notice's enqueue (river's insert), which
	// carries the COMMIT (notify's EnqueueLast), or, without a notice, with the commit. River's
	// wake-up of its workers, when it sends one, goes after the commit. A suspension that
	// committed while this login waited for the passkey's lock (the suspension takes it too)
	// shows in the counter's update, a statement that starts after the wait: it then updates
	// nothing and fails (auth_refuse_unless), and the whole login rolls back.
	tx.Queue(passkeyUsedSQL, pk.AccountID, int64(cred.Authenticator.SignCount), cred.Flags.BackupState, now).QueryRow(func(row pgx.Row) error {
		var ok bool
		err := row.Scan(&ok)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == refusedSQLState && pgErr.Message == "account_suspended" {
			lk.suspendedMeanwhile = true
			return s.errAccountSuspended()
		}
		return err
	})
	token, expires := s.queueSession(tx, pk.AccountID, AssurancePasskey, time.Time{})
	queueAudit(tx, AuditEvent{At: now, AccountID: pk.AccountID, Actor: "customer", Event: "login_succeeded",
		Detail: map[string]any{"method": "passkey", "assurance": string(AssurancePasskey), "provider": providerName(pk.AAGUID)}})
	if s.loginNotice {
		err = s.notifyEmailLast(ctx, tx, pk.AccountID, pk.Email, pk.Name, notify.Event{Kind: notify.KindLogin, At: now, Method: "passkey"})
	}
	return PasskeyLogin{AccountID: pk.AccountID, LoginID: pk.LoginID, Token: token, ExpiresAt: expires}, err
}

// passkeyUsedSQL records a passkey's use (counter, backup state, last use) and fails unless the
// account is still unsuspended: the finish's commit may go in the same round trip (§10).
const passkeyUsedSQL = `
	WITH used AS (
	    UPDATE passkeys SET sign_count = $2, backup_state = $3, last_used_at = $4
	    WHERE account_id = $1 AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = $1 AND a.suspended_at IS NOT NULL)
	    RETURNING 1)
	SELECT auth_refuse_unless(EXISTS (SELECT 1 FROM used), 'account_suspended')`

// refusedSQLState is the code of auth_refuse_unless's error (migration 013).
const refusedSQLState = "KA001"

const passkeyColumns = `account_id, credential_id, aaguid::text AS aaguid, backup_eligible, backup_state, created_at, last_used_at`

// PasskeyOf returns the account's passkey, if it has one.
func (s *Service) PasskeyOf(ctx context.Context, q pgdb.Querier, accountID int64) (Passkey, bool, error) {
	rows, err := q.Query(ctx, `SELECT `+passkeyColumns+` FROM passkeys WHERE account_id = $1`, accountID)
	if err != nil {
		return Passkey{}, false, err
	}
	p, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Passkey])
	if errors.Is(err, pgx.ErrNoRows) {
		return Passkey{}, false, nil
	}
	return p, err == nil, err
}

// DeletePasskey deletes the account's passkey in tx, ends every session of the account,
// closes its fallback window (§2.8) and audits the deletion under actor; the account is back
// to password login (§2.3). It reports false when there was no passkey. The customer's own
// deletion also needs a recent login (DeleteOwnPasskey); the operator console calls this
// directly.
func (s *Service) DeletePasskey(ctx context.Context, tx pgx.Tx, accountID int64, actor string) (Passkey, bool, error) {
	return s.deletePasskey(ctx, tx, accountID, actor, nil, true)
}

// deletePasskey is DeletePasskey keeping the session keep (its token hash), if any. recovery
// marks a deletion the customer did not make from a full session (a recovery session, an
// operator): it is also texted to the registered phones (§7).
func (s *Service) deletePasskey(ctx context.Context, tx pgx.Tx, accountID int64, actor string, keep []byte, recovery bool) (Passkey, bool, error) {
	now := s.now()
	if err := LockAccount(ctx, tx, accountID); err != nil {
		return Passkey{}, false, err
	}
	rows, err := tx.Query(ctx, `DELETE FROM passkeys WHERE account_id = $1 RETURNING `+passkeyColumns, accountID)
	if err != nil {
		return Passkey{}, false, err
	}
	pk, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Passkey])
	if errors.Is(err, pgx.ErrNoRows) {
		return Passkey{}, false, nil
	}
	if err != nil {
		return Passkey{}, false, err
	}
	ended, err := s.endSessionsBut(ctx, tx, accountID, keep)
	if err != nil {
		return Passkey{}, false, err
	}
	if err := s.windows.CloseWindow(ctx, tx, accountID, ClosedPasskeyDeleted, now); err != nil {
		return Passkey{}, false, err
	}
	err = Audit(ctx, tx, AuditEvent{At: now, AccountID: accountID, Actor: actor, Event: "passkey_deleted",
		Detail: map[string]any{"aaguid": pk.AAGUID, "provider": pk.Provider(), "sessions_ended": ended}})
	if err != nil {
		return Passkey{}, false, err
	}
	if recovery {
		if err := markRecovered(ctx, tx, accountID, now); err != nil {
			return Passkey{}, false, err
		}
	}
	err = Notify(ctx, tx, s.outbox, accountID, notify.Event{Kind: notify.KindPasskeyDeleted, At: now,
		Provider: providerDisplayName(pk.Provider()), Recovery: recovery})
	return pk, err == nil, err
}

// actingSession is the session to keep when the passkey changes under it: a full session
// stays, a recovery session does not (its window closes with the change, and it would end with
// it anyway).
func actingSession(sess Session) []byte {
	if sess.Assurance == AssurancePasswordFallback {
		return nil
	}
	return sess.TokenHash
}

// endSessionsBut ends the account's sessions except keep (a token hash, or nil for none) in
// tx, when its passkey is deleted or replaced: a session made with the old passkey, perhaps on
// a stolen phone, must not outlive it. It returns how many it ended, for the audit.
func (s *Service) endSessionsBut(ctx context.Context, tx pgx.Tx, accountID int64, keep []byte) (int64, error) {
	return endSessions(ctx, tx, s.ends, `DELETE FROM sessions WHERE account_id = $1 AND token_hash IS DISTINCT FROM $2
		RETURNING token_hash, account_id`, accountID, keep)
}

// DeleteOwnPasskey is the customer deleting their passkey from the settings page: the session
// must have authenticated within the last ten minutes (§2.9). Every other session of the
// account ends with the passkey; a full session that deletes it stays.
func (s *Service) DeleteOwnPasskey(ctx context.Context, sess Session) error {
	if s.now().Sub(sess.AuthenticatedAt) > reauthWindow {
		return errReauthRequired
	}
	return pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.lockSession(ctx, tx, sess); err != nil {
			return err
		}
		_, ok, err := s.deletePasskey(ctx, tx, sess.AccountID, "customer", actingSession(sess), sess.Assurance == AssurancePasswordFallback)
		if err == nil && !ok {
			return errNoPasskey
		}
		return err
	})
}
