package recovery

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"kagi/auth"
	"kagi/notify"
	"kagi/pgdb"
)

// callbackTTL is how long a call back may confirm (§4.8).
const callbackTTL = 10 * time.Minute

// Outcomes of a call back, as voice_callbacks.outcome records them. Twilio's final statuses of
// a call nobody confirmed on (no-answer, busy, failed, canceled, completed) are recorded as
// Twilio gives them.
const (
	callbackConfirmed = "confirmed"
	callbackDeclined  = "declined"
	callbackNoKey     = "no-key"
	callbackExpired   = "expired"
	callbackLocked    = "locked"
)

// startCallback starts the second channel by call back (§4.8): the row its webhooks find it
// by. The caller places the call once tx commits.
func (v *VoiceVerifier) startCallback(ctx context.Context, tx pgx.Tx, in VoiceAttempt, accountID int64, accountKey string,
	audit func(string, map[string]any) error) (VoiceResult, error) {
	now := v.windows.now()
	id := rand.Text()
	_, err := tx.Exec(ctx, `
		INSERT INTO voice_callbacks (id, call_sid, account_id, account_key, phone, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, in.CallSid, accountID, accountKey, in.Caller, now, now.Add(callbackTTL))
	if err != nil {
		return VoiceResult{}, err
	}
	if err := audit("voice_callback_requested", map[string]any{"factor": string(SecondFactorCallback)}); err != nil {
		return VoiceResult{}, err
	}
	return VoiceResult{Outcome: VoiceCallbackNeeded, Phone: in.Caller, CallbackID: id}, nil
}

// BindCallback records the CallSid Twilio gave the call back once it was placed.
func (v *VoiceVerifier) BindCallback(ctx context.Context, q pgdb.Querier, id, callbackSid string) error {
	_, err := q.Exec(ctx, `UPDATE voice_callbacks SET callback_sid = $2 WHERE id = $1 AND callback_sid IS NULL`, id, callbackSid)
	return err
}

// ErrNoCallback answers a call-back webhook for no call back awaiting confirmation: unknown,
// another call's, already ended, or past its time.
var ErrNoCallback = errors.New("recovery: no call back awaits confirmation")

// callback is a call back as its webhooks find it.
type callback struct {
	CallSid     string
	CallbackSid *string
	AccountID   int64
	AccountKey  string
	Phone       string
	ExpiresAt   time.Time
	Outcome     *string
}

// openCallback finds the call back id that the call callbackSid may confirm, row-locked: live,
// not ended, and placed as that call (binding it when the answer came before BindCallback).
// One past its time is ended as expired.
func (v *VoiceVerifier) openCallback(ctx context.Context, tx pgx.Tx, id, callbackSid string) (callback, error) {
	now := v.windows.now()
	var c callback
	err := tx.QueryRow(ctx, `
		SELECT call_sid, callback_sid, account_id, account_key, phone, expires_at, outcome
		FROM voice_callbacks WHERE id = $1 FOR UPDATE`, id).
		Scan(&c.CallSid, &c.CallbackSid, &c.AccountID, &c.AccountKey, &c.Phone, &c.ExpiresAt, &c.Outcome)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && (c.Outcome != nil || (c.CallbackSid != nil && *c.CallbackSid != callbackSid))) {
		return callback{}, ErrNoCallback
	}
	if err != nil {
		return callback{}, err
	}
	if !c.ExpiresAt.After(now) {
		if err := v.endCallback(ctx, tx, id, c, callbackExpired); err != nil {
			return callback{}, err
		}
		return callback{}, ErrNoCallback
	}
	if c.CallbackSid == nil {
		if err := v.BindCallback(ctx, tx, id, callbackSid); err != nil {
			return callback{}, err
		}
	}
	return c, nil
}

// AnswerCallback is the call back answered (its first webhook request): it reports whether it
// may ask for the confirmation, ErrNoCallback otherwise.
func (v *VoiceVerifier) AnswerCallback(ctx context.Context, tx pgx.Tx, id, callbackSid string) error {
	_, err := v.openCallback(ctx, tx, id, callbackSid)
	return err
}

// ConfirmCallback is what the call back's answerer pressed. 1 confirms: the account's failures
// are cleared and the window opens, confirmed by call back. Another key is the registered
// phone's holder saying they did not ask (declineCallback). Nothing pressed opens nothing and
// counts nothing. The call back is used up whatever the key.
//
// The result names the call that asked for the call back (CallbackOf) and how the call back
// ended (CallbackOutcome), so the voice line can say so of that call.
func (v *VoiceVerifier) ConfirmCallback(ctx context.Context, tx pgx.Tx, id, callbackSid, digits string) (VoiceResult, error) {
	c, err := v.openCallback(ctx, tx, id, callbackSid)
	if err != nil {
		return VoiceResult{}, err
	}
	res, outcome, err := v.confirmCallback(ctx, tx, id, callbackSid, digits, c)
	res.CallbackOf, res.CallbackOutcome = c.CallSid, outcome
	return res, err
}

func (v *VoiceVerifier) confirmCallback(ctx context.Context, tx pgx.Tx, id, callbackSid, digits string, c callback) (VoiceResult, string, error) {
	now := v.windows.now()
	switch digits {
	case "":
		return VoiceResult{Outcome: VoiceFailed}, callbackNoKey, v.endCallback(ctx, tx, id, c, callbackNoKey)
	case "1":
	default:
		res, err := v.declineCallback(ctx, tx, id, callbackSid, c)
		return res, callbackDeclined, err
	}
	acct, caller, err := lockSubjects(ctx, tx, c.AccountKey, c.Phone, now)
	if err != nil {
		return VoiceResult{}, "", err
	}
	audit := v.callbackAudit(ctx, tx, c, callbackSid)
	if res, locked, err := refusedIfLocked(acct, caller, now, audit); locked {
		return res, callbackLocked, errors.Join(err, v.endCallback(ctx, tx, id, c, callbackLocked))
	}
	if err := v.endCallback(ctx, tx, id, c, callbackConfirmed); err != nil {
		return VoiceResult{}, "", err
	}
	if err := clearFailures(ctx, tx, acct); err != nil {
		return VoiceResult{}, "", err
	}
	res, err := v.openVerified(ctx, tx, c.AccountID, c.CallSid, "voice line verification, confirmed by call back",
		string(SecondFactorCallback), audit)
	return res, callbackConfirmed, err
}

// declineCallback is the call back c answered with another key than 1: the customer, on their
// registered phone, saying "not me" (§4.8). It ends the call back as declined and counts a
// failed verification of the account (§4.4), audited, starting the account's lockout when it
// reaches the limit — but never of the registered number called back: that is the customer's
// own, and counting it would lock the customer out for refusing someone else's request. An
// account already locked out is not counted again (its lockout would only be pushed back).
func (v *VoiceVerifier) declineCallback(ctx context.Context, tx pgx.Tx, id, callbackSid string, c callback) (VoiceResult, error) {
	now := v.windows.now()
	acct, err := lockSubject(ctx, tx, subjectAccount, c.AccountKey, now)
	if err != nil {
		return VoiceResult{}, err
	}
	if err := v.endCallback(ctx, tx, id, c, callbackDeclined); err != nil {
		return VoiceResult{}, err
	}
	// The customer hears of it by mail at once: someone called with their details.
	if err := auth.Notify(ctx, tx, v.windows.outbox, c.AccountID, notify.Event{Kind: notify.KindCallbackDeclined, At: now}); err != nil {
		return VoiceResult{}, err
	}
	if acct.locked(now) {
		return VoiceResult{Outcome: VoiceAccountLocked}, nil // the call back's end is audited as declined
	}
	return v.failed(ctx, tx, acct, nil, c.AccountID, v.callbackAudit(ctx, tx, c, callbackSid), map[string]any{"reason": "callback_declined"})
}

// callbackAudit is the audit of what the call back c decided: the account's, by the call that
// asked for it.
func (v *VoiceVerifier) callbackAudit(ctx context.Context, tx pgx.Tx, c callback, callbackSid string) func(string, map[string]any) error {
	now := v.windows.now()
	return func(event string, detail map[string]any) error {
		detail["call_sid"] = c.CallSid
		detail["callback_sid"] = callbackSid
		detail["caller"] = auth.MaskPhone(c.Phone)
		detail["factor"] = string(SecondFactorCallback)
		return auth.Audit(ctx, tx, auth.AuditEvent{At: now, AccountID: c.AccountID, Actor: "ivr:" + c.CallSid, Event: event, Detail: detail})
	}
}

// EndCallback records Twilio's report that the call back ended (its status callback): a call
// back nobody confirmed on ends with the status (no-answer, busy, failed, …), which the audit
// trail records; one already decided keeps its outcome. It returns the call that asked for the
// call back when this ended it, "" when it was decided before.
func (v *VoiceVerifier) EndCallback(ctx context.Context, tx pgx.Tx, id, callbackSid, status string) (string, error) {
	c, err := v.openCallback(ctx, tx, id, callbackSid)
	if errors.Is(err, ErrNoCallback) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return c.CallSid, v.endCallback(ctx, tx, id, c, status)
}

// endCallback ends the call back with outcome and audits it.
func (v *VoiceVerifier) endCallback(ctx context.Context, tx pgx.Tx, id string, c callback, outcome string) error {
	now := v.windows.now()
	if _, err := tx.Exec(ctx, `UPDATE voice_callbacks SET outcome = $2, ended_at = $3 WHERE id = $1`, id, outcome, now); err != nil {
		return fmt.Errorf("recovery: end call back: %w", err)
	}
	return auth.Audit(ctx, tx, auth.AuditEvent{At: now, AccountID: c.AccountID, Actor: "ivr:" + c.CallSid, Event: "voice_callback_ended",
		Detail: map[string]any{"outcome": outcome, "caller": auth.MaskPhone(c.Phone), "factor": string(SecondFactorCallback)}})
}

// purgeVoiceCallbacksSQL deletes up to $2 call backs past their time, the oldest first, found
// through voice_callbacks_expires.
const purgeVoiceCallbacksSQL = `
	DELETE FROM voice_callbacks
	WHERE id = ANY (ARRAY(
	    SELECT id FROM voice_callbacks WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2))
	  AND expires_at <= $1`

// purgeVoiceCallbacks deletes up to limit call backs past their time, for the expiry job; the
// audit trail keeps how each ended.
func purgeVoiceCallbacks(ctx context.Context, q pgdb.Querier, now time.Time, limit int) (int64, error) {
	tag, err := q.Exec(ctx, purgeVoiceCallbacksSQL, now, limit)
	return tag.RowsAffected(), err
}
