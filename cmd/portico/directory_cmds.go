package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
)

// backendFlags choose where a directory command acts: on the database
// (--data-dir, --database-url) or through a running server (--server with
// a token from --token-file or $PORTICO_TOKEN).
type backendFlags struct {
	store     storeFlags
	server    string
	tokenFile string
}

func (b *backendFlags) register(fs *pflag.FlagSet) {
	b.store.register(fs)
	fs.StringVar(&b.server, "server", "", "URL of a running Portico (e.g. https://idp.example.com): act through its API instead of on the database; the API token comes from --token-file or $PORTICO_TOKEN (never the command line)")
	fs.StringVar(&b.tokenFile, "token-file", "", "file holding the API token for --server (default: $PORTICO_TOKEN)")
}

func (b *backendFlags) open(ctx context.Context) (backend, error) {
	if b.server != "" {
		return openRemote(b.server, b.tokenFile)
	}
	return openDirect(ctx, b.store)
}

// readSecretLine reads the first line of standard input.
func readSecretLine(what string) (string, error) {
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("give the %s on standard input (first line)", what)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// outputFlag is --output on every read command.
type outputFlag string

func (o *outputFlag) register(fs *pflag.FlagSet) {
	*o = "table"
	fs.VarP(o, "output", "o", "table (aligned, for people) or json (for scripts)")
}

func (o *outputFlag) String() string { return string(*o) }
func (o *outputFlag) Type() string   { return "format" }
func (o *outputFlag) Set(v string) error {
	if v != "table" && v != "json" {
		return fmt.Errorf("must be table or json, got %q", v)
	}
	*o = outputFlag(v)
	return nil
}

// print writes v as JSON, or as a table of header and rows.
func (o outputFlag) print(w io.Writer, v any, header []string, rows [][]string) error {
	if o == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		for i := range r {
			if r[i] == "" {
				r[i] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") }

// withBackend opens the backend, runs fn and closes it.
func withBackend(ctx context.Context, bf *backendFlags, fn func(b backend) error) error {
	b, err := bf.open(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	return describe(fn(b))
}

func tenantFlag(fs *pflag.FlagSet) *string {
	return fs.String("tenant", "", "tenant slug (required)")
}

func tenantCreateFlags(fs *pflag.FlagSet) runFunc {
	var bf backendFlags
	slug := fs.String("slug", "", "tenant slug used in URLs (required)")
	name := fs.String("name", "", "display name (default: the slug)")
	suffix := fs.String("suffix", "", "principal name suffix of the default organization, e.g. @contoso.com")
	bf.register(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		if *slug == "" {
			return errors.New("--slug is required")
		}
		return withBackend(ctx, &bf, func(b backend) error {
			t, o, err := b.CreateTenant(ctx, *slug, *name, *suffix)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "tenant %s created (id %s, organization %s)\n", t.Slug, t.ID, o.ID)
			return nil
		})
	}
}

func tenantListFlags(fs *pflag.FlagSet) runFunc {
	return listCommand(fs, false, func(b backend, ctx context.Context, _ string) ([]directory.Tenant, error) { return b.ListTenants(ctx) },
		[]string{"SLUG", "NAME", "ID", "CREATED"}, func(t directory.Tenant) []string { return []string{t.Slug, t.Name, t.ID, day(t.CreatedAt)} })
}

// listCommand is a read command that lists objects (of a tenant when
// withTenant): the --tenant, output and backend flags, one call of the
// backend, one table (or the JSON of the objects). list takes the backend
// first, so that a method expression such as backend.ListGroups fits.
func listCommand[T any](fs *pflag.FlagSet, withTenant bool, list func(b backend, ctx context.Context, tenant string) ([]T, error),
	header []string, row func(T) []string) runFunc {
	var bf backendFlags
	var out outputFlag
	tenant := new(string)
	if withTenant {
		tenant = tenantFlag(fs)
	}
	out.register(fs)
	bf.register(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		return withBackend(ctx, &bf, func(b backend) error {
			items, err := list(b, ctx, *tenant)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, it := range items {
				rows = append(rows, row(it))
			}
			return out.print(stdout, nonNil(items), header, rows)
		})
	}
}

func orgListFlags(fs *pflag.FlagSet) runFunc {
	return listCommand(fs, true, backend.ListOrganizations, []string{"NAME", "SUFFIX", "ID"},
		func(o directory.Organization) []string { return []string{o.Name, o.PrincipalNameSuffix, o.ID} })
}

func orgSetSuffixFlags(fs *pflag.FlagSet) runFunc {
	var bf backendFlags
	tenant := tenantFlag(fs)
	org := fs.String("organization", "", "organization name or id (default: the tenant's only organization)")
	suffix := fs.String("suffix", "", "principal name suffix, e.g. @contoso.com (required)")
	bf.register(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		if *suffix == "" {
			return errors.New("--suffix is required")
		}
		return withBackend(ctx, &bf, func(b backend) error {
			o, err := b.SetOrganizationSuffix(ctx, *tenant, *org, *suffix)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "organization %s: suffix %s\n", o.Name, o.PrincipalNameSuffix)
			return nil
		})
	}
}

func userRows(us []directory.User) [][]string {
	var rows [][]string
	for _, u := range us {
		rows = append(rows, []string{u.Username, u.UPN, u.DisplayName, string(u.Status), u.ID})
	}
	return rows
}

var userHeader = []string{"USERNAME", "UPN", "DISPLAY NAME", "STATUS", "ID"}

func userCreateFlags(fs *pflag.FlagSet) runFunc {
	var bf backendFlags
	var u directory.User
	tenant := tenantFlag(fs)
	fs.StringVar(&u.Username, "username", "", "sign-in name: plain (john.smith, the organization's suffix makes the UPN) or e-mail shaped (required)")
	fs.StringVar(&u.DisplayName, "display-name", "", "display name")
	fs.StringVar(&u.GivenName, "given-name", "", "given name")
	fs.StringVar(&u.FamilyName, "family-name", "", "family name")
	fs.StringVar(&u.Email, "email", "", "e-mail address")
	fs.StringVar(&u.OrganizationID, "organization-id", "", "organization id (default: the tenant's default organization)")
	pwStdin := fs.Bool("password-stdin", false, "read the user's first password from the first line of standard input")
	bf.register(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		if u.Username == "" {
			return errors.New("--username is required")
		}
		password := ""
		if *pwStdin {
			var err error
			if password, err = readSecretLine("password"); err != nil {
				return err
			}
		}
		return withBackend(ctx, &bf, func(b backend) error {
			nu, err := b.CreateUser(ctx, *tenant, u, password)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "user %s created (UPN %s, id %s)\n", nu.Username, nu.UPN, nu.ID)
			return nil
		})
	}
}

func userListFlags(fs *pflag.FlagSet) runFunc {
	var bf backendFlags
	var out outputFlag
	var q userQuery
	tenant := tenantFlag(fs)
	fs.StringVar(&q.Prefix, "prefix", "", "only usernames starting with this")
	status := fs.String("status", "", "only users in this state: active, suspended or pending")
	fs.StringVar(&q.Group, "group", "", "only members of this group (name or id)")
	fs.IntVar(&q.Limit, "limit", 100, "at most this many users (1 to 1000)")
	out.register(fs)
	bf.register(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		q.Status = directory.UserStatus(*status)
		if q.Status != "" && !q.Status.Valid() {
			return fmt.Errorf("--status must be active, suspended or pending, got %q", *status)
		}
		if q.Limit < 1 || q.Limit > 1000 {
			return fmt.Errorf("--limit must be between 1 and 1000, got %d", q.Limit)
		}
		return withBackend(ctx, &bf, func(b backend) error {
			us, err := b.ListUsers(ctx, *tenant, q)
			if err != nil {
				return err
			}
			return out.print(stdout, nonNil(us), userHeader, userRows(us))
		})
	}
}

func userShowFlags(fs *pflag.FlagSet) runFunc {
	var bf backendFlags
	var out outputFlag
	tenant := tenantFlag(fs)
	user := fs.String("user", "", "username, UPN or id (required)")
	out.register(fs)
	bf.register(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		return withBackend(ctx, &bf, func(b backend) error {
			u, err := b.GetUser(ctx, *tenant, *user)
			if err != nil {
				return err
			}
			rows := [][]string{{"username", u.Username}, {"UPN", u.UPN}, {"display name", u.DisplayName},
				{"e-mail", u.Email}, {"status", string(u.Status)}, {"id", u.ID}, {"immutable id", u.ImmutableID},
				{"organization", u.OrganizationID}, {"created", day(u.CreatedAt)}, {"updated", day(u.UpdatedAt)}}
			return out.print(stdout, u, []string{"FIELD", "VALUE"}, rows)
		})
	}
}

// userActionFlags builds the commands that act on one user and say so.
func userActionFlags(fs *pflag.FlagSet, act func(ctx context.Context, b backend, tenant, user string) (directory.User, error), done string) runFunc {
	var bf backendFlags
	tenant := tenantFlag(fs)
	user := fs.String("user", "", "username, UPN or id (required)")
	bf.register(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		return withBackend(ctx, &bf, func(b backend) error {
			u, err := act(ctx, b, *tenant, *user)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, done+"\n", u.UPN)
			return nil
		})
	}
}

func userStatusFlags(verb string) func(fs *pflag.FlagSet) runFunc {
	status := map[string]directory.UserStatus{"suspend": directory.StatusSuspended, "resume": directory.StatusActive}[verb]
	done := map[string]string{"suspend": "%s suspended; their browser sessions were ended", "resume": "%s is active again"}[verb]
	return func(fs *pflag.FlagSet) runFunc {
		return userActionFlags(fs, func(ctx context.Context, b backend, tenant, user string) (directory.User, error) {
			return b.SetUserStatus(ctx, tenant, user, status)
		}, done)
	}
}

func userSetPasswordFlags(fs *pflag.FlagSet) runFunc {
	return userActionFlags(fs, func(ctx context.Context, b backend, tenant, user string) (directory.User, error) {
		pw, err := readSecretLine("password")
		if err != nil {
			return directory.User{}, err
		}
		return b.SetPassword(ctx, tenant, user, pw)
	}, "password of %s set; their browser sessions were ended")
}

func userResetMFAFlags(fs *pflag.FlagSet) runFunc {
	return userActionFlags(fs, func(ctx context.Context, b backend, tenant, user string) (directory.User, error) {
		return b.ResetMFA(ctx, tenant, user)
	}, "authenticator of %s removed: they enrol again at their next sign-in; their browser sessions were ended")
}

func userRevokeSessionsFlags(fs *pflag.FlagSet) runFunc {
	return userActionFlags(fs, func(ctx context.Context, b backend, tenant, user string) (directory.User, error) {
		return b.RevokeSessions(ctx, tenant, user)
	}, "browser sessions of %s ended")
}

func groupCreateFlags(fs *pflag.FlagSet) runFunc {
	var bf backendFlags
	var g directory.Group
	tenant := tenantFlag(fs)
	fs.StringVar(&g.Name, "name", "", "group name (required)")
	typ := fs.String("type", string(directory.GroupSecurity), "security, microsoft365, distribution or mailEnabledSecurity")
	fs.StringVar(&g.Email, "email", "", "e-mail address (required for mail-enabled types)")
	fs.StringVar(&g.Description, "description", "", "description")
	bf.register(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		if g.Name == "" {
			return errors.New("--name is required")
		}
		g.Type = directory.GroupType(*typ)
		return withBackend(ctx, &bf, func(b backend) error {
			ng, err := b.CreateGroup(ctx, *tenant, g)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "group %s created (id %s)\n", ng.Name, ng.ID)
			return nil
		})
	}
}

