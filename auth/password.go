package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"time"

	"kagi/pgdb"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/argon2"
)

// Argon2Params are the Argon2id cost parameters written into each PHC string.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultArgon2 follows OWASP's Argon2id recommendation (46 MiB, 1 pass, 1 lane).
var DefaultArgon2 = Argon2Params{Memory: 46 * 1024, Time: 1, Threads: 1}

// PasswordHasher hashes passwords with Argon2id. At most a fixed number of hashes run at once,
// so a burst of password logins waits in line instead of exhausting memory or starving the
// voice line of CPU (§2.10); and the line is bounded: a hash that would wait longer than
// maxHashWait, or find maxQueued others already waiting, is refused at once with ErrBusy.
type PasswordHasher struct {
	params    Argon2Params
	sem       chan struct{}
	queue     chan struct{}
	dummy     string
	maxWaited time.Duration
	// verifying, set by tests alone, is told the kind of each stored hash Verify verifies.
	verifying func(kind string)
}

// ErrBusy is a hash refused because too many are running and waiting: the caller answers
// 429 and the client tries again later.
var ErrBusy = errors.New("auth: password hashing is busy")

// Bounds of the line in front of the hashes.
const (
	// maxHashWait is the longest a hash waits for its turn.
	maxHashWait = 3 * time.Second
	// queuedPerSlot bounds the waiting hashes per running one: with 46 MiB hashes taking some
	// tens of milliseconds, about what maxHashWait lets through.
	queuedPerSlot = 32
)

// HashSlots is how many hashes run at once on this machine: all cores but one (at least one),
// so a flood of password logins leaves a core to the voice line and the other requests.
func HashSlots() int { return max(1, runtime.GOMAXPROCS(0)-1) }

// NewPasswordHasher bounds concurrent hashes to maxConcurrent, and the hashes waiting for a turn
// to queuedPerSlot times as many.
func NewPasswordHasher(p Argon2Params, maxConcurrent int) *PasswordHasher {
	if maxConcurrent < 1 {
		maxConcurrent = 1
	}
	h := &PasswordHasher{params: p, sem: make(chan struct{}, maxConcurrent),
		queue: make(chan struct{}, maxConcurrent*(queuedPerSlot+1)), maxWaited: maxHashWait}
	h.dummy = h.encode(randomBytes(16), []byte("kagi-dummy-password"))
	return h
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b
}

// Busy reports whether the line in front of the hashes is full right now, so a caller can
// refuse a request before spending any other work on it. It is a hint: acquire decides.
func (h *PasswordHasher) Busy() bool { return len(h.queue) == cap(h.queue) }

// acquire waits for a hashing slot: a place in the bounded line first (none free: ErrBusy at
// once), then a slot within maxWaited (else ErrBusy).
func (h *PasswordHasher) acquire(ctx context.Context) error {
	select {
	case h.queue <- struct{}{}:
	default:
		return ErrBusy
	}
	timer := time.NewTimer(h.maxWaited)
	defer timer.Stop()
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-timer.C:
		<-h.queue
		return ErrBusy
	case <-ctx.Done():
		<-h.queue
		return ctx.Err()
	}
}

func (h *PasswordHasher) release() {
	<-h.sem
	<-h.queue
}

// idKey computes an Argon2id key on the calling goroutine. It used to run on an OS thread of
// its own at a lowered priority, but x/crypto's argon2 computes each segment on a goroutine of
// its own, so the priority reached only the allocation and the first blocks (about a sixth of
// the work), while under contention the slot and a P waited on that low-priority thread at
// every segment, and each hash started and ended a thread. The bound (HashSlots) is what
// leaves the voice line its core.
func idKey(password, salt []byte, p Argon2Params, keyLen uint32) []byte {
	return argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, keyLen)
}

func (h *PasswordHasher) encode(salt, password []byte) string {
	p := h.params
	key := idKey(password, salt, p, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// Hash returns the PHC string of password.
func (h *PasswordHasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.encode(randomBytes(16), []byte(password)), nil
}

// Verify reports whether password matches the stored hash: kagi's Argon2id, or a hash of a kind
// a brokerage's old system handed over at import (§12.1). An empty stored hash verifies against
// a dummy, so an unknown login ID costs the same time as a wrong password of an account with
// kagi's own hash; a password login gives an unknown login ID a decoy of the accounts' own kinds
// instead (decoy.go). Every kind runs on the hasher's bounded slots.
func (h *PasswordHasher) Verify(ctx context.Context, password, stored string) (bool, error) {
	if stored == "" {
		stored = h.dummy
	}
	sh, err := parseStoredHash(stored)
	if err != nil {
		return false, fmt.Errorf("auth: stored password hash: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	if h.verifying != nil {
		h.verifying(sh.kind)
	}
	return sh.matches([]byte(password)) && stored != h.dummy, nil
}

// NeedsRehash reports whether a stored hash that just verified should be replaced by a fresh
// Argon2id one: a legacy kind from an import, or kagi's own under other parameters.
func (h *PasswordHasher) NeedsRehash(stored string) bool {
	sh, err := parseStoredHash(stored)
	return err != nil || sh.kind != HashArgon2id || sh.argon != h.params || len(sh.key) != 32
}

// rehashPassword replaces an account's stored hash that just verified — a legacy kind from an
// import (§12.1), or kagi's own under older parameters — with a fresh Argon2id one, audited. It
// changes nothing if the hash changed meanwhile. It is best effort: busy hashing or a failed
// write leaves the old hash, which the next login replaces, and the login goes on.
func (s *Service) rehashPassword(ctx context.Context, accountID int64, password, old string) {
	kind := HashArgon2id
	if sh, err := parseStoredHash(old); err == nil {
		kind = sh.kind
	}
	fresh, err := s.passwords.Hash(ctx, password)
	if err == nil {
		err = pgdb.InTx(ctx, s.pool, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `UPDATE accounts SET password_hash = $2 WHERE id = $1 AND password_hash = $3`, accountID, fresh, old)
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			return Audit(ctx, tx, AuditEvent{At: s.now(), AccountID: accountID, Actor: "customer",
				Event: "password_rehashed", Detail: map[string]any{"from": kind}})
		})
	}
	if err != nil {
		s.log.WarnContext(ctx, "password hash not replaced; the next login tries again", "account_id", accountID, "err", err)
	}
}
