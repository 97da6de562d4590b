package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/portico-idp/portico/internal/storage/sqlstore"
)

// TestDatabaseEnv names the variable that points tests at a PostgreSQL
// server, e.g. postgres://postgres@127.0.0.1:5432/portico_test.
const TestDatabaseEnv = "PORTICO_TEST_DATABASE_URL"

func defaultOptions() sqlstore.Options { return sqlstore.Options{} }

// TestSchema creates a schema of its own for the calling test in the
// database named by PORTICO_TEST_DATABASE_URL, drops it when the test ends,
// and returns a URL whose search_path selects it. Without the variable the
// test is skipped with a message saying how to run it.
func TestSchema(t testing.TB) string {
	t.Helper()
	base := os.Getenv(TestDatabaseEnv)
	if base == "" {
		t.Skipf("PostgreSQL tests skipped: set %s (for example postgres://postgres@127.0.0.1:5432/postgres) to run them", TestDatabaseEnv)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", TestDatabaseEnv, err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		conn.Close(ctx)
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", TestDatabaseEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// OpenTestDB opens a migrated store in a fresh schema (see TestSchema).
func OpenTestDB(t testing.TB) *sqlstore.Store {
	t.Helper()
	s, err := Open(context.Background(), TestSchema(t), defaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
