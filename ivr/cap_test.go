package ivr

import (
	"strings"
	"testing"
	"time"

	"kagi/recovery"
)

// §4.8: sends are capped. Someone who knows the PIN and shows the registered number (forged,
// or the customer's own phone) calls twenty times in a row, three times over a day: the
// registered phone is texted, or called back, no more than 3 times within the hour and 5 within
// the day. Every other call hears that the phone was contacted already, in TwiML, and nothing
// is sent.
func TestTwentyCallsReachTheRegisteredPhoneAtMostTheCap(t *testing.T) {
	t.Parallel()
	for _, factor := range []recovery.SecondFactor{recovery.SecondFactorSMS, recovery.SecondFactorCallback} {
		t.Run(string(factor), func(t *testing.T) {
			t.Parallel()
			e, placed, texts := newCallbackLineEnv(t, factor)
			e.addCustomer("7654321", true)
			capped := map[recovery.SecondFactor]string{recovery.SecondFactorSMS: promptCodeCapped, recovery.SecondFactorCallback: promptCallbackCapped}[factor]
			// reached counts what reached the registered phone since the last call.
			reached := func() (n int) {
				for {
					select {
					case f := <-texts.got:
						if f.Get("To") != regCaller {
							t.Fatalf("texted %s", f.Get("To"))
						}
					case p := <-placed:
						if p.form.Get("To") != regCaller {
							t.Fatalf("called %s back", p.form.Get("To"))
						}
					default:
						return n
					}
					n++
				}
			}
			total := 0
			for _, round := range []struct {
				name    string
				advance time.Duration
				want    int
			}{
				{"within the first hour", 0, 3},
				{"an hour later", time.Hour, 2},
				{"later the same day", 22 * time.Hour, 0},
			} {
				e.clock.Advance(round.advance)
				sent := 0
				for call := range 20 {
					turns := e.call(regCaller, "1", "7654321#", "1234")
					got := said(turns[len(turns)-1:])
					n := reached()
					sent += n
					if n == 0 && (!strings.Contains(got, capped) || !turns[len(turns)-1].HungUp) {
						t.Fatalf("%s, call %d: nothing sent, and the line said %q", round.name, call+1, got)
					}
					if n > 0 && strings.Contains(got, capped) {
						t.Fatalf("%s, call %d: sent, yet the line said %q", round.name, call+1, got)
					}
				}
				total += sent
				t.Logf("%s: 20 calls reached the registered phone %d times (%d in all)", round.name, sent, total)
				if sent != round.want {
					t.Errorf("%s: 20 calls reached the registered phone %d times, want %d", round.name, sent, round.want)
				}
			}
			if total != 5 {
				t.Errorf("the registered phone was reached %d times in a day, want 5", total)
			}
			if n := e.count(`SELECT count(*) FROM ivr_calls WHERE outcome = 'second_channel_capped'`); n != 60-5 {
				t.Errorf("%d calls recorded as capped, want %d", n, 60-5)
			}
			if n := e.count(`SELECT count(*) FROM voice_failures`); n != 0 {
				t.Errorf("the capped calls counted %d failures", n)
			}
		})
	}
}
