package recovery

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"kagi/auth"
	"kagi/notify"
	"kagi/pgdb"
)

// VoiceOutcome is the result of a voice-line verification (§4.3.5, §4.4).
type VoiceOutcome int

const (
	// VoiceVerified: the caller is the customer and the fallback window is open.
	VoiceVerified VoiceOutcome = iota + 1
	// VoiceNoPasskey: the caller is the customer, but the account has no passkey, so its login
	// ID and password already work; no window was opened.
	VoiceNoPasskey
	// VoiceFailed: some check failed; which one is never told.
	VoiceFailed
	// VoiceAccountLocked: the account is locked out of the voice line (possibly by this failure).
	VoiceAccountLocked
	// VoiceCallerLocked: the caller's number is locked out of the voice line.
	VoiceCallerLocked
	// VoiceCodeSent: the keyed checks passed and the second channel (§4.8) is under way: a code
	// (VoiceResult.Code) is to be texted to VoiceResult.Phone, and the window opens only once
	// VerifyCode gets it back on the same call.
	VoiceCodeSent
	// VoiceCallbackNeeded: the keyed checks passed and the registered phone (VoiceResult.Phone)
	// is to be called back (VoiceResult.CallbackID); the window opens only once its answerer
	// presses 1 (ConfirmCallback).
	VoiceCallbackNeeded
	// VoiceSendCapped: the keyed checks passed, but the registered phone was already texted or
	// called back as often as the caps allow (§4.8, SendLimits), for the account or from the
	// calling number. Nothing is to be sent; VoiceResult.Factor says which channel it would
	// have been. Nothing is counted against the lockouts either: the keyed checks passed.
	VoiceSendCapped
	// VoiceCodeWrong: the code keyed in is not the one texted for the call. It is a failed
	// verification (§4.4), but the code texted stays valid until it runs out, so the caller may
	// key it in again without the registered phone being texted anew.
	VoiceCodeWrong
	// VoiceSuspended: the caller passed the keyed checks (caller ID and PIN), but the brokerage
	// has suspended the account (§12.2): nothing opens, and the caller is sent to the support
	// desk. Only a caller who passed the checks hears it, so it tells a stranger nothing about
	// which account numbers exist.
	VoiceSuspended
)

// SecondFactor is how the registered phone confirms a caller whose keyed checks passed
// (§4.8, KAGI_IVR_SECOND_FACTOR).
type SecondFactor string

const (
	// SecondFactorNone opens the window on the keyed checks alone; caller ID can be forged.
	SecondFactorNone SecondFactor = "none"
	// SecondFactorSMS texts a code to the registered number the call came from, to be keyed
	// in on the same call.
	SecondFactorSMS SecondFactor = "sms"
	// SecondFactorCallback hangs up and calls the registered number back; whoever answers
	// presses 1 to confirm.
	SecondFactorCallback SecondFactor = "callback"
	// SecondFactorAuto texts Japanese mobile numbers (+8170, +8180, +8190) and calls any other
	// back: a customer who lost the phone may call from a landline, which cannot read a text.
	SecondFactorAuto SecondFactor = "auto"
)

// factorFor is the second channel for a call from phone.
func (f SecondFactor) factorFor(phone string) SecondFactor {
	if f != SecondFactorAuto {
		return f
	}
	for _, mobile := range []string{"+8170", "+8180", "+8190"} {
		if strings.HasPrefix(phone, mobile) {
			return SecondFactorSMS
		}
	}
	return SecondFactorCallback
}

// Texted codes (§4.8): six digits, valid ten minutes, single use.
const (
	codeDigits = 6
	codeTTL    = 10 * time.Minute
)

// VoiceAttempt is what the caller keyed in, with the call's identity. PIN is compared and
// forgotten: never stored, logged or audited.
type VoiceAttempt struct {
	AccountNumber string
	Caller        string // E.164, as Twilio reported it
	PIN           string
	CallSid       string
}

