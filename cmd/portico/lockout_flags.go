package main

import (
	"fmt"
	"github.com/spf13/pflag"
	"time"

	"github.com/portico-idp/portico/internal/signin"
)

// lockoutFlags set the smart lockout limits of `portico serve` (see
// docs/security.md, "Lockout and throttling"). The zero value means the
// defaults (signin.DefaultLimits).
type lockoutFlags struct {
	l            signin.Limits
	familiarDays int
}

func (f *lockoutFlags) register(fs *pflag.FlagSet) {
	d := signin.DefaultLimits
	fs.Int64Var(&f.l.Unfamiliar, "lockout-threshold", d.Unfamiliar,
		"failed passwords a user may have within --lockout-window from addresses where they have not signed in lately, before further attempts from such addresses are refused (second-factor codes are counted apart, against the same number)")
	fs.Int64Var(&f.l.Familiar, "lockout-familiar-threshold", d.Familiar,
		"the same, from addresses where the user completed a sign-in within the last --lockout-familiar-days")
	fs.DurationVar(&f.l.Window, "lockout-window", d.Window,
		"how long failures are counted; a lockout ends at most this long after the failure that started the count (1m to 24h)")
	fs.IntVar(&f.familiarDays, "lockout-familiar-days", int(d.FamiliarFor/(24*time.Hour)),
		"days an address stays familiar after the user's last completed sign-in from it")
	fs.Int64Var(&f.l.PerClient, "client-failure-limit", d.PerClient,
		"failed sign-ins, under any names, one client address may make within --lockout-window before all its attempts are refused")
}

// check rejects values that would switch protection off or break it.
func (f *lockoutFlags) check() error {
	switch {
	case f.l.Unfamiliar < 1:
		return fmt.Errorf("--lockout-threshold must be at least 1, got %d", f.l.Unfamiliar)
	case f.l.Familiar < 1:
		return fmt.Errorf("--lockout-familiar-threshold must be at least 1, got %d", f.l.Familiar)
	case f.l.Window < time.Minute || f.l.Window > 24*time.Hour:
		// Counters are deleted a day after their window opens.
		return fmt.Errorf("--lockout-window must be between 1m and 24h, got %s", f.l.Window)
	case f.familiarDays < 1 || f.familiarDays > 365:
		return fmt.Errorf("--lockout-familiar-days must be between 1 and 365, got %d", f.familiarDays)
	case f.l.PerClient < 1:
		return fmt.Errorf("--client-failure-limit must be at least 1, got %d", f.l.PerClient)
	}
	return nil
}

// limits returns the configured limits; fields left zero take their
// defaults in signin.New.
func (f *lockoutFlags) limits() signin.Limits {
	l := f.l
	l.FamiliarFor = time.Duration(f.familiarDays) * 24 * time.Hour
	return l
}
