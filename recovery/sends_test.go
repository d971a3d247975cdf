package recovery

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"kagi/pgdb"
)

func TestParseSendLimits(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want SendLimits
	}{
		{"3/1h,5/24h", DefaultSendLimits},
		{" 3/1h , 5/24h ", DefaultSendLimits},
		{"2/30m", SendLimits{{Max: 2, Per: 30 * time.Minute}}},
		{"1/1m,2/1h,3/24h,4/168h", SendLimits{{1, time.Minute}, {2, time.Hour}, {3, 24 * time.Hour}, {4, 168 * time.Hour}}},
	} {
		got, err := ParseSendLimits(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ParseSendLimits(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "0", "off", "3", "3/", "/1h", "0/1h", "-1/1h", "+3/1h", "x/1h", "3/1x", "3/30s", "3/169h",
		"3/1h,", "3/1h;5/24h", "1/1h,1/2h,1/3h,1/4h,1/5h"} {
		if got, err := ParseSendLimits(bad); err == nil {
			t.Errorf("ParseSendLimits(%q) = %v, want an error", bad, got)
		}
	}
	if s := DefaultSendLimits.String(); s != "3/1h,5/24h" {
		t.Errorf("DefaultSendLimits.String() = %q, want the setting's default 3/1h,5/24h", s)
	}
	for _, l := range []SendLimits{DefaultSendLimits, {{2, 90 * time.Minute}}, {{7, 36 * time.Hour}, {1, 2 * time.Minute}}} {
		if back, err := ParseSendLimits(l.String()); err != nil || !slices.Equal(back, l) {
			t.Errorf("%v written as %q reads back as %v, %v", l, l.String(), back, err)
		}
	}
}

func TestNewRefusesSendLimitsItCannotApply(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	for _, l := range []SendLimits{{{Max: 0, Per: time.Hour}}, {{Max: 3, Per: time.Second}}, {{Max: 3, Per: 30 * 24 * time.Hour}}} {
		if _, err := New(Config{Pool: e.pool, SendLimits: l}); err == nil {
			t.Errorf("New accepted the caps %v", l)
		}
	}
}

// §4.8: at most 3 sends an hour and 5 a day per account, whatever the channel; past the cap
// nothing is to be sent, nothing is stored for it, it is audited, and it counts no failure.
func TestSecondChannelIsCappedPerAccount(t *testing.T) {
	t.Parallel()
	for _, factor := range []SecondFactor{SecondFactorSMS, SecondFactorCallback} {
		t.Run(string(factor), func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, func(c *Config) { c.SecondFactor = factor })
			acct := e.addPasskeyAccount("taro", realNumber)
			v := NewVoiceVerifier(e.auth, e.svc)
			sent := map[SecondFactor]VoiceOutcome{SecondFactorSMS: VoiceCodeSent, SecondFactorCallback: VoiceCallbackNeeded}[factor]
			round := func(what string, wantSent int) {
				t.Helper()
				var outcomes []VoiceOutcome
				for range 6 {
					res := e.attempt(v, realNumber, ownPhone, rightPIN)
					outcomes = append(outcomes, res.Outcome)
					if res.Outcome == VoiceSendCapped && (res.Factor != factor || res.Code != "" || res.CallbackID != "" || res.AccountID != acct.ID) {
						t.Fatalf("%s: a capped result carries something to send: %+v", what, res)
					}
				}
				want := slices.Repeat([]VoiceOutcome{sent}, wantSent)
				want = append(want, slices.Repeat([]VoiceOutcome{VoiceSendCapped}, 6-wantSent)...)
				if !slices.Equal(outcomes, want) {
					t.Fatalf("%s: outcomes %v, want %v", what, outcomes, want)
				}
			}
			round("the first hour", 3)
			e.clock.Advance(time.Hour)
			round("the second hour", 2) // 5 a day
			e.clock.Advance(22*time.Hour + 59*time.Minute)
			round("the day's last minute", 0)
			e.clock.Advance(time.Minute) // the first hour's three no longer count
			round("a day after the first", 3)

			stored := e.count(`SELECT count(*) FROM voice_codes`) + e.count(`SELECT count(*) FROM voice_callbacks`)
			if stored != 8 {
				t.Errorf("%d codes and call backs stored, want the 8 sent", stored)
			}
			if n := e.count(`SELECT count(*) FROM audit_log WHERE event = 'voice_second_channel_capped' AND account_id = $1
				AND detail->>'cap' = 'account' AND detail->>'factor' = $2`, acct.ID, string(factor)); n != 16 {
				t.Errorf("%d capped attempts audited, want 16", n)
			}
			if n := e.count(`SELECT count(*) FROM voice_failures`); n != 0 {
				t.Errorf("capped attempts counted %d failures", n)
			}
		})
	}
}

