package ivr

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kagi/auth"
	"kagi/ivr/twiliosim"
	"kagi/notify"
	"kagi/recovery"
)

// BenchmarkWebhook200Calls plays 200 simultaneous calls, each verified and opening a window
// (call start, menu, account number, PIN: four webhook steps), through the real handler,
// PostgreSQL and signature checks, and reports each step's latency (p50, p99) and the steps
// handled per second. Run it with scripts/bench or
// go test -run '^$' -bench Webhook200 -benchtime 3x ./ivr/
//
// The sms case has the registered phone confirm by text (§4.8): one step more per call, the
// code keyed in, and each code texted through twilio-go to a local stand-in for Twilio's API
// while the call waits.
func BenchmarkWebhook200Calls(b *testing.B) {
	b.Run("second_factor=none", func(b *testing.B) { benchmark200Calls(b, false) })
	b.Run("second_factor=sms", func(b *testing.B) { benchmark200Calls(b, true) })
}

func benchmark200Calls(b *testing.B, sms bool) {
	const calls = 200
	quiet := func(c *HandlerConfig) { c.Log = slog.New(slog.DiscardHandler) }
	var (
		e     *lineEnv
		codes sync.Map // phone → the last code texted to it
	)
	if sms {
		standIn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.ParseForm()
			codes.Store(r.PostForm.Get("To"), codePattern.FindString(r.PostForm.Get("Body")))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"}`))
		}))
		b.Cleanup(standIn.Close)
		texter, err := notify.NewTwilioTexter(notify.TwilioConfig{AccountSID: testSID, AuthToken: twilioToken, From: testSMSFrom, APIURL: standIn.URL})
		if err != nil {
			b.Fatal(err)
		}
		// Each customer calls once an iteration at one time of the clock: caps that let every
		// call text keep the cost of counting the sends in the figures.
		limits := recovery.SendLimits{{Max: 1 << 30, Per: time.Hour}}
		e = newLineEnvWith(b, func(c *recovery.Config) { c.SecondFactor, c.SendLimits = recovery.SecondFactorSMS, limits }, quiet,
			func(c *HandlerConfig) { c.Texter = texter })
	} else {
		e = newLineEnv(b, quiet)
	}
	e.sim.Client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: calls}}
	type customer struct{ number, phone string }
	customers := make([]customer, calls)
	for i := range customers {
		c := customer{number: fmt.Sprintf("%07d", 1000000+i), phone: fmt.Sprintf("+8190%08d", i)}
		a, err := e.core.CreateAccount(context.Background(), auth.NewAccount{
			LoginID: "bench" + c.number, Password: "correct horse battery", AccountNumber: c.number, PIN: "1234",
			Phones: []string{c.phone}, Email: "b@example.jp", Name: "ベンチ",
		})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.pool.Exec(context.Background(), `
			INSERT INTO passkeys (account_id, credential_id, public_key, aaguid, backup_eligible, backup_state, created_at)
			VALUES ($1, $2, 'k', '00000000-0000-0000-0000-000000000000', true, true, now())`, a.ID, []byte(c.number)); err != nil {
			b.Fatal(err)
		}
		customers[i] = c
	}
	var mu sync.Mutex
	var latencies []time.Duration
	var wall time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		var wg sync.WaitGroup
		for _, c := range customers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sid := twiliosim.NewCallSid()
				mine := make([]time.Duration, 0, 4)
				t0 := time.Now()
				turn, err := e.sim.Start(context.Background(), sid, c.phone)
				mine = append(mine, time.Since(t0))
				keys := []string{"1", c.number + "#", "1234"}
				if sms {
					keys = append(keys, "") // the code, read from the stand-in when asked for
				}
				for _, k := range keys {
					if err != nil {
						break
					}
					if k == "" {
						code, _ := codes.Load(c.phone)
						k, _ = code.(string)
					}
					t0 = time.Now()
					turn, err = e.sim.Press(context.Background(), sid, c.phone, turn, k)
					mine = append(mine, time.Since(t0))
				}
				if err != nil || !turn.HungUp {
					b.Errorf("call %s: %v %+v", c.number, err, turn)
				}
				mu.Lock()
				latencies = append(latencies, mine...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		wall += time.Since(start)
	}
	b.StopTimer()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms/step")
	b.ReportMetric(pct(0.99), "p99-ms/step")
	b.ReportMetric(float64(len(latencies))/wall.Seconds(), "steps/s")
}

