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

const userCols = "u.tenant_id, u.id, u.organization_id, u.username, u.upn, u.email, u.given_name, u.family_name, " +
	"u.display_name, u.status, u.immutable_id, u.job_title, u.department, u.mobile_phone, u.office_phone, " +
	"u.usage_location, u.created_at, u.updated_at, u.version"

func scanUser(r interface{ Scan(...any) error }) (directory.User, error) {
	var u directory.User
	var status string
	err := r.Scan(&u.TenantID, &u.ID, &u.OrganizationID, &u.Username, &u.UPN, &u.Email, &u.GivenName, &u.FamilyName,
		&u.DisplayName, &status, &u.ImmutableID, &u.JobTitle, &u.Department, &u.MobilePhone, &u.OfficePhone,
		&u.UsageLocation, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt}, &u.Version)
	u.Status = directory.UserStatus(status)
	return u, err
}

// insertUser writes the issued-id record and the user row.
func (s *Store) insertUser(ctx context.Context, q queryer, u directory.User) error {
	if _, err := s.execIn(ctx, q, s.q["InsertIssuedImmutableID"], u.ImmutableID, u.TenantID, s.t(u.CreatedAt)); err != nil {
		if c := s.classify(err); errors.Is(c, storage.ErrAlreadyExists) {
			return &storage.DuplicateError{Field: "immutableId"}
		} else {
			return c
		}
	}
	_, err := s.execIn(ctx, q, s.q["InsertUser"], u.TenantID, u.ID, u.OrganizationID, u.Username, u.UPN, u.Email,
		u.GivenName, u.FamilyName, u.DisplayName, string(u.Status), u.ImmutableID, u.JobTitle, u.Department,
		u.MobilePhone, u.OfficePhone, u.UsageLocation, s.t(u.CreatedAt), s.t(u.UpdatedAt), 1)
	if err != nil {
		c := s.classify(err)
		if errors.Is(c, storage.ErrInvalidReference) {
			// The only reference a user row has inside its tenant.
			return &storage.ReferenceError{Field: "organizationId"}
		}
		return c
	}
	return nil
}

// CreateUser stores a user in one transaction with its issued-id record.
func (s *Store) CreateUser(ctx context.Context, u directory.User) (err error) {
	defer s.track("CreateUser", time.Now(), &err)
	err = s.inTx(ctx, func(tx *sql.Tx) error { return s.insertUser(ctx, tx, u) })
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Username, err)
	}
	return nil
}

// CreateUsers stores many users in one transaction, each inside its own
// savepoint: a failing item is rolled back to its savepoint, leaving no
// half-written user, and the others go on.
func (s *Store) CreateUsers(ctx context.Context, users []storage.NewUser) []error {
	start := time.Now()
	errs := make([]error, len(users))
	txErr := s.inTx(ctx, func(tx *sql.Tx) error {
		for i, nu := range users {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT item"); err != nil {
				return s.classify(err)
			}
			err := s.insertUser(ctx, tx, nu.User)
			for j := 0; err == nil && j < len(nu.GroupIDs); j++ {
				err = s.addMember(ctx, tx, nu.User.TenantID, nu.GroupIDs[j], nu.User.ID, nu.User.CreatedAt, "groupIds")
			}
			if err != nil {
				errs[i] = fmt.Errorf("create user %s: %w", nu.User.Username, err)
				if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT item"); rerr != nil {
					return s.classify(rerr)
				}
			}
			if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT item"); err != nil {
				return s.classify(err)
			}
		}
		return nil
	})
	if txErr != nil {
		for i := range errs {
			errs[i] = fmt.Errorf("create users: %w", txErr)
		}
	}
	s.observe("CreateUsers", time.Since(start), txErr)
	return errs
}

func (s *Store) getUser(ctx context.Context, op, query string, args ...any) (u directory.User, err error) {
	defer s.track(op, time.Now(), &err)
	u, err = scanUser(s.queryRow(ctx, s.q[query], args...))
	if err != nil {
		return u, fmt.Errorf("get user %v: %w", args[1], s.classify(err))
	}
	return u, nil
}

