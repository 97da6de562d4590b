// Command portico is Portico's one binary: the identity provider server,
// its administration commands, the Microsoft 365 emulator and the demo.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"sort"
	"strings"
	"syscall"

	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/m365sim"
)

// command is one subcommand. Words are the words that select it
// ("tenant create").
type command struct {
	words   []string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{[]string{"serve"}, "run the Portico server", runServe},
		{[]string{"demo"}, "run Portico with seeded demo data on a temporary database", runDemo},
		{[]string{"migrate"}, "apply database migrations and exit", runMigrate},
		{[]string{"tenant", "create"}, "create a tenant", asOperator(runTenantCreate)},
		{[]string{"token", "create"}, "create an API token with a role and print it", asOperator(runTokenCreate)},
		{[]string{"token", "list"}, "list the API tokens of a tenant, or those for all tenants", asOperator(runTokenList)},
		{[]string{"token", "delete"}, "revoke an API token", asOperator(runTokenDelete)},
		{[]string{"app", "create"}, "add an Office 365 application to a tenant", asOperator(runAppCreate)},
		{[]string{"app", "list"}, "list a tenant's applications", asOperator(runAppList)},
		{[]string{"app", "enable"}, "enable an application", asOperator(runAppSetEnabled(true))},
		{[]string{"app", "disable"}, "disable an application", asOperator(runAppSetEnabled(false))},
		{[]string{"app", "certificate"}, "print an application's signing certificate", asOperator(runAppCertificate)},
		{[]string{"app", "configure"}, "change an Office 365 application's settings (federation mode, ids, domains...)", asOperator(runAppConfigure)},
		{[]string{"federation", "verify"}, "Verify Compatibility of a Microsoft 365 domain", asOperator(runFederation("verify"))},
		{[]string{"federation", "federate"}, "federate a Microsoft 365 domain through Microsoft Graph", asOperator(runFederation("federate"))},
		{[]string{"federation", "manual"}, "show the settings to federate a domain by hand", asOperator(runFederation("manual"))},
		{[]string{"federation", "disconnect"}, "disconnect (defederate) a domain", asOperator(runFederation("disconnect"))},
		{[]string{"federation", "rollover"}, "roll the signing certificate over on every federated domain", asOperator(runFederation("rollover"))},
		{[]string{"user", "set-password"}, "set a user's password (read from standard input) and end their browser sessions", asOperator(runUserSetPassword)},
		{[]string{"audit", "list"}, "list audit log events, newest first", asOperator(runAuditList)},
		{[]string{"audit", "export"}, "export audit log events as NDJSON, oldest first", asOperator(runAuditExport)},
		{[]string{"m365sim"}, "run the Microsoft 365 tenant emulator (Entra sign-in and Graph)", m365sim.Command},
		{[]string{"version"}, "print the version", runVersion},
	}
}

// asOperator runs an administration command as the operator: the person
// at the server, who can read the database and the master key anyway and
// so holds the global role. Every change it makes is audited under the
// operating-system user's name.
func asOperator(run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return run(authz.With(ctx, authz.Operator(operatorName())), args, stdout, stderr)
	}
}

// operatorName is the operating-system user running the command.
func operatorName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if n := os.Getenv("USER"); n != "" {
		return n
	}
	return "operator"
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "portico:", err)
		os.Exit(1)
	}
}

// errUsage marks a command line that names no command.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmds := commands()
	// Longest match first, so "tenant create" wins over a hypothetical "tenant".
	sort.Slice(cmds, func(i, j int) bool { return len(cmds[i].words) > len(cmds[j].words) })
	for _, c := range cmds {
		if len(args) >= len(c.words) && equalWords(args[:len(c.words)], c.words) {
			return c.run(ctx, args[len(c.words):], stdout, stderr)
		}
	}
	if len(args) > 0 && args[0] != "help" && args[0] != "-h" && args[0] != "--help" && args[0] != "-help" {
		fmt.Fprintf(stderr, "portico: unknown command %q\n\n", strings.Join(args, " "))
		usage(stderr)
		return errUsage
	}
	usage(stdout)
	return nil
}

func equalWords(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Portico: an identity provider that federates and synchronizes Microsoft 365.")
	fmt.Fprintln(w, "\nUsage: portico COMMAND [flags]\n\nCommands:")
	cmds := commands()
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-22s %s\n", strings.Join(c.words, " "), c.summary)
	}
	fmt.Fprintln(w, "\nRun \"portico COMMAND --help\" for a command's flags. Every flag can also be set")
	fmt.Fprintln(w, "by an environment variable PORTICO_<FLAG> (upper case, dashes as underscores).")
}

// flags returns a flag set for a command whose usage lists each flag with
// its environment variable.
func flags(name, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("portico "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: portico %s [flags]\n\n%s\n\nFlags:\n", name, summary)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" && f.DefValue != "false" {
				def = fmt.Sprintf(" (default %q)", f.DefValue)
			}
			fmt.Fprintf(stderr, "  --%s\n        %s%s [$%s]\n", f.Name, f.Usage, def, envName(f.Name))
		})
	}
	return fs
}

func envName(flag string) string {
	return "PORTICO_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// parse applies environment variables, then the command line (which wins).
func parse(fs *flag.FlagSet, args []string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok && err == nil {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("$%s: %w", envName(f.Name), serr)
			}
		}
	})
	if err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	return nil
}
