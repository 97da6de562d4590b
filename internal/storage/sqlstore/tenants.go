package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/storage"
)

const tenantCols = "id, slug, name, created_at, updated_at, version"

func scanTenant(r interface{ Scan(...any) error }) (directory.Tenant, error) {
	var t directory.Tenant
	err := r.Scan(&t.ID, &t.Slug, &t.Name, timeCol{&t.CreatedAt}, timeCol{&t.UpdatedAt}, &t.Version)
	return t, err
}

// CreateTenant stores a new tenant.
func (s *Store) CreateTenant(ctx context.Context, t directory.Tenant) (err error) {
	defer s.track("CreateTenant", time.Now(), &err)
	_, err = s.exec(ctx, s.q["InsertTenant"], t.ID, t.Slug, t.Name, s.t(t.CreatedAt), s.t(t.UpdatedAt), 1)
	if err != nil {
		return fmt.Errorf("create tenant %s: %w", t.Slug, s.classify(err))
	}
	return nil
}

// GetTenant reads a tenant by id.
func (s *Store) GetTenant(ctx context.Context, id string) (t directory.Tenant, err error) {
	defer s.track("GetTenant", time.Now(), &err)
	t, err = scanTenant(s.queryRow(ctx, s.q["GetTenant"], id))
	if err != nil {
		return t, fmt.Errorf("get tenant %s: %w", id, s.classify(err))
	}
	return t, nil
}

// GetTenantBySlug reads a tenant by slug.
func (s *Store) GetTenantBySlug(ctx context.Context, slug string) (t directory.Tenant, err error) {
	defer s.track("GetTenantBySlug", time.Now(), &err)
	t, err = scanTenant(s.queryRow(ctx, s.q["GetTenantBySlug"], slug))
	if err != nil {
		return t, fmt.Errorf("get tenant %s: %w", slug, s.classify(err))
	}
	return t, nil
}

// ListTenants lists tenants by slug.
func (s *Store) ListTenants(ctx context.Context, p storage.Page) (out []directory.Tenant, next string, err error) {
	defer s.track("ListTenants", time.Now(), &err)
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	b := &builder{place: s.d.Placeholder}
	b.w("SELECT " + tenantCols + " FROM tenants WHERE 1 = 1")
	b.keyset("slug", "", after)
	b.w(" ORDER BY slug")
	b.limit(p.Clamp())
	out, err = collect(ctx, s, b, scanTenant)
	if err != nil {
		return nil, "", fmt.Errorf("list tenants: %w", err)
	}
	out, next = page(out, p.Clamp(), func(t directory.Tenant) string { return t.Slug })
	return out, next, nil
}

// UpdateTenant changes a tenant by compare-and-swap.
func (s *Store) UpdateTenant(ctx context.Context, id string, fn func(directory.Tenant) (directory.Tenant, error)) (nt directory.Tenant, err error) {
	defer s.track("UpdateTenant", time.Now(), &err)
	old, err := s.GetTenant(ctx, id)
	if err != nil {
		return nt, err
	}
	if nt, err = fn(old); err != nil {
		return nt, err
	}
	nt.ID, nt.CreatedAt = old.ID, old.CreatedAt
	res, err := s.exec(ctx, s.q["UpdateTenant"], nt.Slug, nt.Name, s.t(nt.UpdatedAt), id, old.Version)
	if err := s.resolveMiss(s.casResult(res, err), func() error { _, e := s.GetTenant(ctx, id); return e }); err != nil {
		return nt, fmt.Errorf("update tenant %s: %w", id, err)
	}
	nt.Version = old.Version + 1
	return nt, nil
}

// DeleteTenant removes a tenant and, by cascade, everything in it.
func (s *Store) DeleteTenant(ctx context.Context, id string) (err error) {
	defer s.track("DeleteTenant", time.Now(), &err)
	return s.deleteOne(ctx, "delete tenant "+id, "DeleteTenant", id)
}

// errCASMiss: "UPDATE ... WHERE version = old" changed no row.
var errCASMiss = errors.New("compare-and-swap missed")

// casResult checks the outcome of a compare-and-swap UPDATE.
func (s *Store) casResult(res sql.Result, err error) error {
	if err != nil {
		return s.classify(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return errCASMiss
	}
	return nil
}

// resolveMiss turns errCASMiss into ErrConflict when the row is still there
// (someone changed it) or ErrNotFound when it is gone.
func (s *Store) resolveMiss(err error, get func() error) error {
	if !errors.Is(err, errCASMiss) {
		return err
	}
	if get() == nil {
		return storage.ErrConflict
	}
	return storage.ErrNotFound
}

func (s *Store) deleteOne(ctx context.Context, what, query string, args ...any) error {
	return s.execOne(ctx, s.conn(ctx), what, query, args...)
}

// collect runs a built query and scans every row.
func collect[T any](ctx context.Context, s *Store, b *builder, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	rows, err := s.queryRows(ctx, b.sb.String(), b.args...)
	if err != nil {
		return nil, s.classify(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
