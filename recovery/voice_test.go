package recovery

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"kagi/auth"
	"kagi/web/webtest"
)

// The registered phone of the tests' accounts (addAccount), and callers who are no customer.
const (
	ownPhone     = "+819012345678"
	strangerA    = "+819011110001"
	strangerB    = "+819011110002"
	rightPIN     = "1234"
	wrongPIN     = "0000"
	realNumber   = "1234567"
	madeUpNumber = "7654321"
)

// verify runs one verification in its own transaction, as the voice line's step does.
func (e *testEnv) verify(number, caller, pin string) VoiceOutcome {
	e.t.Helper()
	return e.attempt(NewVoiceVerifier(e.auth, e.svc), number, caller, pin).Outcome
}

var outcomeText = map[VoiceOutcome]string{
	VoiceVerified: "verified", VoiceNoPasskey: "no passkey", VoiceFailed: "failed",
	VoiceAccountLocked: "account locked", VoiceCallerLocked: "caller locked", VoiceCodeSent: "code sent",
	VoiceCallbackNeeded: "call back needed", VoiceSendCapped: "second channel capped", VoiceCodeWrong: "code wrong",
	VoiceSuspended: "suspended",
}

// expect checks one verification's outcome.
func (e *testEnv) expect(what string, got, want VoiceOutcome) {
	e.t.Helper()
	if got != want {
		e.t.Fatalf("%s: %s, want %s", what, outcomeText[got], outcomeText[want])
	}
}

// §4.4's "5 failures within 24 h" is a rolling window: a failure counts for 24 hours after it
// happened, not until 24 hours after the first failure of a fixed window.
func TestVoiceLockoutWindowRolls(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.addPasskeyAccount("taro", realNumber)

	e.expect("failure 1 at 00:00", e.verify(realNumber, strangerA, wrongPIN), VoiceFailed)
	e.clock.Advance(23*time.Hour + 58*time.Minute)
	for i := 2; i <= 4; i++ {
		e.expect("failure at 23:58", e.verify(realNumber, strangerA, wrongPIN), VoiceFailed)
	}
	e.clock.Advance(3 * time.Minute) // 24:01: the first failure no longer counts, the three at 23:58 do
	e.expect("4th failure within 24 h at 24:01", e.verify(realNumber, strangerA, wrongPIN), VoiceFailed)
	e.expect("5th failure within 24 h at 24:01", e.verify(realNumber, strangerA, wrongPIN), VoiceAccountLocked)
	e.expect("the right PIN while locked", e.verify(realNumber, ownPhone, rightPIN), VoiceAccountLocked)

	e.clock.Advance(24*time.Hour - time.Second)
	e.expect("the right PIN a second before the lockout ends", e.verify(realNumber, ownPhone, rightPIN), VoiceAccountLocked)
	e.clock.Advance(time.Second)
	e.expect("a failure once the lockout ended starts a new count", e.verify(realNumber, strangerA, wrongPIN), VoiceFailed)
	e.expect("the right PIN once the lockout ended", e.verify(realNumber, ownPhone, rightPIN), VoiceVerified)
}

// A success clears the account's failures but never the caller's: otherwise one phone with an
// account of its own could guess at other accounts for ever, verifying for its own in between.
func TestVoiceSuccessDoesNotResetTheCaller(t *testing.T) {
	t.Parallel()
	t.Run("the caller's failures survive its successes", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t)
		e.addPasskeyAccount("taro", realNumber)
		failures := 0
		for round := range 5 {
			other := "900000" + string(rune('1'+round))
			for range 2 {
				failures++
				want := VoiceFailed
				if failures == DefaultLockout.CallerMax {
					want = VoiceCallerLocked
				}
				e.expect("a guess at another account", e.verify(other, ownPhone, wrongPIN), want)
			}
			if failures < DefaultLockout.CallerMax {
				e.expect("verifying for its own account", e.verify(realNumber, ownPhone, rightPIN), VoiceVerified)
			}
		}
		e.expect("its own account once the caller is locked", e.verify(realNumber, ownPhone, rightPIN), VoiceCallerLocked)
	})
	t.Run("a success clears the account's failures", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t)
		e.addPasskeyAccount("taro", realNumber)
		for range DefaultLockout.AccountMax - 1 {
			e.expect("a wrong PIN", e.verify(realNumber, strangerA, wrongPIN), VoiceFailed)
		}
		e.expect("the customer", e.verify(realNumber, ownPhone, rightPIN), VoiceVerified)
		for range DefaultLockout.AccountMax - 1 {
			e.expect("a wrong PIN after the success", e.verify(realNumber, strangerB, wrongPIN), VoiceFailed)
		}
	})
}

