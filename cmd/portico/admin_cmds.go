package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"text/tabwriter"
	"time"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/storage"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("version", "Print the version.", stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	v := version
	if v == "" {
		v = "dev"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 12 {
					v = "dev-" + s.Value[:12]
				}
			}
		}
	}
	fmt.Fprintln(stdout, "portico", v)
	return nil
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("migrate", "Apply pending database migrations and exit.", stderr)
	var sf storeFlags
	sf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	st, err := sf.open(ctx, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s database is up to date\n", sf.backend())
	return st.Close()
}

func runTenantCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("tenant create", "Create a tenant with its default organization.", stderr)
	var sf storeFlags
	sf.register(fs)
	slug := fs.String("slug", "", "tenant slug used in URLs (required)")
	name := fs.String("name", "", "display name (default: the slug)")
	suffix := fs.String("suffix", "", "principal name suffix of the default organization, e.g. @contoso.com")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *slug == "" {
		return errors.New("--slug is required")
	}
	st, err := sf.open(ctx, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	t, o, err := admin.New(st).CreateTenant(ctx, *slug, *name, *suffix)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(stdout, "tenant %s created (id %s, organization %s)\n", t.Slug, t.ID, o.ID)
	return nil
}

func runTokenCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("token create", "Create an API token and print it (alone) on standard output. It is shown only once.", stderr)
	var sf storeFlags
	sf.register(fs)
	tenant := fs.String("tenant", "", "slug of the tenant the token may act in")
	global := fs.Bool("global", false, "the token may act in every tenant (with the global role: also create and delete tenants)")
	role := fs.String("role", "", "what the token may do: "+authz.RoleNames()+" (default: global with --global, tenantAdmin with --tenant)")
	name := fs.String("name", "cli", "a name to recognize the token by")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*tenant == "") == !*global {
		return errors.New("give either --tenant SLUG or --global")
	}
	var r authz.Role
	if *role != "" {
		var err error
		if r, err = authz.ParseRole(*role); err != nil {
			return fmt.Errorf("--role: %w", err)
		}
	}
	st, err := sf.open(ctx, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	tenantID, err := tenantIDFor(ctx, st, *tenant)
	if err != nil {
		return err
	}
	secret, _, err := admin.New(st).CreateAPIToken(ctx, tenantID, *name, r)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintln(stdout, secret)
	return nil
}

// tenantIDFor resolves a tenant slug ("" = all tenants).
func tenantIDFor(ctx context.Context, st storage.Storage, slug string) (string, error) {
	if slug == "" {
		return "", nil
	}
	t, err := st.GetTenantBySlug(ctx, directory.NormalizeSlug(slug))
	if errors.Is(err, storage.ErrNotFound) {
		return "", fmt.Errorf("no tenant %q (create it with \"portico tenant create --slug %s\")", slug, slug)
	}
	return t.ID, err
}

func runTokenList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("token list", "List the API tokens of a tenant (--tenant) or those for all tenants (--global): id, name, role, creation. Secrets are never shown again.", stderr)
	var sf storeFlags
	sf.register(fs)
	tenant := fs.String("tenant", "", "tenant slug")
	global := fs.Bool("global", false, "list the tokens for all tenants")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*tenant == "") == !*global {
		return errors.New("give either --tenant SLUG or --global")
	}
	st, err := sf.open(ctx, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	tenantID, err := tenantIDFor(ctx, st, *tenant)
	if err != nil {
		return err
	}
	list, err := admin.New(st).ListAPITokens(ctx, tenantID)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED")
	for _, t := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, t.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

func runTokenDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("token delete", "Revoke an API token: requests with it fail from now on.", stderr)
	var sf storeFlags
	sf.register(fs)
	id := fs.String("id", "", "token id, as \"portico token list\" shows it (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id == "" {
		return errors.New("--id is required")
	}
	st, err := sf.open(ctx, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	t, err := st.GetAPIToken(ctx, *id)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("no token %q", *id)
	}
	if err != nil {
		return err
	}
	if err := admin.New(st).DeleteAPIToken(ctx, t.TenantID, t.ID); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "token %s (%s) revoked\n", t.ID, t.Name)
	return nil
}

// describe turns validation and duplicate errors into a sentence naming
// the flag's field.
func describe(err error) error {
	if ve, ok := directory.AsValidation(err); ok {
		return fmt.Errorf("%s", ve.Error())
	}
	var de *storage.DuplicateError
	if errors.As(err, &de) {
		return fmt.Errorf("%s is already taken", de.Field)
	}
	return err
}
