package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/pgdb/pgtest"
)

// mailbox is a real SMTP server for the test: every message it accepts comes out of got.
type mailbox struct {
	addr string
	got  chan receivedMail
}

type receivedMail struct {
	to            []string
	subject, body string
	// tls tells whether the message came over TLS (STARTTLS).
	tls bool
}

// mailboxCert is the test mailbox's certificate, which TestMain has the process trust as the
// machine's roots would trust a real relay's: kagi serve outside --dev sends mail only after
// STARTTLS (§7).
var mailboxCert tls.Certificate

// TestMain makes mailboxCert and adds it to the roots every certificate is verified against
// (SSL_CERT_FILE, read once, when the first is verified).
func TestMain(m *testing.M) {
	s := httptest.NewUnstartedServer(http.NotFoundHandler())
	s.StartTLS()
	mailboxCert = s.TLS.Certificates[0]
	roots := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	s.Close()
	f, err := os.CreateTemp("", "kagi-test-roots-*.pem")
	if err == nil {
		_, err = f.Write(roots)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("SSL_CERT_FILE", f.Name())
	code := m.Run()
	os.Remove(f.Name())
	os.Exit(code)
}

func startMailbox(t *testing.T) *mailbox {
	t.Helper()
	mb := &mailbox{got: make(chan receivedMail, 64)}
	s := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) { return &mailboxSession{mb: mb, t: t, conn: c}, nil }))
	s.Domain = "127.0.0.1"
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{mailboxCert}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	mb.addr = l.Addr().String()
	return mb
}

type mailboxSession struct {
	mb   *mailbox
	t    *testing.T
	conn *gosmtp.Conn
	to   []string
}

