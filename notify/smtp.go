package notify

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// smtpTimeout bounds the connection and each SMTP command, so a stuck relay costs one attempt of
// the outbox rather than a worker.
const smtpTimeout = 15 * time.Second

// SMTPConfig is where mail goes (KAGI_SMTP_URL), kept apart from the URL so the password is never
// printed with it.
type SMTPConfig struct {
	Host               string
	Port               int
	Username, Password string
	// ImplicitTLS is smtps://: TLS from the first byte. Otherwise STARTTLS is used whenever the
	// server offers it, and a local relay without TLS still works unless RequireTLS is set.
	ImplicitTLS bool
	// RequireTLS makes smtp:// insist on STARTTLS (SPEC §7: outside --dev, mail never leaves in
	// the clear): a relay that does not offer it, or whose certificate is not trusted, gets
	// nothing — not even the credentials — and the send fails with an error naming STARTTLS. The
	// failure is retried like any other of our settings, so notices wait for the relay to be
	// mended rather than being dropped. ParseSMTPURL leaves it false: the caller sets it from
	// the mode it runs in. smtps:// is always TLS and ignores it.
	RequireTLS bool
}

// ParseSMTPURL reads smtp://[user:pass@]host[:port] (STARTTLS when offered, port 587 by default)
// or smtps://[user:pass@]host[:port] (implicit TLS, port 465 by default). Its errors name the
// problem and never contain the password.
func ParseSMTPURL(raw string) (SMTPConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the input, and its inner errors can quote part of the user info.
		if strings.Contains(raw, "@") {
			return SMTPConfig{}, errors.New("smtp url: not a valid URL (reserved characters in the user name or password must be %-escaped)")
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return SMTPConfig{}, fmt.Errorf("smtp url: not a valid URL: %v", err)
	}
	var cfg SMTPConfig
	switch u.Scheme {
	case "smtp":
		cfg.Port = gomail.DefaultPortTLS
	case "smtps":
		cfg.Port = gomail.DefaultPortSSL
		cfg.ImplicitTLS = true
	case "":
		return SMTPConfig{}, errors.New("smtp url: no scheme (want smtp:// or smtps://)")
	default:
		return SMTPConfig{}, fmt.Errorf("smtp url: scheme %q is not smtp or smtps", u.Scheme)
	}
	shown := u.Redacted()
	switch {
	case u.Opaque != "":
		return SMTPConfig{}, fmt.Errorf("smtp url %s: want %s://host:port", shown, u.Scheme)
	case u.Hostname() == "":
		return SMTPConfig{}, fmt.Errorf("smtp url %s: no host", shown)
	case strings.Contains(u.Hostname(), ":"):
		return SMTPConfig{}, fmt.Errorf("smtp url %s: IPv6 address literals are not supported, use a host name", shown)
	case u.Path != "" && u.Path != "/":
		return SMTPConfig{}, fmt.Errorf("smtp url %s: unexpected path %q", shown, u.Path)
	case u.RawQuery != "" || u.ForceQuery:
		return SMTPConfig{}, fmt.Errorf("smtp url %s: unexpected query", shown)
	case u.Fragment != "":
		return SMTPConfig{}, fmt.Errorf("smtp url %s: unexpected fragment", shown)
	}
	cfg.Host = u.Hostname()
	if strings.HasSuffix(u.Host, ":") {
		return SMTPConfig{}, fmt.Errorf("smtp url %s: empty port", shown)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return SMTPConfig{}, fmt.Errorf("smtp url %s: port %q is not between 1 and 65535", shown, p)
		}
		cfg.Port = n
	}
	if u.User != nil {
		cfg.Username = u.User.Username()
		cfg.Password, _ = u.User.Password()
		switch {
		case cfg.Username == "" && cfg.Password == "":
			return SMTPConfig{}, fmt.Errorf("smtp url %s: empty user info before @", shown)
		case cfg.Username == "":
			return SMTPConfig{}, fmt.Errorf("smtp url %s: password without a user name", shown)
		case cfg.Password == "":
			return SMTPConfig{}, fmt.Errorf("smtp url %s: user %q without a password", shown, cfg.Username)
		}
	}
	return cfg, nil
}

