package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
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
// login IDs as a whole cost what the accounts cost. The voice line's PINs are the same: an
// imported PIN hash takes its kind's time where kagi's keyed hash takes microseconds, so an
// account number no account has is checked against a decoy of the accounts' PIN hashes.

// decoyRefresh is how often a replica reads the mixes of hashes again (KeepDecoysFresh). Read,
// each is one scan of the accounts; they drift slowly (an imported hash is replaced at the
// account's first login or verified call).
const decoyRefresh = 10 * time.Minute

// hashShapeSQL is a stored hash's shape: its kind and cost, and with its length the lengths of
// its salt and hash — what verifying it costs.
const hashShapeSQL = `CASE WHEN h LIKE '$2%' THEN left(h, 7) ELSE regexp_replace(h, '\$[^$]*\$[^$]*$', '') END, length(h)`

// passwordMixSQL counts the accounts without a passkey by the shape of their password hash,
// with one hash of each shape to copy it from.
const passwordMixSQL = `
	SELECT count(*) AS n, min(h) AS sample
	FROM accounts a CROSS JOIN LATERAL (SELECT a.password_hash AS h) x
	WHERE NOT EXISTS (SELECT 1 FROM passkeys p WHERE p.account_id = a.id)
	GROUP BY ` + hashShapeSQL + `
	ORDER BY 2`

// pinMixSQL counts every account by the shape of its imported PIN hash, those with kagi's own
// keyed hash (no imported one) as a shape of their own, the first.
const pinMixSQL = `
	SELECT count(*) AS n, min(h) AS sample
	FROM accounts a CROSS JOIN LATERAL (SELECT a.pin_legacy_hash AS h) x
	GROUP BY ` + hashShapeSQL + `
	ORDER BY 2 NULLS FIRST`

// decoyMix is a mix of stored hashes, by shape, that unknown login IDs or account numbers are
// checked against.
type decoyMix struct {
	sql string // passwordMixSQL or pinMixSQL
	key []byte // keys the draw (newDecoyMix)

	mu     sync.Mutex
	hashes []decoyHash
	total  int64
}

// decoyHash is a decoy of one shape — "" for kagi's own (its dummy hash, its keyed PIN hash) —
// and how many accounts have that shape.
type decoyHash struct {
	hash string
	n    int64
}

// newDecoyMix is the mix sql reads, drawn under a key derived from the server secret (the PIN
// key) and label, so every replica draws alike. It is empty until RefreshDecoys reads it.
func newDecoyMix(secret []byte, label, sql string) *decoyMix {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return &decoyMix{sql: sql, key: m.Sum(nil)}
}

// draw is the stored hash an unknown id (a login ID, an account number) is checked against: a
// decoy picked by a keyed hash of id, each shape with the share of the accounts it has; ""
// (kagi's own) while the mix is empty.
func (d *decoyMix) draw(id string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.total == 0 {
		return ""
	}
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte(id))
	x := binary.BigEndian.Uint64(m.Sum(nil)) % uint64(d.total)
	for _, h := range d.hashes {
		if x < uint64(h.n) {
			return h.hash
		}
		x -= uint64(h.n)
	}
	return "" // unreachable: total is the sum of the n
}

// RefreshDecoys reads the accounts' mixes of password and PIN hashes, and makes a decoy of each
// shape. A mix that cannot be read keeps the one before.
func (s *Service) RefreshDecoys(ctx context.Context) error {
	for _, d := range []*decoyMix{s.passwordDecoys, s.pinDecoys} {
		hashes, total, err := s.readDecoys(ctx, d.sql)
		if err != nil {
			return fmt.Errorf("auth: read the accounts' hashes for the decoys: %w", err)
		}
		d.mu.Lock()
		d.hashes, d.total = hashes, total
		d.mu.Unlock()
	}
	return nil
}

// KeepDecoysFresh reads the mixes now (RefreshDecoys), before the first login needs them, and
// then every decoyRefresh until stop is called.
func (s *Service) KeepDecoysFresh(ctx context.Context) (stop func(), err error) {
	if err := s.RefreshDecoys(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(decoyRefresh)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := s.RefreshDecoys(ctx); err != nil && ctx.Err() == nil {
					s.log.WarnContext(ctx, "password and PIN decoys not read again; the last mix stays", "err", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }, nil
}

// readDecoys reads a mix of hashes (sql) and makes a decoy of each shape.
func (s *Service) readDecoys(ctx context.Context, sql string) ([]decoyHash, int64, error) {
	rows, err := s.pool.Query(ctx, sql)
	if err != nil {
		return nil, 0, err
	}
	var (
		hashes []decoyHash
		total  int64
		n      int64
		sample *string
	)
	_, err = pgx.ForEachRow(rows, []any{&n, &sample}, func() error {
		decoy := ""
		if sample != nil {
			var err error
			if decoy, err = decoyOf(*sample); err != nil {
				return nil // a hash kagi cannot verify (none is stored so): no account to mimic
			}
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