// VoiceResult is the outcome and, when verified, the window.
type VoiceResult struct {
	Outcome VoiceOutcome
	// AccountID is the account the attempt was about (the number keyed in, or the code's),
	// whether it passed or failed; 0 when no account has the number. The voice line links the
	// call to it, for the operator console.
	AccountID int64
	Window    auth.Window
	// Code is the code to text to Phone, with VoiceCodeSent: once the transaction commits,
	// and never logged. It is stored only as a keyed hash.
	Code          string
	CodeExpiresAt time.Time
	// Phone is the registered number the second channel goes to.
	Phone string
	// CallbackID names the call back to place, with VoiceCallbackNeeded, once the transaction
	// commits: its webhook URLs carry it.
	CallbackID string
	// Factor is the channel that was not used, with VoiceSendCapped: SecondFactorSMS or
	// SecondFactorCallback.
	Factor SecondFactor
	// PauseLifted is set, with VoiceVerified or VoiceNoPasskey, when the verification ended a
	// pause of the account's password login (§2.12): the caller is told.
	PauseLifted bool
	// CallbackOf and CallbackOutcome are set by ConfirmCallback: the call that asked for the
	// call back, and how the call back ended there (confirmed, declined, no-key, locked).
	CallbackOf, CallbackOutcome string
}

// verified is the outcome of a verification that passed (VoiceVerified with window w, or
// VoiceNoPasskey): it also ends a pause of the account's password login (§2.12), audited
// under the call and told to the customer by mail and SMS, and the caller hears it.
func (v *VoiceVerifier) verified(ctx context.Context, tx pgx.Tx, outcome VoiceOutcome, accountID int64, w auth.Window, callSid string) (VoiceResult, error) {
	now := v.windows.now()
	lifted, err := auth.LiftPasswordPause(ctx, tx, accountID, "ivr:"+callSid, now)
	if err != nil {
		return VoiceResult{}, err
	}
	if lifted {
		err := auth.Notify(ctx, tx, v.windows.outbox, accountID, notify.Event{Kind: notify.KindPasswordPauseLifted, At: now, Channel: notify.ChannelIVR})
		if err != nil {
			return VoiceResult{}, err
		}
	}
	return VoiceResult{Outcome: outcome, Window: w, PauseLifted: lifted}, nil
}

// VoiceCodeAttempt is a code keyed in on the call it was texted for. Code is compared and
// forgotten: never stored, logged or audited.
type VoiceCodeAttempt struct {
	CallSid string
	Caller  string
	Code    string
}

// VoiceVerifier checks a caller against the account (through the auth core) under the
// lockouts of §4.4 and opens the window on success, all in the voice line's transaction.
type VoiceVerifier struct {
	auth    *auth.Service
	windows *Service
	policy  LockoutPolicy
}

// NewVoiceVerifier builds the verifier with the lockout policy of windows' Config.
func NewVoiceVerifier(a *auth.Service, windows *Service) *VoiceVerifier {
	return &VoiceVerifier{auth: a, windows: windows, policy: windows.lockout}
}

// SecondFactor is how the verifier has the registered phone confirm a caller (§4.8).
func (v *VoiceVerifier) SecondFactor() SecondFactor { return v.windows.secondFactor }

// Verify runs one verification in tx. The account's and the caller's lock rows are row-locked
// in that order for the whole transaction, so parallel attempts are counted one after the other.
//
// The account is counted under the keyed hash of the number as keyed in (auth's
// AccountNumberKey), whether or not such an account exists: a made-up number is counted and
// locked exactly like a real one, so "locked" tells nothing about which numbers exist, and the
// number is never stored. A success clears the account's failures only: the caller's decay with
// time alone, so a caller cannot wipe out their failures against other accounts by verifying
// for their own.
func (v *VoiceVerifier) Verify(ctx context.Context, tx pgx.Tx, in VoiceAttempt) (VoiceResult, error) {
	if in.CallSid == "" || in.Caller == "" {
		return VoiceResult{}, errors.New("recovery: voice attempt without call or caller")
	}
	va, _, err := v.auth.VoiceAccountByNumber(ctx, tx, in.AccountNumber)
	if err != nil {
		return VoiceResult{}, err
	}
	res, err := v.verify(ctx, tx, in, va)
	res.AccountID = va.ID
	return res, err
}

