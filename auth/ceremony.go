package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/jackc/pgx/v5"

	"kagi/pgdb"
)

// ceremonyTTL bounds a WebAuthn ceremony between begin and finish. The browser's prompt gives
// up after five minutes (go-webauthn's default timeout, sent in the options); the extra minute
// covers the round trips around it.
const ceremonyTTL = 6 * time.Minute

// Ceremony kinds, as the webauthn_ceremonies table spells them.
const (
	ceremonyRegister = "register"
	ceremonyLogin    = "login"
)

// CeremonyKey keys a ceremony, a customer's or a staff member's, by the SHA-256 of its
// challenge. The finish request carries the challenge inside the signed clientDataJSON, so no
// cookie has to tie the two requests together: a conditional-mediation (autofill) ceremony and a button ceremony on the same page
// coexist, and any replica can finish what another began. The hash is only the row's key:
// the row also holds go-webauthn's whole SessionData as jsonb, the challenge included (the
// verification compares it), until the ceremony is finished or purged.
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

// ceremony is a stored ceremony, taken out of the table by its finish.
type ceremony struct {
	// AccountID is the account the ceremony was begun for: the session's account for a
	// registration, the login ID's account (when it has a passkey) for a login; nil for a
	// discoverable login.
	AccountID *int64
	// ForLoginID is set for a login begun with a login ID: it finishes only for AccountID,
	// and for nobody when that is nil (an unknown ID, or one without a passkey).
	ForLoginID bool
	Session    webauthn.SessionData
	ExpiresAt  time.Time
}

// storeRegistration keeps a registration ceremony of the account.
func storeRegistration(ctx context.Context, q pgdb.Querier, challenge []byte, accountID int64, sess *webauthn.SessionData, expires time.Time) error {
	data, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	_, err = q.Exec(ctx, `
		INSERT INTO webauthn_ceremonies (id, kind, account_id, session, expires_at)
		VALUES ($1, 'register', $2, $3, $4)`, CeremonyKey(challenge), accountID, data, expires)
	return err
}

// loginCeremonyAccount is the account a login ceremony begun with the login ID $n is bound
// to: the login ID's account when it has a passkey, so only that passkey can finish it. An
// empty, unknown or passkey-less login ID binds none, and the ceremony is stored exactly like a
// discoverable one.
const loginCeremonyAccount = `(SELECT p.account_id FROM accounts a JOIN passkeys p ON p.account_id = a.id WHERE a.login_id = $%[1]d)`

// storeLoginSQL keeps a login ceremony: $1 id, $2 session, $3 expiry, $4 login ID.
var storeLoginSQL = fmt.Sprintf(`
	INSERT INTO webauthn_ceremonies (id, kind, account_id, for_login_id, session, expires_at)
	VALUES ($1, 'login', `+loginCeremonyAccount+`, $4 <> '', $2, $3)`, 4)

// storeLimitedLoginSQL is storeLoginSQL behind the client address's limit of failed passkey
// logins, still one statement (§10): the ceremony ($5 id, $6 session, $7 expiry, $8 login ID) is
// stored only when the address's failures of $1 ($2 the address, $3 now) are below $4, and the
// end of the address's period is returned when they are not (overSQL).
var storeLimitedLoginSQL = fmt.Sprintf(`
	WITH over AS (`+overSQL+`
	), stored AS (
	    INSERT INTO webauthn_ceremonies (id, kind, account_id, for_login_id, session, expires_at)
	    SELECT $5, 'login', `+loginCeremonyAccount+`, $8 <> '', $6, $7
	    WHERE NOT EXISTS (SELECT 1 FROM over)
	)
	SELECT resets_at FROM over`, 8)

// storeLogin keeps a login ceremony in one statement (§10), refused (over true, with the end
// of the address's period) when lim is on, the client known and over its failures. Nothing of
// the binding to a login ID goes back to the browser.
func storeLogin(ctx context.Context, q pgdb.Querier, challenge []byte, loginID string, sess *webauthn.SessionData, expires time.Time,
	lim ClientLimit, client netip.Prefix, now time.Time) (over bool, resetsAt time.Time, err error) {
	data, err := json.Marshal(sess)
	if err != nil {
		return false, time.Time{}, err
	}
	if lim.Max == 0 || !client.IsValid() {
		_, err = q.Exec(ctx, storeLoginSQL, CeremonyKey(challenge), data, expires, loginID)
		return false, time.Time{}, err
	}
	err = q.QueryRow(ctx, storeLimitedLoginSQL, limitPasskeyLogin, client, now, lim.Max,
		CeremonyKey(challenge), data, expires, loginID).Scan(&resetsAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, time.Time{}, nil
	}
	return err == nil, resetsAt, err
}

// consumeCeremony takes a ceremony out of the table: each can be finished once, whatever the
// outcome. A registration is found only by the account that began it (accountID); a login by
// anyone. An expired ceremony is returned too, so the caller can say so where that is safe.
func consumeCeremony(ctx context.Context, tx pgx.Tx, id []byte, kind string, accountID int64) (ceremony, bool, error) {
	var (
		c    ceremony
		data []byte
	)
	err := tx.QueryRow(ctx, `
		DELETE FROM webauthn_ceremonies
		WHERE id = $1 AND kind = $2 AND ($3 = 0 OR account_id = $3)
		RETURNING account_id, for_login_id, session, expires_at`, id, kind, accountID).Scan(&c.AccountID, &c.ForLoginID, &data, &c.ExpiresAt)
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
