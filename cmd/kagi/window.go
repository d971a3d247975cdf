package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"kagi/auth"
	"kagi/pgdb"
	"kagi/recovery"
)

// jst is the time zone the window's end is printed in (auth.JST): the operator tells it to a
// customer in Japan.
var jst = auth.JST

// cmdWindowOpen opens a fallback window from the command line, for an operator who verified the
// caller (§3.2), audited with the actor "cli" and the reason given. Operators open windows in
// business hours (§6); outside them the command refuses unless --break-glass, which the audit
// trail records in the same transaction as the opening.
func cmdWindowOpen(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("window open")
	number := fs.String("account-number", "", "account number of the verified customer")
	channel := fs.String("channel", string(recovery.ChannelOperator), "who verified the customer (only operator: the voice line opens its own windows)")
	reason := fs.String("reason", "", "why the window is opened (required; audited)")
	operator := fs.String("operator", "", "who opens it, for the audit trail (default: the invoking user)")
	breakGlass := fs.Bool("break-glass", false, "open outside business hours, in an emergency (audited as break-glass)")
	flags := addAppFlags(fs, forCLI, "use the development secrets under .kagi/")
	if err := parseArgs(fs, args, stderr); err != nil {
		return err
	}
	var errs []error
	if *number == "" {
		errs = append(errs, errors.New("--account-number is required"))
	}
	if recovery.Channel(*channel) != recovery.ChannelOperator {
		errs = append(errs, fmt.Errorf("--channel %q: only %q (the voice line opens its own windows)", *channel, recovery.ChannelOperator))
	}
	if strings.TrimSpace(*reason) == "" {
		errs = append(errs, errors.New("--reason is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	a, err := flags.open(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	acct, found, err := a.auth.AccountByNumber(ctx, a.pool, *number)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("no account with number %q", *number)
	}
	if _, has, err := a.auth.PasskeyOf(ctx, a.pool, acct.ID); err != nil {
		return err
	} else if !has {
		return fmt.Errorf("account %s has no passkey: its login ID and password already work, no window is needed", acct.AccountNumber)
	}
	now := time.Now()
	outside := !a.cfg.Calendar.IsOpen(now)
	if outside && !*breakGlass {
		next := "not within the calendar's next year"
		if t := a.cfg.Calendar.NextOpen(now); !t.IsZero() {
			next = t.In(jst).Format("2006-01-02 15:04 MST")
		}
		return fmt.Errorf("outside business hours (they open next %s): operators open windows in business hours; in an emergency, --break-glass opens one and the audit trail records it", next)
	}
	actor := cliActor(*operator, getenv)
	var w auth.Window
	err = pgdb.InTx(ctx, a.pool, func(tx pgx.Tx) error {
		var err error
		if w, err = a.recovery.OpenTx(ctx, tx, acct.ID, recovery.ChannelOperator, actor, *reason); err != nil || !*breakGlass {
			return err
		}
		return auth.Audit(ctx, tx, auth.AuditEvent{At: now, AccountID: acct.ID, Actor: actor, Event: "window_break_glass",
			Detail: map[string]any{"window_id": w.ID, "reason": *reason, "outside_business_hours": outside}})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "kagi: fallback window for account %s is open until %s\n",
		acct.AccountNumber, w.ExpiresAt.In(jst).Format("2006-01-02 15:04:05 MST"))
	return nil
}

// cliActor names the person behind a command for the audit trail: the --operator given, else
// the user who ran it (through sudo, the one who called sudo).
func cliActor(operator string, getenv func(string) string) string {
	for _, name := range []string{operator, getenv("SUDO_USER"), getenv("USER")} {
		if name = strings.TrimSpace(name); name != "" {
			return "cli:" + name
		}
	}
	return "cli"
}
