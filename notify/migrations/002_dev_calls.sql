-- The development mailbox also keeps the voice line's calls back (§4.8), which dev mode places
-- nowhere.
ALTER TABLE notify_dev_messages DROP CONSTRAINT notify_dev_messages_channel_check;
ALTER TABLE notify_dev_messages ADD CONSTRAINT notify_dev_messages_channel_check CHECK (channel IN ('email', 'sms', 'call'));