func (s *mailboxSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (s *mailboxSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *mailboxSession) Reset()        { s.to = nil }
func (s *mailboxSession) Logout() error { return nil }

func (s *mailboxSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return err
	}
	var body io.Reader = msg.Body
	switch strings.ToLower(msg.Header.Get("Content-Transfer-Encoding")) {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	_, overTLS := s.conn.TLSConnectionState()
	s.mb.got <- receivedMail{to: s.to, subject: subject, body: string(b), tls: overTLS}
	return nil
}

// next waits for the next mail.
func (mb *mailbox) next(t *testing.T) receivedMail {
	t.Helper()
	select {
	case m := <-mb.got:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no mail within 30s")
		return receivedMail{}
	}
}

// twilioMessages is a local stand-in for Twilio's Messaging API: each text it is asked to send
// comes out of got.
func twilioMessages(t *testing.T) (*httptest.Server, chan url.Values) {
	t.Helper()
	got := make(chan url.Values, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || !strings.HasSuffix(r.URL.Path, "/Messages.json") {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		got <- r.PostForm
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"sid":"SM%032d","status":"queued"}`, len(got))
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The whole of §7 and §2.12 as deployed: kagi serve sends over SMTP and Twilio, a password login
// waits for the emoji that arrives by mail, and a window opened from the command line reaches
// the customer's mailbox and every registered phone through the server's outbox.
func TestServeMailsTheEmailCheckAndTellsRecoveryOnEveryChannel(t *testing.T) {
	t.Parallel()
	// Served as the role kagi migrate --grant-to granted: what the server, the command line
	// and river's workers do needs no more.
	dbURL := servingURL(t, pgtest.URL(t, schema...))
	mb := startMailbox(t)
	twilio, texts := twilioMessages(t)
	listen := freeAddr(t)
	env := prodEnv(dbURL)
	for k, v := range map[string]string{
		"KAGI_LISTEN":         listen,
		"KAGI_SMTP_URL":       "smtp://" + mb.addr,
		"KAGI_MAIL_FROM":      "カギ証券 <no-reply@kagi-sec.example.jp>",
		"TWILIO_AUTH_TOKEN":   "0123456789abcdef0123456789abcdef",
		"TWILIO_ACCOUNT_SID":  "AC0123456789abcdef0123456789abcdef",
		"KAGI_SMS_FROM":       "+815012345678",
		"KAGI_TWILIO_API_URL": twilio.URL,
	} {
		env[k] = v
	}
	if out, err := kagi(t, env, "account", "add", "--login-id", "hanako", "--password", "a good password",
		"--account-number", "7654321", "--pin", "4321", "--phone", "+819011112222", "--phone", "+818011112222",
		"--email", "hanako@example.jp", "--name", "佐藤 花子"); err != nil {
		t.Fatalf("account add: %v\n%s", err, out)
	}

	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		var logs bytes.Buffer
		served <- run(ctx, []string{"serve"}, envOf(env), io.Discard, &logs)
	}()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	base := "http://" + listen
	waitServing(t, base, served)

	// A password login: no session yet, an emoji by mail.
	status, body, _ := post(t, base+"/api/v1/login/password", `{"login_id":"hanako","password":"a good password"}`, "")
	check, ok := body["email_check"].(map[string]any)
	if status != http.StatusOK || !ok {
		t.Fatalf("password login: %d %v", status, body)
	}
	m := mb.next(t)
	emoji := regexp.MustCompile(`絵文字：(\S+)`).FindStringSubmatch(m.body)
	if m.to[0] != "hanako@example.jp" || !strings.Contains(m.subject, "ログイン追加認証") || emoji == nil {
		t.Fatalf("email check mail to %v %q:\n%s", m.to, m.subject, m.body)
	}
	if strings.Contains(m.body, "http") || !strings.Contains(m.body, "佐藤 花子様") || strings.Contains(m.body, "@") || !m.tls {
		t.Fatalf("email check mail:\n%s", m.body)
	}
	status, body, cookie := post(t, base+"/api/v1/login/email-check", fmt.Sprintf(`{"id":%q,"choice":%q}`, check["id"], emoji[1]), "")
	if status != http.StatusOK || body["assurance"] != "password" || !strings.HasPrefix(cookie, "__Host-kagi_session=") {
		t.Fatalf("email check: %d %v (cookie %q)", status, body, cookie)
	}
	if m := mb.next(t); m.subject != "ログインのお知らせ" || !strings.Contains(m.body, "ログインID・パスワード") {
		t.Fatalf("login notice %q:\n%s", m.subject, m.body)
	}

	// An operator opens a window from the command line: the server's workers tell the customer
	// by mail and text both registered phones.
	exec(t, dbURL, `INSERT INTO passkeys (account_id, credential_id, public_key, aaguid, backup_eligible, backup_state, created_at)
		SELECT id, 'cred', 'key', '00000000-0000-0000-0000-000000000000', true, true, now() FROM accounts WHERE login_id = 'hanako'`)
	if out, err := kagi(t, env, "window", "open", "--account-number", "7654321", "--channel", "operator", "--reason", "本人確認済み", "--break-glass"); err != nil {
		t.Fatalf("window open: %v\n%s", err, out)
	}
	if m := mb.next(t); !strings.Contains(m.subject, "ログイン受付") || !strings.Contains(m.body, "サポート窓口") {
		t.Fatalf("window mail %q:\n%s", m.subject, m.body)
	}
	phones := map[string]bool{}
	for range 2 {
		select {
		case f := <-texts:
			if f.Get("From") != "+815012345678" || strings.Contains(f.Get("Body"), "http") || !strings.Contains(f.Get("Body"), "サポート窓口") {
				t.Fatalf("text %v", f)
			}
			phones[f.Get("To")] = true
		case <-time.After(30 * time.Second):
			t.Fatal("no text within 30s")
		}
	}
	if !phones["+819011112222"] || !phones["+818011112222"] {
		t.Fatalf("texted %v, want both registered phones", phones)
	}
}

// waitServing waits until the server answers /healthz, or fails if it stopped.
func waitServing(t *testing.T, base string, served chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		select {
		case err := <-served:
			t.Fatalf("serve stopped: %v", err)
		case <-tick.C:
		}
		if res, err := http.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
	}
	t.Fatal("kagi serve did not come up within 30s")
}

// post sends a JSON body and returns the status, the decoded answer and the session cookie set.
func post(t *testing.T, url, body, cookie string) (int, map[string]any, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := map[string]any{}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	var set string
	if c := res.Cookies(); len(c) > 0 {
		set = c[0].Name + "=" + c[0].Value
	}
	return res.StatusCode, out, set
}

// In development mode (second factor auto by default) the line's texted code and its call back
// land in the mailbox, and `kagi call --dev` plays both from there: it keys the code when the
// keys say "code", and answers the call back with --answer-callback (§4.8 without a phone).
func TestCallPlaysTheSecondChannelInDevMode(t *testing.T) {
	t.Chdir(t.TempDir()) // --dev keeps its secrets under .kagi/ here
	dbURL := pgtest.URL(t, schema...)
	listen := freeAddr(t)
	env := map[string]string{"DATABASE_URL": dbURL, "KAGI_LISTEN": listen, "KAGI_ADMIN_LISTEN": "127.0.0.1:0", "KAGI_CONSOLE_LISTEN": "127.0.0.1:0", "KAGI_SHUTDOWN_DELAY": "0s"}
	if out, err := kagi(t, env, "account", "add", "--dev", "--login-id", "hanako", "--password", "a good password",
		"--account-number", "7654321", "--pin", "4321", "--phone", "+819011112222", "--phone", "+81311112222",
		"--email", "hanako@example.jp", "--name", "佐藤 花子"); err != nil {
		t.Fatalf("account add: %v\n%s", err, out)
	}
	exec(t, dbURL, `INSERT INTO passkeys (account_id, credential_id, public_key, aaguid, backup_eligible, backup_state, created_at)
		SELECT id, 'cred', 'key', '00000000-0000-0000-0000-000000000000', true, true, now() FROM accounts`)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- run(ctx, []string{"serve", "--dev"}, envOf(env), io.Discard, io.Discard) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	waitServing(t, "http://"+listen, served)

	out, err := kagi(t, env, "call", "--dev", "--url", "http://"+listen, "--from", "+819011112222", "--keys", "1,7654321#,4321,code")
	if err != nil {
		t.Fatalf("call: %v\n%s", err, out)
	}
	if !strings.Contains(out, "SMSで6桁の確認コードをお送りしました") || !strings.Contains(out, "確認コードを確認しました") {
		t.Fatalf("the call did not get through with the texted code:\n%s", out)
	}
	if n := count(t, dbURL, `SELECT count(*) FROM fallback_windows WHERE closed_at IS NULL`); n != 1 {
		t.Fatalf("open windows %d, want 1", n)
	}
	// From the landline, auto calls back; the answerer presses 1.
	out, err = kagi(t, env, "call", "--dev", "--url", "http://"+listen, "--from", "+81311112222", "--keys", "1,7654321#,4321", "--answer-callback", "1")
	if err != nil {
		t.Fatalf("call with a call back: %v\n%s", err, out)
	}
	if !strings.Contains(out, "折り返しお電話します") || !strings.Contains(out, "折り返しのお電話で確認が取れました") {
		t.Fatalf("the call back did not confirm:\n%s", out)
	}
	if n := count(t, dbURL, `SELECT count(*) FROM audit_log WHERE event = 'window_restarted' AND detail->>'confirmed_by' = 'callback'`); n != 1 {
		t.Fatalf("the call back did not restart the window (%d)", n)
	}
	// Without --dev and without --code, the call cannot know the code and says so.
	secrets, err := devSecrets()
	if err != nil {
		t.Fatal(err)
	}
	env["KAGI_PUBLIC_URL"] = "http://localhost" + listenPort(listen)
	env["TWILIO_AUTH_TOKEN"] = secrets["TWILIO_AUTH_TOKEN"]
	if _, err := kagi(t, env, "call", "--url", "http://"+listen, "--from", "+819011112222", "--keys", "1,7654321#,4321,code"); err == nil ||
		!strings.Contains(err.Error(), "--code") {
		t.Fatalf("call without the code: %v", err)
	}
}

// /metrics is served on the admin listener only; on SIGTERM /readyz fails for
// KAGI_SHUTDOWN_DELAY while requests are still served, and HSTS rides on every public answer of
// an https deployment.
func TestServeAdminListenerAndDrain(t *testing.T) {
	t.Parallel()
	dbURL := servingURL(t, pgtest.URL(t, schema...))
	listen, adminAddr := freeAddr(t), freeAddr(t)
	env := prodEnv(dbURL)
	for k, v := range map[string]string{
		"KAGI_LISTEN": listen, "KAGI_ADMIN_LISTEN": adminAddr, "KAGI_SHUTDOWN_DELAY": "3s",
		"KAGI_SMTP_URL": "smtp://127.0.0.1:1", "KAGI_MAIL_FROM": "no-reply@kagi-sec.example.jp",
		"KAGI_IVR_SECOND_FACTOR": "none",
	} {
		env[k] = v
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- run(ctx, []string{"serve"}, envOf(env), io.Discard, io.Discard) }()
	base, admin := "http://"+listen, "http://"+adminAddr
	waitServing(t, base, served)
	get := func(url string) (int, string, http.Header) {
		t.Helper()
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Header
	}
	if status, _, _ := get(base + "/metrics"); status != http.StatusNotFound {
		t.Errorf("public /metrics: %d, want 404", status)
	}
	if status, body, _ := get(admin + "/metrics"); status != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Errorf("admin /metrics: %d", status)
	}
	for _, u := range []string{base, admin} {
		if status, body, _ := get(u + "/readyz"); status != http.StatusOK || body != "ok\n" {
			t.Errorf("%s/readyz: %d %q", u, status, body)
		}
	}
	if _, _, h := get(base + "/healthz"); h.Get("Strict-Transport-Security") != "max-age=63072000" {
		t.Errorf("https deployment without HSTS: %v", h)
	}

	stop()
	draining := false
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		if status, _, _ := get(admin + "/readyz"); status == http.StatusServiceUnavailable {
			draining = true
			break
		}
	}
	if !draining {
		t.Fatal("/readyz never failed while draining")
	}
	if status, _, _ := get(base + "/healthz"); status != http.StatusOK {
		t.Errorf("requests are not served while draining: %d", status)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// A replica whose database has not been migrated to its schema is not ready.
func TestReadyzRefusesASchemaBehindTheBinary(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.URL(t, schema...)
	exec(t, dbURL, `UPDATE schema_version_auth SET version = version - 1`)
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rec := httptest.NewRecorder()
	(&readiness{pool: pool}).ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "auth: at") {
		t.Fatalf("readyz: %d %q", rec.Code, rec.Body.String())
	}
}
