package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// An unknown login ID must cost what a wrong password of an account costs, or its timing tells
// which login IDs exist. Against kagi's own Argon2id one dummy hash is enough; but after an
// import (§12.1) most accounts keep their old system's hash — bcrypt, PBKDF2, scrypt or Argon2id
// of other parameters — until their first login, and each kind and cost takes its own time. So
// an unknown login ID is verified against a decoy: a hash of the kind and cost of the accounts
// it could be mistaken for, those without a passkey (an account with one answers
// passkey_required, right password or wrong, and is told apart by that anyway). Which kind is
// drawn from the login ID under a keyed hash, in the proportions the accounts have: the same
// unknown login ID always costs the same, on every replica, as an account's does, and unknown
// login IDs as a whole cost what the accounts cost.

// decoyRefresh is how old the accounts' mix of hashes may get before it is read again. Read,
// it is one scan of the accounts without a passkey; it drifts slowly (an imported hash is
// replaced at the account's first login).
const decoyRefresh = 10 * time.Minute

// decoyMixSQL counts the accounts without a passkey by the shape of their password hash — the
// kind and cost, and the length of salt and hash, which is what a hash's verification costs —
// with one hash of each shape to copy it from.
const decoyMixSQL = `
	SELECT count(*) AS n, min(a.password_hash) AS sample
	FROM accounts a
	WHERE NOT EXISTS (SELECT 1 FROM passkeys p WHERE p.account_id = a.id)
	GROUP BY CASE WHEN a.password_hash LIKE '$2%' THEN left(a.password_hash, 7)
	              ELSE regexp_replace(a.password_hash, '\$[^$]*\$[^$]*$', '') END,
	         length(a.password_hash)
	ORDER BY 2`

// decoys is the mix of hashes unknown login IDs are verified against.
type decoys struct {
	key []byte // keys the draw (decoyKeyFrom)

	mu         sync.Mutex
	loadedAt   time.Time // zero: never loaded
	refreshing bool
	hashes     []decoyHash
	total      int64
}

// decoyHash is a decoy of one shape and how many accounts have that shape.
type decoyHash struct {
	hash string
	n    int64
}

// decoyKeyFrom derives the key of the decoys' draw from the server secret (the PIN key), so
// every replica draws alike.
func decoyKeyFrom(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("kagi password decoy v1"))
	return m.Sum(nil)
}

// decoyFor is the stored hash an unknown login ID is verified against: "" (the hasher's own
// dummy) while no account has a password, else a decoy drawn for loginID from the mix. Every
// password login asks, known login ID or not, so that reading the mix costs them alike: the
// first call reads it (the calls beside it wait), and the first to find it older than
// decoyRefresh reads it again (the others draw from the mix they have meanwhile). A mix that
// cannot be read leaves the one before, and is tried again after decoyRefresh.
func (s *Service) decoyFor(ctx context.Context, loginID string) string {
	d := &s.decoys
	d.mu.Lock()
	defer d.mu.Unlock()
	if first := d.loadedAt.IsZero(); first || !d.refreshing && s.now().Sub(d.loadedAt) >= decoyRefresh {
		d.refreshing = true
		if !first {
			d.mu.Unlock()
		}
		hashes, total, err := s.readDecoys(ctx)
		if !first {
			d.mu.Lock()
		}
		if err != nil {
			s.log.WarnContext(ctx, "password decoys not read; unknown login IDs keep the last mix", "err", err)
		} else {
			d.hashes, d.total = hashes, total
		}
		d.loadedAt, d.refreshing = s.now(), false
	}
	return d.draw(loginID)
}

// draw picks loginID's decoy from the mix, each shape with the share of the accounts it has;
// d.mu is held.
func (d *decoys) draw(loginID string) string {
	if d.total == 0 {
		return ""
	}
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte(loginID))
	x := binary.BigEndian.Uint64(m.Sum(nil)) % uint64(d.total)
	for _, h := range d.hashes {
		if x < uint64(h.n) {
			return h.hash
		}
		x -= uint64(h.n)
	}
	return "" // unreachable: total is the sum of the n
}

// readDecoys reads the accounts' mix of hashes and makes a decoy of each shape.
func (s *Service) readDecoys(ctx context.Context) ([]decoyHash, int64, error) {
	rows, err := s.pool.Query(ctx, decoyMixSQL)
	if err != nil {
		return nil, 0, err
	}
	var (
		hashes []decoyHash
		total  int64
		n      int64
		sample string
	)
	_, err = pgx.ForEachRow(rows, []any{&n, &sample}, func() error {
		decoy, err := decoyOf(sample)
		if err != nil {
			return nil // a hash kagi cannot verify (none is stored so): no account to mimic
		}
		hashes = append(hashes, decoyHash{hash: decoy, n: n})
		total += n
		return nil
	})
	return hashes, total, err
}

// bcryptBase64 is bcrypt's own base64 alphabet, unpadded.
var bcryptBase64 = base64.NewEncoding("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789").WithPadding(base64.NoPadding)

// decoyOf is a hash of sample's kind and cost, with the same lengths of salt and hash, both
// random: verifying a password against it costs what verifying against sample does, and no
// password matches it.
func decoyOf(sample string) (string, error) {
	sh, err := parseStoredHash(sample)
	if err != nil {
		return "", err
	}
	if sh.kind == HashBcrypt {
		// "$2b$10$", then 22 characters of salt (16 bytes) and 31 of hash (23 bytes).
		return sample[:7] + bcryptBase64.EncodeToString(randomBytes(16)) + bcryptBase64.EncodeToString(randomBytes(23)), nil
	}
	// A PHC string: everything up to its salt, then a random salt and hash.
	keyAt := strings.LastIndexByte(sample, '$')
	saltAt := strings.LastIndexByte(sample[:keyAt], '$')
	enc := base64.RawStdEncoding
	return sample[:saltAt+1] + enc.EncodeToString(randomBytes(len(sh.salt))) + "$" + enc.EncodeToString(randomBytes(len(sh.key))), nil
}
