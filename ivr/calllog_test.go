package ivr

import (
	"context"
	"testing"
)

// A call is linked to the account it verified or failed on, so the operator console can list
// the account's calls with their outcome; a number no account has links nothing.
func TestCallsAreLinkedToTheirAccount(t *testing.T) {
	t.Parallel()
	e := newLineEnv(t)
	acct := e.addCustomer("1234567", false)
	other := e.addCustomer("7654321", false)
	e.call(regCaller, "1", "1234567#", "9999")         // a wrong PIN: failed
	e.clock.Advance(60e9)                              // a minute later
	e.call(regCaller, "1", "1234567#", "1234")         // verified, no passkey
	e.call(regCaller, "1", "5555555#", "1234", "", "") // nobody's number
	e.call(regCaller, "9")                             // no verification at all

	calls, err := CallLog{}.RecentCalls(context.Background(), e.pool, acct.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[0].Outcome != "no_passkey" || calls[1].Outcome != "failed" {
		t.Fatalf("calls %+v, want the verified one, then the failed one", calls)
	}
	if calls[0].Caller != "+8190****5678" || !calls[0].StartedAt.After(calls[1].StartedAt) || calls[1].EndedAt == nil {
		t.Errorf("calls %+v: want the caller masked, newest first, ended", calls)
	}
	if calls, _ := (CallLog{}).RecentCalls(context.Background(), e.pool, other.ID, 10); len(calls) != 0 {
		t.Errorf("another account's calls: %+v, want none", calls)
	}
	if n := e.count(`SELECT count(*) FROM ivr_calls WHERE account_id IS NULL`); n != 2 {
		t.Errorf("%d calls without an account, want 2 (a number nobody has, and no verification)", n)
	}
}
