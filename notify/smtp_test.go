package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// received is one message as the test SMTP server saw it.
type received struct {
	user     string // who authenticated, "" for nobody
	password string
	tls      bool
	from     string
	to       []string
	data     []byte
}

// smtpServer is a real SMTP server on 127.0.0.1 that keeps what it receives and answers the
// errors a test asks for.
type smtpServer struct {
	host string
	port int

	// Answers to give instead of accepting; nil accepts.
	mailErr, rcptErr, dataErr error
	// down makes the server answer every message 451, as a relay that is out of service for
	// a while, until it is cleared.
	down atomic.Bool
	// users are the accepted user:password pairs.
	users map[string]string

	mu   sync.Mutex
	got  []received
	auth []string // mechanisms clients used
	// clients are the client addresses of the connections opened, one per TCP connection (a
	// session restarts after STARTTLS on the same one).
	clients sync.Map
	// wire is everything said in plain text both ways (before STARTTLS, and on connections
	// without TLS).
	wire lockedBuffer
}

// lockedBuffer is a bytes.Buffer that connections write at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// commands counts the lines said on the wire by their first word.
func (srv *smtpServer) commands() map[string]int {
	srv.wire.mu.Lock()
	defer srv.wire.mu.Unlock()
	n := map[string]int{}
	for line := range strings.Lines(srv.wire.buf.String()) {
		if word, _, _ := strings.Cut(strings.TrimSpace(line), " "); word != "" {
			n[strings.ToUpper(word)]++
		}
	}
	return n
}

// connections is how many TCP connections clients opened.
func (srv *smtpServer) connections() int {
	n := 0
	srv.clients.Range(func(any, any) bool { n++; return true })
	return n
}

type smtpTLSMode int

const (
	plainSMTP   smtpTLSMode = iota // no TLS at all
	startTLS                       // STARTTLS offered
	implicitTLS                    // TLS from the first byte (smtps)
)

// testCert is a certificate for 127.0.0.1 and the pool that trusts it.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	s := httptest.NewUnstartedServer(http.NotFoundHandler())
	s.StartTLS()
	defer s.Close()
	return s.TLS.Certificates[0], s.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
}

func startSMTP(t testing.TB, mode smtpTLSMode, configure func(*smtpServer)) *smtpServer {
	t.Helper()
	srv := &smtpServer{users: map[string]string{}}
	if configure != nil {
		configure(srv)
	}
	s := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		srv.clients.Store(c.Conn().RemoteAddr().String(), true)
		return &smtpSession{srv: srv, conn: c}, nil
	}))
	s.Domain = "127.0.0.1"
	s.AllowInsecureAuth = true
	s.Debug = &srv.wire
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if mode != plainSMTP {
		cert, _ := testCert(t)
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
		if mode == startTLS {
			s.TLSConfig = cfg
		} else {
			l = tls.NewListener(l, cfg)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(l)
	}()
	t.Cleanup(func() {
		s.Close()
		l.Close() // in case Serve had not started when Close ran
		<-done
	})
	addr := l.Addr().(*net.TCPAddr)
	srv.host, srv.port = addr.IP.String(), addr.Port
	return srv
}

func (srv *smtpServer) received() []received {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return append([]received(nil), srv.got...)
}