func groupListFlags(fs *pflag.FlagSet) runFunc {
	return listCommand(fs, true, backend.ListGroups, []string{"NAME", "TYPE", "E-MAIL", "ID"},
		func(g directory.Group) []string { return []string{g.Name, string(g.Type), g.Email, g.ID} })
}

func groupMemberFlags(add bool) func(fs *pflag.FlagSet) runFunc {
	return func(fs *pflag.FlagSet) runFunc {
		var bf backendFlags
		tenant := tenantFlag(fs)
		group := fs.String("group", "", "group name or id (required)")
		user := fs.String("user", "", "username, UPN or id (required)")
		bf.register(fs)
		return func(ctx context.Context, stdout, stderr io.Writer) error {
			return withBackend(ctx, &bf, func(b backend) error {
				if add {
					if err := b.AddMember(ctx, *tenant, *group, *user); err != nil {
						return err
					}
					fmt.Fprintf(stdout, "%s added to group %s\n", *user, *group)
					return nil
				}
				if err := b.RemoveMember(ctx, *tenant, *group, *user); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "%s removed from group %s\n", *user, *group)
				return nil
			})
		}
	}
}

// tokenCreateFlags: the token's scope is --tenant or --global, from the
// command line only (never the environment: a PORTICO_GLOBAL left in a
// shell used to make every token global), and its power is --role.
func tokenCreateFlags(fs *pflag.FlagSet) runFunc {
	var bf backendFlags
	var spec tokenSpec
	fs.StringVar(&spec.Tenant, "tenant", "", "slug of the tenant the token may act in")
	fs.BoolVar(&spec.Global, "global", false, "the token may act in every tenant (with the global role: also create and delete tenants)")
	role := fs.String("role", "", "what the token may do: "+authz.RoleNames()+" (default: global with --global, tenantAdmin with --tenant)")
	fs.StringVar(&spec.Name, "name", "cli", "a name to recognize the token by")
	bf.register(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		if (spec.Tenant == "") == !spec.Global {
			return errors.New("give either --tenant SLUG or --global")
		}
		if *role != "" {
			r, err := authz.ParseRole(*role)
			if err != nil {
				return fmt.Errorf("--role: %w", err)
			}
			spec.Role = r
		}
		return withBackend(ctx, &bf, func(b backend) error {
			secret, _, err := b.CreateToken(ctx, spec)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, secret)
			return nil
		})
	}
}

