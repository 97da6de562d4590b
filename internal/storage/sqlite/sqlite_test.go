package sqlite

import (
	"context"
	"path/filepath"
	"testing"

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
