// Command portico is Portico's one binary: the identity provider server,
// its administration commands, the Microsoft 365 emulator and the demo.
//
// The command line is built with cobra (github.com/spf13/cobra), as Go's
// large command-line tools are: GNU-style flags with their types and
// defaults in every help screen, help on every group, --version and shell
// completion. Environment variables set server configuration only, from
// the table in envVars; a command's arguments (a name, a tenant, --global)
// come from the command line alone.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/m365sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "portico:", err)
		os.Exit(1)
	}
}

// run executes one command line; errors are returned, not printed, so that
// main prints each once, in one style.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return root.ExecuteContext(ctx)
}

// newRoot builds the whole command tree.
func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:     "portico",
		Short:   "Portico: an identity provider that federates and synchronizes Microsoft 365.",
		Version: versionString(),
		// Errors are printed once by main ("portico: ..."); a usage
		// screen after every failed database call would bury the message.
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noArgs,
		RunE:          func(c *cobra.Command, _ []string) error { return c.Help() },
		PersistentPreRunE: func(c *cobra.Command, _ []string) error {
			if err := applyEnv(c.Flags()); err != nil {
				return err
			}
			// The one place where the administration commands get their
			// principal: every service method refuses a call without one.
			if administers(c) {
				c.SetContext(authz.With(c.Context(), authz.Operator(operatorName())))
			}
			return nil
		},
	}
	root.SetVersionTemplate("portico {{.Version}}\n")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		// "-addr" (Go's single-dash style, which m365sim used to take)
		// reads as shorthand flags -a -d -d -r: say what was meant.
		if _, word, ok := strings.Cut(err.Error(), "unknown shorthand flag: "); ok {
			if _, arg, ok := strings.Cut(word, " in -"); ok && len(arg) > 1 && c.Flags().Lookup(arg) != nil {
				return fmt.Errorf("unknown flag -%s: long flags take two dashes, --%s (see \"%s --help\")", arg, arg, c.CommandPath())
			}
		}
		return fmt.Errorf("%w (see \"%s --help\")", err, c.CommandPath())
	})
	root.AddCommand(
		leaf("serve", "Run the Portico server.", serveFlags),
		leaf("demo", "Run Portico and an emulated Microsoft 365 tenant, seeded and federated, until interrupted. Both run on a fresh temporary database (m365sim in memory) with demo users, the Office 365 application and contoso.com federated; it prints a sign-in link, tokens and passwords.", demoFlags),
		leaf("migrate", "Apply pending database migrations and exit.", migrateFlags),
		m365simCmd(),
		leaf("version", "Print the version.", func(fs *pflag.FlagSet) runFunc {
			return func(ctx context.Context, stdout, stderr io.Writer) error {
				fmt.Fprintln(stdout, "portico", versionString())
				return nil
			}
		}),
		administration(group("tenant", "Create and list tenants.",
			leaf("create", "Create a tenant with its default organization.", tenantCreateFlags),
			leaf("list", "List the tenants.", tenantListFlags),
		)),
		administration(group("organization", "List a tenant's organizations and set their principal name suffix.",
			leaf("list", "List a tenant's organizations.", orgListFlags),
			leaf("set-suffix", "Set an organization's principal name suffix (e.g. @contoso.com); existing users keep their UPN until renamed.", orgSetSuffixFlags),
		)),
		administration(group("user", "Create, list and manage a tenant's users.",
			leaf("create", "Create a user; the password, if any, is read from the first line of standard input with --password-stdin.", userCreateFlags),
			leaf("list", "List a tenant's users.", userListFlags),
			leaf("show", "Show one user.", userShowFlags),
			leaf("suspend", "Suspend a user: sign-ins are refused and browser sessions end.", userStatusFlags("suspend")),
			leaf("resume", "Resume a suspended user.", userStatusFlags("resume")),
			leaf("set-password", "Set a user's password, read from the first line of standard input, and end all of the user's browser sessions.", userSetPasswordFlags),
			leaf("reset-mfa", "Remove a user's authenticator (TOTP) so that they enrol again at their next sign-in.", userResetMFAFlags),
			leaf("revoke-sessions", "End all of a user's browser sessions.", userRevokeSessionsFlags),
		)),
		administration(group("group", "Create and list permission groups and manage their members.",
			leaf("create", "Create a permission group.", groupCreateFlags),
			leaf("list", "List a tenant's groups.", groupListFlags),
			leaf("add-member", "Add a user to a group.", groupMemberFlags(true)),
			leaf("remove-member", "Remove a user from a group.", groupMemberFlags(false)),
		)),
		administration(group("token", "Create, list and revoke API tokens.",
			leaf("create", "Create an API token and print it (alone) on standard output. It is shown only once.", tokenCreateFlags),
			leaf("list", "List API tokens (never their secrets).", tokenListFlags),
			aliased(leaf("revoke", "Revoke an API token: requests with it are refused from now on.", tokenRevokeFlags), "delete"),
		)),
		administration(group("audit", "Read the audit log: changes by tokens, administrators, operators and jobs, and sign-ins.",
			leaf("list", "List audit log events, newest first: changes by tokens, administrators, operators and jobs, and sign-ins with the reason of each failure.", auditListFlags),
			leaf("export", "Write every matching audit log event to standard output as NDJSON (one JSON object a line), oldest first: for a SIEM or an archive before the retention purge.", auditExportFlags),
		)),
		administration(group("app", "Add, list and configure applications.",
			leaf("create", "Add an Office 365 application to a tenant, with a new signing certificate; prints its id.", appCreateFlags),
			leaf("list", "List a tenant's applications.", appListFlags),
			leaf("enable", "Switch an application on.", appSetEnabledFlags(true)),
			leaf("disable", "Switch an application off.", appSetEnabledFlags(false)),
			leaf("certificate", "Print an application's current signing certificate (PEM by default) and its thumbprints on standard error. Upload the .cer to the Azure app registration (Certificates & secrets).", appCertificateFlags),
			leaf("configure", "Change an Office 365 application's settings (only the flags given change).", appConfigureFlags),
		)),
		administration(group("federation", "Federate Microsoft 365 domains (the Office 365 Federation tab).",
			leaf("verify", "Verify Compatibility: check that a domain can be federated to the application, with what to fix.", federationFlags("verify")),
			leaf("federate", "Federate a domain through Microsoft Graph (needs Federate automatically on; idempotent).", federationFlags("federate")),
			leaf("manual", "Show the settings to federate a domain by hand, with the Graph request and the PowerShell command.", federationFlags("manual")),
			leaf("disconnect", "Disconnect Portico from a domain (defederate); needs Federate automatically off.", federationFlags("disconnect")),
			leaf("rollover", "Roll the signing certificate over on every federated domain without interrupting sign-ins.", federationFlags("rollover")),
		)),
		administration(group("sync", "Synchronize users to Microsoft 365 (the Synchronization tab): start runs, follow them, read their plans.",
			leaf("run", "Start a synchronization run of an application. Without --server it runs in this process until it ends; with --server it starts on the server and, with --wait, is followed until it ends.", syncRunFlags),
			leaf("runs", "List an application's synchronization runs, newest first.", syncRunsFlags),
			runArg(leaf("show", "Show a run: its state, counts and report, and its operations (kind, object, reason, result).", syncShowFlags)),
			runArg(leaf("cancel", "Cancel a run: the operations in flight finish and are recorded, the others are not sent.", syncCancelFlags)),
		)),
		group("totp", "Time-based one-time passwords (the demo's authenticator).",
			leaf("code", "Print the current six-digit code of a TOTP secret (base32), as an authenticator app shows it.", totpCodeFlags),
		),
	)
	return root
}

