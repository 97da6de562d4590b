package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/portico-idp/portico/internal/storage/postgres"
	"github.com/portico-idp/portico/internal/storage/sqlite"
	"github.com/portico-idp/portico/internal/storage/sqlstore"
)

// storeFlags select the database: PostgreSQL when a URL is given, else
// SQLite in the data directory.
type storeFlags struct {
	dataDir     string
	databaseURL string
}

func (s *storeFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&s.dataDir, "data-dir", "./portico-data", "directory of the embedded SQLite database and local state")
	fs.StringVar(&s.databaseURL, "database-url", "", "PostgreSQL URL (postgres://user@host:5432/db); when set, used instead of SQLite")
}

// backend names the selected backend for logs and metrics.
func (s *storeFlags) backend() string {
	if s.databaseURL != "" {
		return "postgres"
	}
	return "sqlite"
}

// open opens and migrates the selected database.
func (s *storeFlags) open(ctx context.Context, observe func(string, time.Duration, error)) (*sqlstore.Store, error) {
	opts := sqlstore.Options{Observe: observe}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if s.databaseURL != "" {
		st, err := postgres.Open(ctx, s.databaseURL, opts)
		if err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
		return st, nil
	}
	st, err := sqlite.OpenDir(ctx, s.dataDir, opts)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	return st, nil
}
