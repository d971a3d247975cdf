package recovery

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"kagi/auth"
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

// Verify runs one verification in tx. The account's and the caller's counts are row-locked in
// that order for the whole transaction, so parallel attempts are counted one after the other.
func (v *VoiceVerifier) Verify(ctx context.Context, tx pgx.Tx, in VoiceAttempt) (VoiceResult, error) {
	if in.CallSid == "" || in.Caller == "" {
		return VoiceResult{}, errors.New("recovery: voice attempt without call or caller")
	}
	now := v.windows.now()
	va, found, err := v.auth.VoiceAccountByNumber(ctx, tx, in.AccountNumber)
	if err != nil {
		return VoiceResult{}, err
	}
	var acct lockoutRow
	if found {
		if acct, err = lockSubject(ctx, tx, subjectAccount, accountSubject(va.ID), v.policy, now); err != nil {
			return VoiceResult{}, err
		}
	}
	caller, err := lockSubject(ctx, tx, subjectCaller, in.Caller, v.policy, now)
	if err != nil {
		return VoiceResult{}, err
	}
	audit := func(event string, detail map[string]any) error {
		detail["call_sid"] = in.CallSid
		detail["caller"] = auth.MaskPhone(in.Caller)
		return auth.Audit(ctx, tx, auth.AuditEvent{At: now, AccountID: va.ID, Actor: "ivr:" + in.CallSid, Event: event, Detail: detail})
	}
	switch {
	case found && acct.locked(now):
		return VoiceResult{Outcome: VoiceAccountLocked}, audit("voice_refused_locked", map[string]any{"lock": "account"})
	case caller.locked(now):
		return VoiceResult{Outcome: VoiceCallerLocked}, audit("voice_refused_locked", map[string]any{"lock": "caller"})
	}

	if !v.auth.CallerMatches(va, in.Caller, in.PIN) {
		if err := audit("voice_verification_failed", map[string]any{}); err != nil {
			return VoiceResult{}, err
		}
		var acctLocked bool
		if found {
			if acctLocked, err = recordFailure(ctx, tx, acct, v.policy.AccountMax, v.policy, now); err != nil {
				return VoiceResult{}, err
			}
		}
		callerLocked, err := recordFailure(ctx, tx, caller, v.policy.CallerMax, v.policy, now)
		if err != nil {
			return VoiceResult{}, err
		}
		switch {
		case acctLocked:
			return VoiceResult{Outcome: VoiceAccountLocked}, audit("voice_lockout_started", map[string]any{"lock": "account"})
		case callerLocked:
			return VoiceResult{Outcome: VoiceCallerLocked}, audit("voice_lockout_started", map[string]any{"lock": "caller"})
		}
		return VoiceResult{Outcome: VoiceFailed}, nil
	}

	if err := clearFailures(ctx, tx, acct); err != nil {
		return VoiceResult{}, err
	}
	if err := clearFailures(ctx, tx, caller); err != nil {
		return VoiceResult{}, err
	}
	if !va.HasPasskey {
		return VoiceResult{Outcome: VoiceNoPasskey}, audit("voice_verified_no_passkey", map[string]any{})
	}
	w, err := v.windows.OpenTx(ctx, tx, va.ID, ChannelIVR, "ivr:"+in.CallSid, "voice line verification")
	if err != nil {
		return VoiceResult{}, err
	}
	return VoiceResult{Outcome: VoiceVerified, Window: w}, nil
}