type smtpSession struct {
	srv            *smtpServer
	conn           *gosmtp.Conn
	user, password string
	from           string
	to             []string
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	s.srv.mu.Lock()
	s.srv.auth = append(s.srv.auth, mech)
	s.srv.mu.Unlock()
	return sasl.NewPlainServer(func(_, user, password string) error {
		if want, ok := s.srv.users[user]; !ok || want != password {
			return gosmtp.ErrAuthFailed
		}
		s.user, s.password = user, password
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.srv.down.Load() {
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "out of service, try later"}
	}
	if s.srv.mailErr != nil {
		return s.srv.mailErr
	}
	s.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if s.srv.rcptErr != nil {
		return s.srv.rcptErr
	}
	s.to = append(s.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.srv.dataErr != nil {
		return s.srv.dataErr
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.got = append(s.srv.got, received{user: s.user, password: s.password, tls: isTLS, from: s.from, to: s.to, data: b})
	return nil
}

func (s *smtpSession) Reset()        { s.from, s.to = "", nil }
func (s *smtpSession) Logout() error { return nil }

// mailerFor is a mailer for srv from an smtp:// or smtps:// URL, trusting the test certificate
// when trust is set.
func mailerFor(t testing.TB, rawURL, from string, trust bool) *SMTPMailer {
	t.Helper()
	cfg, err := ParseSMTPURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewSMTPMailer(cfg, from)
	if err != nil {
		t.Fatal(err)
	}
	if trust {
		_, m.rootCAs = testCert(t)
	}
	return m
}

// decoded is what a mail client would show of a received message.
type decoded struct {
	from, to, subject, body, contentType string
	header                               mail.Header
}

func decode(t *testing.T, raw []byte) decoded {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("received message does not parse: %v\n%s", err, raw)
	}
	var d decoded
	d.header = msg.Header
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("subject %q: %v", msg.Header.Get("Subject"), err)
	}
	d.subject = subject
	for _, h := range []struct {
		name string
		into *string
	}{{"From", &d.from}, {"To", &d.to}} {
		a, err := msg.Header.AddressList(h.name)
		if err != nil || len(a) != 1 {
			t.Fatalf("%s %q: %v", h.name, msg.Header.Get(h.name), err)
		}
		*h.into = fmt.Sprintf("%s <%s>", a[0].Name, a[0].Address)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("content type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	d.contentType = mt + "; charset=" + strings.ToLower(params["charset"])
	var body io.Reader = msg.Body
	switch cte := strings.ToLower(msg.Header.Get("Content-Transfer-Encoding")); cte {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "", "7bit", "8bit":
	default:
		t.Fatalf("unexpected transfer encoding %q", cte)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	d.body = strings.ReplaceAll(string(b), "\r\n", "\n")
	return d
}

func TestSMTPMailerDeliversJapanese(t *testing.T) {
	const (
		subject = "【カギ証券】パスキーが削除されました"
		body    = "山田太郎様\n\n2025年4月1日 09:30（日本時間）にパスキーが削除されました。\nお心当たりがない場合は、お取引先のコールセンターへお電話ください。\n"
	)
	for _, tc := range []struct {
		name    string
		mode    smtpTLSMode
		scheme  string
		wantTLS bool
	}{
		{"plain when the relay offers no STARTTLS", plainSMTP, "smtp", false},
		{"STARTTLS when the relay offers it", startTLS, "smtp", true},
		{"implicit TLS with smtps", implicitTLS, "smtps", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startSMTP(t, tc.mode, nil)
			m := mailerFor(t, fmt.Sprintf("%s://%s:%d", tc.scheme, srv.host, srv.port), `"カギ証券" <noreply@kagi.example.jp>`, true)
			err := m.SendMail(t.Context(), Mail{To: "taro@example.jp", Subject: subject, Body: body})
			if err != nil {
				t.Fatalf("SendMail: %v", err)
			}
			got := srv.received()
			if len(got) != 1 {
				t.Fatalf("server received %d messages, want 1", len(got))
			}
			r := got[0]
			if r.tls != tc.wantTLS {
				t.Errorf("TLS = %v, want %v", r.tls, tc.wantTLS)
			}
			if r.user != "" {
				t.Errorf("authenticated as %q without credentials in the URL", r.user)
			}
			if r.from != "noreply@kagi.example.jp" || len(r.to) != 1 || r.to[0] != "taro@example.jp" {
				t.Errorf("envelope from %q to %q", r.from, r.to)
			}
			d := decode(t, r.data)
			if d.subject != subject {
				t.Errorf("subject = %q, want %q", d.subject, subject)
			}
			if d.body != body {
				t.Errorf("body = %q, want %q", d.body, body)
			}
			if d.from != "カギ証券 <noreply@kagi.example.jp>" {
				t.Errorf("From = %q", d.from)
			}
			if d.to != " <taro@example.jp>" {
				t.Errorf("To = %q", d.to)
			}
			if d.contentType != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type = %q", d.contentType)
			}
			if _, err := d.header.Date(); err != nil {
				t.Errorf("Date: %v", err)
			}
			if id := d.header.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@kagi.example.jp>") {
				t.Errorf("Message-ID = %q", id)
			}
			head, _, _ := bytes.Cut(r.data, []byte("\r\n\r\n"))
			for _, c := range head {
				if c >= 0x80 {
					t.Fatalf("raw 8-bit byte in the header, not MIME-encoded:\n%s", head)
				}
			}
			if bytes.Contains(r.data, []byte("://")) {
				t.Errorf("the raw message contains a URL:\n%s", r.data)
			}
		})
	}
}

func TestSMTPMailerAuthenticatesWithURLCredentials(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, plainSMTP, func(s *smtpServer) {
		s.users["kagi@example.jp"] = "s3cret pass"
	})
	m := mailerFor(t, fmt.Sprintf("smtp://kagi%%40example.jp:s3cret%%20pass@%s:%d", srv.host, srv.port), "noreply@kagi.example.jp", false)
	if err := m.SendMail(t.Context(), Mail{To: "taro@example.jp", Subject: "ログインのお知らせ", Body: "ログインがありました。"}); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	got := srv.received()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	if got[0].user != "kagi@example.jp" || got[0].password != "s3cret pass" {
		t.Errorf("authenticated as %q/%q, want the URL's user and password", got[0].user, got[0].password)
	}
}

