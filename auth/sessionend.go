package auth

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// EndedSession is a session that has just ended, as the transaction that ended it knows it.
type EndedSession struct {
	TokenHash []byte `db:"token_hash"`
	AccountID int64  `db:"account_id"`
}

// SessionEnds is told of every customer session's end — a logout, its idle timeout or
// lifetime, a first or replaced passkey ending the others, a fallback window's end, a staff
// action — in the transaction that ends it, so that what hangs on the session ends with it or
// not at all: the OpenID Provider revokes the tokens its applications got from the session and
// enqueues their back-channel logout tokens (SPEC §11.5). Every statement that deletes
// sessions goes through endSessions.
type SessionEnds interface {
	SessionsEnded(ctx context.Context, tx pgx.Tx, ended []EndedSession) error
}

// endSessions runs del, a DELETE FROM sessions … RETURNING token_hash, account_id, in tx and
// tells ends (nil for no one) of the sessions it ended. It returns how many ended.
func endSessions(ctx context.Context, tx pgx.Tx, ends SessionEnds, del string, args ...any) (int64, error) {
	rows, err := tx.Query(ctx, del, args...)
	if err != nil {
		return 0, err
	}
	ended, err := pgx.CollectRows(rows, pgx.RowToStructByName[EndedSession])
	if err != nil || len(ended) == 0 || ends == nil {
		return int64(len(ended)), err
	}
	return int64(len(ended)), ends.SessionsEnded(ctx, tx, ended)
}

// errNoTx is the sessions purge run outside a transaction, which the expiry job never does.
var errNoTx = errors.New("auth: sessions end only inside a transaction")
