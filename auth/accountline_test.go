package auth

import (
	"strings"
	"testing"
)

func TestParseAccountLine(t *testing.T) {
	t.Parallel()
	good := `{"account_number":"1234567","login_id":"taro","name":"山田 太郎","email":"taro@example.jp",` +
		`"phones":["+819012345678"],"password":{"hash":"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"},"pin":{"plain":"1234"}}`
	l, err := ParseAccountLine([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, line, want string }{
		{"not JSON", `account_number=1`, "syntax error"},
		{"cut short", `{"account_number":"1"`, "incomplete JSON"},
		{"two objects", `{} {}`, "more than one JSON value"},
		{"an unknown field", `{"acount_number":"1"}`, `unknown field "acount_number"`},
		{"a number for a string", `{"account_number":1234567}`, `field "account_number" must be string`},
		{"a password of the wrong type is not echoed", `{"password":"hunter22secret"}`, `field "password" must be`},
	}
	for _, c := range cases {
		_, err := ParseAccountLine([]byte(c.line))
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "hunter22") {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

func TestAccountLineValidate(t *testing.T) {
	t.Parallel()
	str := func(s string) *string { return &s }
	base := func() AccountLine {
		return AccountLine{AccountNumber: "1234567", LoginID: "taro", Name: "山田 太郎", Email: "taro@example.jp",
			Phones: []string{"+819012345678"}, Password: Secret{Plain: str("correct horse battery")}, PIN: Secret{Plain: str("1234")}}
	}
	cases := []struct {
		name string
		edit func(*AccountLine)
		want string
	}{
		{"no password", func(l *AccountLine) { l.Password = Secret{} }, "password: {\"hash\""},
		{"both hash and plain", func(l *AccountLine) { l.PIN.Hash = str("$2a$05$x") }, "pin: give either"},
		{"an unknown hash kind", func(l *AccountLine) { l.Password = Secret{Hash: str("$md5$abc$def")} }, "password: unknown hash kind"},
		{"a short plain password", func(l *AccountLine) { l.Password = Secret{Plain: str("short")} }, "8-256"},
		{"a 5-digit PIN", func(l *AccountLine) { l.PIN = Secret{Plain: str("12345")} }, "PIN must be exactly 4 digits"},
		{"a bad phone", func(l *AccountLine) { l.Phones = []string{"090-1234-5678"} }, "E.164"},
		{"no phone", func(l *AccountLine) { l.Phones = nil }, "at least one phone"},
		{"a display-name email", func(l *AccountLine) { l.Email = "Taro <taro@example.jp>" }, "plain address"},
		{"a NUL in the name", func(l *AccountLine) { l.Name = "a\x00b" }, "name is required"},
		{"an escape sequence in the name", func(l *AccountLine) { l.Name = "\x1b]0;x\x07山田 太郎" }, "name is required"},
		{"a line break in the name", func(l *AccountLine) { l.Name = "山田\n太郎" }, "name is required"},
		{"a letter in the account number", func(l *AccountLine) { l.AccountNumber = "12a" }, "1-12 digits"},
	}
	for _, c := range cases {
		l := base()
		c.edit(&l)
		err := l.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
