// Package postgres is Portico's scale-out storage backend: PostgreSQL
// through pgx v5, shared by several stateless Portico nodes.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/storage/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

//go:embed queries/*.sql
var queries embed.FS

// migrationLockKey is the advisory lock that serializes migrators when
// several nodes start at once.
const migrationLockKey = 0x706f7274 // "port"

// Open connects to the database at url (postgres://...) and applies pending
// migrations.
func Open(ctx context.Context, url string, opts sqlstore.Options) (*sqlstore.Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(10)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres %s@%s/%s: %w", cfg.User, cfg.Host, cfg.Database, err)
	}
	mig, _ := fs.Sub(migrations, "migrations")
	qs, _ := fs.Sub(queries, "queries")
	s, err := sqlstore.New(db, Dialect(mig, qs), opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return s, nil
}

// Dialect describes PostgreSQL to the shared engine.
func Dialect(migrations, queries fs.FS) sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:        "postgres",
		Migrations:  migrations,
		Queries:     queries,
		Placeholder: func(n int) string { return "$" + strconv.Itoa(n) },
		Classify:    classify,
		TimeArg:     func(t time.Time) any { return t },
		LockMigrations: func(ctx context.Context, conn *sql.Conn) (func(), error) {
			if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
				return nil, err
			}
			return func() {
				conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", migrationLockKey)
			}, nil
		},
	}
}

// uniqueFields maps constraint names (named in the migrations) to the API
// field that collided.
var uniqueFields = map[string]string{
	"tenants_slug_uq":           "slug",
	"tenants_pkey":              "id",
	"organizations_name_uq":     "name",
	"organizations_pkey":        "id",
	"issued_immutable_ids_pkey": "immutableId",
	"users_username_uq":         "username",
	"users_upn_uq":              "userPrincipalName",
	"users_immutable_id_uq":     "immutableId",
	"users_pkey":                "id",
	"groups_name_uq":            "name",
	"groups_pkey":               "id",
	"group_members_pkey":        "userId",
	"auth_policies_name_uq":     "name",
	"auth_policies_pkey":        "id",
	"credentials_pkey":          "userId",
	"sessions_pkey":             "id",
	"sessions_token_uq":         "token",
	"login_flows_pkey":          "id",
	"nonces_pkey":               "key",
	"applications_pkey":         "id",
	"application_groups_pkey":   "permissionGroupIds",
	"signing_keys_pkey":         "id",
	"api_tokens_hash_uq":        "hash",
	"api_tokens_pkey":           "id",
}

func classify(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return nil
	}
	switch pe.Code {
	case "23505": // unique_violation
		return &storage.DuplicateError{Field: uniqueFields[pe.ConstraintName]}
	case "23503": // foreign_key_violation
		return &storage.ReferenceError{}
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return storage.ErrConflict
	}
	return nil
}
