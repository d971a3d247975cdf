package openid

import (
	"context"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/chacha20poly1305"

	"kagi/pgdb"
)

// Algorithm is the JWS algorithm of every key: ECDSA on P-256 with SHA-256.
const Algorithm = "ES256"

// DefaultKeyRotation is how long a signing key signs before the next one takes over
// (KAGI_OIDC_KEY_ROTATION).
const DefaultKeyRotation = 720 * time.Hour

// MaxTokenLifetime is the longest a token kagi signs may live (an ID token, a JWT access
// token, a logout token): a retired key stays published this long after its last signature,
// so every token it signed can still be verified. The provider's token lifetimes must not
// exceed it.
const MaxTokenLifetime = time.Hour

// SigningKey is the key tokens are signed with now.
type SigningKey struct {
	// ID is the JWK "kid": random, not secret.
	ID         string
	PrivateKey *ecdsa.PrivateKey
	Created    time.Time
}

// PublicKey is a key a client may verify a token with: one of the JWKS.
type PublicKey struct {
	ID        string
	PublicKey *ecdsa.PublicKey
	Created   time.Time
}

// KeyStoreConfig is what a KeyStore needs, loaded once at start.
type KeyStoreConfig struct {
	Pool *pgxpool.Pool
	// Secret is the server secret (KAGI_PIN_KEY, at least 16 bytes) the private keys are
	// sealed under, as the login challenges are (auth.ChallengeSealer): the database alone,
	// or a copy of it, signs nothing. Replacing it makes the stored keys unreadable.
	Secret []byte
	// Rotation is how long a key signs (KAGI_OIDC_KEY_ROTATION); zero means
	// DefaultKeyRotation. Every replica must be given the same.
	Rotation time.Duration
	// TokenLifetime is the longest a token signed with a key may live; zero means
	// MaxTokenLifetime.
	TokenLifetime time.Duration
	// Now is the clock; tests move it.
	Now func() time.Time
}

// KeyStore hands out the signing key of the moment and the keys to publish. Keys live in
// PostgreSQL, shared by the replicas, and are cached in memory: a request reads the cache, and
// the database is asked again only when the cached key is past its rotation or a published
// key past its publication (SPEC §10: keys are loaded once, not per request).
type KeyStore struct {
	pool     *pgxpool.Pool
	aead     aead
	rotation time.Duration
	lifetime time.Duration
	now      func() time.Time

	mu        sync.Mutex
	current   *SigningKey
	published []PublicKey
	// publishedUntil is when the cached published keys may change: the current key's end, or
	// the end of a retired key's publication, whichever comes first.
	publishedUntil time.Time
}

// NewKeyStore checks cfg and derives the sealing key from the secret.
func NewKeyStore(cfg KeyStoreConfig) (*KeyStore, error) {
	if cfg.Pool == nil {
		return nil, errors.New("openid: a key store needs a pool")
	}
	if cfg.Rotation == 0 {
		cfg.Rotation = DefaultKeyRotation
	}
	if cfg.TokenLifetime == 0 {
		cfg.TokenLifetime = MaxTokenLifetime
	}
	if cfg.Rotation < 0 || cfg.TokenLifetime < 0 {
		return nil, errors.New("openid: a key store needs a positive rotation and token lifetime")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a, err := newAEAD(cfg.Secret)
	if err != nil {
		return nil, err
	}
	return &KeyStore{pool: cfg.Pool, aead: a, rotation: cfg.Rotation, lifetime: cfg.TokenLifetime, now: cfg.Now}, nil
}

// Current returns the key to sign with now: the newest key not older than the rotation
// period, created when there is none. Replicas asking at once create one key between them: the
// creation runs under a transaction-scoped advisory lock and looks again once it holds it.
func (s *KeyStore) Current(ctx context.Context) (SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.currentLocked(ctx)
}

func (s *KeyStore) currentLocked(ctx context.Context) (SigningKey, error) {
	now := s.now()
	if s.current != nil && now.Sub(s.current.Created) < s.rotation {
		return *s.current, nil
	}
	since := now.Add(-s.rotation)
	k, err := s.newest(ctx, s.pool, since)
	if errors.Is(err, pgx.ErrNoRows) {
		err = pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, lockKeysSQL); err != nil {
				return err
			}
			k, err = s.newest(ctx, tx, since)
			if errors.Is(err, pgx.ErrNoRows) {
				k, err = s.create(ctx, tx, now)
			}
			return err
		})
	}
	if err != nil {
		return SigningKey{}, fmt.Errorf("openid: signing key: %w", err)
	}
	if s.current == nil || s.current.ID != k.ID {
		s.publishedUntil = time.Time{} // a new key to publish
	}
	s.current = &k
	return k, nil
}

