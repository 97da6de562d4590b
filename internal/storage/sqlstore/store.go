// Package sqlstore is the SQL engine shared by Portico's relational
// backends. The Go logic (compare-and-swap updates, bulk creates with
// savepoints, keyset paging, error mapping) is written once here; each
// backend (internal/storage/sqlite, internal/storage/postgres) brings its
// own plain SQL: migrations and named queries in .sql files of its dialect,
// with no translation of one dialect into another.
package sqlstore

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/portico-idp/portico/internal/storage"
)

// Dialect is what a backend supplies.
type Dialect struct {
	// Name is used in metrics and errors ("sqlite", "postgres").
	Name string
	// Migrations holds *.sql files applied once each, in name order.
	Migrations fs.FS
	// Queries holds *.sql files of named queries ("-- name: X" blocks).
	Queries fs.FS
	// Placeholder returns the n-th (1-based) bind parameter, for the few
	// queries the engine assembles (lists with optional filters).
	Placeholder func(n int) string
	// Classify maps a driver error to a storage error (DuplicateError,
	// ReferenceError, ErrConflict), or returns nil when it is none of them.
	Classify func(err error) error
	// TimeArg converts a time for a bind parameter; times are scanned back
	// by the engine from either time.Time or Unix microseconds.
	TimeArg func(time.Time) any
	// LockMigrations serializes concurrent migrators (several nodes
	// starting at once) on conn and returns the unlock function.
	LockMigrations func(ctx context.Context, conn *sql.Conn) (func(), error)
}

// Options tune a Store.
type Options struct {
	// Observe, when set, is called after every storage operation with its
	// name, duration and error (metrics).
	Observe func(op string, d time.Duration, err error)
}

// Store implements storage.Storage on database/sql.
type Store struct {
	db      *sql.DB
	d       Dialect
	q       map[string]string
	observe func(op string, d time.Duration, err error)
	// stmts caches prepared statements by query text: parsing and planning
	// cost more than running the indexed queries themselves. The set of
	// texts is bounded (named queries and the filter combinations of lists).
	stmts sync.Map // string -> *sql.Stmt
}

// queryNames are the named queries every dialect must define.
var queryNames = []string{
	"InsertTenant", "GetTenant", "GetTenantBySlug", "UpdateTenant", "DeleteTenant",
	"InsertOrganization", "GetOrganization", "UpdateOrganization", "CountPlainUsernames", "RecomputeUPNs",
	"OrganizationHasUsers", "DeleteOrganization",
	"InsertIssuedImmutableID", "InsertUser", "GetUser", "GetUserByUsername", "GetUserByUPN", "UpdateUser",
	"DeleteUser", "UserExists",
	"InsertPolicy", "GetPolicy", "ListPolicies", "UpdatePolicy", "PolicyInUse", "DeletePolicy",
	"GetCredentials", "InsertCredentials", "UpdateCredentials",
	"InsertSession", "GetSessionByToken", "GetSession", "UpdateSession", "RevokeUserSessions", "DeleteExpiredSessions",
	"InsertLoginFlow", "GetLoginFlow", "UpdateLoginFlow", "DeleteLoginFlow", "DeleteExpiredLoginFlows",
	"Hit", "Hits", "ClearHits", "DeleteStaleThrottle", "InsertNonce", "DeleteExpiredNonces",
	"InsertApplication", "GetApplication", "ListApplications", "UpdateApplication", "DeleteApplication",
	"ListApplicationGroups", "InsertApplicationGroup", "DeleteApplicationGroups", "IsUserPermitted",
	"InsertSigningKey", "ListSigningKeys", "SetSigningKeyRole", "HasSealedSecrets",
	"InsertGroup", "GetGroup", "UpdateGroup", "DeleteGroup", "GroupExists",
	"InsertMember", "DeleteMember", "IsMember",
	"InsertAPIToken", "GetAPIToken", "GetAPITokenByHash", "ListAPITokens", "DeleteAPIToken",
	"InsertAuditEvent", "SetAuditRetention", "PurgeAuditEvents",
}