func TestSMTPMailerClassifiesFailures(t *testing.T) {
	refuse := func(code int, enhanced gosmtp.EnhancedCode, msg string) error {
		return &gosmtp.SMTPError{Code: code, EnhancedCode: enhanced, Message: msg}
	}
	for _, tc := range []struct {
		name          string
		mode          smtpTLSMode
		configure     func(*smtpServer)
		user          string // in the URL, with password "pw"
		trust         bool
		wantPermanent bool
	}{
		{
			name: "451 to the recipient is retried",
			configure: func(s *smtpServer) {
				s.rcptErr = refuse(451, gosmtp.EnhancedCode{4, 7, 1}, "greylisted, try again later")
			},
		},
		{
			name:      "451 to the data is retried",
			configure: func(s *smtpServer) { s.dataErr = refuse(451, gosmtp.EnhancedCode{4, 3, 0}, "local error") },
		},
		{
			name:          "550 to the recipient is permanent",
			configure:     func(s *smtpServer) { s.rcptErr = refuse(550, gosmtp.EnhancedCode{5, 1, 1}, "no such user") },
			wantPermanent: true,
		},
		{
			name:          "554 to the data is permanent",
			configure:     func(s *smtpServer) { s.dataErr = refuse(554, gosmtp.EnhancedCode{5, 7, 1}, "message refused") },
			wantPermanent: true,
		},
		{
			name:      "550 to our sender is a setting to fix, retried",
			configure: func(s *smtpServer) { s.mailErr = refuse(550, gosmtp.EnhancedCode{5, 7, 1}, "sender not allowed") },
		},
		{
			name:      "rejected credentials are a setting to fix, retried",
			configure: func(s *smtpServer) { s.users["kagi"] = "other" },
			user:      "kagi",
		},
		{
			name: "STARTTLS with a certificate we do not trust fails rather than going plain",
			mode: startTLS,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startSMTP(t, tc.mode, tc.configure)
			userinfo := ""
			if tc.user != "" {
				userinfo = tc.user + ":pw@"
			}
			m := mailerFor(t, fmt.Sprintf("smtp://%s%s:%d", userinfo, srv.host, srv.port), "noreply@kagi.example.jp", tc.trust)
			err := m.SendMail(t.Context(), Mail{To: "taro@example.jp", Subject: "お知らせ", Body: "本文"})
			if err == nil {
				t.Fatal("SendMail succeeded, want an error")
			}
			if IsPermanent(err) != tc.wantPermanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, IsPermanent(err), tc.wantPermanent)
			}
			if n := len(srv.received()); n != 0 {
				t.Errorf("server kept %d messages", n)
			}
		})
	}
}