// Published returns every key a token of kagi's may still be verified with, newest first: the
// current key, and each older one until the last token it can have signed has expired — it
// signed until it was Rotation old, and that token lives TokenLifetime.
func (s *KeyStore) Published(ctx context.Context) ([]PublicKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.currentLocked(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if now.Before(s.publishedUntil) {
		return s.published, nil
	}
	rows, err := s.pool.Query(ctx, publishedKeysSQL, now.Add(-s.rotation-s.lifetime))
	if err != nil {
		return nil, fmt.Errorf("openid: published keys: %w", err)
	}
	stored, err := pgx.CollectRows(rows, pgx.RowToStructByName[storedPublicKey])
	if err != nil {
		return nil, fmt.Errorf("openid: published keys: %w", err)
	}
	keys := make([]PublicKey, 0, len(stored))
	until := cur.Created.Add(s.rotation)
	for _, st := range stored {
		pub, err := parsePublicKey(st.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("openid: published key %s: %w", st.Kid, err)
		}
		keys = append(keys, PublicKey{ID: st.Kid, PublicKey: pub, Created: st.CreatedAt})
		if end := st.CreatedAt.Add(s.rotation + s.lifetime); st.Kid != cur.ID && end.Before(until) {
			until = end
		}
	}
	s.published, s.publishedUntil = keys, until
	return keys, nil
}

// Purges are the expiry job's clean-ups of the provider's tables (pgdb.Purge): a signing key
// no longer published (see KeyStore.Published), given the same rotation and token lifetime,
// is deleted, the newest always kept; so are authorization requests a day old (their codes
// long expired, a reuse by then no longer told apart from a made-up code), access tokens past
// their end, and grants whose session ended (revoked or not), with their tokens.
func Purges(rotation, tokenLifetime time.Duration) []pgdb.Purge {
	purge := func(name, sql string, before func(now time.Time) time.Time) pgdb.Purge {
		return pgdb.Purge{Name: name, Run: func(ctx context.Context, q pgdb.Querier, now time.Time, limit int) (int64, error) {
			tag, err := q.Exec(ctx, sql, before(now), limit)
			return tag.RowsAffected(), err
		}}
	}
	return []pgdb.Purge{
		purge("oidc_signing_keys", purgeKeysSQL, func(now time.Time) time.Time { return now.Add(-rotation - tokenLifetime) }),
		purge("oidc_auth_requests", `DELETE FROM oidc_auth_requests WHERE id = ANY (ARRAY(
			SELECT id FROM oidc_auth_requests WHERE created_at <= $1 ORDER BY created_at LIMIT $2))`,
			func(now time.Time) time.Time { return now.Add(-24 * time.Hour) }),
		purge("oidc_access_tokens", `DELETE FROM oidc_access_tokens WHERE id = ANY (ARRAY(
			SELECT id FROM oidc_access_tokens WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2))`,
			func(now time.Time) time.Time { return now }),
		purge("oidc_grants", `DELETE FROM oidc_grants WHERE id = ANY (ARRAY(
			SELECT id FROM oidc_grants WHERE session_expires_at <= $1 ORDER BY session_expires_at LIMIT $2))`,
			func(now time.Time) time.Time { return now }),
	}
}

const (
	// lockKeysSQL serialises the creation of a key among replicas, until the transaction ends.
	lockKeysSQL = `SELECT pg_advisory_xact_lock(hashtextextended('kagi.oidc_signing_keys', 0))`
	// newestKeySQL finds the newest key created after $1.
	newestKeySQL = `
	SELECT kid, created_at, public_key, sealed_key FROM oidc_signing_keys
	WHERE created_at > $1
	ORDER BY created_at DESC, kid DESC
	LIMIT 1`
	insertKeySQL = `
	INSERT INTO oidc_signing_keys (kid, created_at, public_key, sealed_key) VALUES ($1, $2, $3, $4)`
	// publishedKeysSQL lists the keys created after $1, and the newest key however old.
	publishedKeysSQL = `
	SELECT kid, created_at, public_key FROM oidc_signing_keys
	WHERE created_at > $1
	   OR kid = (SELECT kid FROM oidc_signing_keys ORDER BY created_at DESC, kid DESC LIMIT 1)
	ORDER BY created_at DESC, kid DESC`
	// purgeKeysSQL deletes up to $2 keys created at or before $1, never the newest.
	purgeKeysSQL = `
	DELETE FROM oidc_signing_keys
	WHERE kid = ANY (ARRAY(
	    SELECT kid FROM oidc_signing_keys WHERE created_at <= $1 ORDER BY created_at LIMIT $2))
	  AND created_at <= $1
	  AND kid <> (SELECT kid FROM oidc_signing_keys ORDER BY created_at DESC, kid DESC LIMIT 1)`
)

type storedKey struct {
	Kid       string    `db:"kid"`
	CreatedAt time.Time `db:"created_at"`
	PublicKey []byte    `db:"public_key"`
	SealedKey []byte    `db:"sealed_key"`
}

type storedPublicKey struct {
	Kid       string    `db:"kid"`
	CreatedAt time.Time `db:"created_at"`
	PublicKey []byte    `db:"public_key"`
}

// newest reads and opens the newest key created after since; pgx.ErrNoRows when there is none.
func (s *KeyStore) newest(ctx context.Context, q pgdb.Querier, since time.Time) (SigningKey, error) {
	rows, err := q.Query(ctx, newestKeySQL, since)
	if err != nil {
		return SigningKey{}, err
	}
	st, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[storedKey])
	if err != nil {
		return SigningKey{}, err
	}
	priv, err := s.aead.open(st.Kid, st.SealedKey)
	if err != nil {
		return SigningKey{}, fmt.Errorf("key %s: %w", st.Kid, err)
	}
	pub, err := parsePublicKey(st.PublicKey)
	if err != nil || !pub.Equal(&priv.PublicKey) {
		return SigningKey{}, fmt.Errorf("key %s: the private key does not match the public key", st.Kid)
	}
	return SigningKey{ID: st.Kid, PrivateKey: priv, Created: st.CreatedAt}, nil
}

