package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// importedLine is an account line as a test writes it; secret and pin are {"hash":…} or
// {"plain":…}.
func importedLine(t testing.TB, number, loginID string, password, pin map[string]string, phones ...string) string {
	t.Helper()
	if len(phones) == 0 {
		phones = []string{"+8190" + fmt.Sprintf("%08s", number)[:8]}
	}
	b, err := json.Marshal(map[string]any{
		"account_number": number, "login_id": loginID, "name": "顧客 " + number, "email": loginID + "@example.jp",
		"phones": phones, "password": password, "pin": pin,
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func hashed(h string) map[string]string { return map[string]string{"hash": h} }
func plain(s string) map[string]string  { return map[string]string{"plain": s} }

// importRun is what one Import reported.
type importRun struct {
	counts   ImportCounts
	failures map[int64]string
	err      error
}

func runImport(t testing.TB, svc *Service, text string, opt ImportOptions) importRun {
	t.Helper()
	run := importRun{failures: map[int64]string{}}
	var last int64
	opt.Failure = func(f ImportFailure) {
		if f.Line <= last {
			t.Errorf("failure of line %d reported after line %d", f.Line, last)
		}
		last = f.Line
		run.failures[f.Line] = f.Reason
	}
	run.counts, run.err = svc.Import(context.Background(), strings.NewReader(text), opt)
	return run
}

// count runs a counting query on the service's database.
func (s *Service) testCount(t testing.TB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A file of every kind of secret imports them all: the accounts with their phones, their
// secrets as the file gave them (plain ones hashed by kagi) and an account_imported line each;
// blank lines, CRLF line ends and a byte-order mark are taken in their stride.
func TestImportMixedFile(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	const pw = "correct horse battery"
	kinds := legacyHashes(t, pw)
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range kinds {
			if !yield(k) {
				return
			}
		}
	})
	var lines []string
	want := map[string]string{}   // account number → the password kind audited
	stored := map[string]string{} // account number → the hash it came with
	for i, name := range names {
		number := fmt.Sprint(100001 + i)
		lines = append(lines, importedLine(t, number, "user"+number, hashed(kinds[name]), plain("1234")))
		want[number], stored[number] = strings.Fields(name)[0], kinds[name]
	}
	lines = append(lines, importedLine(t, "200001", "plainuser", plain(pw), hashed(kinds["pbkdf2-sha256"]), "+819011112222", "+81311112222", "+819011112222"))
	want["200001"] = "plain"
	text := "\uFEFF" + strings.Join(lines[:3], "\r\n") + "\n\n   \n" + strings.Join(lines[3:], "\n") // no final newline
	run := runImport(t, e.svc, text, ImportOptions{})
	if run.err != nil || len(run.failures) > 0 {
		t.Fatalf("import: %v %v", run.err, run.failures)
	}
	if c := run.counts; c.Created != int64(len(lines)) || c.Existing+c.Updated+c.Failed != 0 || c.Read != int64(len(lines)+2) || c.Batches != 1 {
		t.Fatalf("counts %+v, want %d created of %d lines read in one batch", c, len(lines), len(lines)+2)
	}
	for number, kind := range want {
		acct, ok, err := e.svc.AccountByNumber(context.Background(), e.svc.pool, number)
		if err != nil || !ok {
			t.Fatalf("account %s: %v %v", number, ok, err)
		}
		if acct.Email != acct.LoginID+"@example.jp" || acct.Name != "顧客 "+number || len(acct.UserHandle) != 32 {
			t.Errorf("account %s stored as %+v", number, acct)
		}
		var (
			phones    []string
			pwHash    string
			pinHash   []byte
			pinLegacy *string
		)
		err = e.svc.pool.QueryRow(context.Background(), `SELECT ARRAY(SELECT phone FROM account_phones WHERE account_id = a.id ORDER BY phone),
			password_hash, pin_hash, pin_legacy_hash FROM accounts a WHERE id = $1`, acct.ID).Scan(&phones, &pwHash, &pinHash, &pinLegacy)
		if err != nil {
			t.Fatal(err)
		}
		audit := e.auditDetails(acct.ID, "account_imported")
		if len(audit) != 1 || audit[0]["password"] != kind {
			t.Errorf("account %s: account_imported %v, want one naming %s", number, audit, kind)
		}
		if number == "200001" {
			if !slices.Equal(phones, []string{"+81311112222", "+819011112222"}) {
				t.Errorf("phones %v", phones)
			}
			if sh, err := parseStoredHash(pwHash); err != nil || sh.kind != HashArgon2id || sh.argon != fastArgon {
				t.Errorf("a plain password stored as %q, want kagi's Argon2id", pwHash)
			}
			if pinHash != nil || pinLegacy == nil || *pinLegacy != kinds["pbkdf2-sha256"] || audit[0]["pin"] != "pbkdf2-sha256" {
				t.Errorf("a PIN hash stored as %x / %v", pinHash, pinLegacy)
			}
			continue
		}
		if len(phones) != 1 {
			t.Errorf("account %s: phones %v", number, phones)
		}
		if pwHash != stored[number] {
			t.Errorf("account %s: password hash not stored as it came", number)
		}
		if pinLegacy != nil || !e.svc.PINMatches(number, "1234", pinHash) {
			t.Errorf("account %s: a plain PIN not stored as kagi's keyed hash", number)
		}
	}
	var actors []string
	rows, err := e.svc.pool.Query(context.Background(), `SELECT DISTINCT actor FROM audit_log`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			t.Fatal(err)
		}
		actors = append(actors, a)
	}
	if !slices.Equal(actors, []string{"import"}) {
		t.Errorf("audit actors %v, want import", actors)
	}
}

// Every kind of bad line fails with its line number and a reason that repeats no secret, and
// nothing of it is written, while the lines around it are imported.
func TestImportBadLinesRefused(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	const secret = "s3cret-Value"
	bcryptHash := legacyHashes(t, "whatever password")["bcrypt $2a$"]
	good := func(n string) string { return importedLine(t, n, "user"+n, hashed(bcryptHash), plain("1234")) }
	with := func(n string, edit func(m map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(good(n)), &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cases := []struct {
		name string
		line string
		want string
	}{
		{"not JSON", `{"account_number": "300001", "password": {"plain": "` + secret, "incomplete JSON"},
		{"JSON syntax", `{"account_number": 300002 "` + secret + `"}`, "JSON syntax error"},
		{"not an object", `["` + secret + `"]`, "must be"},
		{"unknown field", with("300003", func(m map[string]any) { m["passwrd"] = secret }), `unknown field "passwrd"`},
		{"two values", good("300004") + ` {}`, "more than one JSON value"},
		{"phones not a list", with("300005", func(m map[string]any) { m["phones"] = "+819011112222" }), `field "phones"`},
		{"bad login ID", with("300006", func(m map[string]any) { m["login_id"] = "a b" }), "login ID must be"},
		{"bad account number", with("300007", func(m map[string]any) { m["account_number"] = "30000x" }), "account number must be"},
		{"no phone", with("300008", func(m map[string]any) { m["phones"] = []string{} }), "at least one phone"},
		{"phone not E.164", with("300009", func(m map[string]any) { m["phones"] = []string{"090-1111-2222"} }), "not an E.164 number"},
		{"bad email", with("300010", func(m map[string]any) { m["email"] = "nobody" }), "not a plain address"},
		{"empty name", with("300011", func(m map[string]any) { m["name"] = " " }), "name is required"},
		{"password missing", with("300012", func(m map[string]any) { delete(m, "password") }), "password: {\"hash\":…} or {\"plain\":…} is required"},
		{"hash and plain", with("300013", func(m map[string]any) { m["password"] = map[string]string{"hash": bcryptHash, "plain": secret} }), "either hash or plain"},
		{"plain password too short", with("300014", func(m map[string]any) { m["password"] = plain("s3cret") }), "password must be 8-256 characters"},
		{"unknown hash kind", with("300015", func(m map[string]any) { m["password"] = hashed("$md5$" + secret) }), "unknown hash kind"},
		{"bcrypt too costly", with("300016", func(m map[string]any) { m["password"] = hashed("$2a$31$" + bcryptHash[7:]) }), "bcrypt cost 31"},
		{"malformed pbkdf2", with("300017", func(m map[string]any) { m["password"] = hashed("$pbkdf2-sha256$i=1000$" + secret) }), "malformed pbkdf2-sha256"},
		{"PIN of 3 digits", with("300018", func(m map[string]any) { m["pin"] = plain("123") }), "PIN must be exactly 4 digits"},
		{"PIN hash malformed", with("300019", func(m map[string]any) { m["pin"] = hashed("$scrypt$ln=4$" + secret) }), "pin: malformed scrypt"},
		{"line too long", with("300020", func(m map[string]any) { m["name"] = strings.Repeat("長", MaxImportLine/3) }), "longer than 65536 bytes"},
	}
	lines := []string{good("100001")}
	for _, c := range cases {
		lines = append(lines, c.line)
	}
	lines = append(lines, good("100002"))
	run := runImport(t, e.svc, strings.Join(lines, "\n")+"\n", ImportOptions{})
	if run.err != nil {
		t.Fatal(run.err)
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reason, ok := run.failures[int64(i+2)]
			if !ok {
				t.Fatalf("line %d not failed", i+2)
			}
			if !strings.Contains(reason, c.want) {
				t.Errorf("line %d: %q, want it to say %q", i+2, reason, c.want)
			}
			if strings.Contains(reason, "s3cret") || strings.Contains(reason, bcryptHash[7:]) {
				t.Errorf("line %d: the reason %q repeats a secret", i+2, reason)
			}
		})
	}
	if c := run.counts; c.Created != 2 || c.Failed != int64(len(cases)) || len(run.failures) != len(cases) {
		t.Errorf("counts %+v, %d failures; want 2 created and %d failed", c, len(run.failures), len(cases))
	}
	if n := e.svc.testCount(t, `SELECT count(*) FROM accounts`); n != 2 {
		t.Errorf("%d accounts stored, want the 2 good ones", n)
	}
	if n := e.svc.testCount(t, `SELECT count(*) FROM audit_log WHERE event = 'account_imported'`); n != 2 {
		t.Errorf("%d account_imported lines, want 2", n)
	}
}

// A login ID or account number already on an earlier line of the file fails the later line,
// in one batch or across batches; one of another account in the database fails the line too,
// while an account number already there is reported existing and left alone.
func TestImportDuplicates(t *testing.T) {
	t.Parallel()
	for _, batch := range []int{100, 2} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			e.addAccount(demoAccount) // taro, 1234567
			h := legacyHashes(t, "whatever password")["scrypt"]
			lines := []string{
				importedLine(t, "100001", "hanako", hashed(h), plain("1111")),                    // 1 created
				importedLine(t, "100002", "jiro", hashed(h), plain("2222")),                      // 2 created
				importedLine(t, "100001", "hanako2", hashed(h), plain("3333")),                   // 3 account number of line 1
				importedLine(t, "100003", "hanako", hashed(h), plain("4444")),                    // 4 login ID of line 1
				importedLine(t, "100004", "taro", hashed(h), plain("5555")),                      // 5 login ID of 1234567
				importedLine(t, demoAccount.AccountNumber, "taro-new", hashed(h), plain("6666")), // 6 existing
				importedLine(t, "100005", "saburo", hashed(h), plain("7777")),                    // 7 created
			}
			run := runImport(t, e.svc, strings.Join(lines, "\n"), ImportOptions{BatchSize: batch})
			if run.err != nil {
				t.Fatal(run.err)
			}
			wantFail := map[int64]string{
				3: "account number 100001 repeats line 1",
				4: `login ID "hanako" repeats line 1`,
				5: `login ID "taro" is already used by account 1234567`,
			}
			for line, want := range wantFail {
				if run.failures[line] != want {
					t.Errorf("line %d: %q, want %q", line, run.failures[line], want)
				}
			}
			if c := run.counts; c.Created != 3 || c.Existing != 1 || c.Failed != 3 || len(run.failures) != 3 {
				t.Errorf("counts %+v, failures %v", c, run.failures)
			}
			if n := e.svc.testCount(t, `SELECT count(*) FROM accounts WHERE login_id IN ('hanako2', 'taro-new') OR account_number IN ('100003', '100004')`); n != 0 {
				t.Errorf("%d accounts of failed or existing lines written", n)
			}
			if n := e.svc.testCount(t, `SELECT count(*) FROM accounts WHERE account_number = '100001' AND login_id = 'hanako'`); n != 1 {
				t.Error("the first line of a repeated account number lost")
			}
		})
	}
}

