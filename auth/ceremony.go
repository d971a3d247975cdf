package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5"

	"kagi/pgdb"
)

// ceremonyTTL bounds a WebAuthn ceremony between begin and finish. The browser's prompt gives
// up after five minutes (go-webauthn's default timeout, sent in the options); the extra minute
// covers the round trips around it.
const ceremonyTTL = 6 * time.Minute

// CeremonyKey keys a ceremony, a customer's or a staff member's, by the SHA-256 of its
// challenge. The finish request carries the challenge inside the signed clientDataJSON, so no
// cookie has to tie the two requests together, and any replica finishes what another began. A
// stored ceremony (a registration) is found by it, and a used login challenge recorded under it
// (ConsumeChallenge).
func CeremonyKey(challenge []byte) []byte {
	h := sha256.Sum256(challenge)
	return h[:]
}

// CeremonyKeyFromClientData derives the ceremony's key from the challenge as the client data
// reports it (base64url without padding).
func CeremonyKeyFromClientData(challenge string) ([]byte, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(challenge)
	if err != nil || len(raw) == 0 {
		return nil, false
	}
	return CeremonyKey(raw), true
}

// ceremony is a stored registration ceremony, taken out of the table by its finish. A
// registration stores its ceremony (it is rare, and begun from a session); a login's is sealed
// into its challenge (sealed.go).
type ceremony struct {
	Session   webauthn.SessionData
	ExpiresAt time.Time
}

// storeRegistration keeps a registration ceremony of the account.
func storeRegistration(ctx context.Context, q pgdb.Querier, challenge []byte, accountID int64, sess *webauthn.SessionData, expires time.Time) error {
	data, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `
		INSERT INTO webauthn_ceremonies (id, kind, account_id, session, expires_at)
		VALUES ($1, 'register', $2, $3::text::jsonb, $4)`, CeremonyKey(challenge), accountID, string(data), expires)
	return err
}

// consumeRegistration takes a registration ceremony out of the table: each can be finished
// once, whatever the outcome, and only by the account that began it. An expired ceremony is
// returned too, so the caller can say so.
func consumeRegistration(ctx context.Context, tx pgx.Tx, id []byte, accountID int64) (ceremony, bool, error) {
	var (
		c    ceremony
		data []byte
	)
	err := tx.QueryRow(ctx, `
		DELETE FROM webauthn_ceremonies
		WHERE id = $1 AND kind = 'register' AND account_id = $2
		RETURNING session, expires_at`, id, accountID).Scan(&data, &c.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return ceremony{}, false, nil
	}
	if err != nil {
		return ceremony{}, false, err
	}
	if err := json.Unmarshal(data, &c.Session); err != nil {
		return ceremony{}, false, err
	}
	return c, true, nil
}

// purgeCeremoniesSQL deletes up to $2 ceremonies past their expiry, the oldest first, found
// through webauthn_ceremonies_expires. The outer condition is asked again of a row a finish
// changed meanwhile.
const purgeCeremoniesSQL = `
	DELETE FROM webauthn_ceremonies
	WHERE id = ANY (ARRAY(
	    SELECT id FROM webauthn_ceremonies WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2))
	  AND expires_at <= $1`

// PurgeCeremonies deletes up to limit ceremonies past their expiry, for the expiry job: begun
// ceremonies that nobody finished.
func PurgeCeremonies(ctx context.Context, q pgdb.Querier, now time.Time, limit int) (int64, error) {
	tag, err := q.Exec(ctx, purgeCeremoniesSQL, now, limit)
	return tag.RowsAffected(), err
}
