package notify

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// What the outbox did, for the admin listener's /metrics: an operator alerts on mail that does
// not leave — a relay that is down shows as retries long before anything ends undelivered —
// without reading a log line per message.
var (
	messagesDelivered = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kagi_messages_delivered_total",
		Help: "Messages handed over for delivery (emails to the SMTP relay, texts to Twilio), by event kind and channel.",
	}, []string{"kind", "channel"})
	messagesUndelivered = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kagi_messages_undelivered_total",
		Help: "Messages that ended undelivered, each also audited, by event kind, channel and reason.",
	}, []string{"kind", "channel", "reason"})
	messageRetries = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "kagi_message_retries_total",
		Help: "Failed tries of a message that will be tried again, by channel.",
	}, []string{"channel"})
)
