package auth

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/pbkdf2"
	"golang.org/x/crypto/scrypt"
)

// The kinds of stored hash kagi verifies (§12.1): its own Argon2id, and those a brokerage's old
// system may hand over — kept as they are until the next successful login (a password) or the
// next verified call (a PIN) replaces them with kagi's own.
const (
	HashArgon2id     = "argon2id"
	HashBcrypt       = "bcrypt"
	HashPBKDF2SHA256 = "pbkdf2-sha256"
	HashPBKDF2SHA512 = "pbkdf2-sha512"
	HashScrypt       = "scrypt"
)

// Bounds of an imported hash's cost. A hash is verified at every login until it is replaced,
// on the hasher's bounded slots, so one whose parameters ask for gigabytes or minutes is refused
// at import instead of stalling logins later; and one cheaper than any real system used is
// refused as a likely mistake.
const (
	maxArgon2Memory  = 256 * 1024 // KiB
	maxArgon2Time    = 16
	maxArgon2Threads = 16
	minBcryptCost    = 4
	maxBcryptCost    = 16
	minPBKDF2Iter    = 1000
	maxPBKDF2Iter    = 5_000_000
	maxScryptLogN    = 20
	maxScryptMemory  = 256 << 20 // bytes: 128·N·r·p
	minSaltBytes     = 8
	maxSaltBytes     = 64
	minKeyBytes      = 16
	maxKeyBytes      = 128
)

// storedHash is a parsed password or PIN hash of one of the kinds above.
type storedHash struct {
	kind string
	// argon2id
	argon Argon2Params
	// pbkdf2-*
	iter int
	// scrypt
	logN, r, p int
	// bcrypt keeps the whole string, which x/crypto/bcrypt parses itself.
	bcrypt []byte
	salt   []byte
	key    []byte
}

// errUnknownHashKind is a hash of no kind kagi knows.
var errUnknownHashKind = errors.New("unknown hash kind: expected bcrypt ($2a$, $2b$, $2y$), $pbkdf2-sha256$, $pbkdf2-sha512$, $scrypt$ or $argon2id$")

var bcryptForm = regexp.MustCompile(`^\$2[aby]\$([0-9]{2})\$[./A-Za-z0-9]{53}$`)

// parseStoredHash recognises s by its form and checks its parameters are within bounds. Its
// errors say what is wrong without repeating the hash.
func parseStoredHash(s string) (storedHash, error) {
	if m := bcryptForm.FindStringSubmatch(s); m != nil {
		cost, _ := strconv.Atoi(m[1])
		if cost < minBcryptCost || cost > maxBcryptCost {
			return storedHash{}, fmt.Errorf("bcrypt cost %d is outside %d-%d", cost, minBcryptCost, maxBcryptCost)
		}
		return storedHash{kind: HashBcrypt, bcrypt: []byte(s)}, nil
	}
	if strings.HasPrefix(s, "$2") {
		return storedHash{}, errors.New("malformed bcrypt hash")
	}
	parts := strings.Split(s, "$")
	if len(parts) < 2 || parts[0] != "" {
		return storedHash{}, errUnknownHashKind
	}
	switch parts[1] {
	case HashArgon2id:
		return parseArgon2id(parts)
	case HashPBKDF2SHA256, HashPBKDF2SHA512:
		return parsePBKDF2(parts)
	case HashScrypt:
		return parseScrypt(parts)
	}
	return storedHash{}, errUnknownHashKind
}

// saltAndKey decodes a PHC string's last two fields: base64 without padding.
func saltAndKey(kind, salt, key string) ([]byte, []byte, error) {
	sb, err := base64.RawStdEncoding.DecodeString(salt)
	if err != nil || len(sb) < minSaltBytes || len(sb) > maxSaltBytes {
		return nil, nil, fmt.Errorf("malformed %s hash: the salt must be %d-%d bytes in base64 without padding", kind, minSaltBytes, maxSaltBytes)
	}
	kb, err := base64.RawStdEncoding.DecodeString(key)
	if err != nil || len(kb) < minKeyBytes || len(kb) > maxKeyBytes {
		return nil, nil, fmt.Errorf("malformed %s hash: the hash must be %d-%d bytes in base64 without padding", kind, minKeyBytes, maxKeyBytes)
	}
	return sb, kb, nil
}

// phcParams reads a PHC parameter list "a=1,b=2" whose names are exactly names, in order.
func phcParams(s string, names ...string) ([]int, bool) {
	fields := strings.Split(s, ",")
	if len(fields) != len(names) {
		return nil, false
	}
	vals := make([]int, len(names))
	for i, f := range fields {
		name, val, ok := strings.Cut(f, "=")
		if !ok || name != names[i] {
			return nil, false
		}
		n, err := strconv.Atoi(val)
		if err != nil || n < 0 || val != strconv.Itoa(n) {
			return nil, false
		}
		vals[i] = n
	}
	return vals, true
}

