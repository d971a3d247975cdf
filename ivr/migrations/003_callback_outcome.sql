-- How the call back a call asked for ended (§4.8), for the operator console: confirmed, declined,
-- no-key, locked, or the status Twilio reported for a call back nobody answered (no-answer, busy,
-- failed, canceled, completed). NULL while none was placed or it has not ended. Kept on the call,
-- because the call back's own row is purged minutes after its end.
ALTER TABLE ivr_calls ADD COLUMN callback_outcome text;
