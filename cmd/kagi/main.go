// Command kagi is the passkey login core and its voice recovery line, in one binary:
//
//	kagi serve [--dev]     HTTP server
//	kagi migrate           apply the embedded schema migrations [and grant the serving role]
//	kagi account add …     add a customer account
//	kagi import FILE       import the brokerage's customers from JSON Lines
//	kagi staff add|code|disable|enable|role …  the operator console's staff, changed by a supervisor
//	kagi window open …     open a fallback window for a verified customer
//	kagi call …            play a call through the voice line without a phone
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage:
  kagi serve [--dev]          HTTP server; --dev generates secrets and enables /dev/ pages
  kagi migrate [--grant-to ROLE]
                              apply the embedded schema migrations; as the owner of the
                              schema, then grant ROLE what kagi serve needs (audit_log: INSERT
                              and SELECT only); outside --dev kagi serve runs as ROLE
  kagi account add --login-id ID --password PW --account-number DIGITS --pin 4DIGITS \
                   --phone +81… [--phone …] --email ADDR --name NAME
  kagi import [--update] [--batch N] FILE
                              import the brokerage's customers from FILE ("-": standard
                              input), JSON Lines, one account a line: account_number,
                              login_id, name, email, phones, and password and pin each as
                              {"hash":…} (bcrypt, PBKDF2, scrypt, Argon2id) or {"plain":…}.
                              An account number already there is reported and left alone;
                              --update replaces its name, email, password, PIN and phones.
                              A bad line is reported on stderr ("line 17: …") and nothing of
                              it written; the rest goes on. Writes N lines per transaction
                              (default 10000): stopped, it keeps whole batches, and running
                              the file again goes on. Prints a summary; on a terminal, its
                              progress. Exit status 0: every line imported or already
                              there; 1: a line failed; 2: the import did not run or finish
  kagi staff add --login-id ID --name NAME --role operator|supervisor [--by SUPERVISOR_ID]
                              add a staff member; prints their one-time enrollment code
                              (24 h, for /staff/enroll) alone on the last line. --by: the
                              enrolled supervisor who adds them, named in the audit trail;
                              only the very first staff, before any supervisor has enrolled a
                              passkey, are added without it (the bootstrap)
  kagi staff code --login-id ID --by SUPERVISOR_ID
                              a new one-time enrollment code for a lost or changed device;
                              enrolling with it replaces the staff member's passkey
  kagi staff disable --login-id ID --by SUPERVISOR_ID
                              disable a staff member; ends their sessions at once
  kagi staff enable --login-id ID --by SUPERVISOR_ID
                              enable a disabled staff member again, as the same identity
  kagi staff role --login-id ID --role operator|supervisor --by SUPERVISOR_ID
                              change a staff member's role
                              --by of these: the login ID of an enrolled, enabled supervisor
                              (not the member themselves to disable or demote), as the audit
                              trail names who did it
  kagi window open --account-number DIGITS --channel operator --reason TEXT
                              open a fallback window for a caller already verified
  kagi call --from +81… --keys '1,1234567#,1234' [--dev]
                              play a call through a running server's webhook; print what is said
Run "kagi COMMAND -h" for the settings of a command.`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "kagi:", oneLine(err))
		status := 1
		var e exitError
		if errors.As(err, &e) {
			status = e.status
		}
		os.Exit(status)
	}
}

// exitError is a command's error with its exit status, where a command tells more than
// failed or not (kagi import: 1 when a line failed, 2 when the import did not run or finish).
type exitError struct {
	status int
	err    error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// run dispatches a command line; tests call it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], getenv, stderr)
	case "migrate":
		return cmdMigrate(ctx, args[1:], getenv, stdout, stderr)
	case "account":
		if len(args) < 2 || args[1] != "add" {
			return errors.New(`unknown account command (want "account add")`)
		}
		return cmdAccountAdd(ctx, args[2:], getenv, stdout, stderr)
	case "staff":
		if len(args) < 2 {
			return errors.New(`unknown staff command (want "staff add", "staff code", "staff disable", "staff enable" or "staff role")`)
		}
		switch args[1] {
		case "add":
			return cmdStaffAdd(ctx, args[2:], getenv, stdout, stderr)
		case "disable":
			return cmdStaffDisable(ctx, args[2:], getenv, stdout, stderr)
		case "code":
			return cmdStaffCode(ctx, args[2:], getenv, stdout, stderr)
		case "enable":
			return cmdStaffEnable(ctx, args[2:], getenv, stdout, stderr)
		case "role":
			return cmdStaffRole(ctx, args[2:], getenv, stdout, stderr)
		}
		return errors.New(`unknown staff command (want "staff add", "staff code", "staff disable", "staff enable" or "staff role")`)
	case "window":
		if len(args) < 2 || args[1] != "open" {
			return errors.New(`unknown window command (want "window open")`)
		}
		return cmdWindowOpen(ctx, args[2:], getenv, stdout, stderr)
	case "call":
		return cmdCall(ctx, args[1:], getenv, stdout, stderr)
	case "import":
		return cmdImport(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// oneLine joins a multi-line error (errors.Join) into the single line a CLI prints.
func oneLine(err error) string {
	s := err.Error()
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == '\n' {
			out = append(out, ';', ' ')
			continue
		}
		out = append(out, r)
	}
	return string(out)
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("kagi "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parseArgs reports a bad flag in one line, and prints -h itself
	return fs
}
