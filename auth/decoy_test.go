package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// A decoy costs what the hash it copies costs — the same kind, parameters and lengths of salt
// and hash — and no password matches it; a bcrypt decoy is compared in full, not refused early
// as malformed.
func TestDecoyCostsWhatItsSampleCosts(t *testing.T) {
	t.Parallel()
	const secret = "correct horse battery"
	samples := legacyHashes(t, secret)
	samples["kagi's own"] = NewPasswordHasher(fastArgon, 1).encode(randomBytes(16), []byte(secret))
	for name, sample := range samples {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want, err := parseStoredHash(sample)
			if err != nil {
				t.Fatal(err)
			}
			for range 50 { // random salts and hashes: every one must be well formed
				decoy, err := decoyOf(sample)
				if err != nil {
					t.Fatal(err)
				}
				got, err := parseStoredHash(decoy)
				if err != nil {
					t.Fatalf("the decoy %q does not parse: %v", decoy, err)
				}
				if decoy == sample || got.kind != want.kind || got.argon != want.argon || got.iter != want.iter ||
					got.logN != want.logN || got.r != want.r || got.p != want.p ||
					len(got.salt) != len(want.salt) || len(got.key) != len(want.key) || len(decoy) != len(sample) {
					t.Fatalf("the decoy %q is not of the shape of %q", decoy, sample)
				}
				if got.matches([]byte(secret)) {
					t.Fatal("the sample's password matches its decoy")
				}
				if got.kind == HashBcrypt {
					if cost, err := bcrypt.Cost([]byte(decoy)); err != nil || cost != bcrypt.MinCost {
						t.Fatalf("bcrypt cost %d %v", cost, err)
					}
					if err := bcrypt.CompareHashAndPassword([]byte(decoy), []byte(secret)); !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
						t.Fatalf("the bcrypt decoy %q is not compared in full: %v", decoy, err)
					}
				}
			}
		})
	}
}

// Unknown login IDs are verified against decoys in the proportions of the accounts without a
// passkey — by kind and cost — each always against the same kind; the accounts with a passkey
// (told apart by their answer anyway) and the accounts' own hashes are never drawn.
func TestUnknownLoginIDsDrawTheAccountsKinds(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx := context.Background()
	if err := e.svc.RefreshDecoys(ctx); err != nil {
		t.Fatal(err)
	}
	if d := e.svc.passwordDecoys.draw("nobody"); d != "" {
		t.Fatalf("no account yet: decoy %q, want kagi's own dummy", d)
	}
	hashes := legacyHashes(t, "correct horse battery")
	var lines []string
	add := func(n int, first int, password map[string]string) {
		for i := range n {
			num := fmt.Sprint(first + i)
			lines = append(lines, importedLine(t, num, "user"+num, password, plain("1234")))
		}
	}
	add(30, 100000, hashed(hashes["bcrypt $2a$"]))
	add(10, 200000, hashed(hashes["pbkdf2-sha256"]))
	add(20, 300000, plain("a plain password"))
	add(40, 400000, hashed(hashes["scrypt"]))
	if run := runImport(t, e.svc, strings.Join(lines, "\n"), ImportOptions{}); run.err != nil || run.counts.Created != 100 {
		t.Fatalf("import: %+v %v %v", run.counts, run.err, run.failures)
	}
	// The scrypt accounts have a passkey.
	if _, err := e.svc.pool.Exec(ctx, `
		INSERT INTO passkeys (account_id, credential_id, public_key, aaguid, backup_eligible, backup_state, created_at, last_used_at)
		SELECT id, int8send(id), '\x00', 'fbfc3007-154e-4ecc-8c0b-6e020557d7bd', true, true, now(), now()
		FROM accounts WHERE account_number LIKE '4%'`); err != nil {
		t.Fatal(err)
	}
	if d := e.svc.passwordDecoys.draw("nobody"); d != "" {
		t.Fatalf("before the mix is read: decoy %q, want kagi's own dummy", d)
	}
	if err := e.svc.RefreshDecoys(ctx); err != nil {
		t.Fatal(err)
	}

	stored := map[string]bool{}
	for _, h := range hashes {
		stored[h] = true
	}
	kinds := map[string]int{}
	const draws = 3000
	for i := range draws {
		id := fmt.Sprintf("unknown-%d", i)
		d := e.svc.passwordDecoys.draw(id)
		sh, err := parseStoredHash(d)
		if err != nil || stored[d] {
			t.Fatalf("%s: decoy %q: %v", id, d, err)
		}
		if again := e.svc.passwordDecoys.draw(id); again != d {
			t.Fatalf("%s drew %q, then %q", id, d, again)
		}
		kinds[sh.kind]++
	}
	for kind, share := range map[string]float64{HashBcrypt: 0.5, HashPBKDF2SHA256: 1.0 / 6, HashArgon2id: 1.0 / 3, HashScrypt: 0} {
		if got := float64(kinds[kind]) / draws; got < share-0.05 || got > share+0.05 {
			t.Errorf("%s drawn for %.3f of unknown login IDs, want %.3f (%v)", kind, got, share, kinds)
		}
	}
}

