package recovery

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"kagi/auth"
	"kagi/notify"
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
	Window  auth.Window
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
	now := v.windows.now()
	va, _, err := v.auth.VoiceAccountByNumber(ctx, tx, in.AccountNumber)
	if err != nil {
		return VoiceResult{}, err
	}
	acct, err := lockSubject(ctx, tx, subjectAccount, v.auth.AccountNumberKey(in.AccountNumber), now)
	if err != nil {
		return VoiceResult{}, err
	}
	caller, err := lockSubject(ctx, tx, subjectCaller, in.Caller, now)
	if err != nil {
		return VoiceResult{}, err
	}
	// The audit names the account when there is one (va.ID is 0 otherwise), never the number.
	audit := func(event string, detail map[string]any) error {
		detail["call_sid"] = in.CallSid
		detail["caller"] = auth.MaskPhone(in.Caller)
		return auth.Audit(ctx, tx, auth.AuditEvent{At: now, AccountID: va.ID, Actor: "ivr:" + in.CallSid, Event: event, Detail: detail})
	}
	switch {
	case acct.locked(now):
		return VoiceResult{Outcome: VoiceAccountLocked}, audit("voice_refused_locked", map[string]any{"lock": "account"})
	case caller.locked(now):
		return VoiceResult{Outcome: VoiceCallerLocked}, audit("voice_refused_locked", map[string]any{"lock": "caller"})
	}

	if !v.auth.CallerMatches(va, in.Caller, in.PIN) {
		if err := audit("voice_verification_failed", map[string]any{}); err != nil {
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
		if err != nil || res.Outcome == VoiceFailed || va.ID == 0 {
			return res, err
		}
		// The holder of the account keyed in hears of the lockout (§7): someone who is not
		// them may be trying their account. The caller learns nothing from it.
		return res, auth.Notify(ctx, tx, v.windows.outbox, va.ID, notify.Event{Kind: notify.KindVoiceLockout, At: now,
			Until: now.Add(v.policy.Lockout), Recovery: true})
	}

	if err := clearFailures(ctx, tx, acct); err != nil {
		return VoiceResult{}, err
	}
	if !va.HasPasskey {
		return VoiceResult{Outcome: VoiceNoPasskey}, audit("voice_verified_no_passkey", map[string]any{})
	}
	// The second channel of §4.8 (a texted code, or a call back to the registered phone) hooks
	// in here: with it, step 5's checks passing would start that confirmation instead of
	// opening the window, and the window would open only once the registered phone confirms.
	w, err := v.windows.OpenTx(ctx, tx, va.ID, ChannelIVR, "ivr:"+in.CallSid, "voice line verification")
	if err != nil {
		return VoiceResult{}, err
	}
	return VoiceResult{Outcome: VoiceVerified, Window: w}, nil
}