// Running a file again reports what it imported as existing, writes nothing and fails the same
// lines again.
func TestImportRerunIsIdempotent(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	h := legacyHashes(t, "whatever password")["pbkdf2-sha512"]
	var lines []string
	for i := range 25 {
		n := fmt.Sprint(500000 + i)
		if i%5 == 0 {
			lines = append(lines, importedLine(t, n, "user"+n, plain("correct horse battery"), plain("1234")))
			continue
		}
		lines = append(lines, importedLine(t, n, "user"+n, hashed(h), plain("1234")))
	}
	lines = append(lines, importedLine(t, "599999", "user599999", plain("short"), plain("1234")))
	text := strings.Join(lines, "\n")
	first := runImport(t, e.svc, text, ImportOptions{BatchSize: 10})
	if first.err != nil || first.counts.Created != 25 || first.counts.Failed != 1 {
		t.Fatalf("first run: %+v %v", first.counts, first.err)
	}
	snapshot := func() string {
		var s string
		err := e.svc.pool.QueryRow(context.Background(), `SELECT
			(SELECT string_agg(concat_ws(',', id, login_id, account_number, name, email, password_hash, encode(pin_hash, 'hex')), ';' ORDER BY id) FROM accounts)
			|| (SELECT count(*) FROM account_phones) || '/' || (SELECT count(*) FROM audit_log)`).Scan(&s)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := snapshot()
	again := runImport(t, e.svc, text, ImportOptions{BatchSize: 10})
	if again.err != nil {
		t.Fatal(again.err)
	}
	if c := again.counts; c.Existing != 25 || c.Created+c.Updated != 0 || c.Failed != 1 || again.failures[26] == "" {
		t.Errorf("second run: %+v %v, want 25 existing and line 26 failed again", c, again.failures)
	}
	if after := snapshot(); after != before {
		t.Errorf("the second run changed the database:\n%s\n%s", before, after)
	}
}

// With Update an existing account takes the line's name, email, phones, password and PIN,
// audited account_updated; a line that changes nothing is reported existing, and one that
// would change the login ID fails.
func TestImportUpdate(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	old, fresh := legacyHashes(t, "old password 1"), legacyHashes(t, "new password 2")
	text := strings.Join([]string{
		importedLine(t, "100001", "hanako", hashed(old["bcrypt $2a$"]), plain("1111"), "+819011110001"),
		importedLine(t, "100002", "jiro", hashed(old["scrypt"]), hashed(old["scrypt"]), "+819011110002"),
		importedLine(t, "100003", "saburo", hashed(old["scrypt"]), plain("3333"), "+819011110003"),
	}, "\n")
	if run := runImport(t, e.svc, text, ImportOptions{}); run.err != nil || run.counts.Created != 3 {
		t.Fatalf("import: %+v %v", run.counts, run.err)
	}
	changed := strings.Join([]string{
		strings.Replace(importedLine(t, "100001", "hanako", hashed(fresh["pbkdf2-sha256"]), hashed(fresh["scrypt"]), "+819011110001", "+819099990001"),
			"hanako@example.jp", "hanako@example.com", 1),
		importedLine(t, "100002", "jiro", hashed(old["scrypt"]), hashed(old["scrypt"]), "+819011110002"), // as it is
		importedLine(t, "100003", "saburo3", hashed(fresh["scrypt"]), plain("3333"), "+819011110003"),
		importedLine(t, "100004", "shiro", hashed(fresh["scrypt"]), plain("4444")),
	}, "\n")
	without := runImport(t, e.svc, changed, ImportOptions{})
	if c := without.counts; without.err != nil || c.Existing != 3 || c.Created != 1 || c.Updated != 0 {
		t.Fatalf("without update: %+v %v", c, without.err)
	}
	run := runImport(t, e.svc, changed, ImportOptions{Update: true})
	if run.err != nil {
		t.Fatal(run.err)
	}
	if c := run.counts; c.Updated != 1 || c.Existing != 2 || c.Failed != 1 || !strings.Contains(run.failures[3], `has login ID "saburo"`) {
		t.Errorf("update: %+v %v, want 1 updated, 2 existing, line 3 failed", c, run.failures)
	}
	acct, _, err := e.svc.AccountByNumber(context.Background(), e.svc.pool, "100001")
	if err != nil {
		t.Fatal(err)
	}
	var (
		phones           []string
		pwHash           string
		pinHash          []byte
		pinLegacy, email string
	)
	err = e.svc.pool.QueryRow(context.Background(), `SELECT ARRAY(SELECT phone FROM account_phones WHERE account_id = a.id ORDER BY phone),
		password_hash, pin_hash, coalesce(pin_legacy_hash, ''), email FROM accounts a WHERE id = $1`, acct.ID).Scan(&phones, &pwHash, &pinHash, &pinLegacy, &email)
	if err != nil {
		t.Fatal(err)
	}
	if email != "hanako@example.com" || !slices.Equal(phones, []string{"+819011110001", "+819099990001"}) ||
		pwHash != fresh["pbkdf2-sha256"] || pinHash != nil || pinLegacy != fresh["scrypt"] {
		t.Errorf("after the update: %s %v %q %x %q", email, phones, pwHash, pinHash, pinLegacy)
	}
	if d := e.auditDetails(acct.ID, "account_updated"); len(d) != 1 || d[0]["password"] != "pbkdf2-sha256" || d[0]["pin"] != "scrypt" {
		t.Errorf("account_updated %v", d)
	}
	if n := e.svc.testCount(t, `SELECT count(*) FROM audit_log WHERE event = 'account_updated'`); n != 1 {
		t.Errorf("%d account_updated lines, want 1 (the unchanged and the failed line none)", n)
	}
	// Phones replaced, not added: a second update drops the number the line no longer has.
	again := importedLine(t, "100001", "hanako", hashed(fresh["pbkdf2-sha256"]), hashed(fresh["scrypt"]), "+819099990001")
	again = strings.Replace(again, "hanako@example.jp", "hanako@example.com", 1)
	if run := runImport(t, e.svc, again, ImportOptions{Update: true}); run.err != nil || run.counts.Updated != 1 {
		t.Fatalf("second update: %+v %v", run.counts, run.err)
	}
	if n := e.svc.testCount(t, `SELECT count(*) FROM account_phones WHERE account_id = $1`, acct.ID); n != 1 {
		t.Errorf("%d phones after the update to one", n)
	}
	if status, body := e.passwordLogin(e.browser(), "hanako", "new password 2"); status != http.StatusOK {
		t.Errorf("login with the updated password: %d %v", status, body)
	}
}

// An update never touches an account whose customer uses kagi already — a login, a passkey, an
// account created in kagi — so a stale file cannot silently undo what changed in kagi: its line
// fails, saying where such a change goes, while an unchanged line is still reported existing and
// the other accounts are updated.
func TestImportUpdateRefusesAccountsInUse(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	old, fresh := legacyHashes(t, "old password 1"), legacyHashes(t, "new password 2")
	line := func(number, loginID string, password map[string]string, phone string) string {
		return importedLine(t, number, loginID, password, plain("1111"), phone)
	}
	first := strings.Join([]string{
		line("100001", "hanako", hashed(old["bcrypt $2a$"]), "+819011110001"),
		line("100002", "jiro", hashed(old["bcrypt $2a$"]), "+819011110002"),
		line("100003", "saburo", hashed(old["bcrypt $2a$"]), "+819011110003"),
		line("100004", "shiro", hashed(old["bcrypt $2a$"]), "+819011110004"),
	}, "\n")
	if run := runImport(t, e.svc, first, ImportOptions{}); run.err != nil || run.counts.Created != 4 {
		t.Fatalf("import: %+v %v", run.counts, run.err)
	}
	if status, body := e.passwordLogin(e.browser(), "hanako", "old password 1"); status != http.StatusOK {
		t.Fatalf("hanako's login: %d %v", status, body)
	}
	jiro, _, err := e.svc.AccountByNumber(context.Background(), e.svc.pool, "100002")
	if err != nil {
		t.Fatal(err)
	}
	e.insertPasskey(jiro.ID, e.clock.Now(), e.clock.Now())
	e.addAccount(demoAccount) // created in kagi, not imported
	hanako, _, err := e.svc.AccountByNumber(context.Background(), e.svc.pool, "100001")
	if err != nil {
		t.Fatal(err)
	}
	hanakoHash := e.storedPasswordHash(hanako.ID)

	stale := strings.Join([]string{
		line("100001", "hanako", hashed(fresh["scrypt"]), "+819099990001"), // logged in
		line("100002", "jiro", hashed(fresh["scrypt"]), "+819011110002"),   // has a passkey
		line("100003", "saburo", hashed(fresh["scrypt"]), "+819011110003"), // not yet in kagi
		line("100004", "shiro", hashed(old["bcrypt $2a$"]), "+819011110004"),
		line(demoAccount.AccountNumber, demoAccount.LoginID, hashed(fresh["scrypt"]), demoAccount.Phones[0]),
	}, "\n")
	run := runImport(t, e.svc, stale, ImportOptions{Update: true})
	if c := run.counts; run.err != nil || c.Updated != 1 || c.Existing != 1 || c.Failed != 3 {
		t.Fatalf("update: %+v %v %v, want 1 updated, 1 existing, 3 failed", c, run.err, run.failures)
	}
	for line, number := range map[int64]string{1: "100001", 2: "100002", 5: demoAccount.AccountNumber} {
		if reason := run.failures[line]; !strings.Contains(reason, "account "+number+" is in use in kagi") || !strings.Contains(reason, "back office") {
			t.Errorf("line %d: %q", line, reason)
		}
	}
	if h := e.storedPasswordHash(hanako.ID); h != hanakoHash {
		t.Error("the update replaced the password of an account in use")
	}
	if n := e.svc.testCount(t, `SELECT count(*) FROM account_phones WHERE phone = '+819099990001'`); n != 0 {
		t.Error("the update replaced the phones of an account in use")
	}
	if n := e.svc.testCount(t, `SELECT count(*) FROM audit_log WHERE event = 'account_updated'`); n != 1 {
		t.Errorf("%d account_updated lines, want saburo's alone", n)
	}
	if status, body := e.passwordLogin(e.browser(), "saburo", "new password 2"); status != http.StatusOK {
		t.Errorf("saburo's login with the updated password: %d %v", status, body)
	}
}

// An import stopped half way leaves whole batches; running the file again then yields exactly
// the full set.
func TestImportCancelledThenRerun(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	h := legacyHashes(t, "whatever password")["bcrypt $2b$"]
	var lines []string
	const total = 200
	for i := range total {
		n := fmt.Sprint(700000 + i)
		lines = append(lines, importedLine(t, n, "user"+n, hashed(h), plain("1234")))
	}
	text := strings.Join(lines, "\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	counts, err := e.svc.Import(ctx, strings.NewReader(text), ImportOptions{BatchSize: 10, Progress: func(ImportCounts) { cancel() }})
	// The batches written beside the first may have committed too.
	if !errors.Is(err, context.Canceled) || counts.Batches < 1 || counts.Created >= total || counts.Created != 10*counts.Batches {
		t.Fatalf("cancelled import: %+v %v, want whole batches of 10, not all, and context.Canceled", counts, err)
	}
	if n := e.svc.testCount(t, `SELECT count(*) FROM accounts`); int64(n) != counts.Created {
		t.Fatalf("%d accounts after the cancelled import, want the %d it reported", n, counts.Created)
	}
	run := runImport(t, e.svc, text, ImportOptions{BatchSize: 10})
	if c := run.counts; run.err != nil || c.Existing != counts.Created || c.Created != total-counts.Created {
		t.Fatalf("rerun: %+v %v", c, run.err)
	}
	if n := e.svc.testCount(t, `SELECT count(*) FROM accounts WHERE account_number BETWEEN '700000' AND '700199'`); n != total {
		t.Errorf("%d accounts after the rerun, want %d", n, total)
	}
	if n := e.svc.testCount(t, `SELECT count(*) FROM audit_log WHERE event = 'account_imported'`); n != total {
		t.Errorf("%d account_imported lines, want %d", n, total)
	}
}

// An imported bcrypt account logs in with its password, and its hash is then kagi's Argon2id;
// an account imported with a plain password logs in too.
func TestImportedAccountLogsIn(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	const pw = "correct horse battery"
	text := importedLine(t, "100001", "hanako", hashed(legacyHashes(t, pw)["bcrypt $2y$"]), plain("1234")) + "\n" +
		importedLine(t, "100002", "jiro", plain(pw), plain("1234")) + "\n"
	if run := runImport(t, e.svc, text, ImportOptions{}); run.err != nil || run.counts.Created != 2 {
		t.Fatalf("import: %+v %v %v", run.counts, run.err, run.failures)
	}
	acct, _, err := e.svc.AccountByNumber(context.Background(), e.svc.pool, "100001")
	if err != nil {
		t.Fatal(err)
	}
	if status, body := e.passwordLogin(e.browser(), "hanako", "wrong password"); status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d %v", status, body)
	}
	if status, body := e.passwordLogin(e.browser(), "hanako", pw); status != http.StatusOK {
		t.Fatalf("login: %d %v", status, body)
	}
	if sh, err := parseStoredHash(e.storedPasswordHash(acct.ID)); err != nil || sh.kind != HashArgon2id {
		t.Errorf("after the login the hash is %v %v, want kagi's Argon2id", sh.kind, err)
	}
	if status, body := e.passwordLogin(e.browser(), "jiro", pw); status != http.StatusOK {
		t.Errorf("login with the plain password imported: %d %v", status, body)
	}
}

// An import writes in batches: a few statements and one commit per batch, never a statement
// per line.
func TestImportStatementsPerBatch(t *testing.T) {
	t.Parallel()
	svc, counter := countedService(t, nil)
	h := legacyHashes(t, "whatever password")["argon2id other parameters"]
	var lines []string
	for i := range 500 {
		n := fmt.Sprint(800000 + i)
		lines = append(lines, importedLine(t, n, "user"+n, hashed(h), plain("1234"), "+819011110001", "+81311110001"))
	}
	text := strings.Join(lines, "\n")
	for _, update := range []bool{false, true} {
		if update { // every line changes: a new email
			text = strings.ReplaceAll(text, "@example.jp", "@example.com")
		}
		counter.Reset()
		run := runImport(t, svc, text, ImportOptions{BatchSize: 100, Update: update})
		if run.err != nil || run.counts.Created+run.counts.Updated != 500 || run.counts.Batches != 5 {
			t.Fatalf("update=%v: %+v %v", update, run.counts, run.err)
		}
		// Creating: find what is there, the stage, the insert. Updating: find, the stage, the
		// unchanged ones, and four statements sent together.
		perBatch := map[bool]int64{false: 3, true: 7}[update]
		if n := counter.Commits.Load(); n != 5 {
			t.Errorf("update=%v: %d commits, want one per batch (5)", update, n)
		}
		if n := counter.Statements.Load(); n > 5*perBatch {
			t.Errorf("update=%v: %d statements for 5 batches, want at most %d each", update, n, perBatch)
		}
	}
	if n := svc.testCount(t, `SELECT count(*) FROM account_phones`); n != 1000 {
		t.Errorf("%d phones, want 1000", n)
	}
}
