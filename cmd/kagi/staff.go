package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"kagi/staff"
)

// byUsage is --by's flag help: who acts, for the audit trail and the check.
const byUsage = "the login ID of the enrolled supervisor who does this, as the audit trail names them"

// reasonUsage is --reason's: the console asks every change of a member for one; at the command
// line it is recorded when given.
const reasonUsage = "why, as the audit trail records it (a ticket number, a request)"

// byError turns a refusal of who acts (--by) into one line naming the problem, and leaves any
// other error as it is.
func byError(err error, by string) error {
	switch {
	case errors.Is(err, staff.ErrByRequired):
		return errors.New("--by is required: the login ID of an enrolled supervisor who does this")
	case errors.Is(err, staff.ErrByUnknown):
		return fmt.Errorf("--by %s: no staff member has this login ID", by)
	case errors.Is(err, staff.ErrByNotSupervisor):
		return fmt.Errorf("--by %s: an operator; only a supervisor may change the staff", by)
	case errors.Is(err, staff.ErrByDisabled):
		return fmt.Errorf("--by %s: disabled; only an enabled supervisor may change the staff", by)
	case errors.Is(err, staff.ErrByNotEnrolled):
		return fmt.Errorf("--by %s: has not enrolled a passkey yet; only an enrolled supervisor may change the staff", by)
	case errors.Is(err, staff.ErrSelf):
		return fmt.Errorf("--by %s: a supervisor cannot disable or demote themselves; another supervisor must", by)
	}
	return err
}

// cmdStaffAdd adds a staff member of the operator console (§6) and prints their one-time
// enrollment code alone on the last line, so a script can take it with tail -n 1. The code is
// printed once and stored only as a hash: whoever runs this hands it to the staff member.
// --by names the supervisor adding them; only before any supervisor has enrolled (the very
// first staff) may it be left out.
func cmdStaffAdd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("staff add")
	var n staff.NewStaff
	fs.StringVar(&n.LoginID, "login-id", "", "the staff member's login ID")
	fs.StringVar(&n.Name, "name", "", "the staff member's name")
	role := fs.String("role", "", "operator or supervisor")
	by := fs.String("by", "", byUsage+" (not needed before the first supervisor has enrolled)")
	reason := fs.String("reason", "", reasonUsage)
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
	} else if r, err := staff.ParseRole(*role); err != nil {
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
	en, err := a.staff.Add(ctx, n, *by, *reason)
	if errors.Is(err, staff.ErrExists) {
		return fmt.Errorf("a staff member with login ID %q already exists", n.LoginID)
	}
	if errors.Is(err, staff.ErrByRequired) {
		return errors.New("--by is required once a supervisor has enrolled: the login ID of an enrolled supervisor who adds them")
	}
	if err != nil {
		return byError(err, *by)
	}
	fmt.Fprintf(stdout, "kagi: staff member %s (%s) added; they enroll their passkey at /staff/enroll with this code, once, until %s:\n",
		en.Staff.LoginID, en.Staff.Role, en.ExpiresAt.In(jst).Format("2006-01-02 15:04:05 MST"))
	fmt.Fprintln(stdout, en.Code)
	return nil
}

// onStaff runs a command that a supervisor (--by, required) does to one existing staff member
// (--login-id): staff disable, enable, code and role. more adds the command's own flags.
func onStaff(ctx context.Context, name string, args []string, getenv func(string) string, stderr io.Writer,
	more func(fs *flag.FlagSet) func() error, act func(a *app, loginID, by, reason string) error) error {
	fs := newFlagSet(name)
	loginID := fs.String("login-id", "", "the staff member's login ID")
	by := fs.String("by", "", byUsage)
	reason := fs.String("reason", "", reasonUsage)
	check := func() error { return nil }
	if more != nil {
		check = more(fs)
	}
	flags := addAppFlags(fs, forCLI, "use the development secrets under .kagi/")
	if err := parseArgs(fs, args, stderr); err != nil {
		return err
	}
	var errs []error
	if *loginID == "" {
		errs = append(errs, errors.New("--login-id is required"))
	}
	if *by == "" {
		errs = append(errs, errors.New("--by is required: the login ID of an enrolled supervisor who does this"))
	}
	errs = append(errs, check())
	if err := errors.Join(errs...); err != nil {
		return err
	}
	a, err := flags.open(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer a.close()
	err = act(a, *loginID, *by, *reason)
	if errors.Is(err, staff.ErrUnknown) {
		return fmt.Errorf("no staff member with login ID %q", *loginID)
	}
	return byError(err, *by)
}

// cmdStaffDisable disables a staff member: they cannot log in any more, and their sessions end
// at once.
func cmdStaffDisable(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return onStaff(ctx, "staff disable", args, getenv, stderr, nil, func(a *app, loginID, by, reason string) error {
		res, err := a.staff.Disable(ctx, loginID, by, reason)
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

// cmdStaffEnable lets a disabled staff member use the console again, as the same identity: the
// same login ID and, if they had one, the same passkey.
func cmdStaffEnable(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return onStaff(ctx, "staff enable", args, getenv, stderr, nil, func(a *app, loginID, by, reason string) error {
		res, err := a.staff.Enable(ctx, loginID, by, reason)
		switch {
		case err != nil:
			return err
		case res.AlreadyEnabled:
			fmt.Fprintf(stdout, "kagi: staff member %s was not disabled\n", res.Staff.LoginID)
		case res.Enrolled:
			fmt.Fprintf(stdout, "kagi: staff member %s enabled; their passkey logs in again (lost device: kagi staff code)\n", res.Staff.LoginID)
		default:
			fmt.Fprintf(stdout, "kagi: staff member %s enabled; they have no passkey: give them a code with kagi staff code\n", res.Staff.LoginID)
		}
		return nil
	})
}

// cmdStaffRole makes a staff member an operator or a supervisor; their console sees the new
// role at its next request.
func cmdStaffRole(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var role *string
	more := func(fs *flag.FlagSet) func() error {
		role = fs.String("role", "", "operator or supervisor")
		return func() error {
			if *role == "" {
				return errors.New("--role is required (operator or supervisor)")
			}
			if _, err := staff.ParseRole(*role); err != nil {
				return fmt.Errorf("--role: %w", err)
			}
			return nil
		}
	}
	return onStaff(ctx, "staff role", args, getenv, stderr, more, func(a *app, loginID, by, reason string) error {
		res, err := a.staff.SetRole(ctx, loginID, staff.Role(*role), by, reason)
		switch {
		case err != nil:
			return err
		case !res.Changed():
			fmt.Fprintf(stdout, "kagi: staff member %s is already %s\n", res.Staff.LoginID, res.Staff.Role)
		default:
			fmt.Fprintf(stdout, "kagi: staff member %s is now %s (was %s)\n", res.Staff.LoginID, res.Staff.Role, res.From)
		}
		return nil
	})
}

// cmdStaffCode gives a staff member a new one-time enrollment code, for a lost or changed
// device, printed alone on the last line like staff add's. Enrolling with it replaces their
// passkey and ends their sessions.
func cmdStaffCode(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return onStaff(ctx, "staff code", args, getenv, stderr, nil, func(a *app, loginID, by, reason string) error {
		en, err := a.staff.ReissueCode(ctx, loginID, by, reason)
		if errors.Is(err, staff.ErrDisabled) {
			return fmt.Errorf("staff member %s is disabled: enable them first (kagi staff enable)", loginID)
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