// verify is Verify of the account va the number keyed in names (its ID is 0 when none does).
func (v *VoiceVerifier) verify(ctx context.Context, tx pgx.Tx, in VoiceAttempt, va auth.VoiceAccount) (VoiceResult, error) {
	now := v.windows.now()
	acct, caller, err := lockSubjects(ctx, tx, v.auth.AccountNumberKey(in.AccountNumber), in.Caller, now)
	if err != nil {
		return VoiceResult{}, err
	}
	// The audit names the account when there is one (va.ID is 0 otherwise), never the number.
	audit := func(event string, detail map[string]any) error {
		detail["call_sid"] = in.CallSid
		detail["caller"] = auth.MaskPhone(in.Caller)
		return auth.Audit(ctx, tx, auth.AuditEvent{At: now, AccountID: va.ID, Actor: "ivr:" + in.CallSid, Event: event, Detail: detail})
	}
	if res, locked, err := refusedIfLocked(acct, caller, now, audit); locked {
		return res, err
	}

	if !v.auth.CallerMatches(va, in.Caller, in.PIN) {
		return v.failed(ctx, tx, acct, &caller, va.ID, audit, map[string]any{})
	}
	if va.Suspended {
		return VoiceResult{Outcome: VoiceSuspended}, audit("voice_refused_suspended", map[string]any{})
	}
	if err := v.auth.UpgradePIN(ctx, tx, va, in.PIN); err != nil {
		return VoiceResult{}, err
	}

	if !va.HasPasskey {
		if err := clearFailures(ctx, tx, acct); err != nil {
			return VoiceResult{}, err
		}
		if err := audit("voice_verified_no_passkey", map[string]any{}); err != nil {
			return VoiceResult{}, err
		}
		return v.verified(ctx, tx, VoiceNoPasskey, va.ID, auth.Window{}, in.CallSid)
	}
	// The account's failures are cleared only once the phone confirms: a caller who spoofs
	// the number and guessed the PIN is still counted for every wrong code.
	switch factor := v.windows.secondFactor.factorFor(in.Caller); factor {
	case SecondFactorSMS, SecondFactorCallback:
		if res, capped, err := v.capSend(ctx, tx, acct, caller, va.ID, factor, audit); capped || err != nil {
			return res, err
		}
		if factor == SecondFactorSMS {
			return v.sendCode(ctx, tx, in, va.ID, acct.subject, audit)
		}
		return v.startCallback(ctx, tx, in, va.ID, acct.subject, audit)
	}
	if err := clearFailures(ctx, tx, acct); err != nil {
		return VoiceResult{}, err
	}
	return v.openVerified(ctx, tx, va.ID, in.CallSid, "voice line verification", "", audit)
}

// openVerified opens the window of a verification that passed, confirmed by confirmedBy (the
// second channel, or ""), and says so (verified); an account suspended since the call began
// opens nothing and is VoiceSuspended, audited.
func (v *VoiceVerifier) openVerified(ctx context.Context, tx pgx.Tx, accountID int64, callSid, reason, confirmedBy string,
	audit func(string, map[string]any) error) (VoiceResult, error) {
	w, err := v.windows.openTx(ctx, tx, accountID, ChannelIVR, "ivr:"+callSid, reason, confirmedBy, "")
	if errors.Is(err, errAccountSuspended) {
		return VoiceResult{Outcome: VoiceSuspended}, audit("voice_refused_suspended", map[string]any{})
	}
	if err != nil {
		return VoiceResult{}, err
	}
	return v.verified(ctx, tx, VoiceVerified, accountID, w, callSid)
}

// lockSubjects row-locks the lock rows of the account number keyed in (accountKey) and of the
// caller's number, in that order: every verification takes them so, and so queues up behind
// another of the same account or caller instead of deadlocking with it.
func lockSubjects(ctx context.Context, tx pgx.Tx, accountKey, phone string, now time.Time) (acct, caller lockoutRow, err error) {
	if acct, err = lockSubject(ctx, tx, subjectAccount, accountKey, now); err != nil {
		return lockoutRow{}, lockoutRow{}, err
	}
	caller, err = lockSubject(ctx, tx, subjectCaller, phone, now)
	return acct, caller, err
}

// refusedIfLocked reports whether a lockout of the account or the caller refuses the
// verification (§4.4), audited, and its outcome.
func refusedIfLocked(acct, caller lockoutRow, now time.Time, audit func(string, map[string]any) error) (VoiceResult, bool, error) {
	switch {
	case acct.locked(now):
		return VoiceResult{Outcome: VoiceAccountLocked}, true, audit("voice_refused_locked", map[string]any{"lock": "account"})
	case caller.locked(now):
		return VoiceResult{Outcome: VoiceCallerLocked}, true, audit("voice_refused_locked", map[string]any{"lock": "caller"})
	}
	return VoiceResult{}, false, nil
}