// parseArgon2id reads $argon2id$v=19$m=M,t=T,p=P$SALT$HASH.
func parseArgon2id(parts []string) (storedHash, error) {
	bad := errors.New("malformed argon2id hash: expected $argon2id$v=19$m=…,t=…,p=…$SALT$HASH")
	if len(parts) != 6 || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return storedHash{}, bad
	}
	v, ok := phcParams(parts[3], "m", "t", "p")
	if !ok {
		return storedHash{}, bad
	}
	m, t, p := v[0], v[1], v[2]
	if t < 1 || t > maxArgon2Time || p < 1 || p > maxArgon2Threads || m < 8*p || m > maxArgon2Memory {
		return storedHash{}, fmt.Errorf("argon2id parameters m=%d,t=%d,p=%d are outside m≤%d KiB, t 1-%d, p 1-%d", m, t, p, maxArgon2Memory, maxArgon2Time, maxArgon2Threads)
	}
	salt, key, err := saltAndKey(HashArgon2id, parts[4], parts[5])
	if err != nil {
		return storedHash{}, err
	}
	return storedHash{kind: HashArgon2id, argon: Argon2Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(p)}, salt: salt, key: key}, nil
}

// parsePBKDF2 reads $pbkdf2-sha256$i=N$SALT$HASH (and -sha512).
func parsePBKDF2(parts []string) (storedHash, error) {
	kind := parts[1]
	bad := fmt.Errorf("malformed %s hash: expected $%s$i=ITERATIONS$SALT$HASH", kind, kind)
	if len(parts) != 5 {
		return storedHash{}, bad
	}
	v, ok := phcParams(parts[2], "i")
	if !ok {
		return storedHash{}, bad
	}
	if v[0] < minPBKDF2Iter || v[0] > maxPBKDF2Iter {
		return storedHash{}, fmt.Errorf("%s iterations %d are outside %d-%d", kind, v[0], minPBKDF2Iter, maxPBKDF2Iter)
	}
	salt, key, err := saltAndKey(kind, parts[3], parts[4])
	if err != nil {
		return storedHash{}, err
	}
	return storedHash{kind: kind, iter: v[0], salt: salt, key: key}, nil
}

// parseScrypt reads $scrypt$ln=N,r=R,p=P$SALT$HASH, N being log₂ of scrypt's cost.
func parseScrypt(parts []string) (storedHash, error) {
	bad := errors.New("malformed scrypt hash: expected $scrypt$ln=…,r=…,p=…$SALT$HASH")
	if len(parts) != 5 {
		return storedHash{}, bad
	}
	v, ok := phcParams(parts[2], "ln", "r", "p")
	if !ok {
		return storedHash{}, bad
	}
	ln, r, p := v[0], v[1], v[2]
	if ln < 1 || ln > maxScryptLogN || r < 1 || p < 1 || 128*(1<<ln)*r*p > maxScryptMemory {
		return storedHash{}, fmt.Errorf("scrypt parameters ln=%d,r=%d,p=%d are outside ln 1-%d and 128·N·r·p ≤ %d MiB", ln, r, p, maxScryptLogN, maxScryptMemory>>20)
	}
	salt, key, err := saltAndKey(HashScrypt, parts[3], parts[4])
	if err != nil {
		return storedHash{}, err
	}
	return storedHash{kind: HashScrypt, logN: ln, r: r, p: p, salt: salt, key: key}, nil
}

// matches reports whether secret is what h was made from, comparing in constant time.
func (h storedHash) matches(secret []byte) bool {
	var got []byte
	switch h.kind {
	case HashBcrypt:
		// A password past bcrypt's 72 bytes is an error here, a mismatch for us: the old system
		// could not have hashed it whole either.
		return bcrypt.CompareHashAndPassword(h.bcrypt, secret) == nil
	case HashArgon2id:
		got = idKey(secret, h.salt, h.argon, uint32(len(h.key)))
	case HashPBKDF2SHA256, HashPBKDF2SHA512:
		var fn func() hash.Hash = sha256.New
		if h.kind == HashPBKDF2SHA512 {
			fn = sha512.New
		}
		got = pbkdf2.Key(secret, h.salt, h.iter, len(h.key), fn)
	case HashScrypt:
		var err error
		if got, err = scrypt.Key(secret, h.salt, 1<<h.logN, h.r, h.p, len(h.key)); err != nil {
			return false
		}
	default:
		return false
	}
	return subtle.ConstantTimeCompare(got, h.key) == 1
}

// CheckStoredHash reports whether s is a password or PIN hash kagi can verify (§12.1): of a
// listed kind, well formed, its cost within bounds. The error names the problem for an import
// line or a back-office request, never the hash itself.
func CheckStoredHash(s string) error {
	_, err := parseStoredHash(s)
	return err
}
