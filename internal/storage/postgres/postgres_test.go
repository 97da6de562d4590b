package postgres

import (
	"testing"

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