// failed records a failed verification of the account (accountID 0: none matched the number)
// against both lock rows, starts the lockouts it reaches, and tells the account's holder of a
// lockout (§7). A nil caller is not counted: the failure is not the calling number's doing.
func (v *VoiceVerifier) failed(ctx context.Context, tx pgx.Tx, acct lockoutRow, caller *lockoutRow, accountID int64,
	audit func(string, map[string]any) error, detail map[string]any) (VoiceResult, error) {
	now := v.windows.now()
	if err := audit("voice_verification_failed", detail); err != nil {
		return VoiceResult{}, err
	}
	acctLocked, callerLocked, err := recordFailure(ctx, tx, acct, caller, v.policy, now)
	if err != nil {
		return VoiceResult{}, err
	}
	res := VoiceResult{Outcome: VoiceFailed}
	switch {
	case acctLocked:
		res.Outcome, err = VoiceAccountLocked, audit("voice_lockout_started", map[string]any{"lock": "account"})
	case callerLocked:
		res.Outcome, err = VoiceCallerLocked, audit("voice_lockout_started", map[string]any{"lock": "caller"})
	}
	if err != nil || res.Outcome == VoiceFailed {
		return res, err
	}
	attrs := []any{"lock", map[bool]string{true: "account", false: "caller"}[acctLocked], "account_id", accountID}
	if caller != nil {
		attrs = append(attrs, "caller", auth.MaskPhone(caller.subject))
	}
	v.windows.log.WarnContext(ctx, "voice-line lockout started", append(attrs, "until", now.Add(v.policy.Lockout))...)
	if accountID == 0 {
		return res, nil
	}
	// The holder of the account keyed in hears of the lockout (§7): someone who is not them
	// may be trying their account. The caller learns nothing from it.
	return res, auth.Notify(ctx, tx, v.windows.outbox, accountID, notify.Event{Kind: notify.KindVoiceLockout, At: now,
		Until: now.Add(v.policy.Lockout), Recovery: true})
}

// capSend counts the send of the second channel by factor against the account's and the
// caller's caps (§4.8), whose lock rows tx holds, and reports whether a cap refuses it: then it
// is audited and logged, and nothing may be sent.
func (v *VoiceVerifier) capSend(ctx context.Context, tx pgx.Tx, acct, caller lockoutRow, accountID int64, factor SecondFactor,
	audit func(string, map[string]any) error) (VoiceResult, bool, error) {
	acctCapped, callerCapped, err := recordSend(ctx, tx, acct, caller, v.windows.sendLimits, v.windows.now())
	if err != nil || (!acctCapped && !callerCapped) {
		return VoiceResult{}, false, err
	}
	which := map[bool]string{true: "account", false: "caller"}[acctCapped]
	v.windows.log.WarnContext(ctx, "voice-line second channel capped", "cap", which, "factor", string(factor),
		"account_id", accountID, "caller", auth.MaskPhone(caller.subject))
	return VoiceResult{Outcome: VoiceSendCapped, Factor: factor}, true,
		audit("voice_second_channel_capped", map[string]any{"factor": string(factor), "cap": which})
}

// sendCode starts the second channel by text (§4.8): a fresh code for the call, stored as a
// keyed hash in place of any earlier one of the call. The caller texts it once tx commits.
func (v *VoiceVerifier) sendCode(ctx context.Context, tx pgx.Tx, in VoiceAttempt, accountID int64, accountKey string,
	audit func(string, map[string]any) error) (VoiceResult, error) {
	now := v.windows.now()
	code := newCode()
	expires := now.Add(codeTTL)
	_, err := tx.Exec(ctx, `
		INSERT INTO voice_codes (call_sid, account_id, account_key, caller, code_hash, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (call_sid) DO UPDATE SET
		    account_id = EXCLUDED.account_id, account_key = EXCLUDED.account_key, caller = EXCLUDED.caller,
		    code_hash = EXCLUDED.code_hash, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at`,
		in.CallSid, accountID, accountKey, in.Caller, v.auth.VoiceCodeHash(in.CallSid, code), now, expires)
	if err != nil {
		return VoiceResult{}, err
	}
	if err := audit("voice_code_sent", map[string]any{"factor": string(SecondFactorSMS), "expires_at": expires}); err != nil {
		return VoiceResult{}, err
	}
	return VoiceResult{Outcome: VoiceCodeSent, Code: code, Phone: in.Caller, CodeExpiresAt: expires}, nil
}

// newCode draws codeDigits decimal digits with crypto/rand.
func newCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return fmt.Sprintf("%0*d", codeDigits, n.Int64())
}

// voiceCode is a texted code waiting on its call.
type voiceCode struct {
	AccountID  int64     `db:"account_id"`
	AccountKey string    `db:"account_key"`
	Caller     string    `db:"caller"`
	CodeHash   []byte    `db:"code_hash"`
	ExpiresAt  time.Time `db:"expires_at"`
}

