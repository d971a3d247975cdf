package recovery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"kagi/pgdb"
)

// SendLimit is one cap of the second channel (§4.8): at most Max codes texted or calls back
// placed within the last Per, rolling.
type SendLimit struct {
	Max int
	Per time.Duration
}

// SendLimits are the caps of the second channel (§4.8, KAGI_SECOND_CHANNEL_LIMIT). Each applies
// to the account and, apart, to the calling number: a caller who knows a PIN and forges the
// number cannot have the registered phone texted or rung over and over, nor can one number
// do it to many accounts. Every send counts, confirmed or not.
type SendLimits []SendLimit

// DefaultSendLimits is §4.8's 3 an hour and 5 a day.
var DefaultSendLimits = SendLimits{{Max: 3, Per: time.Hour}, {Max: 5, Per: 24 * time.Hour}}

// Bounds of a KAGI_SECOND_CHANNEL_LIMIT setting: sends are kept for the longest period, and
// each cap is one more count of the verification's transaction.
const (
	maxSendLimits = 4
	minSendPer    = time.Minute
	maxSendPer    = 7 * 24 * time.Hour
)

// ParseSendLimits reads caps written "N/period" and separated by commas, as
// KAGI_SECOND_CHANNEL_LIMIT is ("3/1h,5/24h"). There is no way to switch them off.
func ParseSendLimits(s string) (SendLimits, error) {
	var out SendLimits
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		n, p, ok := strings.Cut(item, "/")
		max, err := strconv.Atoi(n)
		if !ok || err != nil || max < 1 || strconv.Itoa(max) != n {
			return nil, fmt.Errorf("%q must be sends per period separated by commas, such as 3/1h,5/24h", s)
		}
		per, err := time.ParseDuration(p)
		if err != nil || per < minSendPer || per > maxSendPer {
			return nil, fmt.Errorf("%q: each period must be a duration between 1m and 168h, such as 1h", s)
		}
		out = append(out, SendLimit{Max: max, Per: per})
	}
	if len(out) > maxSendLimits {
		return nil, fmt.Errorf("%q: at most %d caps", s, maxSendLimits)
	}
	return out, nil
}

// String writes the caps the way ParseSendLimits reads them.
func (l SendLimits) String() string {
	items := make([]string, len(l))
	for i, c := range l {
		per := c.Per.String() // "1h0m0s": written the way the setting is instead
		switch {
		case c.Per%time.Hour == 0:
			per = strconv.Itoa(int(c.Per/time.Hour)) + "h"
		case c.Per%time.Minute == 0:
			per = strconv.Itoa(int(c.Per/time.Minute)) + "m"
		}
		items[i] = strconv.Itoa(c.Max) + "/" + per
	}
	return strings.Join(items, ",")
}

// check reports whether l can be applied: what ParseSendLimits accepts.
func (l SendLimits) check() error {
	if len(l) > maxSendLimits {
		return fmt.Errorf("recovery: at most %d second-channel caps", maxSendLimits)
	}
	for _, c := range l {
		if c.Max < 1 || c.Per < minSendPer || c.Per > maxSendPer {
			return errors.New("recovery: a second-channel cap needs at least one send and a period between 1m and 168h")
		}
	}
	return nil
}

// longest is the longest period of l: how long a send counts.
func (l SendLimits) longest() time.Duration {
	var d time.Duration
	for _, c := range l {
		d = max(d, c.Per)
	}
	return d
}

// sendSQL counts the sends of the account ($1) and of the caller ($2) within each cap — the
// caps' periods starting at $4 with their maxima $5 — and records one send of each at $3 only
// when neither reached a cap. It answers whether the account's and the caller's sends reached a
// cap; recorded rows are not seen by the count, whose snapshot predates them.
const sendSQL = `
	WITH caps AS (
	    SELECT since, max FROM unnest($4::timestamptz[], $5::bigint[]) AS c (since, max)
	), capped AS (
	    SELECT
	        coalesce(bool_or((SELECT count(*) FROM voice_sends s
	                          WHERE s.subject_kind = 'account' AND s.subject = $1::text AND s.at > caps.since) >= caps.max), false) AS account,
	        coalesce(bool_or((SELECT count(*) FROM voice_sends s
	                          WHERE s.subject_kind = 'caller' AND s.subject = $2::text AND s.at > caps.since) >= caps.max), false) AS caller
	    FROM caps
	), recorded AS (
	    INSERT INTO voice_sends (subject_kind, subject, at)
	    SELECT kind, subject, $3::timestamptz
	    FROM (VALUES ('account', $1::text), ('caller', $2::text)) AS v (kind, subject), capped
	    WHERE NOT capped.account AND NOT capped.caller
	)
	SELECT account, caller FROM capped`

// recordSend counts one second-channel send of the account and the caller, whose lock rows the
// transaction holds (lockSubjects), unless either already reached a cap of limits. It reports
// which one had: then nothing was recorded and nothing may be sent.
func recordSend(ctx context.Context, tx pgx.Tx, acct, caller lockoutRow, limits SendLimits, now time.Time) (acctCapped, callerCapped bool, err error) {
	since := make([]time.Time, len(limits))
	maxima := make([]int64, len(limits))
	for i, c := range limits {
		since[i], maxima[i] = now.Add(-c.Per), int64(c.Max)
	}
	err = tx.QueryRow(ctx, sendSQL, acct.subject, caller.subject, now, since, maxima).Scan(&acctCapped, &callerCapped)
	return acctCapped, callerCapped, err
}

// purgeSendsSQL deletes up to $3 sends older than the longest cap ($2), the oldest first,
// found through voice_sends_at and deleted by ctid (voice_sends has no key).
const purgeSendsSQL = `
	DELETE FROM voice_sends
	WHERE ctid = ANY (ARRAY(
	    SELECT ctid FROM voice_sends WHERE at <= $1::timestamptz - $2::interval ORDER BY at LIMIT $3))`

// purgeSends deletes up to limit sends that no longer count against any cap of limits, for the
// expiry job.
func purgeSends(ctx context.Context, q pgdb.Querier, limits SendLimits, now time.Time, limit int) (int64, error) {
	tag, err := q.Exec(ctx, purgeSendsSQL, now, limits.longest(), limit)
	return tag.RowsAffected(), err
}