// New wraps db. It checks that the dialect defines every query the engine
// runs, so that a missing query fails at start-up, not on first use.
func New(db *sql.DB, d Dialect, opts Options) (*Store, error) {
	q, err := parseQueries(d.Queries)
	if err != nil {
		return nil, fmt.Errorf("%s queries: %w", d.Name, err)
	}
	var missing []string
	for _, n := range queryNames {
		if _, ok := q[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s queries: missing %s", d.Name, strings.Join(missing, ", "))
	}
	obs := opts.Observe
	if obs == nil {
		obs = func(string, time.Duration, error) {}
	}
	return &Store{db: db, d: d, q: q, observe: obs}, nil
}

var nameRE = regexp.MustCompile(`^--\s*name:\s*(\w+)\s*$`)

// parseQueries reads "-- name: X" blocks; a block runs to the next name.
func parseQueries(fsys fs.FS) (map[string]string, error) {
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		var name string
		var body strings.Builder
		flush := func() error {
			if name == "" {
				return nil
			}
			if _, dup := out[name]; dup {
				return fmt.Errorf("%s: query %s defined twice", f, name)
			}
			out[name] = strings.TrimSpace(body.String())
			body.Reset()
			return nil
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			line := sc.Text()
			if m := nameRE.FindStringSubmatch(line); m != nil {
				if err := flush(); err != nil {
					return nil, err
				}
				name = m[1]
				continue
			}
			if name != "" && !strings.HasPrefix(strings.TrimSpace(line), "--") {
				body.WriteString(line)
				body.WriteByte('\n')
			}
		}
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// DB returns the underlying handle (for backend-specific maintenance).
func (s *Store) DB() *sql.DB { return s.db }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) (err error) {
	defer s.track("Ping", time.Now(), &err)
	return s.db.PingContext(ctx)
}

// Close closes the database handle.
func (s *Store) Close() error {
	s.stmts.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
	return s.db.Close()
}

// prepared returns the cached prepared statement for query.
func (s *Store) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// txKey carries the transaction of Atomically in a context. It names the
// store, so that a transaction is never used by another store.
type txKey struct{ s *Store }

// txFrom returns the transaction ctx carries for this store.
func (s *Store) txFrom(ctx context.Context) (*sql.Tx, bool) {
	tx, ok := ctx.Value(txKey{s}).(*sql.Tx)
	return tx, ok
}

// conn is where a statement of ctx runs: its transaction, or the pool.
func (s *Store) conn(ctx context.Context) queryer {
	if tx, ok := s.txFrom(ctx); ok {
		return tx
	}
	return s.db
}

// Atomically runs fn in one transaction that every storage call made with
// fn's context joins (see storage.Storage).
func (s *Store) Atomically(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	if _, ok := s.txFrom(ctx); ok {
		return fn(ctx)
	}
	defer s.track("Atomically", time.Now(), &err)
	return s.inTx(ctx, func(tx *sql.Tx) error { return fn(context.WithValue(ctx, txKey{s}, tx)) })
}

// inTxStmt returns the cached statement for query bound to tx, or nil
// when it is not prepared (see execIn for why nothing is prepared here).
func (s *Store) inTxStmt(ctx context.Context, tx *sql.Tx, query string) *sql.Stmt {
	if st, ok := s.stmts.Load(query); ok {
		return tx.StmtContext(ctx, st.(*sql.Stmt))
	}
	return nil
}

// queryRow runs a single-row read through the statement cache.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) rowScanner {
	if tx, ok := s.txFrom(ctx); ok {
		if st := s.inTxStmt(ctx, tx, query); st != nil {
			return st.QueryRowContext(ctx, args...)
		}
		return tx.QueryRowContext(ctx, query, args...)
	}
	st, err := s.prepared(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// queryRows runs a read through the statement cache.
func (s *Store) queryRows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if tx, ok := s.txFrom(ctx); ok {
		if st := s.inTxStmt(ctx, tx, query); st != nil {
			return st.QueryContext(ctx, args...)
		}
		return tx.QueryContext(ctx, query, args...)
	}
	st, err := s.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// exec runs a write through the statement cache.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if tx, ok := s.txFrom(ctx); ok {
		return s.execIn(ctx, tx, query, args...)
	}
	st, err := s.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// execIn runs a write through the statement cache, inside tx when q is
// one (the transaction reuses the statement already prepared on its
// connection).
func (s *Store) execIn(ctx context.Context, q queryer, query string, args ...any) (sql.Result, error) {
	tx, ok := q.(*sql.Tx)
	if !ok {
		return s.exec(ctx, query, args...)
	}
	// Never prepare through the pool here: the transaction already holds a
	// connection (with SQLite, the write lock too), and waiting for a second
	// one while other writers wait for the lock is a deadlock. Statements
	// are prepared up front by Migrate.
	if st := s.inTxStmt(ctx, tx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// rowScanner is a *sql.Row or a failed preparation.
type rowScanner interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (s *Store) track(op string, start time.Time, err *error) {
	s.observe(op, time.Since(start), *err)
}

// Migrate applies the dialect's migrations that have not run yet. Each runs
// in its own transaction together with its bookkeeping row, so a failed
// migration leaves nothing behind and is retried on the next start.
func (s *Store) Migrate(ctx context.Context) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", s.d.Name, err)
	}
	defer conn.Close()
	unlock, err := s.d.LockMigrations(ctx, conn)
	if err != nil {
		return fmt.Errorf("migrate %s: lock: %w", s.d.Name, err)
	}
	defer unlock()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT NOT NULL PRIMARY KEY)`); err != nil {
		return fmt.Errorf("migrate %s: %w", s.d.Name, err)
	}
	applied := map[string]bool{}
	rows, err := conn.QueryContext(ctx, `SELECT name FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", s.d.Name, err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fmt.Errorf("migrate %s: %w", s.d.Name, err)
		}
		applied[n] = true
	}
	rows.Close()
	files, err := fs.Glob(s.d.Migrations, "*.sql")
	if err != nil {
		return err
	}
	slices.Sort(files)
	for _, f := range files {
		if applied[f] {
			continue
		}
		body, err := fs.ReadFile(s.d.Migrations, f)
		if err != nil {
			return err
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s %s: %w", s.d.Name, f, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s %s: %w", s.d.Name, f, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name) VALUES (`+s.d.Placeholder(1)+`)`, f); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s %s: %w", s.d.Name, f, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s %s: %w", s.d.Name, f, err)
		}
	}
	// Prepare the named queries now that their tables exist, so that
	// transactions find them prepared (see execIn).
	for _, q := range s.q {
		if _, err := s.prepared(ctx, q); err != nil {
			return fmt.Errorf("prepare %s statements: %w", s.d.Name, err)
		}
	}
	return nil
}

// queryer is what *sql.DB, *sql.Tx and *sql.Conn have in common.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// classify maps a driver error through the dialect; err is returned
// unchanged when it is no storage error.
func (s *Store) classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return errNotFound
	}
	if c := s.d.Classify(err); c != nil {
		return c
	}
	return err
}

func (s *Store) t(t time.Time) any { return s.d.TimeArg(t.UTC().Truncate(time.Microsecond)) }

// tz is t for a nullable column: the zero time is stored as NULL.
func (s *Store) tz(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.t(t)
}

// execOne runs a statement that must change exactly one row.
func (s *Store) execOne(ctx context.Context, q queryer, what, query string, args ...any) error {
	res, err := q.ExecContext(ctx, s.q[query], args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, s.classify(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	} else if n == 0 {
		return fmt.Errorf("%s: %w", what, storage.ErrNotFound)
	}
	return nil
}

// inTx runs fn in a transaction, rolling back on error or panic. Inside
// Atomically, fn runs in Atomically's transaction, which commits later.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	if tx, ok := s.txFrom(ctx); ok {
		return fn(tx)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.classify(err)
	}
	defer func() {
		if p := recover(); p != nil {
			tx.Rollback()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return s.classify(tx.Commit())
}

// exists runs a "SELECT EXISTS(...)" query.
func (s *Store) exists(ctx context.Context, q queryer, name string, args ...any) (bool, error) {
	var v any
	if err := q.QueryRowContext(ctx, s.q[name], args...).Scan(&v); err != nil {
		return false, s.classify(err)
	}
	switch b := v.(type) {
	case bool:
		return b, nil
	case int64:
		return b != 0, nil
	}
	return false, fmt.Errorf("%s: unexpected EXISTS result %T", name, v)
}

// timeCol scans a time stored as time.Time or as Unix microseconds.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(v any) error {
	switch x := v.(type) {
	case int64:
		*c.t = time.UnixMicro(x).UTC()
	case time.Time:
		*c.t = x.UTC()
	case nil:
		*c.t = time.Time{}
	default:
		return fmt.Errorf("time column: unexpected %T", v)
	}
	return nil
}
