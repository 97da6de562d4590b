package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/portico-idp/portico/internal/admin"
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
	tenant := fs.String("tenant", "", "slug of the tenant the token may administer")
	global := fs.Bool("global", false, "the token may administer every tenant and create tenants")
	name := fs.String("name", "cli", "a name to recognize the token by")
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
	tenantID := ""
	if !*global {
		t, err := st.GetTenantBySlug(ctx, directory.NormalizeSlug(*tenant))
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("no tenant %q (create it with \"portico tenant create --slug %s\")", *tenant, *tenant)
		}
		if err != nil {
			return err
		}
		tenantID = t.ID
	}
	secret, _, err := admin.New(st).CreateAPIToken(ctx, tenantID, *name)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, secret)
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
