package auth

import (
	"context"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/chacha20poly1305"

	"kagi/pgdb"
)

// A passkey login's challenge is its own ceremony record (§10: "passkey login begin: no
// statement"). Begin seals what the finish must know — the ceremony's end and the login ID it
// was begun for — with an AEAD under a key derived from the server secret, bound to the relying
// party's ID, and sends the sealed bytes as the WebAuthn challenge itself: the authenticator
// signs them inside clientDataJSON, so nothing else has to travel and nothing is stored. The
// finish opens the challenge it finds in the signed client data; a challenge altered, made up,
// sealed for another relying party or past its end opens to nothing. Single use is enforced at
// the finish, in its transaction (ConsumeChallenge). Customers' and staff logins are sealed
// the same way, each under its relying party.

// challengeVersion starts every sealed challenge, so a later format can be told apart.
const challengeVersion = 1

// ChallengeSealer seals and opens the login challenges of one relying party.
type ChallengeSealer struct {
	aead cipher.AEAD
	ad   []byte
}

// NewChallengeSealer derives the sealing key from secret (at least 16 bytes) and binds the
// challenges to rpID: one sealed for another relying party does not open.
func NewChallengeSealer(secret []byte, rpID string) (*ChallengeSealer, error) {
	if len(secret) < 16 || rpID == "" {
		return nil, errors.New("auth: a challenge sealer needs a secret of at least 16 bytes and an RP ID")
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("kagi login challenge v1"))
	aead, err := chacha20poly1305.NewX(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	return &ChallengeSealer{aead: aead, ad: []byte("kagi login challenge v1\x00" + rpID)}, nil
}

// SealedLogin is what a login challenge carries.
type SealedLogin struct {
	// LoginID is the login ID the login was begun with, "" for a discoverable login: only the
	// passkey of that login ID's account may finish it.
	LoginID string
	// Expires is the ceremony's end.
	Expires time.Time
}

// Seal returns the challenge of a login begun for loginID that ends at expires: a random
// nonce and the sealed ceremony, so every challenge differs and is unpredictable.
func (c *ChallengeSealer) Seal(l SealedLogin) []byte {
	plain := binary.BigEndian.AppendUint64(nil, uint64(l.Expires.UnixMilli()))
	plain = append(plain, l.LoginID...)
	out := append([]byte{challengeVersion}, randomBytes(c.aead.NonceSize())...)
	return c.aead.Seal(out, out[1:], plain, c.ad)
}

// Open returns what challenge was sealed with, and false for a challenge this sealer did not
// make (altered, made up, of another relying party or another server secret).
func (c *ChallengeSealer) Open(challenge []byte) (SealedLogin, bool) {
	n := c.aead.NonceSize()
	if len(challenge) < 1+n+8+c.aead.Overhead() || challenge[0] != challengeVersion {
		return SealedLogin{}, false
	}
	plain, err := c.aead.Open(nil, challenge[1:1+n], challenge[1+n:], c.ad)
	if err != nil || len(plain) < 8 {
		return SealedLogin{}, false
	}
	return SealedLogin{Expires: time.UnixMilli(int64(binary.BigEndian.Uint64(plain))), LoginID: string(plain[8:])}, true
}

// consumeChallengeSQL records a challenge as used until its end; nothing comes back when it
// was used already.
const consumeChallengeSQL = `
	INSERT INTO used_challenges (id, expires_at) VALUES ($1, $2)
	ON CONFLICT (id) DO NOTHING
	RETURNING true`

// ConsumeChallenge records the sealed challenge as used in tx, the finish's transaction, and
// reports false when it was used before: a replayed assertion. It is kept until the challenge's
// end (PurgeUsedChallenges), after which the challenge no longer opens as live anyway.
func ConsumeChallenge(ctx context.Context, tx pgx.Tx, challenge []byte, expires time.Time) (bool, error) {
	var fresh bool
	err := tx.QueryRow(ctx, consumeChallengeSQL, CeremonyKey(challenge), expires).Scan(&fresh)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return fresh, err
}

// purgeUsedChallengesSQL deletes up to $2 used challenges past their end, the oldest first.
const purgeUsedChallengesSQL = `
	DELETE FROM used_challenges
	WHERE id = ANY (ARRAY(
	    SELECT id FROM used_challenges WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2))
	  AND expires_at <= $1`

// PurgeUsedChallenges deletes up to limit used challenges past their end, for the expiry job.
func PurgeUsedChallenges(ctx context.Context, q pgdb.Querier, now time.Time, limit int) (int64, error) {
	tag, err := q.Exec(ctx, purgeUsedChallengesSQL, now, limit)
	return tag.RowsAffected(), err
}