// ParseMailFrom reads the sender address (KAGI_MAIL_FROM), with or without a display name, and
// returns it in the form to put in From: the bare address, or the name (RFC 2047-encoded when not
// ASCII) and the address.
func ParseMailFrom(raw string) (string, error) {
	if strings.TrimSpace(raw) == "" {
		return "", errors.New("mail from: empty")
	}
	a, err := mail.ParseAddress(raw)
	if err != nil {
		return "", fmt.Errorf("mail from %q: not an email address: %w", raw, err)
	}
	if a.Name == "" {
		return a.Address, nil
	}
	return a.String(), nil
}

// SMTPMailer sends the customer emails through an SMTP relay over at most maxSMTPConns
// connections at a time. A connection, once its TLS and login are done, is kept for the next
// message (each idle at most smtpIdleFor), and a send that finds every connection busy waits
// for one rather than opening another, so a burst of notices — a login notice per passkey
// login at the market's opening, delivered by many workers at once — costs a handshake per
// connection, not one per message.
type SMTPMailer struct {
	cfg  SMTPConfig
	from *mail.Address
	// domain is the sender's, which Message-IDs end with rather than this host's name.
	domain string
	// rootCAs verifies the server's certificate; nil is the system's. Tests set their own.
	rootCAs *x509.CertPool

	// conns holds a token for each connection open or being opened: a send takes one first.
	conns chan struct{}

	mu   sync.Mutex
	idle []idleSMTP
}

// idleSMTP is a connected client waiting for the next message, and since when.
type idleSMTP struct {
	c     *gomail.Client
	since time.Time
}

// Bounds of the connections: enough for a relay a few milliseconds away to take a login
// notice per passkey login at the peak rate (each message is five round trips: MAIL, RCPT,
// DATA, its end and RSET), well under the connections relays allow a client (Postfix: 50),
// and kept shorter than their idle timeout (Postfix: 300 s), so a kept connection is rarely
// found closed by the server.
const (
	maxSMTPConns = 16
	smtpIdleFor  = 30 * time.Second
)

