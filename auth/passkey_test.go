package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"kagi/auth/authtest"
	"kagi/notify"
	"kagi/pgdb"
)

// newPhone returns a virtual phone whose browser talks to e's server.
func (e *testEnv) newPhone(cfg authtest.Config) *authtest.Phone {
	cfg.BaseURL, cfg.Origin, cfg.RPID = e.srv.URL, testOrigin, "kagi.test"
	return authtest.NewPhone(cfg)
}

// loggedIn returns a browser holding a session of the account with assurance a, as a password
// login (or one through a fallback window) leaves it.
func (e *testEnv) loggedIn(acct Account, a Assurance) *http.Client {
	e.t.Helper()
	var token string
	err := pgdb.InTx(context.Background(), e.svc.pool, func(tx pgx.Tx) error {
		var err error
		token, _, err = e.svc.createSession(context.Background(), tx, acct.ID, a, time.Time{})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	c := e.browser()
	u, _ := url.Parse(e.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: SessionCookie, Value: token, Path: "/"}})
	return c
}

// auditDetails returns the details of the account's events of one kind, oldest first.
func (e *testEnv) auditDetails(accountID int64, event string) []map[string]any {
	e.t.Helper()
	rows, err := e.svc.pool.Query(context.Background(),
		`SELECT detail FROM audit_log WHERE account_id = $1 AND event = $2 ORDER BY id`, accountID, event)
	if err != nil {
		e.t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[map[string]any])
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// ceremonies counts the stored ceremonies.
func (e *testEnv) ceremonies() int {
	e.t.Helper()
	var n int
	if err := e.svc.pool.QueryRow(context.Background(), `SELECT count(*) FROM webauthn_ceremonies`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func wantRefusal(t *testing.T, what string, err error, status int, code string) {
	t.Helper()
	if authtest.Status(err) != status || authtest.Code(err) != code {
		t.Fatalf("%s: got %v, want %d %s", what, err, status, code)
	}
}

var otherAccount = NewAccount{
	LoginID: "hanako", Password: "another good password", AccountNumber: "7654321", PIN: "4321",
	Phones: []string{"+819087654321"}, Email: "hanako@example.jp", Name: "鈴木 花子",
}

func TestPasskeyRoundTrip(t *testing.T) {
	t.Parallel()
	// The email check and login notices on: a passkey login never needs the check, and is told.
	e := newTestEnv(t, func(c *Config) { c.EmailCheck, c.LoginNotice = true, true })
	acct := e.addAccount(demoAccount)
	ctx := context.Background()
	phone := e.newPhone(authtest.Config{})

	pk, err := phone.Register(ctx, e.loggedIn(acct, AssurancePassword))
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if pk.CredentialID != phone.CredentialIDs()[0] || pk.Provider != "iCloud Keychain" || !pk.Synced {
		t.Fatalf("registered passkey %+v", pk)
	}

	t.Run("discoverable login", func(t *testing.T) {
		c := e.browser()
		login, err := phone.Login(ctx, c, "")
		if err != nil || login.Assurance != "passkey" || !login.ExpiresAt.After(e.clock.Now()) {
			t.Fatalf("login: %+v %v", login, err)
		}
		status, body := e.do(c, "GET", "/api/v1/session", nil)
		if status != http.StatusOK || body["login_id"] != "taro" || body["assurance"] != "passkey" {
			t.Fatalf("session: %d %v", status, body)
		}
	})
	t.Run("login with the login ID", func(t *testing.T) {
		options, err := phone.BeginLogin(ctx, e.browser(), "taro")
		if err != nil {
			t.Fatal(err)
		}
		var o struct {
			PublicKey struct {
				AllowCredentials []struct{ ID string } `json:"allowCredentials"`
				UserVerification string                `json:"userVerification"`
			} `json:"publicKey"`
		}
		if err := json.Unmarshal(options, &o); err != nil {
			t.Fatal(err)
		}
		if len(o.PublicKey.AllowCredentials) != 0 || o.PublicKey.UserVerification != "required" {
			t.Fatalf("options %s: want no allowCredentials (they would reveal the passkey), user verification required", options)
		}
		if _, err := phone.Login(ctx, e.browser(), "taro"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("password refused even when right", func(t *testing.T) {
		status, body := e.passwordLogin(e.browser(), "taro", demoAccount.Password)
		if status != http.StatusForbidden || body["error"] != "passkey_required" {
			t.Fatalf("%d %v", status, body)
		}
	})
	t.Run("delete returns to password login", func(t *testing.T) {
		c := e.browser()
		if _, err := phone.Login(ctx, c, ""); err != nil {
			t.Fatal(err)
		}
		if err := phone.Delete(ctx, c); err != nil {
			t.Fatalf("delete: %v", err)
		}
		cur, err := phone.Current(ctx, c)
		if err != nil || cur.Passkey != nil {
			t.Fatalf("current after delete: %+v %v", cur, err)
		}
		if status, body := e.passwordLogin(e.browser(), "taro", demoAccount.Password); status != http.StatusOK || body["email_check"] == nil {
			t.Fatalf("password login after delete: %d %v, want the email check", status, body)
		}
		_, err = phone.Login(ctx, e.browser(), "")
		wantRefusal(t, "login with the deleted passkey", err, http.StatusUnauthorized, "passkey_failed")
		var apiErr *authtest.APIError
		if !errors.As(err, &apiErr) || apiErr.Body["credential_unknown"] != true {
			t.Fatalf("refusal of a deleted passkey %v: want credential_unknown so the page can signal it", err)
		}
	})
	events := e.auditEvents(acct.ID)
	for _, want := range []string{"passkey_created", "login_succeeded", "passkey_deleted"} {
		if !slices.Contains(events, want) {
			t.Errorf("audit %v lacks %s", events, want)
		}
	}
	for _, d := range e.auditDetails(acct.ID, "passkey_created") {
		if d["provider"] != "iCloud Keychain" || d["replaced"] != false || d["aaguid"] != authtest.AAGUIDiCloudKeychain {
			t.Errorf("passkey_created detail %v", d)
		}
	}
	// Told by email; the first passkey bound from a password session by SMS too (§2.13).
	want := []string{"email:passkey_added", "sms:passkey_added", "email:login", "email:login", "email:login", "email:passkey_deleted", "email:email_check"}
	if got := e.queuedKinds(acct.ID); !slices.Equal(got, want) {
		t.Errorf("queued %v, want %v", got, want)
	}
	for _, m := range e.queuedMessages(acct.ID) {
		if m.Event.Kind == notify.KindLogin && m.Event.Method != "passkey" {
			t.Errorf("login notice %+v, want method passkey", m.Event)
		}
		if m.Event.Kind == notify.KindPasskeyCreated && (m.Event.Provider != "「パスワード」(iCloud キーチェーン)" || m.Event.Recovery) {
			t.Errorf("passkey notice %+v", m.Event)
		}
	}
}

func TestSecondPasskeyRefused(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addAccount(demoAccount)
	ctx := context.Background()
	c := e.loggedIn(acct, AssurancePassword)
	phone := e.newPhone(authtest.Config{})

	// Two ceremonies begun before either finished: the second finish is refused in its own
	// transaction.
	first, err := phone.BeginRegistration(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	second, err := phone.BeginRegistration(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	cred1, err := phone.Create(first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := phone.FinishRegistration(ctx, c, cred1); err != nil {
		t.Fatal(err)
	}
	other := e.newPhone(authtest.Config{UserAgent: authtest.UAAndroid, AAGUID: authtest.AAGUIDGooglePasswordManager})
	cred2, err := other.Create(second)
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.FinishRegistration(ctx, c, cred2)
	wantRefusal(t, "finish of a second passkey", err, http.StatusConflict, "passkey_exists")

	_, err = other.Register(ctx, c)
	wantRefusal(t, "begin of a second passkey", err, http.StatusConflict, "passkey_exists")
	if got := err.(*authtest.APIError).Message; got != msgPasskeyExists {
		t.Errorf("message %q", got)
	}
	// The first passkey still logs in; the second phone's never does.
	if _, err := phone.Login(ctx, e.browser(), ""); err != nil {
		t.Fatal(err)
	}
	_, err = other.Login(ctx, e.browser(), "")
	wantRefusal(t, "login with the refused passkey", err, http.StatusUnauthorized, "passkey_failed")
}

func TestConcurrentRegistrationsStoreOnePasskey(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addAccount(demoAccount)
	ctx := context.Background()
	c := e.loggedIn(acct, AssurancePassword)
	var creds []json.RawMessage
	var phones []*authtest.Phone
	for range 4 {
		phone := e.newPhone(authtest.Config{})
		options, err := phone.BeginRegistration(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		cred, err := phone.Create(options)
		if err != nil {
			t.Fatal(err)
		}
		phones, creds = append(phones, phone), append(creds, cred)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes = map[string]int{}
	)
	for i := range creds {
		wg.Go(func() {
			_, err := phones[i].FinishRegistration(ctx, c, creds[i])
			mu.Lock()
			codes[authtest.Code(err)]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[""] != 1 || codes["passkey_exists"] != 3 {
		t.Fatalf("outcomes %v: want one passkey stored and three passkey_exists", codes)
	}
}

func TestPasskeyCreationNeedsSmartphone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("desktop refused", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t)
		acct := e.addAccount(demoAccount)
		c := e.loggedIn(acct, AssurancePassword)
		pc := e.newPhone(authtest.Config{UserAgent: authtest.UAWindows, AAGUID: "08987058-cadc-4b81-b6e1-30de50dcbe96"})
		_, err := pc.Register(ctx, c)
		wantRefusal(t, "begin from Windows", err, http.StatusForbidden, "smartphone_required")
		if got := err.(*authtest.APIError).Message; got != "パスキーの作成・利用にはスマートフォンをご利用ください。" {
			t.Errorf("message %q", got)
		}

		// Options fetched on a phone and finished from the desktop are refused too.
		phone := e.newPhone(authtest.Config{})
		options, err := phone.BeginRegistration(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		cred, err := pc.Create(options)
		if err != nil {
			t.Fatal(err)
		}
		_, err = pc.FinishRegistration(ctx, c, cred)
		wantRefusal(t, "finish from Windows", err, http.StatusForbidden, "smartphone_required")
		if cur, err := phone.Current(ctx, c); err != nil || cur.Passkey != nil {
			t.Fatalf("current: %+v %v", cur, err)
		}
		// The phone itself still may.
		if _, err := phone.Register(ctx, c); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("any lifts the rule", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t, func(c *Config) { c.CreatePlatforms = []string{PlatformAny} })
		acct := e.addAccount(demoAccount)
		pc := e.newPhone(authtest.Config{UserAgent: authtest.UAWindows, AAGUID: "08987058-cadc-4b81-b6e1-30de50dcbe96", DeviceBound: true})
		pk, err := pc.Register(ctx, e.loggedIn(acct, AssurancePassword))
		if err != nil {
			t.Fatal(err)
		}
		if pk.Provider != "Windows Hello" || pk.Synced || pk.BackupEligible {
			t.Fatalf("passkey %+v", pk)
		}
	})
}

func TestReplayedAssertionRefused(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addAccount(demoAccount)
	ctx := context.Background()
	phone := e.registeredPhone(acct, authtest.Config{})
	assertion, err := phone.Assert(ctx, e.browser(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := phone.FinishLogin(ctx, e.browser(), assertion); err != nil {
		t.Fatal(err)
	}
	attacker := e.browser()
	_, err = phone.FinishLogin(ctx, attacker, assertion)
	wantRefusal(t, "replayed assertion", err, http.StatusUnauthorized, "passkey_failed")
	if status, _ := e.do(attacker, "GET", "/api/v1/session", nil); status != http.StatusUnauthorized {
		t.Fatalf("the replay made a session: %d", status)
	}
	// Without a live ceremony nothing is looked up: the account's audit trail stays clean.
	if fails := e.auditDetails(acct.ID, "login_failed"); len(fails) != 0 {
		t.Fatalf("login_failed %v, want none without a ceremony", fails)
	}
}

func TestReusedChallengeRefused(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addAccount(demoAccount)
	ctx := context.Background()
	phone := e.registeredPhone(acct, authtest.Config{})
	options, err := phone.BeginLogin(ctx, e.browser(), "taro")
	if err != nil {
		t.Fatal(err)
	}
	// Two fresh signatures over the same challenge: only the first logs in.
	a1, err := phone.Get(options)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := phone.Get(options)
	if err != nil {
		t.Fatal(err)
	}
	if string(a1) == string(a2) {
		t.Fatal("the phone signed twice identically; the test would only replay")
	}
	if _, err := phone.FinishLogin(ctx, e.browser(), a1); err != nil {
		t.Fatal(err)
	}
	_, err = phone.FinishLogin(ctx, e.browser(), a2)
	wantRefusal(t, "second assertion for one challenge", err, http.StatusUnauthorized, "passkey_failed")
}

func TestConcurrentFinishesLogInOnce(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addAccount(demoAccount)
	ctx := context.Background()
	phone := e.registeredPhone(acct, authtest.Config{})
	assertion, err := phone.Assert(ctx, e.browser(), "")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	for range 10 {
		wg.Go(func() {
			_, err := phone.FinishLogin(ctx, e.browser(), assertion)
			status := http.StatusOK
			if err != nil {
				status = authtest.Status(err)
			}
			mu.Lock()
			statuses[status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if statuses[http.StatusOK] != 1 || statuses[http.StatusUnauthorized] != 9 {
		t.Fatalf("statuses %v: want exactly one login", statuses)
	}
}

func TestCounterGoingBackwardsRefused(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addAccount(demoAccount)
	ctx := context.Background()
	phone := e.registeredPhone(acct, authtest.Config{Counting: true, DeviceBound: true})
	for range 2 { // counters 1 and 2
		if _, err := phone.Login(ctx, e.browser(), ""); err != nil {
			t.Fatal(err)
		}
	}
	phone.SetCounter(0) // the next assertion says 1: a copy of the key that lags behind
	c := e.browser()
	_, err := phone.Login(ctx, c, "")
	wantRefusal(t, "login with a lagging counter", err, http.StatusUnauthorized, "passkey_failed")
	if status, _ := e.do(c, "GET", "/api/v1/session", nil); status != http.StatusUnauthorized {
		t.Fatalf("the clone got a session: %d", status)
	}
	warnings := e.auditDetails(acct.ID, "passkey_clone_warning")
	if len(warnings) != 1 || warnings[0]["stored_sign_count"] != float64(2) || warnings[0]["presented_sign_count"] != float64(1) {
		t.Fatalf("clone warnings %v", warnings)
	}
	var count int64
	if err := e.svc.pool.QueryRow(ctx, `SELECT sign_count FROM passkeys WHERE account_id = $1`, acct.ID).Scan(&count); err != nil || count != 2 {
		t.Fatalf("stored counter %d %v, want 2", count, err)
	}
	// The genuine authenticator, ahead of the stored counter, still logs in.
	phone.SetCounter(2)
	if _, err := phone.Login(ctx, e.browser(), ""); err != nil {
		t.Fatal(err)
	}
}

func TestDeletePasskeyNeedsRecentLogin(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addAccount(demoAccount)
	ctx := context.Background()
	phone := e.registeredPhone(acct, authtest.Config{})
	stale := e.browser()
	if _, err := phone.Login(ctx, stale, ""); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(reauthWindow + time.Second)
	err := phone.Delete(ctx, stale)
	wantRefusal(t, "delete with an old session", err, http.StatusForbidden, "reauth_required")
	if cur, err := phone.Current(ctx, stale); err != nil || cur.Passkey == nil {
		t.Fatalf("the passkey is gone after a refused delete: %+v %v", cur, err)
	}

	fresh := e.browser()
	if _, err := phone.Login(ctx, fresh, ""); err != nil {
		t.Fatal(err)
	}
	if err := phone.Delete(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	err = phone.Delete(ctx, fresh)
	wantRefusal(t, "second delete", err, http.StatusNotFound, "no_passkey")
}

func TestCurrentPasskeyDetails(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addAccount(demoAccount)
	ctx := context.Background()
	c := e.loggedIn(acct, AssurancePassword)
	phone := e.newPhone(authtest.Config{UserAgent: authtest.UAAndroid, AAGUID: authtest.AAGUIDGooglePasswordManager})

	cur, err := phone.Current(ctx, c)
	if err != nil || cur.Passkey != nil {
		t.Fatalf("before: %+v %v", cur, err)
	}
	if cur.User.ID != base64.RawURLEncoding.EncodeToString(acct.UserHandle) || cur.User.Name != "taro" ||
		cur.User.DisplayName != "山田 太郎" || cur.RPID != "kagi.test" {
		t.Fatalf("user and RP for the Signal API: %+v", cur)
	}

	created := e.clock.Now()
	if _, err := phone.Register(ctx, c); err != nil {
		t.Fatal(err)
	}
	cur, err = phone.Current(ctx, c)
	if err != nil || cur.Passkey == nil {
		t.Fatalf("after register: %+v %v", cur, err)
	}
	p := cur.Passkey
	if p.Provider != "Google Password Manager" || !p.Synced || !p.BackupEligible || p.AAGUID != authtest.AAGUIDGooglePasswordManager ||
		!p.CreatedAt.Equal(created) || p.LastUsedAt != nil || p.CredentialID != phone.CredentialIDs()[0] {
		t.Fatalf("passkey %+v", p)
	}

	e.clock.Advance(time.Hour)
	used := e.clock.Now()
	later := e.browser() // the first session has been idle for an hour: it ended
	if _, err := phone.Login(ctx, later, ""); err != nil {
		t.Fatal(err)
	}
	cur, err = phone.Current(ctx, later)
	if err != nil || cur.Passkey == nil || cur.Passkey.LastUsedAt == nil || !cur.Passkey.LastUsedAt.Equal(used) || !cur.Passkey.CreatedAt.Equal(created) {
		t.Fatalf("after login: %+v %v", cur.Passkey, err)
	}

	t.Run("unknown provider", func(t *testing.T) {
		acct := e.addAccount(otherAccount)
		c := e.loggedIn(acct, AssurancePassword)
		phone := e.newPhone(authtest.Config{AAGUID: "00000000-0000-0000-0000-000000000000", DeviceBound: true})
		pk, err := phone.Register(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if pk.Provider != "" || pk.Synced || pk.BackupEligible {
			t.Fatalf("passkey %+v", pk)
		}
	})
	t.Run("no session", func(t *testing.T) {
		_, err := phone.Current(ctx, e.browser())
		wantRefusal(t, "current without a session", err, http.StatusUnauthorized, "unauthorized")
	})
}

func TestRegisterWithAnotherAccountsCeremonyRefused(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	taro := e.loggedIn(e.addAccount(demoAccount), AssurancePassword)
	hanako := e.loggedIn(e.addAccount(otherAccount), AssurancePassword)
	ctx := context.Background()
	phone := e.newPhone(authtest.Config{})

	options, err := phone.BeginRegistration(ctx, taro)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := phone.Create(options)
	if err != nil {
		t.Fatal(err)
	}
	_, err = phone.FinishRegistration(ctx, hanako, cred)
	wantRefusal(t, "finish with another account's ceremony", err, http.StatusBadRequest, "passkey_failed")
	if cur, err := phone.Current(ctx, hanako); err != nil || cur.Passkey != nil {
		t.Fatalf("hanako got taro's passkey: %+v %v", cur, err)
	}
	// The attempt did not use up taro's ceremony.
	if _, err := phone.FinishRegistration(ctx, taro, cred); err != nil {
		t.Fatal(err)
	}
}

func TestExpiredCeremonyRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("registration", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t)
		c := e.loggedIn(e.addAccount(demoAccount), AssurancePassword)
		phone := e.newPhone(authtest.Config{})
		options, err := phone.BeginRegistration(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		cred, err := phone.Create(options)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(ceremonyTTL)
		_, err = phone.FinishRegistration(ctx, c, cred)
		wantRefusal(t, "expired registration", err, http.StatusBadRequest, "ceremony_expired")
		if got := err.(*authtest.APIError).Message; got != msgCeremonyExpired {
			t.Errorf("message %q", got)
		}
		_, err = phone.FinishRegistration(ctx, c, cred)
		wantRefusal(t, "expired registration again", err, http.StatusBadRequest, "passkey_failed")
	})
	t.Run("login", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t)
		acct := e.addAccount(demoAccount)
		phone := e.newPhone(authtest.Config{})
		if _, err := phone.Register(ctx, e.loggedIn(acct, AssurancePassword)); err != nil {
			t.Fatal(err)
		}
		assertion, err := phone.Assert(ctx, e.browser(), "")
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(ceremonyTTL)
		_, err = phone.FinishLogin(ctx, e.browser(), assertion)
		wantRefusal(t, "expired login", err, http.StatusUnauthorized, "passkey_failed")
		var apiErr *authtest.APIError
		if errors.As(err, &apiErr) && apiErr.Body["credential_unknown"] != nil {
			t.Fatalf("an expired ceremony must not make the page forget a valid passkey: %v", apiErr.Body)
		}
		if fails := e.auditDetails(acct.ID, "login_failed"); len(fails) != 0 {
			t.Fatalf("login_failed %v, want none for an expired ceremony", fails)
		}
		if n := e.ceremonies(); n != 0 {
			t.Fatalf("%d ceremonies left: the expired one must be consumed", n)
		}
	})
}

// recordingWindows is a FallbackWindows whose windows the test opens by hand, and which
// records what the core closes.
type recordingWindows struct {
	mu     sync.Mutex
	open   map[int64]Window
	closed []CloseReason
}

func (w *recordingWindows) OpenWindow(_ context.Context, _ pgdb.Querier, accountID int64, now time.Time) (Window, bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	win, ok := w.open[accountID]
	return win, ok && win.ExpiresAt.After(now), nil
}

func (w *recordingWindows) WindowUsed(context.Context, pgx.Tx, Window, time.Time) error { return nil }

func (w *recordingWindows) CloseWindow(_ context.Context, _ pgx.Tx, accountID int64, reason CloseReason, _ time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.open[accountID]; ok {
		delete(w.open, accountID)
		w.closed = append(w.closed, reason)
	}
	return nil
}

func (w *recordingWindows) openFor(accountID int64, win Window) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.open[accountID] = win
}

func (w *recordingWindows) closedReasons() []CloseReason {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.closed)
}

func TestRecoverySessionReplacesPasskey(t *testing.T) {
	t.Parallel()
	windows := &recordingWindows{open: map[int64]Window{}}
	e := newTestEnv(t, func(c *Config) { c.Windows, c.RecoveryHold = windows, DefaultRecoveryHold })
	acct := e.addAccount(demoAccount)
	ctx := context.Background()
	lost := e.newPhone(authtest.Config{})
	before := e.loggedIn(acct, AssurancePassword)
	if _, body := e.do(before, "GET", "/api/v1/session", nil); body["recovered_at"] != nil || body["hold_until"] != nil {
		t.Fatalf("a hold before any recovery: %v", body)
	}
	if _, err := lost.Register(ctx, e.loggedIn(acct, AssurancePassword)); err != nil {
		t.Fatal(err)
	}

	// The customer lost the iPhone, called the voice line, and logged in through the window
	// on a new Android phone.
	windows.openFor(acct.ID, Window{ID: 7, ExpiresAt: e.clock.Now().Add(30 * time.Minute), OpenedVia: "ivr"})
	recovery := e.loggedIn(acct, AssurancePasswordFallback)
	phone := e.newPhone(authtest.Config{UserAgent: authtest.UAAndroid, AAGUID: authtest.AAGUIDGooglePasswordManager})
	options, err := phone.BeginRegistration(ctx, recovery)
	if err != nil {
		t.Fatalf("begin from a recovery session: %v", err)
	}
	if containsKey(options, "excludeCredentials") {
		t.Fatalf("options %s exclude the passkey being replaced", options)
	}
	cred, err := phone.Create(options)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := phone.FinishRegistration(ctx, recovery, cred)
	if err != nil {
		t.Fatalf("finish from a recovery session: %v", err)
	}
	if pk.Provider != "Google Password Manager" {
		t.Fatalf("passkey %+v", pk)
	}
	if got := windows.closedReasons(); !slices.Equal(got, []CloseReason{ClosedPasskeyCreated}) {
		t.Fatalf("closed windows %v, want the window closed because the passkey was created", got)
	}
	created := e.auditDetails(acct.ID, "passkey_created")
	if len(created) != 2 || created[1]["replaced"] != true || created[1]["replaced_aaguid"] != authtest.AAGUIDiCloudKeychain ||
		created[1]["assurance"] != "password_fallback" {
		t.Fatalf("passkey_created %v", created)
	}

	_, err = lost.Login(ctx, e.browser(), "")
	wantRefusal(t, "login with the replaced passkey", err, http.StatusUnauthorized, "passkey_failed")
	fresh := e.browser()
	if _, err := phone.Login(ctx, fresh, "taro"); err != nil {
		t.Fatalf("login with the new passkey: %v", err)
	}
	// The replacement was a recovery: even a passkey session reports the hold (§2.11).
	holdOf := func(c *http.Client) (any, any) {
		_, body := e.do(c, "GET", "/api/v1/session", nil)
		return body["recovered_at"], body["hold_until"]
	}
	wantR, wantH := e.clock.Now().In(jst).Format(time.RFC3339), e.clock.Now().Add(DefaultRecoveryHold).In(jst).Format(time.RFC3339)
	if r, h := holdOf(fresh); r != wantR || h != wantH {
		t.Fatalf("after the replacement: recovered_at %v hold_until %v, want %s %s", r, h, wantR, wantH)
	}

	// A replacement is a recovery event: told by email and texted to the registered phone.
	if got, want := e.queuedKinds(acct.ID), []string{"email:passkey_added", "sms:passkey_added", "email:passkey_replaced", "sms:passkey_replaced"}; !slices.Equal(got, want) {
		t.Fatalf("queued %v, want %v", got, want)
	}

	t.Run("deleting closes the window", func(t *testing.T) {
		e.clock.Advance(time.Hour)
		windows.openFor(acct.ID, Window{ID: 8, ExpiresAt: e.clock.Now().Add(30 * time.Minute), OpenedVia: "operator"})
		if err := phone.Delete(ctx, e.loggedIn(acct, AssurancePasswordFallback)); err != nil {
			t.Fatal(err)
		}
		if got := windows.closedReasons(); !slices.Equal(got, []CloseReason{ClosedPasskeyCreated, ClosedPasskeyDeleted}) {
			t.Fatalf("closed windows %v", got)
		}
		// Deleted from a recovery session an hour later: a recovery, which extends the hold, and
		// texted too.
		if r, _ := holdOf(e.loggedIn(acct, AssurancePassword)); r != e.clock.Now().In(jst).Format(time.RFC3339) {
			t.Fatalf("after the deletion: recovered_at %v", r)
		}
		e.clock.Advance(DefaultRecoveryHold)
		if r, h := holdOf(e.loggedIn(acct, AssurancePassword)); r != nil || h != nil {
			t.Fatalf("the hold outlived KAGI_RECOVERY_HOLD: %v %v", r, h)
		}
		got := e.queuedKinds(acct.ID)
		if tail := got[len(got)-2:]; !slices.Equal(tail, []string{"email:passkey_deleted", "sms:passkey_deleted"}) {
			t.Fatalf("queued %v", got)
		}
		if m := e.queuedMessages(acct.ID); !m[len(m)-1].Event.Recovery || m[len(m)-1].To != demoAccount.Phones[0] {
			t.Fatalf("deletion text %+v", m[len(m)-1])
		}
	})
}

func containsKey(raw json.RawMessage, key string) bool {
	var o struct {
		PublicKey map[string]json.RawMessage `json:"publicKey"`
	}
	if json.Unmarshal(raw, &o) != nil {
		return false
	}
	_, ok := o.PublicKey[key]
	return ok
}

func TestLoginBeginRevealsNoAccounts(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	withPasskey := e.addAccount(demoAccount)
	e.addAccount(otherAccount)
	ctx := context.Background()
	phone := e.registeredPhone(withPasskey, authtest.Config{})

	// shape is the answer with the random challenge blanked out.
	shape := func(loginID string) string {
		t.Helper()
		status, o := e.do(e.browser(), "POST", "/api/v1/passkeys/login/begin", map[string]string{"login_id": loginID})
		if status != http.StatusOK {
			t.Fatalf("begin with %q: %d %v", loginID, status, o)
		}
		pk, _ := o["publicKey"].(map[string]any)
		if c, _ := pk["challenge"].(string); len(c) < 22 {
			t.Fatalf("challenge in %v", o)
		}
		pk["challenge"] = ""
		b, _ := json.Marshal(o)
		return string(b)
	}
	discoverable := shape("")
	if strings.Contains(discoverable, "allowCredentials") {
		t.Fatalf("discoverable options %s name credentials", discoverable)
	}
	ids := []string{"taro", "hanako", "nobody", "a\x00b", strings.Repeat("x", 1000)}
	for _, id := range ids {
		if got := shape(id); got != discoverable {
			t.Errorf("options for %.20q: %s\ndiffer from the discoverable ones: %s", id, got, discoverable)
		}
	}
	// Begun with taro's login ID the ceremony is bound to taro's account on the server, so
	// taro's passkey logs in; begun with another ID (with or without an account) it accepts
	// no passkey; an ID that cannot be looked up begins a discoverable login.
	for _, id := range append(ids, "") {
		_, err := phone.Login(ctx, e.browser(), id)
		if bound := id == "hanako" || id == "nobody"; bound != (err != nil) {
			t.Errorf("login begun with %.20q: %v", id, err)
		}
	}
}

func TestLoginIDCeremonyOnlyLogsInThatAccount(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	taro := e.addAccount(demoAccount)
	hanako := e.addAccount(otherAccount)
	ctx := context.Background()
	taroPhone := e.newPhone(authtest.Config{})
	hanakoPhone := e.newPhone(authtest.Config{})
	if _, err := taroPhone.Register(ctx, e.loggedIn(taro, AssurancePassword)); err != nil {
		t.Fatal(err)
	}
	if _, err := hanakoPhone.Register(ctx, e.loggedIn(hanako, AssurancePassword)); err != nil {
		t.Fatal(err)
	}
	options, err := taroPhone.BeginLogin(ctx, e.browser(), "taro")
	if err != nil {
		t.Fatal(err)
	}
	// The options name no credential, so hanako's phone answers with hanako's passkey.
	assertion, err := hanakoPhone.Get(options)
	if err != nil {
		t.Fatal(err)
	}
	_, err = hanakoPhone.FinishLogin(ctx, e.browser(), assertion)
	wantRefusal(t, "hanako's passkey on taro's ceremony", err, http.StatusUnauthorized, "passkey_failed")
	if fails := e.auditDetails(hanako.ID, "login_failed"); len(fails) != 1 || fails[0]["reason"] != "credential_not_allowed" {
		t.Fatalf("login_failed %v", fails)
	}

	// A login ID without a passkey, or no account at all, binds the ceremony just the same: it
	// accepts no passkey, so which IDs have one does not show.
	for _, id := range []string{"nobody", "hanako-without"} {
		assertion, err := hanakoPhone.Assert(ctx, e.browser(), id)
		if err != nil {
			t.Fatal(err)
		}
		_, err = hanakoPhone.FinishLogin(ctx, e.browser(), assertion)
		wantRefusal(t, "a passkey on the ceremony of "+id, err, http.StatusUnauthorized, "passkey_failed")
	}
}

// A used login challenge is kept until its end and purged after it by the expiry job.
func TestPurgeUsedChallenges(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx := context.Background()
	phone := e.registeredPhone(e.addAccount(demoAccount), authtest.Config{})
	for range 3 {
		if _, err := phone.Login(ctx, e.browser(), ""); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(ceremonyTTL)
	if _, err := phone.Login(ctx, e.browser(), ""); err != nil {
		t.Fatal(err)
	}
	n, err := PurgeUsedChallenges(ctx, e.svc.pool, e.clock.Now(), 1000)
	if err != nil || n != 3 {
		t.Fatalf("purged %d %v, want the 3 past their end", n, err)
	}
	var left int
	if err := e.svc.pool.QueryRow(ctx, `SELECT count(*) FROM used_challenges`).Scan(&left); err != nil || left != 1 {
		t.Fatalf("%d used challenges left (%v), want the live one", left, err)
	}
}

func TestPasskeyFinishRejectsGarbage(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	c := e.loggedIn(e.addAccount(demoAccount), AssurancePassword)
	for name, body := range map[string]any{
		"empty object":  map[string]any{},
		"not an object": []int{1},
		"bad challenge": map[string]any{"id": "AAAA", "rawId": "AAAA", "type": "public-key",
			"response": map[string]any{"clientDataJSON": base64.RawURLEncoding.EncodeToString([]byte(`{"type":"webauthn.get","challenge":"!!","origin":"https://kagi.test"}`))}},
	} {
		if status, got := e.do(e.browser(), "POST", "/api/v1/passkeys/login/finish", body); status != http.StatusUnauthorized || got["error"] != "passkey_failed" {
			t.Errorf("login %s: %d %v", name, status, got)
		}
		status, got := e.do(c, "POST", "/api/v1/passkeys/register/finish", body, "User-Agent", authtest.UAiPhone)
		if status != http.StatusBadRequest || got["error"] != "passkey_failed" {
			t.Errorf("register %s: %d %v", name, status, got)
		}
	}
}

func TestFinishWithoutCeremonyTellsNothing(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	acct := e.addAccount(demoAccount)
	ctx := context.Background()
	phone := e.registeredPhone(acct, authtest.Config{})
	// An assertion over a challenge the server never gave out: anyone can make one with any
	// credential ID.
	forge := func() json.RawMessage {
		t.Helper()
		options := fmt.Sprintf(`{"publicKey":{"challenge":%q,"rpId":"kagi.test","timeout":300000,"userVerification":"required"}}`,
			base64.RawURLEncoding.EncodeToString(randomBytes(32)))
		assertion, err := phone.Get(json.RawMessage(options))
		if err != nil {
			t.Fatal(err)
		}
		return assertion
	}
	refused := func(what string) {
		t.Helper()
		_, err := phone.FinishLogin(ctx, e.browser(), forge())
		wantRefusal(t, what, err, http.StatusUnauthorized, "passkey_failed")
		var apiErr *authtest.APIError
		if errors.As(err, &apiErr) && apiErr.Body["credential_unknown"] != nil {
			t.Errorf("%s: %v tells whether the credential exists", what, apiErr.Body)
		}
	}

	refused("the customer's credential without a ceremony")
	if fails := e.auditDetails(acct.ID, "login_failed"); len(fails) != 0 {
		t.Fatalf("login_failed %v on the customer's account from a request without a ceremony", fails)
	}
	if _, err := e.svc.pool.Exec(ctx, `DELETE FROM passkeys WHERE account_id = $1`, acct.ID); err != nil {
		t.Fatal(err)
	}
	refused("an unknown credential without a ceremony")
	// With a live ceremony the page may hear that the credential is unknown.
	_, err := phone.Login(ctx, e.browser(), "")
	var apiErr *authtest.APIError
	if !errors.As(err, &apiErr) || apiErr.Body["credential_unknown"] != true {
		t.Fatalf("unknown credential on a live ceremony: %v, want credential_unknown", err)
	}
}

// sessionAlive reports whether the browser's session still works.
func (e *testEnv) sessionAlive(c *http.Client) bool {
	e.t.Helper()
	status, _ := e.do(c, "GET", "/api/v1/session", nil)
	return status == http.StatusOK
}

func TestPasskeyChangeEndsOtherSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("deleting keeps only the acting session", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t)
		acct := e.addAccount(demoAccount)
		phone := e.newPhone(authtest.Config{})
		if _, err := phone.Register(ctx, e.loggedIn(acct, AssurancePassword)); err != nil {
			t.Fatal(err)
		}
		thief, owner := e.browser(), e.browser()
		for _, c := range []*http.Client{thief, owner} {
			if _, err := phone.Login(ctx, c, ""); err != nil {
				t.Fatal(err)
			}
		}
		if err := phone.Delete(ctx, owner); err != nil {
			t.Fatal(err)
		}
		if e.sessionAlive(thief) {
			t.Error("another passkey session survived the deletion of the passkey")
		}
		if !e.sessionAlive(owner) {
			t.Error("the session that deleted the passkey was ended")
		}
		// The thief's and the registering password session.
		if d := e.auditDetails(acct.ID, "passkey_deleted"); len(d) != 1 || d[0]["sessions_ended"] != float64(2) {
			t.Errorf("passkey_deleted %v, want sessions_ended 2", d)
		}
	})
	t.Run("replacing after a lost phone logs the thief out", func(t *testing.T) {
		t.Parallel()
		windows := &recordingWindows{open: map[int64]Window{}}
		e := newTestEnv(t, func(c *Config) { c.Windows = windows })
		acct := e.addAccount(demoAccount)
		lost := e.newPhone(authtest.Config{})
		if _, err := lost.Register(ctx, e.loggedIn(acct, AssurancePassword)); err != nil {
			t.Fatal(err)
		}
		thief := e.browser()
		if _, err := lost.Login(ctx, thief, ""); err != nil {
			t.Fatal(err)
		}
		windows.openFor(acct.ID, Window{ID: 9, ExpiresAt: e.clock.Now().Add(30 * time.Minute), OpenedVia: "ivr"})
		recovery := e.loggedIn(acct, AssurancePasswordFallback)
		phone := e.newPhone(authtest.Config{UserAgent: authtest.UAAndroid, AAGUID: authtest.AAGUIDGooglePasswordManager})
		if _, err := phone.Register(ctx, recovery); err != nil {
			t.Fatal(err)
		}
		if e.sessionAlive(thief) {
			t.Error("the thief's passkey session survived the replacement of the passkey")
		}
		if e.sessionAlive(recovery) {
			t.Error("the recovery session survived the replacement it was for")
		}
		created := e.auditDetails(acct.ID, "passkey_created")
		if len(created) != 2 || created[1]["sessions_ended"] != float64(3) {
			t.Errorf("passkey_created %v, want sessions_ended 3 (password, thief, recovery)", created)
		}
	})
	t.Run("the operator's deletion ends every session", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t)
		acct := e.addAccount(demoAccount)
		phone := e.newPhone(authtest.Config{})
		if _, err := phone.Register(ctx, e.loggedIn(acct, AssurancePassword)); err != nil {
			t.Fatal(err)
		}
		c := e.browser()
		if _, err := phone.Login(ctx, c, ""); err != nil {
			t.Fatal(err)
		}
		err := pgdb.InTx(ctx, e.svc.pool, func(tx pgx.Tx) error {
			_, ok, err := e.svc.DeletePasskey(ctx, tx, acct.ID, "staff:suzuki")
			if err == nil && !ok {
				t.Error("no passkey deleted")
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if e.sessionAlive(c) {
			t.Error("a passkey session survived the operator's deletion")
		}
		if d := e.auditDetails(acct.ID, "passkey_deleted"); len(d) != 1 || d[0]["sessions_ended"] != float64(2) {
			t.Errorf("passkey_deleted %v, want sessions_ended 2", d)
		}
	})
}

func TestInTxKeepingRefusalsRetriesLikeInTx(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	deadlock := &pgconn.PgError{Code: "40P01"}
	refusal := errors.New("refused")
	runs := 0
	err := pgdb.InTxKeeping(context.Background(), e.svc.pool, func(tx pgx.Tx) error {
		runs++
		if runs == 1 {
			return deadlock
		}
		if _, err := tx.Exec(context.Background(), `INSERT INTO login_throttle (login_key, failures, window_start) VALUES ('k', 1, now())`); err != nil {
			return err
		}
		return pgdb.Keep(refusal)
	})
	if !errors.Is(err, refusal) || runs != 2 {
		t.Fatalf("got %v after %d runs, want the second run's refusal", err, runs)
	}
	var n int
	if err := e.svc.pool.QueryRow(context.Background(), `SELECT count(*) FROM login_throttle`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows (%v): the refused run's writes must commit", n, err)
	}
}

// registeredPhone is a new phone that has created acct's passkey from a password session.
func (e *testEnv) registeredPhone(acct Account, cfg authtest.Config) *authtest.Phone {
	e.t.Helper()
	phone := e.newPhone(cfg)
	if _, err := phone.Register(context.Background(), e.loggedIn(acct, AssurancePassword)); err != nil {
		e.t.Fatal(err)
	}
	return phone
}

// A passkey login finishing while the customer deletes the passkey from another session: the
// two queue up on the account's and the passkey's rows in one order, so PostgreSQL aborts
// nothing for a deadlock and no request fails with a 5xx — the login either made its session
// (which the deletion then ended) or was refused like any unknown passkey.
func TestPasskeyLoginRacingItsDeletion(t *testing.T) {
	// Not parallel: pgdb.Retried counts the whole process, and another test of the package
	// makes a deadlock on purpose (parallel tests run only after this one).
	e := newTestEnv(t)
	acct := e.addAccount(demoAccount)
	ctx := context.Background()
	before := pgdb.Retried()
	for round := range 10 {
		phone := e.registeredPhone(acct, authtest.Config{})
		deleter := e.browser()
		if _, err := phone.Login(ctx, deleter, ""); err != nil {
			t.Fatal(err)
		}
		assertion, err := phone.Assert(ctx, e.browser(), "")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var loginErr, deleteErr error
		wg.Add(2)
		go func() { defer wg.Done(); _, loginErr = phone.FinishLogin(ctx, e.browser(), assertion) }()
		go func() { defer wg.Done(); deleteErr = phone.Delete(ctx, deleter) }()
		wg.Wait()
		if deleteErr != nil {
			t.Fatalf("round %d: delete: %v", round, deleteErr)
		}
		var apiErr *authtest.APIError
		if loginErr != nil && (!errors.As(loginErr, &apiErr) || apiErr.Status != http.StatusUnauthorized) {
			t.Fatalf("round %d: login: %v, want success or 401", round, loginErr)
		}
	}
	if n := pgdb.Retried() - before; n != 0 {
		t.Errorf("PostgreSQL aborted %d transactions for a deadlock or conflict", n)
	}
}

// The post-recovery offer (conditional create): a recovery session begins a mediated
// registration, whose finish accepts a passkey the password manager made without verifying the
// user; logging in with it still demands verification. Nothing but a recovery session may begin
// one, and the ordinary ceremony still refuses a creation without verification.
func TestConditionalCreateAfterRecovery(t *testing.T) {
	t.Parallel()
	windows := &recordingWindows{open: map[int64]Window{}}
	e := newTestEnv(t, func(c *Config) { c.Windows = windows })
	acct := e.addAccount(demoAccount)
	ctx := context.Background()
	e.registeredPhone(acct, authtest.Config{}) // the passkey of the lost phone
	windows.openFor(acct.ID, Window{ID: 7, ExpiresAt: e.clock.Now().Add(30 * time.Minute), OpenedVia: "ivr"})
	recovery := e.loggedIn(acct, AssurancePasswordFallback)
	silent := e.newPhone(authtest.Config{UserAgent: authtest.UAAndroid, UserNotVerified: true})

	full := e.loggedIn(e.addAccount(otherAccount), AssurancePassword) // an account without a passkey
	if _, err := silent.BeginConditionalRegistration(ctx, full); authtest.Status(err) != http.StatusForbidden {
		t.Fatalf("a full session began the post-recovery offer: %v", err)
	}
	if _, err := silent.Register(ctx, recovery); authtest.Status(err) != http.StatusBadRequest {
		t.Fatalf("the ordinary ceremony accepted a creation without user verification: %v", err)
	}
	options, err := silent.BeginConditionalRegistration(ctx, recovery)
	if err != nil {
		t.Fatal(err)
	}
	var o struct {
		Mediation string `json:"mediation"`
		PublicKey struct {
			AuthenticatorSelection struct {
				ResidentKey string `json:"residentKey"`
			} `json:"authenticatorSelection"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil || o.Mediation != "conditional" || o.PublicKey.AuthenticatorSelection.ResidentKey != "required" {
		t.Fatalf("conditional options %s: %v", options, err)
	}
	cred, err := silent.Create(options)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := silent.FinishRegistration(ctx, recovery, cred); err != nil {
		t.Fatalf("the offer's passkey was refused: %v", err)
	}
	if got := windows.closedReasons(); !slices.Equal(got, []CloseReason{ClosedPasskeyCreated}) {
		t.Fatalf("closed windows %v", got)
	}
	// Every login still requires user verification.
	_, err = silent.Login(ctx, e.browser(), "")
	wantRefusal(t, "login without user verification", err, http.StatusUnauthorized, "passkey_failed")
	verified := silent.Sync(func(c *authtest.Config) { c.UserNotVerified = false })
	if _, err := verified.Login(ctx, e.browser(), ""); err != nil {
		t.Fatalf("login with the offered passkey, verified: %v", err)
	}
}
