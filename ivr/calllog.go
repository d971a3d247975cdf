package ivr

import (
	"context"

	"github.com/jackc/pgx/v5"

	"kagi/auth"
	"kagi/pgdb"
	"kagi/recovery"
)

// CallLog is recovery.CallLog over the calls of the voice line: the operator console's list of
// an account's recent calls.
type CallLog struct{}

// recentCallsSQL finds an account's calls through ivr_calls_account.
const recentCallsSQL = `
	SELECT call_sid, caller, started_at, ended_at, COALESCE(outcome, '') AS outcome,
	       COALESCE(callback_outcome, '') AS callback_outcome
	FROM ivr_calls WHERE account_id = $1
	ORDER BY started_at DESC LIMIT $2`

// RecentCalls returns up to limit calls linked to the account, newest first, the caller's
// number masked.
func (CallLog) RecentCalls(ctx context.Context, q pgdb.Querier, accountID int64, limit int) ([]recovery.Call, error) {
	rows, err := q.Query(ctx, recentCallsSQL, accountID, limit)
	if err != nil {
		return nil, err
	}
	calls, err := pgx.CollectRows(rows, pgx.RowToStructByName[recovery.Call])
	for i := range calls {
		calls[i].Caller = auth.MaskPhone(calls[i].Caller)
	}
	return calls, err
}