// VerifyCode checks the code keyed in on the call it was texted for, in tx, under the same
// lockouts as the keyed checks: the account's and the caller's lock rows are locked in that
// order. A wrong code is a failed verification (§4.4), VoiceCodeWrong, and the code texted
// stays valid for another try on the call (the call bounds its tries, §4.3.6); an expired code
// is a failed verification too, and used up. The right one is used up and opens the window,
// confirmed by SMS.
func (v *VoiceVerifier) VerifyCode(ctx context.Context, tx pgx.Tx, in VoiceCodeAttempt) (VoiceResult, error) {
	if in.CallSid == "" || in.Caller == "" {
		return VoiceResult{}, errors.New("recovery: code attempt without call or caller")
	}
	now := v.windows.now()
	rows, err := tx.Query(ctx, `SELECT account_id, account_key, caller, code_hash, expires_at FROM voice_codes WHERE call_sid = $1`, in.CallSid)
	if err != nil {
		return VoiceResult{}, err
	}
	c, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[voiceCode])
	if errors.Is(err, pgx.ErrNoRows) {
		// No code was texted for this call (or it was used up, or purged long after it ran
		// out): there is no account to count against, and nothing opens.
		return VoiceResult{Outcome: VoiceFailed}, nil
	}
	if err != nil {
		return VoiceResult{}, err
	}
	res, err := v.verifyCode(ctx, tx, in, c, now)
	res.AccountID = c.AccountID
	return res, err
}

// verifyCode is VerifyCode of the code c texted for the call.
func (v *VoiceVerifier) verifyCode(ctx context.Context, tx pgx.Tx, in VoiceCodeAttempt, c voiceCode, now time.Time) (VoiceResult, error) {
	acct, caller, err := lockSubjects(ctx, tx, c.AccountKey, in.Caller, now)
	if err != nil {
		return VoiceResult{}, err
	}
	// useUp deletes the code, reporting false when a request of the call that ran first
	// already did.
	useUp := func() (bool, error) {
		tag, err := tx.Exec(ctx, `DELETE FROM voice_codes WHERE call_sid = $1 AND code_hash = $2`, in.CallSid, c.CodeHash)
		return tag.RowsAffected() == 1, err
	}
	audit := func(event string, detail map[string]any) error {
		detail["call_sid"] = in.CallSid
		detail["caller"] = auth.MaskPhone(in.Caller)
		detail["factor"] = string(SecondFactorSMS)
		return auth.Audit(ctx, tx, auth.AuditEvent{At: now, AccountID: c.AccountID, Actor: "ivr:" + in.CallSid, Event: event, Detail: detail})
	}
	if res, locked, err := refusedIfLocked(acct, caller, now, audit); locked {
		if err != nil {
			return VoiceResult{}, err
		}
		_, err := useUp()
		return res, err
	}
	if !c.ExpiresAt.After(now) {
		if _, err := useUp(); err != nil {
			return VoiceResult{}, err
		}
		return v.failed(ctx, tx, acct, &caller, c.AccountID, audit, map[string]any{"reason": "code_expired"})
	}
	if !hmac.Equal(v.auth.VoiceCodeHash(in.CallSid, in.Code), c.CodeHash) || c.Caller != in.Caller {
		res, err := v.failed(ctx, tx, acct, &caller, c.AccountID, audit, map[string]any{"reason": "wrong_code"})
		if err != nil {
			return VoiceResult{}, err
		}
		if res.Outcome != VoiceFailed {
			// Locked by this failure: the code goes with the call's chances.
			_, err := useUp()
			return res, err
		}
		return VoiceResult{Outcome: VoiceCodeWrong}, nil
	}
	if used, err := useUp(); err != nil || !used {
		return VoiceResult{Outcome: VoiceFailed}, err
	}
	if err := clearFailures(ctx, tx, acct); err != nil {
		return VoiceResult{}, err
	}
	return v.openVerified(ctx, tx, c.AccountID, in.CallSid, "voice line verification, confirmed by SMS", string(SecondFactorSMS), audit)
}

// purgeVoiceCodesSQL deletes up to $2 codes past their end, the oldest first, found through
// voice_codes_expires.
const purgeVoiceCodesSQL = `
	DELETE FROM voice_codes
	WHERE call_sid = ANY (ARRAY(
	    SELECT call_sid FROM voice_codes WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2))
	  AND expires_at <= $1`

// purgeVoiceCodes deletes up to limit codes past their end, for the expiry job.
func purgeVoiceCodes(ctx context.Context, q pgdb.Querier, now time.Time, limit int) (int64, error) {
	tag, err := q.Exec(ctx, purgeVoiceCodesSQL, now, limit)
	return tag.RowsAffected(), err
}