func tokenListFlags(fs *pflag.FlagSet) runFunc {
	var bf backendFlags
	var out outputFlag
	tenant := fs.String("tenant", "", "the tenant's tokens (default: the tokens for all tenants)")
	global := fs.Bool("global", false, "the tokens for all tenants (the default without --tenant)")
	out.register(fs)
	bf.register(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		if *tenant != "" && *global {
			return errors.New("give either --tenant SLUG or --global, not both")
		}
		return withBackend(ctx, &bf, func(b backend) error {
			ts, err := b.ListTokens(ctx, *tenant)
			if err != nil {
				return err
			}
			var rows [][]string
			for _, t := range ts {
				scope := t.Tenant
				if t.Global {
					scope = "(global)"
				}
				rows = append(rows, []string{t.ID, t.Name, scope, t.Role, day(t.CreatedAt)})
			}
			return out.print(stdout, nonNil(ts), []string{"ID", "NAME", "SCOPE", "ROLE", "CREATED"}, rows)
		})
	}
}

func tokenRevokeFlags(fs *pflag.FlagSet) runFunc {
	var bf backendFlags
	tenant := fs.String("tenant", "", "the tenant of the token (on the database it may be omitted; with --server omit it only for a token for all tenants)")
	id := fs.String("id", "", "token id, as token list shows it (required)")
	bf.register(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		if *id == "" {
			return errors.New("--id is required")
		}
		return withBackend(ctx, &bf, func(b backend) error {
			t, err := b.RevokeToken(ctx, *tenant, *id)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "token %s (%s) revoked\n", t.ID, t.Name)
			return nil
		})
	}
}

// nonNil makes an empty list print as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
