-- The development mailbox (kagi serve --dev without KAGI_SMTP_URL): every email and text that
-- would have been sent, kept so /dev/mail can show it. Production never writes here.
CREATE TABLE notify_dev_messages (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sent_at    timestamptz NOT NULL,
    channel    text NOT NULL CHECK (channel IN ('email', 'sms')),
    recipient  text NOT NULL,
    subject    text NOT NULL DEFAULT '',
    body       text NOT NULL
);
