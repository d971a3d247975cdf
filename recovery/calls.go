package recovery

import (
	"context"
	"time"

	"kagi/pgdb"
)

// Call is a voice-line call as the operator console lists it: never a keyed digit, and the
// caller's number only masked.
type Call struct {
	CallSid   string     `db:"call_sid" json:"call_sid"`
	Caller    string     `db:"caller" json:"caller"`
	StartedAt time.Time  `db:"started_at" json:"started_at"`
	EndedAt   *time.Time `db:"ended_at" json:"ended_at"`
	// Outcome is the latest verification's: verified, no_passkey, failed, locked, code_sent,
	// callback_placed, second_channel_capped, suspended.
	Outcome string `db:"outcome" json:"outcome"`
	// CallbackOutcome is how the call back the call asked for ended, with Outcome
	// callback_placed: confirmed, declined, no-key, locked, or Twilio's final status of a call
	// back nobody answered (no-answer, busy, failed, canceled, completed); "" until it ends.
	CallbackOutcome string `db:"callback_outcome" json:"callback_outcome,omitempty"`
}

// CallLog lists the voice-line calls that verified or failed on an account, newest first.
// Package ivr, which owns the calls, provides it; recovery never imports ivr.
type CallLog interface {
	RecentCalls(ctx context.Context, q pgdb.Querier, accountID int64, limit int) ([]Call, error)
}
