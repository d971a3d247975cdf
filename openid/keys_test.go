package openid

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/pgdb/pgtest"
)

var testSecret = []byte("test-pin-key-0123456789abcdef0123")

const (
	testRotation = 24 * time.Hour
	testLifetime = time.Hour
)

// clock is a test's clock, moved by hand and read by every store of the test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newClock() *clock { return &clock{now: time.Date(2031, 6, 4, 1, 0, 0, 0, time.UTC)} }

// replica is one kagi replica's key store over the shared database.
func replica(t *testing.T, pool *pgxpool.Pool, c *clock, secret []byte) *KeyStore {
	t.Helper()
	s, err := NewKeyStore(KeyStoreConfig{Pool: pool, Secret: secret, Rotation: testRotation, TokenLifetime: testLifetime, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func keyCount(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM oidc_signing_keys`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func publishedIDs(t *testing.T, s *KeyStore) []string {
	t.Helper()
	keys, err := s.Published(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

func TestReplicasStartingTogetherCreateOneKey(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t, Migrations)
	c := newClock()
	const replicas = 8
	ids := make([]string, replicas)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range replicas {
		s := replica(t, pool, c, testSecret)
		done.Go(func() {
			start.Wait()
			k, err := s.Current(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = k.ID
		})
	}
	start.Done()
	done.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("replicas sign with different keys: %v", ids)
		}
	}
	if n := keyCount(t, pool); n != 1 {
		t.Fatalf("%d keys stored, want 1", n)
	}
}

func TestKeysRotateAndRetire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t, Migrations)
	c := newClock()
	a, b := replica(t, pool, c, testSecret), replica(t, pool, c, testSecret)
	purge := Purges(testRotation, testLifetime)[0]
	purged := func() int64 {
		t.Helper()
		n, err := purge.Run(ctx, pool, c.Now(), 100)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	first, err := a.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first.PrivateKey.Curve.Params().Name != "P-256" {
		t.Fatalf("curve %s", first.PrivateKey.Curve.Params().Name)
	}
	if got := publishedIDs(t, b); len(got) != 1 || got[0] != first.ID {
		t.Fatalf("published %v, want the first key alone", got)
	}

	c.advance(testRotation - time.Second)
	if k, _ := b.Current(ctx); k.ID != first.ID {
		t.Fatalf("rotated before the rotation period: %s, was %s", k.ID, first.ID)
	}

	c.advance(time.Second)
	second, err := b.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if second.ID == first.ID {
		t.Fatal("no rotation after the rotation period")
	}
	// The other replica's cached key is past its rotation: it takes the new one, creating none.
	if k, _ := a.Current(ctx); k.ID != second.ID {
		t.Fatalf("replica a signs with %s, b with %s", k.ID, second.ID)
	}
	if n := keyCount(t, pool); n != 2 {
		t.Fatalf("%d keys stored, want 2", n)
	}
	// A token the first key signed just before its retirement lives testLifetime: until then
	// the first key is published beside the new one, newest first.
	if got := publishedIDs(t, a); len(got) != 2 || got[0] != second.ID || got[1] != first.ID {
		t.Fatalf("published %v, want [%s %s]", got, second.ID, first.ID)
	}
	if n := purged(); n != 0 {
		t.Fatalf("purged %d keys while still published", n)
	}

	c.advance(testLifetime - time.Second)
	if got := publishedIDs(t, a); len(got) != 2 {
		t.Fatalf("published %v before the first key's last token expired", got)
	}
	c.advance(time.Second)
	if got := publishedIDs(t, a); len(got) != 1 || got[0] != second.ID {
		t.Fatalf("published %v after the first key's last token expired, want [%s]", got, second.ID)
	}
	if n := purged(); n != 1 {
		t.Fatalf("purged %d keys, want the first", n)
	}

	// Long idle: the newest key is never purged, only replaced by the next Current.
	c.advance(10 * testRotation)
	if n := purged(); n != 0 {
		t.Fatalf("purged %d keys: the newest must stay", n)
	}
	third, err := a.Current(ctx)
	if err != nil || third.ID == second.ID {
		t.Fatalf("after a long idle: %s, %v", third.ID, err)
	}
	// The second key signed nothing for longer than a token lives: it is not published.
	if got := publishedIDs(t, b); len(got) != 1 || got[0] != third.ID {
		t.Fatalf("published %v, want [%s]", got, third.ID)
	}
}

func TestKeysAreCachedInMemory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t, Migrations)
	c := newClock()
	s := replica(t, pool, c, testSecret)
	k, err := s.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	published := publishedIDs(t, s)
	// Without the table's rows, a replica keeps signing and publishing what it loaded until
	// the key is due for rotation: requests do not read the database.
	if _, err := pool.Exec(ctx, `DELETE FROM oidc_signing_keys`); err != nil {
		t.Fatal(err)
	}
	c.advance(testRotation / 2)
	if again, err := s.Current(ctx); err != nil || again.ID != k.ID {
		t.Fatalf("Current read the database: %s, %v", again.ID, err)
	}
	if got := publishedIDs(t, s); len(got) != 1 || got[0] != published[0] {
		t.Fatalf("Published read the database: %v", got)
	}
}

func TestPrivateKeysAreSealedAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t, Migrations)
	c := newClock()
	k, err := replica(t, pool, c, testSecret).Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var public, sealed []byte
	if err := pool.QueryRow(ctx, `SELECT public_key, sealed_key FROM oidc_signing_keys WHERE kid = $1`, k.ID).Scan(&public, &sealed); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := x509.MarshalECPrivateKey(k.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	scalar, err := k.PrivateKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for _, col := range [][]byte{public, sealed} {
		for name, secret := range map[string][]byte{"PKCS #8 DER": der, "SEC 1 DER": ec, "the scalar": scalar, "a PEM header": []byte("PRIVATE KEY")} {
			if bytes.Contains(col, secret) {
				t.Errorf("the table holds %s of the private key", name)
			}
		}
		if _, err := x509.ParsePKCS8PrivateKey(col); err == nil {
			t.Error("a column parses as a private key")
		}
	}
	if pub, err := x509.ParsePKIXPublicKey(public); err != nil || !pub.(*ecdsa.PublicKey).Equal(&k.PrivateKey.PublicKey) {
		t.Errorf("public_key is not the key's public half: %v", err)
	}

	// The key signs, and its published half verifies.
	digest := sha256.Sum256([]byte("header.payload"))
	sig, err := ecdsa.SignASN1(rand.Reader, k.PrivateKey, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	keys, err := replica(t, pool, c, testSecret).Published(ctx)
	if err != nil || len(keys) != 1 || !ecdsa.VerifyASN1(keys[0].PublicKey, digest[:], sig) {
		t.Fatalf("published key does not verify the signature: %v %v", keys, err)
	}

	t.Run("another server secret opens nothing", func(t *testing.T) {
		if _, err := replica(t, pool, c, []byte("another-secret-0123456789abcdef")).Current(ctx); err == nil {
			t.Fatal("a key sealed under another secret opened")
		}
	})
	t.Run("a sealed key moved to another kid does not open", func(t *testing.T) {
		if _, err := pool.Exec(ctx, `INSERT INTO oidc_signing_keys (kid, created_at, public_key, sealed_key) VALUES ('moved-key-0123456789', $1, $2, $3)`,
			c.Now().Add(time.Minute), public, sealed); err != nil {
			t.Fatal(err)
		}
		c2 := &clock{now: c.Now().Add(2 * time.Minute)}
		if _, err := replica(t, pool, c2, testSecret).Current(ctx); err == nil {
			t.Fatal("a sealed key opened under another kid")
		}
	})
}

func TestNewKeyStoreRefusesAShortSecret(t *testing.T) {
	t.Parallel()
	if _, err := NewKeyStore(KeyStoreConfig{Pool: &pgxpool.Pool{}, Secret: []byte("short")}); err == nil {
		t.Fatal("a 5-byte secret accepted")
	}
}
