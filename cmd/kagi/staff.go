package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"kagi/recovery"
)

// cmdStaffAdd adds a staff member of the operator console (§6) and prints their one-time
// enrollment code alone on the last line, so a script can take it with tail -n 1. The code is
// printed once and stored only as a hash: whoever runs this hands it to the staff member.
func cmdStaffAdd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("staff add")
	var n recovery.NewStaff
	fs.StringVar(&n.LoginID, "login-id", "", "the staff member's login ID")
	fs.StringVar(&n.Name, "name", "", "the staff member's name")
	role := fs.String("role", "", "operator or supervisor")
	operator := fs.String("operator", "", "who adds them, for the audit trail (default: the invoking user)")
	flags := addAppFlags(fs, forCLI, "use the development secrets under .kagi/")
	if err := parseArgs(fs, args, stderr); err != nil {
		return err
	}
	var errs []error
	if n.LoginID == "" {
		errs = append(errs, errors.New("--login-id is required"))
	}
	if n.Name == "" {
		errs = append(errs, errors.New("--name is required"))
	}
	if *role == "" {
		errs = append(errs, errors.New("--role is required (operator or supervisor)"))
	} else if r, err := recovery.ParseRole(*role); err != nil {
		errs = append(errs, fmt.Errorf("--role: %w", err))
	} else {
		n.Role = r
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := n.Validate(); err != nil {
		return err
	}
	a, err := flags.open(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	en, err := a.recovery.AddStaff(ctx, n, cliActor(*operator, getenv))
	if errors.Is(err, recovery.ErrStaffExists) {
		return fmt.Errorf("a staff member with login ID %q already exists", n.LoginID)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "kagi: staff member %s (%s) added; they enroll their passkey at /staff/enroll with this code, once, until %s:\n",
		en.Staff.LoginID, en.Staff.Role, en.ExpiresAt.In(jst).Format("2006-01-02 15:04:05 MST"))
	fmt.Fprintln(stdout, en.Code)
	return nil
}

// onStaff runs a command that acts on one existing staff member (--login-id), audited under
// --operator or the invoking user: staff disable and staff code.
func onStaff(ctx context.Context, name, does string, args []string, getenv func(string) string, stderr io.Writer,
	act func(a *app, loginID, actor string) error) error {
	fs := newFlagSet(name)
	loginID := fs.String("login-id", "", "the staff member's login ID")
	operator := fs.String("operator", "", "who "+does+", for the audit trail (default: the invoking user)")
	flags := addAppFlags(fs, forCLI, "use the development secrets under .kagi/")
	if err := parseArgs(fs, args, stderr); err != nil {
		return err
	}
	if *loginID == "" {
		return errors.New("--login-id is required")
	}
	a, err := flags.open(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	err = act(a, *loginID, cliActor(*operator, getenv))
	if errors.Is(err, recovery.ErrUnknownStaff) {
		return fmt.Errorf("no staff member with login ID %q", *loginID)
	}
	return err
}

// cmdStaffDisable disables a staff member: they cannot log in any more, and their sessions end
// at once.
func cmdStaffDisable(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return onStaff(ctx, "staff disable", "disables them", args, getenv, stderr, func(a *app, loginID, actor string) error {
		res, err := a.recovery.DisableStaff(ctx, loginID, actor)
		switch {
		case err != nil:
			return err
		case res.AlreadyDisabled:
			fmt.Fprintf(stdout, "kagi: staff member %s was already disabled\n", res.Staff.LoginID)
		default:
			fmt.Fprintf(stdout, "kagi: staff member %s disabled; %d sessions ended\n", res.Staff.LoginID, res.SessionsEnded)
		}
		return nil
	})
}

// cmdStaffCode gives a staff member a new one-time enrollment code, for a lost or changed
// device, printed alone on the last line like staff add's. Enrolling with it replaces their
// passkey and ends their sessions.
func cmdStaffCode(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return onStaff(ctx, "staff code", "issues it", args, getenv, stderr, func(a *app, loginID, actor string) error {
		en, err := a.recovery.ReissueStaffCode(ctx, loginID, actor)
		if errors.Is(err, recovery.ErrStaffDisabled) {
			return fmt.Errorf("staff member %s is disabled: add them again under another login ID", loginID)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "kagi: new enrollment code for %s; enrolling with it at /staff/enroll replaces their passkey; once, until %s:\n",
			en.Staff.LoginID, en.ExpiresAt.In(jst).Format("2006-01-02 15:04:05 MST"))
		fmt.Fprintln(stdout, en.Code)
		return nil
	})
}
