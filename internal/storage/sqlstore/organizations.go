package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/storage"
)

const orgCols = "tenant_id, id, name, principal_name_suffix, created_at, updated_at, version"

func scanOrg(r interface{ Scan(...any) error }) (directory.Organization, error) {
	var o directory.Organization
	err := r.Scan(&o.TenantID, &o.ID, &o.Name, &o.PrincipalNameSuffix, timeCol{&o.CreatedAt}, timeCol{&o.UpdatedAt}, &o.Version)
	return o, err
}

// CreateOrganization stores a new organization.
func (s *Store) CreateOrganization(ctx context.Context, o directory.Organization) (err error) {
	defer s.track("CreateOrganization", time.Now(), &err)
	_, err = s.exec(ctx, s.q["InsertOrganization"], o.TenantID, o.ID, o.Name, directory.NameKey(o.Name),
		o.PrincipalNameSuffix, s.t(o.CreatedAt), s.t(o.UpdatedAt), 1)
	if err != nil {
		return fmt.Errorf("create organization %q: %w", o.Name, s.classify(err))
	}
	return nil
}

// GetOrganization reads an organization of a tenant.
func (s *Store) GetOrganization(ctx context.Context, tenantID, id string) (o directory.Organization, err error) {
	defer s.track("GetOrganization", time.Now(), &err)
	o, err = scanOrg(s.queryRow(ctx, s.q["GetOrganization"], tenantID, id))
	if err != nil {
		return o, fmt.Errorf("get organization %s: %w", id, s.classify(err))
	}
	return o, nil
}

// ListOrganizations lists a tenant's organizations by name.
func (s *Store) ListOrganizations(ctx context.Context, tenantID string, f storage.OrganizationFilter, p storage.Page) (out []directory.Organization, next string, err error) {
	defer s.track("ListOrganizations", time.Now(), &err)
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	b := &builder{place: s.d.Placeholder}
	b.w("SELECT " + orgCols + " FROM organizations WHERE tenant_id = ").p(tenantID)
	b.keyset("name_key", strings.ToLower(f.NamePrefix), after)
	b.w(" ORDER BY name_key")
	b.limit(p.Clamp())
	out, err = collect(ctx, s, b, scanOrg)
	if err != nil {
		return nil, "", fmt.Errorf("list organizations: %w", err)
	}
	out, next = page(out, p.Clamp(), func(o directory.Organization) string { return directory.NameKey(o.Name) })
	return out, next, nil
}

// UpdateOrganization changes an organization by compare-and-swap and keeps
// its users' UPNs in step with the suffix, in one transaction.
func (s *Store) UpdateOrganization(ctx context.Context, tenantID, id string, fn func(directory.Organization) (directory.Organization, error)) (no directory.Organization, err error) {
	defer s.track("UpdateOrganization", time.Now(), &err)
	old, err := s.GetOrganization(ctx, tenantID, id)
	if err != nil {
		return no, err
	}
	if no, err = fn(old); err != nil {
		return no, err
	}
	no.TenantID, no.ID, no.CreatedAt = old.TenantID, old.ID, old.CreatedAt
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q["UpdateOrganization"], no.Name, directory.NameKey(no.Name), no.PrincipalNameSuffix,
			s.t(no.UpdatedAt), tenantID, id, old.Version)
		if err := s.casResult(res, err); err != nil {
			return err
		}
		if no.PrincipalNameSuffix == old.PrincipalNameSuffix {
			return nil
		}
		if no.PrincipalNameSuffix == "" {
			var n int64
			if err := tx.QueryRowContext(ctx, s.q["CountPlainUsernames"], tenantID, id).Scan(&n); err != nil {
				return s.classify(err)
			}
			if n > 0 {
				return directory.Invalid("principalNameSuffix", fmt.Sprintf("cannot be removed: %d users of this organization have a username without \"@\" and need it to form their UPN", n))
			}
			return nil
		}
		if _, err := tx.ExecContext(ctx, s.q["RecomputeUPNs"], no.PrincipalNameSuffix, s.t(no.UpdatedAt), tenantID, id); err != nil {
			if c := s.classify(err); errors.Is(c, storage.ErrAlreadyExists) {
				// Another user of the tenant already has one of the new UPNs.
				return &storage.DuplicateError{Field: "principalNameSuffix"}
			} else {
				return c
			}
		}
		return nil
	})
	if err = s.resolveMiss(err, func() error { _, e := s.GetOrganization(ctx, tenantID, id); return e }); err != nil {
		return no, fmt.Errorf("update organization %s: %w", id, err)
	}
	no.Version = old.Version + 1
	return no, nil
}

// DeleteOrganization removes an organization that has no users.
func (s *Store) DeleteOrganization(ctx context.Context, tenantID, id string) (err error) {
	defer s.track("DeleteOrganization", time.Now(), &err)
	return s.inTx(ctx, func(tx *sql.Tx) error {
		has, err := s.exists(ctx, tx, "OrganizationHasUsers", tenantID, id)
		if err != nil {
			return fmt.Errorf("delete organization %s: %w", id, err)
		}
		if has {
			return fmt.Errorf("delete organization %s: it has users: %w", id, storage.ErrInUse)
		}
		res, err := tx.ExecContext(ctx, s.q["DeleteOrganization"], tenantID, id)
		if err != nil {
			return fmt.Errorf("delete organization %s: %w", id, s.classify(err))
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("delete organization %s: %w", id, storage.ErrNotFound)
		}
		return nil
	})
}
