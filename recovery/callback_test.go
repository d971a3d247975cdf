package recovery

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
	var res VoiceResult
	err := pgdb.InTx(context.Background(), e.pool, func(tx pgx.Tx) error {
		var err error
		res, err = v.ConfirmCallback(context.Background(), tx, id, "CA"+rand.Text(), digits)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Outcome
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
}
