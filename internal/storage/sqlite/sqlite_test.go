package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/storage/conformance"
	"github.com/portico-idp/portico/internal/storage/sqlstore"
)

func TestConformance(t *testing.T) {
	conformance.RunTests(t, func(t *testing.T) storage.Storage {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "test.db"), sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestMigrateTwice(t *testing.T) {
	dir := t.TempDir()
	for range 2 {
		s, err := OpenDir(context.Background(), dir, sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}

func BenchmarkStorage(b *testing.B) {
	conformance.RunBenchmarks(b, func(tb testing.TB) storage.Storage {
		s, err := Open(context.Background(), filepath.Join(tb.TempDir(), "bench.db"), sqlstore.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { s.Close() })
		return s
	})
}

// TestMigrationGivesExistingTokensRoles: tokens created before roles
// existed keep exactly the power they had — global tokens become global,
// tenant tokens tenant administrators.
func TestMigrationGivesExistingTokensRoles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (name TEXT NOT NULL PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	files, _ := fs.Glob(migrations, "migrations/*.sql")
	for _, f := range files {
		name := strings.TrimPrefix(f, "migrations/")
		if name >= "0005" {
			break
		}
		body, _ := fs.ReadFile(migrations, f)
		if _, err := db.ExecContext(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations (name) VALUES (?)`, name); err != nil {
			t.Fatal(err)
		}
	}
	for _, stmt := range []string{
		`INSERT INTO tenants (id, slug, name, created_at, updated_at, version) VALUES ('t1', 'one', 'One', 0, 0, 1)`,
		`INSERT INTO api_tokens (id, tenant_id, name, hash, created_at) VALUES ('g', NULL, 'root', X'01', 0)`,
		`INSERT INTO api_tokens (id, tenant_id, name, hash, created_at) VALUES ('a', 't1', 'ci', X'02', 0)`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db.Close()

	s, err := Open(ctx, path, sqlstore.Options{})
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
