// Package sqlite is Portico's embedded storage backend: one SQLite file in
// the data directory (modernc.org/sqlite, pure Go), in WAL mode with
// foreign keys on. It is the default for a single node.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/storage/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

//go:embed queries/*.sql
var queries embed.FS

// FileName is the database file inside the data directory.
const FileName = "portico.db"

// OpenDir opens (creating if needed) the database in dataDir and applies
// pending migrations.
func OpenDir(ctx context.Context, dataDir string, opts sqlstore.Options) (*sqlstore.Store, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("open sqlite: data directory: %w", err)
	}
	return Open(ctx, filepath.Join(dataDir, FileName), opts)
}

// Open opens the database file at path and applies pending migrations.
func Open(ctx context.Context, path string, opts sqlstore.Options) (*sqlstore.Store, error) {
	// Create the file ourselves so that it (and the -wal and -shm files
	// SQLite derives from it) is readable by the owner only: it holds
	// password hashes and sealed keys.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
	q := url.Values{}
	// WAL lets readers run beside the one writer; NORMAL synchronous is
	// durable across application crashes in WAL mode (not across power
	// loss of the last transactions), the usual trade-off for servers.
	// busy_timeout makes a writer wait for the lock instead of failing,
	// and _txlock=immediate takes the write lock at BEGIN, so that a
	// transaction never fails half way when upgrading a read lock.
	for _, p := range []string{"journal_mode(WAL)", "foreign_keys(1)", "busy_timeout(10000)", "synchronous(NORMAL)", "cache_size(-32000)", "mmap_size(268435456)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	mig, _ := fs.Sub(migrations, "migrations")
	qs, _ := fs.Sub(queries, "queries")
	s, err := sqlstore.New(db, Dialect(mig, qs), opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	if err := s.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return s, nil
}

// Dialect describes SQLite to the shared engine.
func Dialect(migrations, queries fs.FS) sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:        "sqlite",
		Migrations:  migrations,
		Queries:     queries,
		Placeholder: func(n int) string { return "?" + strconv.Itoa(n) },
		Classify:    classify,
		TimeArg:     func(t time.Time) any { return t.UnixMicro() },
		LockMigrations: func(ctx context.Context, conn *sql.Conn) (func(), error) {
			// Each migration runs in an IMMEDIATE transaction, which already
			// excludes every other writer of the file.
			return func() {}, nil
		},
	}
}

// uniqueFields maps SQLite's "UNIQUE constraint failed: <columns>" to the
// API field that collided.
var uniqueFields = map[string]string{
	"tenants.slug": "slug",
	"tenants.id":   "id",
	"organizations.tenant_id, organizations.name_key":                        "name",
	"organizations.tenant_id, organizations.id":                              "id",
	"issued_immutable_ids.immutable_id":                                      "immutableId",
	"users.tenant_id, users.username":                                        "username",
	"users.tenant_id, users.upn":                                             "userPrincipalName",
	"users.immutable_id":                                                     "immutableId",
	"users.tenant_id, users.id":                                              "id",
	"groups.tenant_id, groups.name_key":                                      "name",
	"groups.tenant_id, groups.id":                                            "id",
	"group_members.tenant_id, group_members.group_id, group_members.user_id": "userId",
	"auth_policies.tenant_id, auth_policies.name_key":                        "name",
	"auth_policies.tenant_id, auth_policies.id":                              "id",
	"credentials.tenant_id, credentials.user_id":                             "userId",
	"sessions.id":         "id",
	"sessions.token_hash": "token",
	"login_flows.id":      "id",
	"nonces.key":          "key",
	"applications.tenant_id, applications.id":                                              "id",
	"application_groups.tenant_id, application_groups.app_id, application_groups.group_id": "permissionGroupIds",
	"signing_keys.tenant_id, signing_keys.id":                                              "id",
	"api_tokens.hash": "hash",
	"api_tokens.id":   "id",
}

var uniqueColsRE = regexp.MustCompile(`UNIQUE constraint failed: ([^()]+?)(?: \(\d+\))?$`)

func classify(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return nil
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		// "constraint failed: UNIQUE constraint failed: users.tenant_id, users.username (2067)"
		var cols string
		if m := uniqueColsRE.FindStringSubmatch(se.Error()); m != nil {
			cols = m[1]
		}
		return &storage.DuplicateError{Field: uniqueFields[cols]}
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return &storage.ReferenceError{}
	case sqlite3.SQLITE_BUSY_SNAPSHOT:
		return storage.ErrConflict
	}
	return nil
}
