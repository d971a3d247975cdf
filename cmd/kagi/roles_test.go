package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"kagi/pgdb"
	"kagi/pgdb/pgtest"
)

// asUser is dbURL connecting as another role.
func asUser(t *testing.T, dbURL, user, password string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

// superuserURL is the test cluster's superuser (KAGI_TEST_DATABASE_URL) on dbURL's database.
func superuserURL(t *testing.T, dbURL string) string {
	t.Helper()
	u, err := url.Parse(os.Getenv("KAGI_TEST_DATABASE_URL"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = db.Path
	return u.String()
}

// newRole creates a login role of the test's own — roles are cluster-wide, and tests run in
// parallel — and drops it, with its privileges in dbURL's database, when the test ends.
func newRole(t *testing.T, dbURL string) (name, password string) {
	t.Helper()
	b := make([]byte, 12)
	rand.Read(b)
	name, password = "kagi_test_"+hex.EncodeToString(b[:6]), hex.EncodeToString(b)
	super := superuserURL(t, dbURL)
	exec(t, super, `CREATE ROLE `+pgx.Identifier{name}.Sanitize()+` LOGIN NOSUPERUSER PASSWORD '`+password+`'`)
	t.Cleanup(func() {
		exec(t, super, `DROP OWNED BY `+pgx.Identifier{name}.Sanitize())
		exec(t, super, `DROP ROLE `+pgx.Identifier{name}.Sanitize())
	})
	return name, password
}

// servingURL grants a new role what serving needs with `kagi migrate --grant-to`, run as the
// owner of ownerURL's schema, and returns ownerURL connecting as that role: what kagi serve
// outside --dev accepts.
func servingURL(t *testing.T, ownerURL string) string {
	t.Helper()
	role, password := newRole(t, ownerURL)
	if out, err := kagi(t, map[string]string{"DATABASE_URL": ownerURL}, "migrate", "--grant-to", role); err != nil {
		t.Fatalf("migrate --grant-to: %v\n%s", err, out)
	}
	return asUser(t, ownerURL, role, password)
}

func connect(t *testing.T, dbURL string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// The trail is append-only for real (§6): the role kagi serves as may add to audit_log and read
// it, and nothing else — not even by switching its triggers off or dropping it.
func TestServingRoleCannotRewriteTheTrail(t *testing.T) {
	t.Parallel()
	ownerURL := pgtest.URL(t) // an empty database, migrated below by its owner
	role, password := newRole(t, ownerURL)
	for i := range 2 { // a second run changes nothing and does not fail
		out, err := kagi(t, map[string]string{"DATABASE_URL": ownerURL}, "migrate", "--grant-to", role)
		if err != nil {
			t.Fatalf("migrate --grant-to, run %d: %v\n%s", i+1, err, out)
		}
	}
	ctx := context.Background()
	serving := connect(t, asUser(t, ownerURL, role, password))
	if _, err := serving.Exec(ctx, `INSERT INTO audit_log (at, actor, event) VALUES (now(), 'test', 'written')`); err != nil {
		t.Fatalf("INSERT as the serving role: %v", err)
	}
	for _, sql := range []string{
		`DELETE FROM audit_log`,
		`UPDATE audit_log SET event = 'rewritten'`,
		`TRUNCATE audit_log`,
		`ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change`,
		`ALTER TABLE audit_log DISABLE TRIGGER ALL`,
		`DROP TRIGGER audit_log_no_change ON audit_log`,
		`DROP TABLE audit_log`,
		`ALTER TABLE audit_log OWNER TO ` + pgx.Identifier{role}.Sanitize(),
	} {
		_, err := serving.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("%s as the serving role: %v, want it refused (42501)", sql, err)
		}
	}
	// The refusals above are the grants', not only the triggers' (which refuse anyone).
	for _, priv := range []string{"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "TRIGGER", "REFERENCES"} {
		want := priv == "SELECT" || priv == "INSERT"
		if n := count(t, ownerURL, `SELECT count(*) FROM pg_class WHERE oid = 'audit_log'::regclass AND has_table_privilege('`+role+`', oid, '`+priv+`')`); (n == 1) != want {
			t.Errorf("serving role has %s on audit_log: %v, want %v", priv, n == 1, want)
		}
	}
	var lines int
	var event string
	if err := serving.QueryRow(ctx, `SELECT count(*), max(event) FROM audit_log`).Scan(&lines, &event); err != nil {
		t.Fatalf("SELECT as the serving role: %v", err)
	}
	if lines != 1 || event != "written" {
		t.Errorf("audit_log = %d lines, event %q; want the one written, unchanged", lines, event)
	}
	if n := count(t, ownerURL, `SELECT count(*) FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass AND tgenabled = 'O' AND NOT tgisinternal`); n != 2 {
		t.Errorf("audit_log has %d enabled triggers, want 2", n)
	}
	// Serving needs the rest: the schema version (/readyz) and the other tables.
	if behind, err := pgdb.Behind(ctx, serving, schema...); err != nil || len(behind) > 0 {
		t.Errorf("schema version as the serving role: %v %v", behind, err)
	}
	if _, err := serving.Exec(ctx, `UPDATE accounts SET name = name`); err != nil {
		t.Errorf("UPDATE accounts as the serving role: %v", err)
	}
	if _, err := serving.Exec(ctx, `DELETE FROM river_job WHERE false`); err != nil {
		t.Errorf("DELETE FROM river_job as the serving role: %v", err)
	}
	if _, err := serving.Exec(ctx, `DELETE FROM schema_version_auth`); err == nil {
		t.Error("the serving role may rewrite the schema version")
	}
}

// kagi serve outside --dev starts as the granted role, and refuses the owner of audit_log, a
// member of the owner, and a superuser, saying what to do.
func TestServeRefusesARoleNoGrantBinds(t *testing.T) {
	t.Parallel()
	ownerURL := pgtest.URL(t, schema...)
	ctx := context.Background()
	member, password := newRole(t, ownerURL)
	owner, err := url.Parse(ownerURL)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, superuserURL(t, ownerURL), `GRANT `+pgx.Identifier{owner.User.Username()}.Sanitize()+` TO `+pgx.Identifier{member}.Sanitize())
	for _, c := range []struct{ name, url, want string }{
		{"the owner", ownerURL, "which owns audit_log"},
		{"a member of the owner", asUser(t, ownerURL, member, password), "which owns audit_log"},
		{"a superuser", superuserURL(t, ownerURL), "a superuser"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := pgdb.CheckServing(ctx, connect(t, c.url), auditTable)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "kagi migrate --grant-to ROLE") {
				t.Fatalf("CheckServing: %v; want a refusal mentioning %q and what to do", err, c.want)
			}
		})
	}
	if err := pgdb.CheckServing(ctx, connect(t, servingURL(t, ownerURL)), auditTable); err != nil {
		t.Fatalf("CheckServing as the granted role: %v", err)
	}
	env := prodEnv(ownerURL)
	env["KAGI_SMTP_URL"], env["KAGI_MAIL_FROM"], env["KAGI_IVR_SECOND_FACTOR"] = "smtp://127.0.0.1:1", "no-reply@kagi-sec.example.jp", "none"
	env["KAGI_LISTEN"] = freeAddr(t)
	if _, err := kagi(t, env, "serve"); err == nil || !strings.Contains(err.Error(), "owns audit_log") {
		t.Fatalf("kagi serve as the owner: %v, want a refusal", err)
	}
	if out, err := kagi(t, map[string]string{"DATABASE_URL": ownerURL}, "migrate", "--grant-to", member); err == nil {
		t.Fatalf("migrate --grant-to a member of the owner: granted\n%s", out)
	}
	for _, bad := range []string{"kagi; DROP TABLE audit_log", "postgres://kagi@db/kagi", "no_such_role_" + member} {
		if out, err := kagi(t, map[string]string{"DATABASE_URL": ownerURL}, "migrate", "--grant-to", bad); err == nil {
			t.Errorf("migrate --grant-to %q: granted\n%s", bad, out)
		}
	}
}
