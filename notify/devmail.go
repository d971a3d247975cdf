package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DevMailbox is the Mailer and Texter of development mode without an SMTP server or Twilio: it
// keeps every message in the database, and DevMailHandler shows them.
type DevMailbox struct {
	Pool *pgxpool.Pool
	Now  func() time.Time
}

// SendMail keeps m.
func (d DevMailbox) SendMail(ctx context.Context, m Mail) error {
	return d.keep(ctx, "email", m.To, m.Subject, m.Body)
}

// SendSMS keeps m.
func (d DevMailbox) SendSMS(ctx context.Context, m SMS) error {
	return d.keep(ctx, "sms", m.To, "", m.Body)
}

func (d DevMailbox) keep(ctx context.Context, channel, to, subject, body string) error {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	_, err := d.Pool.Exec(ctx, `
		INSERT INTO notify_dev_messages (sent_at, channel, recipient, subject, body) VALUES ($1, $2, $3, $4, $5)`,
		now(), channel, to, subject, body)
	return err
}

// PlaceCall keeps the call in the mailbox instead of ringing anyone: its body names the URLs a
// tool (`kagi call --answer-callback`, /dev/phone) answers it at (DevMessage.PlacedCall). The
// CallSid is made up.
func (d DevMailbox) PlaceCall(ctx context.Context, c Call) (string, error) {
	sid := "CA" + strings.ToLower(rand.Text())
	body := "発信(開発モード: 実際には発信されません)\n" + devCallSid + sid + "\n" + devCallURL + c.URL + "\n" + devCallStatus + c.StatusURL
	return sid, d.keep(ctx, "call", c.To, "折り返し電話", body)
}

// The lines of a kept call's body that PlacedCall reads back.
const (
	devCallSid    = "CallSid: "
	devCallURL    = "URL: "
	devCallStatus = "Status: "
)

// PlacedCall reads back a call PlaceCall kept: its CallSid and the call.
func (m DevMessage) PlacedCall() (sid string, c Call, ok bool) {
	if m.Channel != "call" {
		return "", Call{}, false
	}
	c.To = m.Recipient
	for _, line := range strings.Split(m.Body, "\n") {
		switch {
		case strings.HasPrefix(line, devCallSid):
			sid = strings.TrimPrefix(line, devCallSid)
		case strings.HasPrefix(line, devCallURL):
			c.URL = strings.TrimPrefix(line, devCallURL)
		case strings.HasPrefix(line, devCallStatus):
			c.StatusURL = strings.TrimPrefix(line, devCallStatus)
		}
	}
	return sid, c, sid != "" && c.URL != "" && c.StatusURL != ""
}

// DevMessage is one message in the development mailbox.
type DevMessage struct {
	ID        int64     `db:"id" json:"id"`
	SentAt    time.Time `db:"sent_at" json:"sent_at"`
	Channel   string    `db:"channel" json:"channel"`
	Recipient string    `db:"recipient" json:"to"`
	Subject   string    `db:"subject" json:"subject"`
	Body      string    `db:"body" json:"body"`
}

// DevMessages returns the newest limit messages of the development mailbox, newest first.
func DevMessages(ctx context.Context, pool *pgxpool.Pool, limit int) ([]DevMessage, error) {
	rows, err := pool.Query(ctx, `
		SELECT id, sent_at, channel, recipient, subject, body
		FROM notify_dev_messages ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[DevMessage])
}

var devMailPage = template.Must(template.New("mail").Funcs(template.FuncMap{
	"jst": func(t time.Time) string {
		return t.In(renderJST).Format("2006年1月2日 15:04:05") + " (日本時間)"
	},
}).Parse(`<!doctype html>
<html lang="ja">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>開発用メールボックス</title><link rel="stylesheet" href="/static/kagi.css"></head>
<body><header class="site">kagi — 開発用メールボックス</header><main>
<h1>送信されたメール・SMS</h1>
<p class="note">開発モードでは、メールとSMSは送信されずにここに保存されます(新しい順)。</p>
{{range .}}<article class="message" id="message-{{.ID}}">
<h2>{{if eq .Channel "sms"}}SMS{{else}}{{.Subject}}{{end}}</h2>
<dl class="passkey"><dt>日時</dt><dd>{{jst .SentAt}}</dd><dt>宛先</dt><dd>{{.Recipient}}</dd><dt>種類</dt><dd>{{if eq .Channel "sms"}}SMS{{else if eq .Channel "call"}}電話(発信){{else}}メール{{end}}</dd></dl>
<pre class="body">{{.Body}}</pre>
</article>{{else}}<p id="empty">まだメッセージはありません。</p>{{end}}
</main></body></html>
`))

// DevMailHandler shows the development mailbox, newest first. Mount it only in development mode.
func DevMailHandler(pool *pgxpool.Pool, log *slog.Logger) http.Handler {
	return devMailbox(pool, log, func(w http.ResponseWriter, msgs []DevMessage) error {
		var buf bytes.Buffer
		if err := devMailPage.Execute(&buf, msgs); err != nil {
			return err
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, err := buf.WriteTo(w)
		return err
	})
}

// DevMailJSONHandler is the development mailbox as JSON, newest first, for tools such as
// `kagi call --dev`, which reads the voice line's texted code and call back from it. Mount it
// only in development mode.
func DevMailJSONHandler(pool *pgxpool.Pool, log *slog.Logger) http.Handler {
	return devMailbox(pool, log, func(w http.ResponseWriter, msgs []DevMessage) error {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		return json.NewEncoder(w).Encode(map[string]any{"messages": msgs})
	})
}

// devMailbox serves the newest hundred messages of the mailbox through write.
func devMailbox(pool *pgxpool.Pool, log *slog.Logger, write func(http.ResponseWriter, []DevMessage) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msgs, err := DevMessages(r.Context(), pool, 100)
		if err == nil {
			w.Header().Set("Cache-Control", "no-store")
			err = write(w, msgs)
		}
		if err != nil {
			log.ErrorContext(r.Context(), "dev mailbox", "err", err)
			http.Error(w, "mailbox unavailable", http.StatusInternalServerError)
		}
	})
}
