package staff

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"kagi/auth"
	"kagi/pgdb/pgtest"
)

// The staff identity's lifecycle, ceremonies and sessions are exercised through the console
// that serves them (package console's tests, with a virtual authenticator). These are the parts
// that need no browser: what a code or a new member may look like, and that a console request
// finds its session through the primary key however many sessions there are.

var testStart = time.Date(2031, 6, 4, 10, 0, 0, 0, auth.JST)

func newTestService(t *testing.T) *Service {
	t.Helper()
	pool := pgtest.New(t, auth.Migrations, Migrations)
	s, err := New(Config{Pool: pool, Now: func() time.Time { return testStart }, Secret: []byte("test-pin-key-0123456789abcdef0123"),
		WebAuthn: &webauthn.Config{RPID: "console.kagi.test", RPDisplayName: "kagi", RPOrigins: []string{"https://console.kagi.test"}}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNormalizeCodeForgivesHowAPersonCopiesIt(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"ABCD2345EFGH", "ABCD2345EFGH", true},
		{"  abcd-2345 efgh\t", "ABCD2345EFGH", true},
		{"", "", false},
		{" - ", "", false},
		{strings.Repeat("A", 65), "", false},
	} {
		got, ok := normalizeCode(c.in)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("normalizeCode(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"ABCD-2345", " x ", "", strings.Repeat("-", 70)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := normalizeCode(in)
		if !ok {
			return
		}
		if got == "" || len(got) > maxCodeLen || strings.ContainsAny(got, " -\t") || got != strings.ToUpper(got) {
			t.Fatalf("normalizeCode(%q) = %q: not a code that can be looked up", in, got)
		}
	})
}

func TestNewStaffListsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		n     NewStaff
		wants []string
	}{
		{"valid", NewStaff{LoginID: "suzuki", Name: "鈴木 一郎", Role: RoleOperator}, nil},
		{"all wrong", NewStaff{LoginID: "x", Name: " ", Role: "admin"}, []string{"login ID", "name", "role"}},
		{"name too long", NewStaff{LoginID: "suzuki", Name: strings.Repeat("あ", maxStaffName+1), Role: RoleSupervisor}, []string{"name"}},
		{"a NUL in the name", NewStaff{LoginID: "suzuki", Name: "鈴木\x00一郎", Role: RoleOperator}, []string{"name"}},
		{"an escape sequence in the name", NewStaff{LoginID: "suzuki", Name: "\x1b[2J鈴木 一郎", Role: RoleOperator}, []string{"name"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.n.Validate()
			if (err == nil) != (c.wants == nil) {
				t.Fatalf("Validate() = %v", err)
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v does not name the %s", err, w)
				}
			}
		})
	}
}

// A console request looks its session up by the token's hash alone: one probe of the primary
// key, never a scan of the sessions of the whole desk.
func TestSessionLookupUsesThePrimaryKey(t *testing.T) {
	t.Parallel()
	s := newTestService(t)
	ctx := context.Background()
	for _, sql := range []string{
		`INSERT INTO staff (login_id, name, role, user_handle, created_at)
		 SELECT 'staff' || g, 'name', 'operator', decode(md5('h' || g), 'hex'), $1 FROM generate_series(1, 200) g`,
		`INSERT INTO staff_sessions (token_hash, staff_id, created_at, expires_at, last_seen_at)
		 SELECT decode(md5('session' || g), 'hex'), 1 + g % 200, $1, $1::timestamptz + interval '8 hours', $1
		 FROM generate_series(1, 20000) g`,
	} {
		if _, err := s.pool.Exec(ctx, sql, testStart); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE staff, staff_sessions`); err != nil {
		t.Fatal(err)
	}
	rows, err := s.pool.Query(ctx, "EXPLAIN "+staffSessionSQL, auth.TokenHash("token"), testStart, staffSessionIdle, staffTouchAfter)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	text := strings.Join(lines, "\n")
	if strings.Contains(text, "Seq Scan on staff_sessions") || !strings.Contains(text, "staff_sessions_pkey") {
		t.Fatalf("the session lookup does not probe the primary key:\n%s", text)
	}
	if _, ok, err := s.SessionOf(ctx, "token"); err != nil || ok {
		t.Fatalf("SessionOf(an unknown token) = %v, %v", ok, err)
	}
}
