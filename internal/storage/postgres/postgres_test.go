package postgres

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/storage/conformance"
)

func TestConformance(t *testing.T) {
	TestSchema(t) // skips once, with a message, when no server is configured
	conformance.RunTests(t, func(t *testing.T) storage.Storage {
		return OpenTestDB(t)
	})
}

func TestMigrateConcurrently(t *testing.T) {
	url := TestSchema(t)
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			s, err := Open(t.Context(), url, defaultOptions())
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
}

func BenchmarkStorage(b *testing.B) {
	conformance.RunBenchmarks(b, func(tb testing.TB) storage.Storage { return OpenTestDB(tb) })
}

// TestMigrationGivesExistingTokensRoles: tokens created before roles
// existed keep exactly the power they had — global tokens become global,
// tenant tokens tenant administrators.
func TestMigrationGivesExistingTokensRoles(t *testing.T) {
	url := TestSchema(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (name TEXT NOT NULL PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	files, _ := fs.Glob(migrations, "migrations/*.sql")
	for _, f := range files {
		name := strings.TrimPrefix(f, "migrations/")
		if name >= "0005" {
			break
		}
		body, _ := fs.ReadFile(migrations, f)
		if _, err := conn.Exec(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, name); err != nil {
			t.Fatal(err)
		}
	}
	for _, stmt := range []string{
		`INSERT INTO tenants (id, slug, name, created_at, updated_at, version) VALUES ('t1', 'one', 'One', now(), now(), 1)`,
		`INSERT INTO api_tokens (id, tenant_id, name, hash, created_at) VALUES ('g', NULL, 'root', '\x01', now())`,
		`INSERT INTO api_tokens (id, tenant_id, name, hash, created_at) VALUES ('a', 't1', 'ci', '\x02', now())`,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	s, err := Open(ctx, url, defaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for id, want := range map[string]authz.Role{"g": authz.Global, "a": authz.TenantAdmin} {
		tok, err := s.GetAPIToken(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if tok.Role != want {
			t.Errorf("token %s: role %q after the migration; want %q", id, tok.Role, want)
		}
	}
}