func TestSMTPMailerNothingListening(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	m := mailerFor(t, "smtp://"+addr, "noreply@kagi.example.jp", false)
	err = m.SendMail(t.Context(), Mail{To: "taro@example.jp", Subject: "お知らせ", Body: "本文"})
	if err == nil {
		t.Fatal("SendMail succeeded with nothing listening")
	}
	if IsPermanent(err) {
		t.Errorf("IsPermanent(%v) = true, want a retry", err)
	}
}

func TestSMTPMailerRefusesBadRecipientForGood(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, plainSMTP, nil)
	m := mailerFor(t, fmt.Sprintf("smtp://%s:%d", srv.host, srv.port), "noreply@kagi.example.jp", false)
	err := m.SendMail(t.Context(), Mail{To: "not an address", Subject: "お知らせ", Body: "本文"})
	if !IsPermanent(err) {
		t.Errorf("SendMail to a malformed address: %v, want a permanent error", err)
	}
}

func TestParseSMTPURL(t *testing.T) {
	good := []struct {
		raw  string
		want SMTPConfig
	}{
		{"smtp://mail.example.jp", SMTPConfig{Host: "mail.example.jp", Port: 587}},
		{"smtp://relay.local:25", SMTPConfig{Host: "relay.local", Port: 25}},
		{"SMTP://relay.local:25/", SMTPConfig{Host: "relay.local", Port: 25}},
		{"smtps://mail.example.jp", SMTPConfig{Host: "mail.example.jp", Port: 465, ImplicitTLS: true}},
		{"smtps://u:p@mail.example.jp:2465", SMTPConfig{Host: "mail.example.jp", Port: 2465, Username: "u", Password: "p", ImplicitTLS: true}},
		{"smtp://kagi%40example.jp:p%2F%40ss@127.0.0.1:2525", SMTPConfig{Host: "127.0.0.1", Port: 2525, Username: "kagi@example.jp", Password: "p/@ss"}},
	}
	for _, tc := range good {
		t.Run(tc.raw, func(t *testing.T) {
			got, err := ParseSMTPURL(tc.raw)
			if err != nil {
				t.Fatalf("ParseSMTPURL: %v", err)
			}
			if got != tc.want {
				t.Errorf("ParseSMTPURL = %+v, want %+v", got, tc.want)
			}
		})
	}
	bad := []struct {
		raw  string
		want string // in the error
	}{
		{"", "no scheme"},
		{"mail.example.jp", "no scheme"},
		{"http://u:hunter2@mail.example.jp", `scheme "http"`},
		{"smtp:mail.example.jp:25", "want smtp://host:port"},
		{"smtp://", "no host"},
		{"smtp://u:hunter2@:25", "no host"},
		{"smtp://u:hunter2@mail.example.jp:0", "port"},
		{"smtp://u:hunter2@mail.example.jp:70000", "port"},
		{"smtp://u:hunter2@mail.example.jp:", "empty port"},
		{"smtp://mail.example.jp:x", "not a valid URL"},
		{"smtp://u:hunter2@mail.example.jp:x", "not a valid URL"},
		{"smtp://u:hunter2%zz@mail.example.jp", "not a valid URL"},
		{"smtp://u:hunter2@mail.example.jp/inbox", "path"},
		{"smtp://u:hunter2@mail.example.jp?tls=no", "query"},
		{"smtp://u:hunter2@mail.example.jp#x", "fragment"},
		{"smtp://u:hunter2@[::1]:25", "IPv6"},
		{"smtp://kagi@mail.example.jp", "without a password"},
		{"smtp://kagi:@mail.example.jp", "without a password"},
		{"smtp://:hunter2@mail.example.jp", "without a user name"},
		{"smtp://@mail.example.jp", "empty user info"},
	}
	for _, tc := range bad {
		t.Run(tc.raw, func(t *testing.T) {
			got, err := ParseSMTPURL(tc.raw)
			if err == nil {
				t.Fatalf("ParseSMTPURL = %+v, want an error", got)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

func TestParseMailFrom(t *testing.T) {
	for _, tc := range []struct {
		raw, wantName, wantAddr string
		wantErr                 bool
	}{
		{raw: "noreply@kagi.example.jp", wantAddr: "noreply@kagi.example.jp"},
		{raw: "  noreply@kagi.example.jp ", wantAddr: "noreply@kagi.example.jp"},
		{raw: "Kagi <noreply@kagi.example.jp>", wantName: "Kagi", wantAddr: "noreply@kagi.example.jp"},
		{raw: "カギ証券 <noreply@kagi.example.jp>", wantName: "カギ証券", wantAddr: "noreply@kagi.example.jp"},
		{raw: "", wantErr: true},
		{raw: "noreply", wantErr: true},
		{raw: "noreply@", wantErr: true},
		{raw: "a@example.jp, b@example.jp", wantErr: true},
		{raw: "Kagi <noreply@kagi.example.jp", wantErr: true},
	} {
		t.Run(tc.raw, func(t *testing.T) {
			got, err := ParseMailFrom(tc.raw)
			if tc.wantErr {
				if err == nil {
					t.Errorf("ParseMailFrom = %q, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMailFrom: %v", err)
			}
			if tc.wantName == "" && got != tc.wantAddr {
				t.Errorf("ParseMailFrom = %q, want the bare address %q", got, tc.wantAddr)
			}
			for _, r := range got {
				if r > 0x7e {
					t.Fatalf("ParseMailFrom = %q, not fit for a header", got)
				}
			}
			a, err := mail.ParseAddress(got)
			if err != nil || a.Name != tc.wantName || a.Address != tc.wantAddr {
				t.Errorf("ParseMailFrom = %q, reads back as %+v (%v), want %q <%s>", got, a, err, tc.wantName, tc.wantAddr)
			}
			// What it returns is what NewSMTPMailer accepts.
			if _, err := NewSMTPMailer(SMTPConfig{Host: "mail.example.jp", Port: 587}, got); err != nil {
				t.Errorf("NewSMTPMailer(%q): %v", got, err)
			}
		})
	}
}

func TestNewSMTPMailerNamesEveryProblem(t *testing.T) {
	_, err := NewSMTPMailer(SMTPConfig{Port: 0, Username: "u"}, "nobody")
	if err == nil {
		t.Fatal("NewSMTPMailer accepted an empty config")
	}
	for _, want := range []string{"no host", "port 0", "without a password", `sender "nobody"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// With RequireTLS, smtp:// sends only over STARTTLS: a relay that offers it gets the mail
// encrypted; one that does not gets neither the mail nor the credentials, and the error says
// STARTTLS is why.
func TestSMTPMailerRequireTLS(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mode      smtpTLSMode
		trust     bool
		wantSent  bool
		wantInErr string
	}{
		{name: "a relay offering STARTTLS gets the mail over TLS", mode: startTLS, trust: true, wantSent: true},
		{name: "a relay without STARTTLS gets nothing", mode: plainSMTP, trust: true, wantInErr: "STARTTLS"},
		{name: "a relay whose certificate is not trusted gets nothing", mode: startTLS, wantInErr: "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startSMTP(t, tc.mode, func(s *smtpServer) { s.users["kagi"] = "pw" })
			cfg, err := ParseSMTPURL(fmt.Sprintf("smtp://kagi:pw@%s:%d", srv.host, srv.port))
			if err != nil {
				t.Fatal(err)
			}
			cfg.RequireTLS = true
			m, err := NewSMTPMailer(cfg, "noreply@kagi.example.jp")
			if err != nil {
				t.Fatal(err)
			}
			if tc.trust {
				_, m.rootCAs = testCert(t)
			}
			err = m.SendMail(t.Context(), Mail{To: "taro@example.jp", Subject: "お知らせ", Body: "本文"})
			got := srv.received()
			srv.mu.Lock()
			authed := len(srv.auth)
			srv.mu.Unlock()
			if tc.wantSent {
				if err != nil {
					t.Fatalf("SendMail: %v", err)
				}
				if len(got) != 1 || !got[0].tls || got[0].user != "kagi" {
					t.Fatalf("received %+v, want one message over TLS from kagi", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantInErr) {
				t.Fatalf("SendMail = %v, want an error naming %s", err, tc.wantInErr)
			}
			if IsPermanent(err) {
				t.Errorf("IsPermanent(%v) = true; a setting to mend is retried, not dropped", err)
			}
			if len(got) != 0 || authed != 0 {
				t.Errorf("the relay got %d messages and %d authentications in the clear", len(got), authed)
			}
		})
	}
}

// A burst of messages reuses the connection the first one opened: one TLS handshake and one
// login for all of them, every message delivered whole and to its own recipient.
func TestSMTPMailerKeepsItsConnection(t *testing.T) {
	t.Parallel()
	srv := startSMTP(t, startTLS, func(s *smtpServer) { s.users["kagi"] = "secret" })
	_, roots := testCert(t)
	m, err := NewSMTPMailer(SMTPConfig{Host: srv.host, Port: srv.port, Username: "kagi", Password: "secret", RequireTLS: true}, "no-reply@kagi-sec.example.jp")
	if err != nil {
		t.Fatal(err)
	}
	m.rootCAs = roots
	const n = 10
	for i := range n {
		if err := m.SendMail(context.Background(), Mail{To: fmt.Sprintf("user%d@example.jp", i), Subject: "ログインのお知らせ", Body: fmt.Sprintf("本文 %d", i)}); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	got := srv.received()
	if len(got) != n || srv.connections() != 1 {
		t.Fatalf("%d messages over %d connections, want %d over 1", len(got), srv.connections(), n)
	}
	for i, r := range got {
		if len(r.to) != 1 || r.to[0] != fmt.Sprintf("user%d@example.jp", i) || !r.tls || r.user != "kagi" {
			t.Fatalf("message %d: %+v", i, r)
		}
	}
	// Per message on a kept connection only what SMTP needs: MAIL, RCPT, DATA and the data,
	// neither a NOOP before it nor an RSET after it (the 250 that ends the data ends the mail
	// transaction). Seen on a connection without TLS.
	plain := startSMTP(t, plainSMTP, nil)
	pm := mailerFor(t, fmt.Sprintf("smtp://%s:%d", plain.host, plain.port), "no-reply@kagi-sec.example.jp", false)
	for i := range n {
		if err := pm.SendMail(context.Background(), Mail{To: fmt.Sprintf("user%d@example.jp", i), Subject: "件名", Body: "本文"}); err != nil {
			t.Fatalf("message %d without TLS: %v", i, err)
		}
	}
	if cmds := plain.commands(); cmds["MAIL"] != n || cmds["RCPT"] != n || cmds["DATA"] != n || cmds["RSET"] != 0 || cmds["NOOP"] != 0 || plain.connections() != 1 {
		t.Errorf("%d messages over %d connections said %v; want %d MAIL, RCPT and DATA, no RSET or NOOP, over 1", n, plain.connections(), cmds, n)
	}
	// Concurrent sends beyond the bound wait for a connection instead of opening one each.
	var wg sync.WaitGroup
	for i := range 3 * maxSMTPConns {
		wg.Go(func() {
			if err := m.SendMail(context.Background(), Mail{To: fmt.Sprintf("c%d@example.jp", i), Subject: "件名", Body: "本文"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := len(srv.received()); got != n+3*maxSMTPConns {
		t.Fatalf("%d messages, want %d", got, n+3*maxSMTPConns)
	}
	if got := srv.connections(); got > maxSMTPConns {
		t.Fatalf("%d connections opened, want at most %d", got, maxSMTPConns)
	}
}
