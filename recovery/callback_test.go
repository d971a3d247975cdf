package recovery

import (
	"context"
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"kagi/auth"
	"kagi/notify"
	"kagi/notify/notifytest"
	"kagi/pgdb"
)

// attempt runs one verification with v in its own transaction and returns its result.
func (e *testEnv) attempt(v *VoiceVerifier, number, caller, pin string) VoiceResult {
	e.t.Helper()
	var res VoiceResult
	err := pgdb.InTx(context.Background(), e.pool, func(tx pgx.Tx) error {
		var err error
		res, err = v.Verify(context.Background(), tx, VoiceAttempt{AccountNumber: number, Caller: caller, PIN: pin, CallSid: "CA" + rand.Text()})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// answer is the call back id answered with digits, in its own transaction.
func (e *testEnv) answer(v *VoiceVerifier, id, digits string) VoiceOutcome {
	e.t.Helper()
	return e.answerResult(v, id, digits).Outcome
}

// answerResult is answer's whole result.
func (e *testEnv) answerResult(v *VoiceVerifier, id, digits string) VoiceResult {
	e.t.Helper()
	var res VoiceResult
	err := pgdb.InTx(context.Background(), e.pool, func(tx pgx.Tx) error {
		var err error
		res, err = v.ConfirmCallback(context.Background(), tx, id, "CA"+rand.Text(), digits)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// §4.8: a call back answered with another key than 1 is the customer saying "not me". It is a
// failed verification of the account (§4.4), audited, and five of them lock the account out —
// but none counts against the registered number called back, which is the customer's own: the
// customer can still use the line for another account of theirs. A call back declined once the
// account is locked counts nothing more and does not push the lockout back.
func TestDeclinedCallbackCountsAgainstTheAccountOnly(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) {
		c.SecondFactor = SecondFactorCallback
		c.SendLimits = SendLimits{{Max: 100, Per: time.Hour}} // this test is about the lockout, not the caps
	})
	acct := e.addPasskeyAccount("taro", realNumber)
	e.addPasskeyAccount("jiro", "2345678") // also registered with ownPhone
	v := NewVoiceVerifier(e.auth, e.svc)
	ids := make([]string, DefaultLockout.AccountMax+1)
	for i := range ids {
		res := e.attempt(v, realNumber, ownPhone, rightPIN)
		if res.Outcome != VoiceCallbackNeeded {
			t.Fatalf("call %d: %v, want a call back", i+1, outcomeText[res.Outcome])
		}
		ids[i] = res.CallbackID
	}
	counts := func() (account, caller int) {
		return e.count(`SELECT count(*) FROM voice_failures WHERE subject_kind = 'account' AND subject = $1`, e.auth.AccountNumberKey(realNumber)),
			e.count(`SELECT count(*) FROM voice_failures WHERE subject_kind = 'caller'`)
	}
	for i, id := range ids[:DefaultLockout.AccountMax] {
		want := VoiceFailed
		if i+1 == DefaultLockout.AccountMax {
			want = VoiceAccountLocked
		}
		e.expect("a declined call back", e.answer(v, id, "2"), want)
		if account, caller := counts(); account != i+1 || caller != 0 {
			t.Fatalf("after %d declines: %d account failures, %d caller failures; want %d and none", i+1, account, caller, i+1)
		}
	}
	lockedUntil := func() (until time.Time) {
		err := e.pool.QueryRow(context.Background(), `SELECT locked_until FROM voice_lockouts WHERE subject_kind = 'account' AND subject = $1`,
			e.auth.AccountNumberKey(realNumber)).Scan(&until)
		if err != nil {
			t.Fatal(err)
		}
		return until
	}
	until := lockedUntil()
	e.clock.Advance(time.Minute)
	e.expect("a call back declined while the account is locked", e.answer(v, ids[len(ids)-1], "7"), VoiceAccountLocked)
	if account, _ := counts(); account != DefaultLockout.AccountMax || !lockedUntil().Equal(until) {
		t.Errorf("a decline while locked counted (%d failures) or moved the lockout (%v, was %v)", account, lockedUntil(), until)
	}
	if n := e.count(`SELECT count(*) FROM voice_lockouts WHERE subject_kind = 'caller' AND locked_until IS NOT NULL`); n != 0 {
		t.Error("the customer's own number is locked out")
	}
	e.expect("the customer's number for their other account", e.attempt(v, "2345678", ownPhone, rightPIN).Outcome, VoiceCallbackNeeded)

	if n := e.count(`SELECT count(*) FROM audit_log WHERE account_id = $1 AND event = 'voice_verification_failed'
		AND detail->>'reason' = 'callback_declined'`, acct.ID); n != DefaultLockout.AccountMax {
		t.Errorf("%d declines audited as failed verifications, want %d", n, DefaultLockout.AccountMax)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE account_id = $1 AND event = 'voice_callback_ended'
		AND detail->>'outcome' = 'declined'`, acct.ID); n != len(ids) {
		t.Errorf("%d call backs audited as declined, want %d", n, len(ids))
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE account_id = $1 AND event = 'voice_lockout_started' AND detail->>'lock' = 'account'`, acct.ID); n != 1 {
		t.Errorf("%d account lockouts audited, want 1", n)
	}
	// Each decline is mailed to the customer at once, and only mailed.
	var declined []string
	for _, m := range notifytest.Messages(t, e.pool, acct.ID) {
		if m.Event.Kind == notify.KindCallbackDeclined {
			declined = append(declined, m.Channel)
		}
	}
	if want := slices.Repeat([]string{"email"}, len(ids)); !slices.Equal(declined, want) {
		t.Errorf("the declines were told by %v, want %v", declined, want)
	}
}

// A verification that passes ends a pause of the account's password login (§2.12): the caller
// is told (VoiceResult.PauseLifted), the lift is audited under the call, and the customer hears
// of it by mail and SMS. A verification that fails lifts nothing.
func TestVerifiedCallLiftsThePasswordPause(t *testing.T) {
	t.Parallel()
	for _, factor := range []SecondFactor{SecondFactorNone, SecondFactorCallback} {
		t.Run(string(factor), func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, func(c *Config) { c.SecondFactor = factor })
			acct := e.addPasskeyAccount("taro", realNumber)
			paused := e.clock.Now().Add(20 * time.Hour)
			if _, err := e.pool.Exec(context.Background(), `UPDATE accounts SET password_paused_until = $2 WHERE id = $1`, acct.ID, paused); err != nil {
				t.Fatal(err)
			}
			v := NewVoiceVerifier(e.auth, e.svc)
			e.expect("a wrong PIN", e.attempt(v, realNumber, ownPhone, "0000").Outcome, VoiceFailed)
			if until, _ := auth.PasswordPaused(context.Background(), e.pool, acct.ID, e.clock.Now()); !until.Equal(paused) {
				t.Fatalf("a failed verification lifted the pause (%v)", until)
			}
			res := e.attempt(v, realNumber, ownPhone, rightPIN)
			if factor == SecondFactorCallback {
				res = e.answerResult(v, res.CallbackID, "1")
			}
			if res.Outcome != VoiceVerified || !res.PauseLifted {
				t.Fatalf("verified call: %v, pause lifted %v", outcomeText[res.Outcome], res.PauseLifted)
			}
			if until, _ := auth.PasswordPaused(context.Background(), e.pool, acct.ID, e.clock.Now()); !until.IsZero() {
				t.Fatalf("still paused until %v", until)
			}
			kinds := notifytest.Kinds(t, e.pool, acct.ID)
			if !slices.Contains(kinds, "email:password_pause_lifted") || !slices.Contains(kinds, "sms:password_pause_lifted") {
				t.Fatalf("told %v", kinds)
			}
			if n := e.count(`SELECT count(*) FROM audit_log WHERE account_id = $1 AND event = 'password_pause_lifted' AND actor LIKE 'ivr:%'`, acct.ID); n != 1 {
				t.Fatalf("%d lifts audited under the call", n)
			}
		})
	}
}
