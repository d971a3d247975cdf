package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"kagi/auth"
	"kagi/pgdb"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate")
	dbURL := fs.String("database-url", "", "PostgreSQL connection string (env DATABASE_URL)")
	grantTo := fs.String("grant-to", "", "after migrating, grant this role what kagi serve and the other commands need (audit_log: INSERT and SELECT only); run as the owner of the schema")
	if err := parseArgs(fs, args, stderr); err != nil {
		return err
	}
	if *dbURL == "" {
		*dbURL = getenv("DATABASE_URL")
	}
	if *dbURL == "" {
		return errors.New("missing settings: DATABASE_URL")
	}
	pool, err := pgdb.Open(ctx, *dbURL, pgdb.Direct)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := pgdb.Migrate(ctx, pool, schema...); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "kagi: schema is up to date")
	if *grantTo == "" {
		return nil
	}
	if err := pgdb.Grant(ctx, pool, *grantTo, servingPrivileges); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "kagi: granted %s what serving needs; serve as %s\n", *grantTo, *grantTo)
	return nil
}

// servingPrivileges is what `kagi migrate --grant-to` gives the serving role beyond plain reads
// and writes: the audit trail only grows (§6), and river's record of its migrations is read.
var servingPrivileges = pgdb.Privileges{
	AppendOnly: []string{auditTable},
	ReadOnly:   []string{"river_migration"},
}

// auditTable is package auth's audit trail, which kagi serve must not own (pgdb.CheckServing).
const auditTable = "audit_log"

func cmdAccountAdd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("account add")
	var n auth.NewAccount
	var phones multiFlag
	fs.StringVar(&n.LoginID, "login-id", "", "login ID")
	fs.StringVar(&n.Password, "password", "", "password (8+ characters)")
	fs.StringVar(&n.AccountNumber, "account-number", "", "account number (digits)")
	fs.StringVar(&n.PIN, "pin", "", "voice-line PIN (4 digits)")
	fs.Var(&phones, "phone", "registered phone in E.164 (repeatable)")
	fs.StringVar(&n.Email, "email", "", "email address")
	fs.StringVar(&n.Name, "name", "", "customer name")
	flags := addAppFlags(fs, forCLI, "use the development secrets under .kagi/")
	if err := parseArgs(fs, args, stderr); err != nil {
		return err
	}
	n.Phones = phones
	if err := n.Validate(); err != nil {
		return err
	}
	a, err := flags.open(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	acct, err := a.auth.CreateAccount(ctx, n)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "kagi: account %s added (login ID %s)\n", acct.AccountNumber, acct.LoginID)
	return nil
}
