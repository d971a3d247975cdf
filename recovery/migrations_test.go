package recovery

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/go-webauthn/webauthn/webauthn"

	"kagi/auth"
	"kagi/pgdb"
	"kagi/pgdb/pgtest"
)

// Migration 003 runs on databases that already count lockouts the old way: the callers' counts
// and lockouts carry over (so upgrading never forgives a caller), the rows keyed by account id,
// which the new key cannot be derived from in SQL, go.
func TestMigration003CarriesCallerCountsOver(t *testing.T) {
	t.Parallel()
	before := fstest.MapFS{}
	for _, name := range []string{"001_windows.sql", "002_voice_lockouts.sql"} {
		b, err := fs.ReadFile(Migrations.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		before[name] = &fstest.MapFile{Data: b}
	}
	pool := pgtest.New(t, auth.Migrations, pgdb.Migrations{Name: Migrations.Name, FS: before})
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
		INSERT INTO voice_lockouts (subject_kind, subject, failures, window_start, locked_until) VALUES
		    ('caller', '+819011110001', 9, $1, NULL),
		    ('caller', '+819011110002', 10, $1, $1::timestamptz + interval '24 hours'),
		    ('account', '42', 4, $1, NULL)`, testStart)
	if err != nil {
		t.Fatal(err)
	}
	if err := pgdb.Migrate(ctx, pool, Migrations); err != nil {
		t.Fatal(err)
	}

	clock := &testClock{now: testStart}
	svc := newService(t, pool, clock)
	core, err := auth.New(auth.Config{Pool: pool, Log: testLogger(t), Now: clock.Now,
		Passwords: auth.NewPasswordHasher(auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1}, 4),
		PINKey:    []byte("test-pin-key-0123456789abcdef0123"), Windows: svc.ForAuth(),
		WebAuthn: &webauthn.Config{RPID: "kagi.test", RPDisplayName: "kagi", RPOrigins: []string{"https://kagi.test"}}})
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, pool: pool, clock: clock, svc: svc, auth: core}
	if n := e.count(`SELECT count(*) FROM voice_lockouts WHERE subject_kind = 'account'`); n != 0 {
		t.Errorf("%d account rows keyed the old way survive", n)
	}
	e.expect("the 10th failure of a caller with 9 before the upgrade", e.verify("7654321", "+819011110001", wrongPIN), VoiceCallerLocked)
	e.expect("a caller locked before the upgrade", e.verify("7654321", "+819011110002", wrongPIN), VoiceCallerLocked)
}