// GetUser reads a user by id.
func (s *Store) GetUser(ctx context.Context, tenantID, id string) (directory.User, error) {
	return s.getUser(ctx, "GetUser", "GetUser", tenantID, id)
}

// GetUserByUsername reads a user by (lower-case) username.
func (s *Store) GetUserByUsername(ctx context.Context, tenantID, username string) (directory.User, error) {
	return s.getUser(ctx, "GetUserByUsername", "GetUserByUsername", tenantID, strings.ToLower(username))
}

// GetUserByUPN reads a user by user principal name.
func (s *Store) GetUserByUPN(ctx context.Context, tenantID, upn string) (directory.User, error) {
	return s.getUser(ctx, "GetUserByUPN", "GetUserByUPN", tenantID, strings.ToLower(upn))
}

// ListUsers lists users by username with optional filters.
func (s *Store) ListUsers(ctx context.Context, tenantID string, f storage.UserFilter, p storage.Page) (out []directory.User, next string, err error) {
	defer s.track("ListUsers", time.Now(), &err)
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	b := &builder{place: s.d.Placeholder}
	b.w("SELECT " + userCols + " FROM users u")
	if f.GroupID != "" {
		b.w(" JOIN group_members m ON m.tenant_id = u.tenant_id AND m.user_id = u.id AND m.group_id = ").p(f.GroupID)
	}
	b.w(" WHERE u.tenant_id = ").p(tenantID)
	b.keyset("u.username", strings.ToLower(f.UsernamePrefix), after)
	b.prefix("u.email", strings.ToLower(f.EmailPrefix))
	if f.Status != "" {
		b.w(" AND u.status = ").p(string(f.Status))
	}
	if f.OrganizationID != "" {
		b.w(" AND u.organization_id = ").p(f.OrganizationID)
	}
	b.w(" ORDER BY u.username")
	b.limit(p.Clamp())
	out, err = collect(ctx, s, b, scanUser)
	if err != nil {
		return nil, "", fmt.Errorf("list users: %w", err)
	}
	out, next = page(out, p.Clamp(), func(u directory.User) string { return u.Username })
	return out, next, nil
}

// UpdateUser changes a user by compare-and-swap. The id, tenant, immutable
// id and creation time cannot change.
func (s *Store) UpdateUser(ctx context.Context, tenantID, id string, fn func(directory.User) (directory.User, error)) (nu directory.User, err error) {
	defer s.track("UpdateUser", time.Now(), &err)
	old, err := s.GetUser(ctx, tenantID, id)
	if err != nil {
		return nu, err
	}
	if nu, err = fn(old); err != nil {
		return nu, err
	}
	nu.TenantID, nu.ID, nu.ImmutableID, nu.CreatedAt = old.TenantID, old.ID, old.ImmutableID, old.CreatedAt
	res, err := s.exec(ctx, s.q["UpdateUser"], nu.OrganizationID, nu.Username, nu.UPN, nu.Email, nu.GivenName,
		nu.FamilyName, nu.DisplayName, string(nu.Status), nu.JobTitle, nu.Department, nu.MobilePhone, nu.OfficePhone,
		nu.UsageLocation, s.t(nu.UpdatedAt), tenantID, id, old.Version)
	err = s.casResult(res, err)
	if errors.Is(err, storage.ErrInvalidReference) {
		err = &storage.ReferenceError{Field: "organizationId"}
	}
	if err = s.resolveMiss(err, func() error { _, e := s.GetUser(ctx, tenantID, id); return e }); err != nil {
		return nu, fmt.Errorf("update user %s: %w", id, err)
	}
	nu.Version = old.Version + 1
	return nu, nil
}

// DeleteUser removes a user and its memberships. Its immutable id stays
// recorded as issued.
func (s *Store) DeleteUser(ctx context.Context, tenantID, id string) (err error) {
	defer s.track("DeleteUser", time.Now(), &err)
	return s.deleteOne(ctx, "delete user "+id, "DeleteUser", tenantID, id)
}