// BenchmarkWebhookStep is one call at a time (start, menu, account number, PIN, verified): the
// cost of a step with nothing queued, against §10's budget for a voice-line step. ns/op is per
// step.
func BenchmarkWebhookStep(b *testing.B) {
	e := newLineEnv(b, func(c *HandlerConfig) { c.Log = slog.New(slog.DiscardHandler) })
	e.addCustomer("1234567", true)
	steps := 0
	b.ResetTimer()
	for steps < b.N {
		sid := twiliosim.NewCallSid()
		turn, err := e.sim.Start(context.Background(), sid, regCaller)
		steps++
		for _, k := range []string{"1", "1234567#", "1234"} {
			if err != nil {
				b.Fatal(err)
			}
			turn, err = e.sim.Press(context.Background(), sid, regCaller, turn, k)
			steps++
		}
		if err != nil || !turn.HungUp {
			b.Fatalf("%v %+v", err, turn)
		}
	}
}

// BenchmarkVoiceLineUnderPasswordFlood measures the voice line's step latency while 200
// clients flood password logins (unknown login IDs, each costing a production Argon2id hash)
// on the same machine and database, beside the same calls with no flood: the hashing bound
// (all cores but one, a bounded line) must leave the line its core. Figures: p50/p99 per step
// with and without the flood, and the logins served and refused (429) per second.
func BenchmarkVoiceLineUnderPasswordFlood(b *testing.B) {
	e := newLineEnv(b, func(c *HandlerConfig) { c.Log = slog.New(slog.DiscardHandler) })
	e.addCustomer("1234567", true)
	flood, err := auth.New(auth.Config{
		Pool: e.pool, Log: slog.New(slog.DiscardHandler), Now: e.clock.Now,
		Passwords: auth.NewPasswordHasher(auth.DefaultArgon2, auth.HashSlots()),
		PINKey:    []byte("test-pin-key-0123456789abcdef0123"),
		WebAuthn:  testRP(),
	})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	flood.Routes(mux)
	loginSrv := httptest.NewServer(mux)
	b.Cleanup(loginSrv.Close)

	calls := func(n int) []time.Duration {
		var out []time.Duration
		for range n {
			sid := twiliosim.NewCallSid()
			t0 := time.Now()
			turn, err := e.sim.Start(context.Background(), sid, regCaller)
			out = append(out, time.Since(t0))
			for _, k := range []string{"1", "1234567#", "1234"} {
				if err != nil {
					b.Fatal(err)
				}
				t0 = time.Now()
				turn, err = e.sim.Press(context.Background(), sid, regCaller, turn, k)
				out = append(out, time.Since(t0))
			}
			if err != nil || !turn.HungUp {
				b.Fatalf("%v %+v", err, turn)
			}
		}
		slices.Sort(out)
		return out
	}
	pct := func(d []time.Duration, p float64) float64 {
		return float64(d[int(p*float64(len(d)-1))].Microseconds()) / 1000
	}
	// Two kinds of flood: clients that wait as a 429's Retry-After asks (a browser's login
	// page, a well-behaved script) and clients that retry at once (an attacker). Both keep 200
	// password logins in flight; the second also makes the server answer thousands of 429s a
	// second, on the same two cores as the load generator itself and PostgreSQL.
	for _, polite := range []bool{true, false} {
		b.Run(map[bool]string{true: "clients=wait-retry-after", false: "clients=retry-at-once"}[polite], func(b *testing.B) {
			floodLine(b, calls, pct, loginSrv.URL, polite)
		})
	}
}

// floodLine is one sub-benchmark of BenchmarkVoiceLineUnderPasswordFlood.
func floodLine(b *testing.B, calls func(int) []time.Duration, pct func([]time.Duration, float64) float64, loginURL string, polite bool) {
	for b.Loop() {
		idle := calls(25)
		ctx, stop := context.WithCancel(context.Background())
		var served, busy atomic.Int64
		var wg sync.WaitGroup
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ctx.Err() == nil; n++ {
					body := fmt.Sprintf(`{"login_id":"flood-%d-%d","password":"not the password"}`, i, n)
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, loginURL+"/api/v1/login/password", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					res, err := client.Do(req)
					if err != nil {
						continue
					}
					res.Body.Close()
					if res.StatusCode == http.StatusTooManyRequests {
						busy.Add(1)
						if polite {
							wait := time.Second
							if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil {
								wait = time.Duration(s) * time.Second
							}
							select {
							case <-ctx.Done():
							case <-time.After(wait):
							}
						}
					} else {
						served.Add(1)
					}
				}
			}()
		}
		start := time.Now()
		flooded := calls(25)
		elapsed := time.Since(start)
		stop()
		wg.Wait()
		b.ReportMetric(pct(idle, 0.5), "idle-p50-ms/step")
		b.ReportMetric(pct(idle, 0.99), "idle-p99-ms/step")
		b.ReportMetric(pct(flooded, 0.5), "flood-p50-ms/step")
		b.ReportMetric(pct(flooded, 0.99), "flood-p99-ms/step")
		b.ReportMetric(float64(served.Load())/elapsed.Seconds(), "logins/s")
		b.ReportMetric(float64(busy.Load())/elapsed.Seconds(), "refused-429/s")
	}
}