// Every account number keyed in is counted, whether or not it is an account's: otherwise only
// real numbers would ever lock, and "locked" would tell which numbers exist. The number itself
// is never stored, and the audit names the account only when there is one.
func TestVoiceUnknownAccountNumbersLockLikeRealOnes(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addPasskeyAccount("taro", realNumber)
	var realOutcomes, madeUpOutcomes []VoiceOutcome
	for range DefaultLockout.AccountMax + 2 {
		realOutcomes = append(realOutcomes, e.verify(realNumber, strangerA, wrongPIN))
		madeUpOutcomes = append(madeUpOutcomes, e.verify(madeUpNumber, strangerB, wrongPIN))
	}
	want := []VoiceOutcome{VoiceFailed, VoiceFailed, VoiceFailed, VoiceFailed, VoiceAccountLocked, VoiceAccountLocked, VoiceAccountLocked}
	if !slices.Equal(realOutcomes, want) || !slices.Equal(madeUpOutcomes, want) {
		t.Fatalf("outcomes\nreal number     %v\nmade-up number  %v\nwant            %v", realOutcomes, madeUpOutcomes, want)
	}
	e.expect("the real account's customer while locked", e.verify(realNumber, ownPhone, rightPIN), VoiceAccountLocked)

	for _, table := range []string{"voice_lockouts", "voice_failures"} {
		if n := e.count(`SELECT count(*) FROM `+table+` WHERE subject_kind = 'account' AND (subject LIKE '%' || $1 || '%' OR subject LIKE '%' || $2 || '%')`, realNumber, madeUpNumber); n != 0 {
			t.Errorf("%s holds a keyed-in account number in %d rows", table, n)
		}
	}
	if n := e.count(`SELECT count(*) FROM voice_lockouts WHERE subject_kind = 'account' AND subject = $1 AND locked_until IS NOT NULL`,
		e.auth.AccountNumberKey(madeUpNumber)); n != 1 {
		t.Errorf("made-up number's lock rows = %d, want 1 under its key", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE detail::text LIKE '%' || $1 || '%'`, madeUpNumber); n != 0 {
		t.Errorf("the audit names the made-up number %d times", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE event = 'voice_lockout_started' AND account_id = $1`, acct.ID); n != 1 {
		t.Errorf("lockout starts audited for the real account: %d, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE event = 'voice_lockout_started' AND account_id IS NULL`); n != 1 {
		t.Errorf("lockout starts audited without an account: %d, want 1 (the made-up number)", n)
	}
}

// The expiry job purges failures once they no longer count and lock rows once their lockout is
// over and nothing of theirs counts.
func TestVoiceLockoutPurge(t *testing.T) {
	t.Parallel()
	policy := DefaultLockout
	policy.Lockout = 48 * time.Hour
	e := newTestEnv(t, func(c *Config) { c.Lockout = policy })
	e.addPasskeyAccount("taro", realNumber)
	for range policy.AccountMax {
		e.verify(realNumber, strangerA, wrongPIN)
	}
	rows := func() (failures, lockRows int) {
		return e.count(`SELECT count(*) FROM voice_failures`), e.count(`SELECT count(*) FROM voice_lockouts`)
	}
	if f, l := rows(); f != 2*policy.AccountMax || l != 2 {
		t.Fatalf("after %d failures: %d failure rows, %d lock rows", policy.AccountMax, f, l)
	}
	e.clock.Advance(policy.Window - time.Minute)
	if res := e.runExpiry(); res.Purged["voice_lockouts"] != 0 {
		t.Fatalf("purged %d rows that still count", res.Purged["voice_lockouts"])
	}
	e.clock.Advance(2 * time.Minute)
	e.runExpiry()
	if f, l := rows(); f != 0 || l != 1 {
		t.Fatalf("a window later: %d failure rows, %d lock rows; want none and the account's lockout", f, l)
	}
	e.expect("the right PIN while the account is still locked", e.verify(realNumber, ownPhone, rightPIN), VoiceAccountLocked)
	e.clock.Advance(policy.Lockout)
	e.runExpiry()
	// The verification above touched the account's and ownPhone's rows a window ago.
	if f, l := rows(); f != 0 || l != 0 {
		t.Fatalf("after the lockout: %d failure rows, %d lock rows; want none", f, l)
	}
}

// A voice-line lockout is logged when it starts — the caller masked, never a keyed digit.
func TestVoiceLockoutIsLogged(t *testing.T) {
	t.Parallel()
	var out webtest.LogBuffer
	e := newTestEnv(t, func(c *Config) { c.Log = slog.New(slog.NewJSONHandler(&out, nil)) })
	e.addPasskeyAccount("taro", realNumber)
	for range DefaultLockout.AccountMax {
		e.verify(realNumber, strangerA, wrongPIN)
	}
	logged := out.String()
	if strings.Count(logged, `"msg":"voice-line lockout started"`) != 1 || !strings.Contains(logged, `"lock":"account"`) ||
		!strings.Contains(logged, auth.MaskPhone(strangerA)) {
		t.Errorf("log %s: want one lockout line naming the account lock and the masked caller", logged)
	}
	for _, secret := range []string{strangerA, realNumber, `"` + wrongPIN + `"`} {
		if strings.Contains(logged, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}
