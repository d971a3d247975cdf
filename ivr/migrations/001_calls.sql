-- Per-call state of the voice line (§4.6), keyed by Twilio's CallSid. The state is the flow's
-- State as JSON; it never holds a PIN or a code.
CREATE TABLE ivr_calls (
    call_sid    text PRIMARY KEY CHECK (length(call_sid) BETWEEN 1 AND 64),
    caller      text NOT NULL,
    state       jsonb NOT NULL,
    started_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    end_status  text
);

-- The expiry job purges finished and abandoned calls through these.
CREATE INDEX ivr_calls_ended ON ivr_calls (ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX ivr_calls_open ON ivr_calls (updated_at) WHERE ended_at IS NULL;
