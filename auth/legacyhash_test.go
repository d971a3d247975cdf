package auth

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/pbkdf2"
	"golang.org/x/crypto/scrypt"
)

var b64 = base64.RawStdEncoding.EncodeToString

// legacyHashes are the kinds an old system hands over (§12.1), each of secret, made by x/crypto
// as another system would have made them.
func legacyHashes(t testing.TB, secret string) map[string]string {
	t.Helper()
	salt := []byte("sixteen byte slt")
	bc, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scrypt.Key([]byte(secret), salt, 1<<4, 8, 1, 32)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"bcrypt $2a$":   string(bc),
		"bcrypt $2b$":   "$2b$" + string(bc[4:]),
		"bcrypt $2y$":   "$2y$" + string(bc[4:]),
		"pbkdf2-sha256": "$pbkdf2-sha256$i=1000$" + b64(salt) + "$" + b64(pbkdf2.Key([]byte(secret), salt, 1000, 32, sha256.New)),
		"pbkdf2-sha512": "$pbkdf2-sha512$i=1000$" + b64(salt) + "$" + b64(pbkdf2.Key([]byte(secret), salt, 1000, 64, sha512.New)),
		"scrypt":        "$scrypt$ln=4,r=8,p=1$" + b64(salt) + "$" + b64(sc),
		"argon2id other parameters": fmt.Sprintf("$argon2id$v=19$m=2048,t=2,p=2$%s$%s", b64(salt),
			b64(argon2.IDKey([]byte(secret), salt, 2, 2048, 2, 32))),
	}
}

func TestStoredHashesVerify(t *testing.T) {
	t.Parallel()
	for name, h := range legacyHashes(t, "correct horse battery") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sh, err := parseStoredHash(h)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !sh.matches([]byte("correct horse battery")) {
				t.Error("the right password does not match")
			}
			for _, wrong := range []string{"", "correct horse batter", "correct horse battery "} {
				if sh.matches([]byte(wrong)) {
					t.Errorf("%q matches", wrong)
				}
			}
		})
	}
	// A vector from outside Go: OpenBSD's bcrypt of "U*U".
	sh, err := parseStoredHash("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")
	if err != nil || !sh.matches([]byte("U*U")) || sh.matches([]byte("U*V")) {
		t.Errorf("OpenBSD's bcrypt vector: %v", err)
	}
}