// create makes a new key, stores it sealed and returns it.
func (s *KeyStore) create(ctx context.Context, tx pgx.Tx, now time.Time) (SigningKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return SigningKey{}, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return SigningKey{}, err
	}
	kid := base64.RawURLEncoding.EncodeToString(randomBytes(16))
	sealed, err := s.aead.seal(kid, priv)
	if err != nil {
		return SigningKey{}, err
	}
	// PostgreSQL keeps microseconds: the key cached is the key stored.
	now = now.Truncate(time.Microsecond)
	if _, err := tx.Exec(ctx, insertKeySQL, kid, now, pub, sealed); err != nil {
		return SigningKey{}, err
	}
	return SigningKey{ID: kid, PrivateKey: priv, Created: now}, nil
}

func parsePublicKey(der []byte) (*ecdsa.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, err
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("not a P-256 public key")
	}
	return pub, nil
}

// sealInfo names the sealing key's purpose in its derivation and binds each sealed key to it.
const sealInfo = "kagi oidc signing key v1"

// aead seals the private keys at rest with XChaCha20-Poly1305, under a key derived with HKDF
// from the server secret, each bound to its kid: a sealed key moved to another row does not
// open.
type aead struct{ x cipher.AEAD }

func newAEAD(secret []byte) (aead, error) {
	if len(secret) < 16 {
		return aead{}, errors.New("openid: a key store needs a server secret of at least 16 bytes")
	}
	key, err := hkdf.Key(sha256.New, secret, nil, sealInfo, chacha20poly1305.KeySize)
	if err != nil {
		return aead{}, err
	}
	x, err := chacha20poly1305.NewX(key)
	if err != nil {
		return aead{}, err
	}
	return aead{x}, nil
}

func (a aead) seal(kid string, priv *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	nonce := randomBytes(a.x.NonceSize())
	return a.x.Seal(nonce, nonce, der, []byte(sealInfo+"\x00"+kid)), nil
}

func (a aead) open(kid string, sealed []byte) (*ecdsa.PrivateKey, error) {
	n := a.x.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed key too short")
	}
	der, err := a.x.Open(nil, sealed[:n], sealed[n:], []byte(sealInfo+"\x00"+kid))
	if err != nil {
		return nil, errors.New("the sealed key does not open: sealed under another server secret, or altered")
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	priv, ok := k.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, errors.New("not a P-256 private key")
	}
	return priv, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