// operatorAnnotation marks the command groups that administer Portico.
const operatorAnnotation = "portico_administration"

// administration marks c's commands as administration commands: acting
// on the database, they run as the operator (see administers).
func administration(c *cobra.Command) *cobra.Command {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[operatorAnnotation] = "true"
	return c
}

// administers says whether c is (under) an administration group. Such a
// command runs as the operator: the person at the server, who can read
// the database and the master key anyway and so holds the global role.
// Every change it makes on the database is audited under the
// operating-system user's name. With --server the principal is unused:
// the server acts with the API token's role.
func administers(c *cobra.Command) bool {
	for ; c != nil; c = c.Parent() {
		if c.Annotations[operatorAnnotation] != "" {
			return true
		}
	}
	return false
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

// aliased gives c other names (a command's name in an earlier release).
func aliased(c *cobra.Command, aliases ...string) *cobra.Command {
	c.Aliases = append(c.Aliases, aliases...)
	return c
}

// runFunc is a command's action, run after its flags are parsed.
type runFunc func(ctx context.Context, stdout, stderr io.Writer) error

// leaf makes a command that takes flags only: build registers the flags
// and returns the action.
func leaf(name, summary string, build func(fs *pflag.FlagSet) runFunc) *cobra.Command {
	c := &cobra.Command{Use: name, Short: firstSentence(summary), Long: summary, Args: noArgs}
	act := build(c.Flags())
	serverEnv(c.Flags())
	c.Flags().SortFlags = false
	if c.Flags().Lookup("output") != nil {
		c.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json"}, cobra.ShellCompDirectiveNoFileComp))
	}
	c.RunE = func(c *cobra.Command, _ []string) error {
		return act(c.Context(), c.OutOrStdout(), c.ErrOrStderr())
	}
	return c
}

// group makes a command that only holds subcommands: alone it prints its
// help; with an unknown word it says so.
func group(name, summary string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: name, Short: summary, Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown command %q for %q (see \"%s --help\")", args[0], c.CommandPath(), c.CommandPath())
			}
			return c.Help()
		}}
	c.AddCommand(subs...)
	return c
}

// noArgs refuses positional arguments, naming the first.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if c.HasSubCommands() {
		return fmt.Errorf("unknown command %q (see \"%s --help\")", args[0], c.CommandPath())
	}
	return fmt.Errorf("unexpected argument %q (see \"%s --help\")", args[0], c.CommandPath())
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i > 0 {
		return s[:i+1]
	}
	return s
}

func m365simCmd() *cobra.Command {
	c := leaf("m365sim", m365sim.Summary, func(fs *pflag.FlagSet) runFunc {
		act := m365sim.Flags(fs)
		fs.VisitAll(func(f *pflag.Flag) {
			bindEnv(fs, f.Name, m365sim.EnvPrefix+strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_")))
		})
		return act
	})
	c.Short = "Run the Microsoft 365 tenant emulator (Entra sign-in and Graph)."
	return c
}