func TestMalformedStoredHashesRefused(t *testing.T) {
	t.Parallel()
	salt, key := b64([]byte("sixteen byte slt")), b64(make([]byte, 32))
	cases := []struct{ hash, want string }{
		{"", "unknown hash kind"},
		{"correct horse battery", "unknown hash kind"},
		{"$1$saltsalt$hash", "unknown hash kind"},
		{"$argon2i$v=19$m=1024,t=1,p=1$" + salt + "$" + key, "unknown hash kind"},
		{"$md5$" + salt + "$" + key, "unknown hash kind"},
		{"$2a$10$tooshort", "malformed bcrypt"},
		{"$2x$10$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "malformed bcrypt"},
		{"$2a$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "bcrypt cost 31"},
		{"$2a$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "bcrypt cost 3"},
		{"$pbkdf2-sha256$i=10$" + salt + "$" + key, "iterations 10"},
		{"$pbkdf2-sha256$i=99999999$" + salt + "$" + key, "iterations 99999999"},
		{"$pbkdf2-sha256$29000$" + salt + "$" + key, "malformed pbkdf2-sha256"},
		{"$pbkdf2-sha256$i=1000$" + salt + "$" + key + "==", "malformed pbkdf2-sha256"},
		{"$pbkdf2-sha256$i=1000$c2FsdA$" + key, "the salt must be"},
		{"$pbkdf2-sha1$i=1000$" + salt + "$" + key, "unknown hash kind"},
		{"$scrypt$ln=30,r=8,p=1$" + salt + "$" + key, "scrypt parameters"},
		{"$scrypt$ln=16,r=64,p=1$" + salt + "$" + key, "scrypt parameters"},
		{"$scrypt$r=8,ln=4,p=1$" + salt + "$" + key, "malformed scrypt"},
		{"$argon2id$v=16$m=1024,t=1,p=1$" + salt + "$" + key, "malformed argon2id"},
		{"$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + key, "argon2id parameters"},
		{"$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + b64([]byte("short")), "the hash must be"},
		{"$argon2id$v=19$m=01024,t=1,p=1$" + salt + "$" + key, "malformed argon2id"},
	}
	for _, c := range cases {
		err := CheckStoredHash(c.hash)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error saying %q", c.hash, err, c.want)
		}
	}
}

// FuzzParseStoredHash: whatever an import line carries as a hash, parsing answers without
// panicking, and what it accepts is within the cost bounds.
func FuzzParseStoredHash(f *testing.F) {
	for _, h := range legacyHashes(f, "pw") {
		f.Add(h)
	}
	f.Add("$scrypt$ln=20,r=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Fuzz(func(t *testing.T, s string) {
		sh, err := parseStoredHash(s)
		if err != nil {
			return
		}
		switch sh.kind {
		case HashArgon2id:
			if sh.argon.Memory > maxArgon2Memory || sh.argon.Time > maxArgon2Time {
				t.Fatalf("accepted %q beyond the bounds", s)
			}
		case HashScrypt:
			if 128*(1<<sh.logN)*sh.r*sh.p > maxScryptMemory {
				t.Fatalf("accepted %q beyond the bounds", s)
			}
		case HashPBKDF2SHA256, HashPBKDF2SHA512:
			if sh.iter > maxPBKDF2Iter {
				t.Fatalf("accepted %q beyond the bounds", s)
			}
		}
	})
}

func TestImportedPasswordHashReplacedAtLogin(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	const pw = "correct horse battery"
	i := 0
	for name, h := range legacyHashes(t, pw) {
		i++
		loginID := fmt.Sprintf("legacy%d", i)
		pin := "1234"
		acct, err := e.svc.CreateAccountLine(context.Background(), AccountLine{
			AccountNumber: fmt.Sprint(9000 + i), LoginID: loginID, Name: "山田 太郎", Email: loginID + "@example.jp",
			Phones: []string{"+819012345678"}, Password: Secret{Hash: &h}, PIN: Secret{Plain: &pin},
		}, "import")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if status, body := e.passwordLogin(e.browser(), loginID, "wrong password"); status != http.StatusUnauthorized {
			t.Fatalf("%s: wrong password: %d %v", name, status, body)
		}
		if got := e.storedPasswordHash(acct.ID); got != h {
			t.Fatalf("%s: a wrong password replaced the hash", name)
		}
		if status, body := e.passwordLogin(e.browser(), loginID, pw); status != http.StatusOK {
			t.Fatalf("%s: right password: %d %v", name, status, body)
		}
		got := e.storedPasswordHash(acct.ID)
		if sh, err := parseStoredHash(got); err != nil || sh.kind != HashArgon2id || sh.argon != fastArgon {
			t.Fatalf("%s: after the login the stored hash is %q, want kagi's Argon2id", name, got)
		}
		if d := e.auditDetails(acct.ID, "password_rehashed"); len(d) != 1 || !strings.HasPrefix(name, fmt.Sprint(d[0]["from"])) {
			t.Errorf("%s: audit %v", name, d)
		}
		if status, body := e.passwordLogin(e.browser(), loginID, pw); status != http.StatusOK {
			t.Fatalf("%s: second login: %d %v", name, status, body)
		}
		if again := e.storedPasswordHash(acct.ID); again != got {
			t.Errorf("%s: kagi's own hash replaced again at the second login", name)
		}
	}
}

// storedPasswordHash is the account's stored password hash.
func (e *testEnv) storedPasswordHash(accountID int64) string {
	e.t.Helper()
	var h string
	if err := e.svc.pool.QueryRow(context.Background(), `SELECT password_hash FROM accounts WHERE id = $1`, accountID).Scan(&h); err != nil {
		e.t.Fatal(err)
	}
	return h
}

// BenchmarkImportedBcryptFirstLogin is the first password login of an account imported with a
// bcrypt hash of the usual cost (10), with the production Argon2id and hashing bound: the
// bcrypt check, then the replacement Argon2id hash and its write (§12.1). Beside it, the same
// account's later login, against kagi's own hash. Each first login is of a fresh imported
// account; ns/op is one login.
func BenchmarkImportedBcryptFirstLogin(b *testing.B) {
	const pw = "correct horse battery"
	bc, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	hash := string(bc)
	svc, _ := countedService(b, func(c *Config) { c.Passwords = NewPasswordHasher(DefaultArgon2, HashSlots()) })
	ctx := context.Background()
	n := 0
	account := func(b *testing.B) string {
		n++
		loginID, pin := fmt.Sprintf("imported%06d", n), "1234"
		if _, err := svc.CreateAccountLine(ctx, AccountLine{AccountNumber: fmt.Sprint(100000 + n), LoginID: loginID, Name: "移行 太郎",
			Email: "taro@example.jp", Phones: []string{"+819012345678"}, Password: Secret{Hash: &hash}, PIN: Secret{Plain: &pin}}, "import"); err != nil {
			b.Fatal(err)
		}
		return loginID
	}
	login := func(b *testing.B, loginID string) {
		if res, err := svc.LoginWithPassword(ctx, loginID, pw, ""); err != nil || res.Token == "" {
			b.Fatalf("login: %v", err)
		}
	}
	b.Run("first login: bcrypt, then rehashed", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			id := account(b)
			b.StartTimer()
			login(b, id)
		}
	})
	b.Run("later login: kagi's Argon2id", func(b *testing.B) {
		id := account(b)
		login(b, id)
		for b.Loop() {
			login(b, id)
		}
	})
}