// A password login with an unknown login ID verifies the password against a hash of the
// accounts' own kind, and answers as a wrong password does.
func TestUnknownLoginIDVerifiedAgainstTheAccountsKind(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		kinds []string
	)
	hasher := NewPasswordHasher(fastArgon, 4)
	hasher.verifying = func(kind string) { mu.Lock(); kinds = append(kinds, kind); mu.Unlock() }
	e := newTestEnv(t, func(c *Config) { c.Passwords = hasher })
	verified := func() []string { mu.Lock(); defer mu.Unlock(); k := kinds; kinds = nil; return k }

	if status, body := e.passwordLogin(e.browser(), "nobody", "a password"); status != http.StatusUnauthorized || body["error"] != "invalid_credentials" {
		t.Fatalf("unknown login ID, no account: %d %v", status, body)
	}
	if k := verified(); len(k) != 1 || k[0] != HashArgon2id {
		t.Fatalf("no account: verified %v, want kagi's own argon2id", k)
	}
	const pw = "correct horse battery"
	text := importedLine(t, "100001", "hanako", hashed(legacyHashes(t, pw)["bcrypt $2y$"]), plain("1234"))
	if run := runImport(t, e.svc, text, ImportOptions{}); run.err != nil || run.counts.Created != 1 {
		t.Fatalf("import: %+v %v %v", run.counts, run.err, run.failures)
	}
	if err := e.svc.RefreshDecoys(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, login := range []struct{ id, password string }{{"nobody", "a password"}, {"hanako", "a wrong password"}} {
		status, body := e.passwordLogin(e.browser(), login.id, login.password)
		if status != http.StatusUnauthorized || body["error"] != "invalid_credentials" {
			t.Fatalf("%s: %d %v", login.id, status, body)
		}
		if k := verified(); len(k) != 1 || k[0] != HashBcrypt {
			t.Errorf("%s: verified %v, want bcrypt as the only account has", login.id, k)
		}
	}
}

// On the voice line, an account number no account has is checked against a decoy of the
// accounts' PIN hashes, in their proportions: an imported hash of its kind's cost, or kagi's
// own keyed hash; it never matches, not even with the PIN its decoy copied.
func TestUnknownAccountNumberCheckedLikeTheAccountsPINs(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx := context.Background()
	if err := e.svc.RefreshDecoys(ctx); err != nil {
		t.Fatal(err)
	}
	if va, found, err := e.svc.VoiceAccountByNumber(ctx, e.svc.pool, "999999"); err != nil || found || va.pinLegacy != nil {
		t.Fatalf("no account: %v %v, decoy %v", found, err, va.pinLegacy)
	}
	const pin = "1234"
	legacyPIN := legacyHashes(t, pin)["bcrypt $2a$"]
	var lines []string
	for i := range 20 {
		p := plain(pin)
		if i%2 == 0 {
			p = hashed(legacyPIN)
		}
		lines = append(lines, importedLine(t, fmt.Sprint(100000+i), fmt.Sprint("user", i), plain("a password"), p, "+819011112222"))
	}
	if run := runImport(t, e.svc, strings.Join(lines, "\n"), ImportOptions{}); run.err != nil || run.counts.Created != 20 {
		t.Fatalf("import: %+v %v %v", run.counts, run.err, run.failures)
	}
	if err := e.svc.RefreshDecoys(ctx); err != nil {
		t.Fatal(err)
	}
	const draws = 400
	legacy := 0
	for i := range draws {
		number := fmt.Sprint(500000 + i)
		va, found, err := e.svc.VoiceAccountByNumber(ctx, e.svc.pool, number)
		if err != nil || found {
			t.Fatalf("%s: %v %v", number, found, err)
		}
		if e.svc.CallerMatches(va, "+819011112222", pin) {
			t.Fatalf("%s, no account's, matches", number)
		}
		if va.pinLegacy == nil {
			continue
		}
		legacy++
		if sh, err := parseStoredHash(*va.pinLegacy); err != nil || sh.kind != HashBcrypt || *va.pinLegacy == legacyPIN {
			t.Fatalf("%s: decoy %q %v", number, *va.pinLegacy, err)
		}
	}
	if share := float64(legacy) / draws; share < 0.38 || share > 0.62 {
		t.Errorf("an imported PIN hash's decoy for %.2f of unknown account numbers, want half", share)
	}
}
