package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	osexec "os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"kagi/pgdb/pgtest"
)

// startPgBouncer runs Debian's PgBouncer in transaction mode in front of the database of
// dbURL and returns the URL that reaches the same database through it. scripts/test installs
// it; as root it runs as the private cluster's user (PgBouncer refuses to run as root).
func startPgBouncer(t *testing.T, dbURL string) string {
	t.Helper()
	bin, err := osexec.LookPath("pgbouncer")
	if err != nil {
		if bin, err = osexec.LookPath("/usr/sbin/pgbouncer"); err != nil {
			t.Fatal("pgbouncer is missing: scripts/test installs Debian's (apt-get install --no-install-recommends pgbouncer)")
		}
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	files := map[string]string{
		"users.txt": fmt.Sprintf("%q %q\n", u.User.Username(), password),
		"pgbouncer.ini": fmt.Sprintf(`[databases]
* = host=%s port=%s
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %s
unix_socket_dir =
auth_type = plain
auth_file = %s
pool_mode = transaction
default_pool_size = 8
max_client_conn = 200
`, u.Hostname(), u.Port(), port, filepath.Join(dir, "users.txt")),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{filepath.Join(dir, "pgbouncer.ini")}
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "kagipg"}, args...)
	}
	var logs bytes.Buffer
	cmd := osexec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("pgbouncer:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgbouncer did not listen on %s:\n%s", addr, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	through := *u
	through.Host = addr
	return through.String()
}

// kagi works through Debian's PgBouncer 1.18 in transaction mode (§9) with KAGI_DB_POOLER set:
// the command line adds an account and opens a window, the server logs a customer in with the
// password and the emailed emoji, and the outbox — polling, since LISTEN cannot pass the pooler
// — mails the emoji, the login notice and the window's notice.
func TestServeThroughPgBouncerInTransactionMode(t *testing.T) {
	t.Parallel()
	direct := servingURL(t, pgtest.URL(t, schema...))
	pooled := startPgBouncer(t, direct)
	mb := startMailbox(t)
	listen := freeAddr(t)
	env := prodEnv(pooled)
	for k, v := range map[string]string{
		"KAGI_DB_POOLER":         "transaction",
		"KAGI_LISTEN":            listen,
		"KAGI_SMTP_URL":          "smtp://" + mb.addr,
		"KAGI_MAIL_FROM":         "カギ証券 <no-reply@kagi-sec.example.jp>",
		"KAGI_IVR_SECOND_FACTOR": "none",
	} {
		env[k] = v
	}
	for i := range 5 {
		if out, err := kagi(t, env, "account", "add", "--login-id", fmt.Sprintf("user%d", i), "--password", "a good password",
			"--account-number", fmt.Sprintf("765432%d", i), "--pin", "4321", "--phone", "+819011112222",
			"--email", fmt.Sprintf("user%d@example.jp", i), "--name", "佐藤 花子"); err != nil {
			t.Fatalf("account add %d through the pooler: %v\n%s", i, err, out)
		}
	}

	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- run(ctx, []string{"serve"}, envOf(env), io.Discard, io.Discard) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	base := "http://" + listen
	waitServing(t, base, served)

	status, body, _ := post(t, base+"/api/v1/login/password", `{"login_id":"user0","password":"a good password"}`, "")
	check, ok := body["email_check"].(map[string]any)
	if status != http.StatusOK || !ok {
		t.Fatalf("password login through the pooler: %d %v", status, body)
	}
	emoji := regexp.MustCompile(`絵文字：(\S+)`).FindStringSubmatch(mb.next(t).body)
	if emoji == nil {
		t.Fatal("no emoji mailed through the pooler")
	}
	status, body, _ = post(t, base+"/api/v1/login/email-check", fmt.Sprintf(`{"id":%q,"choice":%q}`, check["id"], emoji[1]), "")
	if status != http.StatusOK || body["assurance"] != "password" {
		t.Fatalf("email check through the pooler: %d %v", status, body)
	}
	if m := mb.next(t); m.subject != "ログインのお知らせ" {
		t.Fatalf("login notice %q", m.subject)
	}
	exec(t, direct, `INSERT INTO passkeys (account_id, credential_id, public_key, aaguid, backup_eligible, backup_state, created_at)
		SELECT id, 'cred', 'key', '00000000-0000-0000-0000-000000000000', true, true, now() FROM accounts WHERE login_id = 'user1'`)
	if out, err := kagi(t, env, "window", "open", "--account-number", "7654321", "--channel", "operator", "--reason", "本人確認済み", "--break-glass"); err != nil {
		t.Fatalf("window open through the pooler: %v\n%s", err, out)
	}
	if m := mb.next(t); !strings.Contains(m.subject, "ログイン受付") {
		t.Fatalf("window mail %q", m.subject)
	}
}