// The same caps hold per calling number: one number registered on several accounts (a family's
// phone, or a forged one) cannot have the registered phones texted more often than one account.
func TestSecondChannelIsCappedPerCaller(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.SecondFactor = SecondFactorSMS })
	v := NewVoiceVerifier(e.auth, e.svc)
	var outcomes []VoiceOutcome
	for i := range 4 {
		number := fmt.Sprintf("%07d", 2000000+i)
		e.addPasskeyAccount(fmt.Sprintf("family%d", i), number) // all registered with ownPhone
		outcomes = append(outcomes, e.attempt(v, number, ownPhone, rightPIN).Outcome)
	}
	if want := []VoiceOutcome{VoiceCodeSent, VoiceCodeSent, VoiceCodeSent, VoiceSendCapped}; !slices.Equal(outcomes, want) {
		t.Fatalf("outcomes %v, want %v", outcomes, want)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE event = 'voice_second_channel_capped' AND detail->>'cap' = 'caller'`); n != 1 {
		t.Errorf("%d caller caps audited, want 1", n)
	}
}

// The caps are counted in PostgreSQL under the verification's locks: twenty parallel calls with
// the right PIN get exactly three sends, and nothing deadlocks.
func TestParallelCallsCannotSlipPastTheSendCap(t *testing.T) {
	// Not parallel: pgdb.Retried counts the whole process (see race_test.go).
	e := newTestEnv(t, func(c *Config) { c.SecondFactor = SecondFactorSMS })
	e.addPasskeyAccount("taro", realNumber)
	v := NewVoiceVerifier(e.auth, e.svc)
	before := pgdb.Retried()
	const calls = 20
	outcomes := make(chan VoiceOutcome, calls)
	var wg sync.WaitGroup
	for range calls {
		wg.Go(func() { outcomes <- e.attempt(v, realNumber, ownPhone, rightPIN).Outcome })
	}
	wg.Wait()
	close(outcomes)
	got := map[VoiceOutcome]int{}
	for o := range outcomes {
		got[o]++
	}
	if got[VoiceCodeSent] != 3 || got[VoiceSendCapped] != calls-3 {
		t.Errorf("outcomes %v, want 3 codes sent and %d capped", got, calls-3)
	}
	if n := e.count(`SELECT count(*) FROM voice_sends WHERE subject_kind = 'account'`); n != 3 {
		t.Errorf("%d sends recorded for the account, want 3", n)
	}
	if n := pgdb.Retried() - before; n != 0 {
		t.Errorf("PostgreSQL aborted %d transactions for a deadlock or conflict", n)
	}
}

// Sends are purged once no cap counts them any more: after the longest period.
func TestSendPurge(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.SecondFactor = SecondFactorSMS })
	e.addPasskeyAccount("taro", realNumber)
	v := NewVoiceVerifier(e.auth, e.svc)
	e.attempt(v, realNumber, ownPhone, rightPIN)
	e.clock.Advance(24*time.Hour - time.Minute)
	if res := e.runExpiry(); res.Purged["voice_sends"] != 0 {
		t.Fatalf("purged %d sends that still count", res.Purged["voice_sends"])
	}
	e.clock.Advance(time.Minute)
	if res := e.runExpiry(); res.Purged["voice_sends"] != 2 {
		t.Fatalf("purged %d sends a day on, want the account's and the caller's", res.Purged["voice_sends"])
	}
}
