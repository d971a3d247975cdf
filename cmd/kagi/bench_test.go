package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/auth"
	"kagi/pgdb/pgtest"
)

// floorWindowSQL is the fallback-window check's query as recovery sends it: the floor server
// answers it too, so the two differ only in what kagi does around it.
const floorWindowSQL = `
	SELECT w.expires_at, w.opened_via, a.recovered_at, a.hold_from, a.hold_reason
	FROM accounts a
	LEFT JOIN fallback_windows w ON w.account_id = a.id AND w.closed_at IS NULL AND w.expires_at > $2
	WHERE a.login_id = $1`

// floorHandler is the least a Go server can do to answer the check: the query on its own
// pgxpool (pgx's defaults), its columns as JSON, nothing else — no key, no request id, no
// metrics, no hold.
func floorHandler(pool *pgxpool.Pool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var (
			expires, recovered, holdFrom *time.Time
			via, reason                  *string
		)
		err := pool.QueryRow(r.Context(), floorWindowSQL, r.URL.Query().Get("login_id"), time.Now()).Scan(&expires, &via, &recovered, &holdFrom, &reason)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"open": expires != nil, "expires_at": expires, "opened_via": via})
	})
}

// BenchmarkWindowCheckAgainstFloor answers GET /api/v1/fallback-window (§3.6) from kagi's
// public handler as `kagi serve` builds it (its frame, the service key, the outbox started
// beside it) and from floorHandler, on the same database, each over loopback HTTP with
// keep-alive clients, alternating server by server in short turns. Figures: requests/s of
// each and kagi's as a ratio of the floor's, at 2 and at 8 clients (issue 23: ≥ 0.95).
func BenchmarkWindowCheckAgainstFloor(b *testing.B) {
	dbURL := pgtest.URL(b, schema...)
	env := prodEnv(dbURL)
	env["KAGI_API_KEYS"] = "bench-service-key-0123456789"
	env["KAGI_PUBLIC_URL"], env["KAGI_CONSOLE_URL"] = "http://localhost:8080", "http://localhost:8081"
	// As `kagi serve --dev` runs: mail and texts go to the development mailbox in the same
	// database, so the outbox's workers run beside the checks as they would.
	flags := addAppFlags(newFlagSet("bench"), forServe, "")
	*flags.dev = true
	a, err := flags.open(context.Background(), envOf(env), io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer a.close()
	if err := a.outbox.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer a.outbox.Stop(context.Background())
	h, err := a.handler(&readiness{pool: a.pool})
	if err != nil {
		b.Fatal(err)
	}
	kagiSrv := httptest.NewUnstartedServer(h)
	kagiSrv.Config = newServer(h)
	kagiSrv.Start()
	defer kagiSrv.Close()
	floorPool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer floorPool.Close()
	floorSrv := httptest.NewServer(floorHandler(floorPool))
	defer floorSrv.Close()

	const accounts = 20
	var ids []string
	for i := range accounts {
		acct := auth.NewAccount{LoginID: fmt.Sprintf("bench%02d", i), Password: "bench-password-1234", Name: "ベンチ",
			Email: fmt.Sprintf("bench%02d@example.jp", i), AccountNumber: fmt.Sprintf("9%06d", i), PIN: "1234",
			Phones: []string{fmt.Sprintf("+8190%08d", i)}}
		if _, err := a.auth.CreateAccount(context.Background(), acct); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, acct.LoginID)
	}

	// rate sends perClient checks from each of c keep-alive clients and returns requests/s.
	rate := func(base string, key string, c int) float64 {
		const perClient = 500
		tr := &http.Transport{MaxIdleConnsPerHost: c}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr}
		var wg sync.WaitGroup
		start := time.Now()
		for i := range c {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range perClient {
					req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/fallback-window?login_id="+url.QueryEscape(ids[(i*perClient+n)%accounts]), nil)
					req.Header.Set("Authorization", "Bearer "+key)
					res, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						b.Errorf("status %d from %s", res.StatusCode, base)
						return
					}
				}
			}()
		}
		wg.Wait()
		return float64(c*perClient) / time.Since(start).Seconds()
	}
	for b.Loop() {
		for _, c := range []int{2, 8} {
			// Short turns, the order flipped each time, so that what else the machine does
			// falls on both alike.
			const turns = 8
			var kagiRate, floorRate float64
			for i := range turns {
				if i%2 == 0 {
					floorRate += rate(floorSrv.URL, "", c)
					kagiRate += rate(kagiSrv.URL, env["KAGI_API_KEYS"], c)
				} else {
					kagiRate += rate(kagiSrv.URL, env["KAGI_API_KEYS"], c)
					floorRate += rate(floorSrv.URL, "", c)
				}
			}
			b.ReportMetric(floorRate/turns, fmt.Sprintf("floor_req/s_c%d", c))
			b.ReportMetric(kagiRate/turns, fmt.Sprintf("kagi_req/s_c%d", c))
			b.ReportMetric(kagiRate/floorRate, fmt.Sprintf("ratio_c%d", c))
		}
	}
}