// NewSMTPMailer checks cfg and the sender once, so a bad setting stops the server at start
// instead of failing every message.
func NewSMTPMailer(cfg SMTPConfig, from string) (*SMTPMailer, error) {
	var problems []error
	if cfg.Host == "" {
		problems = append(problems, errors.New("smtp: no host"))
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		problems = append(problems, fmt.Errorf("smtp: port %d is not between 1 and 65535", cfg.Port))
	}
	if cfg.Username != "" && cfg.Password == "" {
		problems = append(problems, fmt.Errorf("smtp: user %q without a password", cfg.Username))
	}
	a, err := mail.ParseAddress(from)
	if err != nil {
		problems = append(problems, fmt.Errorf("smtp: sender %q is not an email address: %w", from, err))
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	m := &SMTPMailer{cfg: cfg, from: a, domain: a.Address[strings.LastIndexByte(a.Address, '@')+1:],
		conns: make(chan struct{}, maxSMTPConns)}
	if _, err := m.client(); err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	return m, nil
}

// client is a go-mail client for one send.
func (m *SMTPMailer) client() (*gomail.Client, error) {
	opts := []gomail.Option{
		gomail.WithPort(m.cfg.Port),
		gomail.WithTimeout(smtpTimeout),
		// No NOOP before each message: a kept connection the server closed fails at MAIL FROM,
		// before anything of the message is sent, and send tries a new one.
		gomail.WithoutNoop(),
		// No RSET after a delivered message: the 250 that ends its data ends the mail
		// transaction (RFC 5321 §4.1.1.4), and the next MAIL FROM begins the next; go-mail still
		// resets after a refused MAIL FROM or RCPT TO. A message costs four round trips, not five.
		gomail.WithoutRset(),
		gomail.WithTLSConfig(&tls.Config{ServerName: m.cfg.Host, MinVersion: tls.VersionTLS12, RootCAs: m.rootCAs}),
	}
	switch {
	case m.cfg.ImplicitTLS:
		opts = append(opts, gomail.WithSSL())
	case m.cfg.RequireTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if m.cfg.Username != "" {
		// PLAIN or LOGIN, which refuse to run without TLS unless the server is on this host; a
		// server offering neither gets go-mail's discovery (SCRAM, CRAM-MD5).
		opts = append(opts,
			gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(m.cfg.Username),
			gomail.WithPassword(m.cfg.Password))
	}
	return gomail.NewClient(m.cfg.Host, opts...)
}

// SendMail sends msg as a plain-text UTF-8 email. A recipient or message refused for good (a 5xx
// reply to RCPT or DATA) is Permanent; anything else (4xx, no connection, timeouts) is worth a
// retry.
func (m *SMTPMailer) SendMail(ctx context.Context, msg Mail) error {
	to, err := mail.ParseAddress(msg.To)
	if err != nil {
		return Permanent(fmt.Errorf("smtp: recipient %q is not an email address: %w", msg.To, err))
	}
	if strings.ContainsAny(msg.Subject, "\r\n") {
		return Permanent(errors.New("smtp: subject spans lines"))
	}
	gm := gomail.NewMsg(gomail.WithEncoding(gomail.EncodingB64), gomail.WithNoDefaultUserAgent())
	from := *m.from
	gm.FromMailAddress(&from)
	gm.ToMailAddress(to)
	gm.Subject(msg.Subject)
	gm.SetDateWithValue(time.Now())
	gm.SetMessageIDWithValue(rand.Text() + "@" + m.domain)
	gm.SetBodyString(gomail.TypeTextPlain, msg.Body)

	err = m.send(ctx, gm)
	if err != nil {
		err = fmt.Errorf("smtp: send to %s: %w", maskEmail(to.Address), err)
		if refusedForGood(err) {
			return Permanent(err)
		}
		return err
	}
	return nil
}

// send sends gm on a kept connection, or on a new one when none is kept and fewer than
// maxSMTPConns are open, or else waits for one (within ctx). A connection that failed is
// closed, never kept. A kept one that failed short of a refusal for good — most often closed
// by the server while it waited — is tried once more on a new connection: no server accepted
// the message (that would have ended the send without an error), so it is not sent twice.
func (m *SMTPMailer) send(ctx context.Context, gm *gomail.Msg) error {
	select {
	case m.conns <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-m.conns }()
	if c := m.take(); c != nil {
		err := c.Send(gm)
		if err == nil {
			m.keep(c)
			return nil
		}
		_ = c.Close()
		if refusedForGood(err) {
			return err
		}
	}
	c, err := m.client()
	if err != nil {
		return err
	}
	if err := c.DialWithContext(ctx); err != nil {
		return err
	}
	if err := c.Send(gm); err != nil {
		_ = c.Close()
		return err
	}
	m.keep(c)
	return nil
}

// take returns a kept connection not idle for too long, closing the ones that are, or nil.
func (m *SMTPMailer) take() *gomail.Client {
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.idle) > 0 {
		last := m.idle[len(m.idle)-1]
		m.idle = m.idle[:len(m.idle)-1]
		if time.Since(last.since) < smtpIdleFor {
			return last.c
		}
		_ = last.c.Close()
	}
	return nil
}

// keep keeps c for the next message; no more are ever open than maxSMTPConns.
func (m *SMTPMailer) keep(c *gomail.Client) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.idle = append(m.idle, idleSMTP{c: c, since: time.Now()})
}

// refusedForGood reports a 5xx reply to the recipient or the message itself. A 5xx to MAIL FROM
// or to AUTH is a setting of ours, mended by fixing it, so those stay worth a retry.
func refusedForGood(err error) bool {
	var se *gomail.SendError
	if !errors.As(err, &se) || se.IsTemp() || se.ErrorCode() < 500 || se.ErrorCode() > 599 {
		return false
	}
	switch se.Reason {
	case gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
		return true
	}
	return false
}

var _ Mailer = (*SMTPMailer)(nil)
