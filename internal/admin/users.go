package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/storage"
)

// organizationFor resolves the organization a user belongs to: the given
// one, or the tenant's only (default) organization when none is given.
func (s *Service) organizationFor(ctx context.Context, tenantID, orgID string, cache map[string]directory.Organization) (directory.Organization, error) {
	if o, ok := cache[orgID]; ok {
		return o, nil
	}
	if orgID == "" {
		orgs, _, err := s.store.ListOrganizations(ctx, tenantID, storage.OrganizationFilter{}, storage.Page{Limit: 2})
		if err != nil {
			return directory.Organization{}, err
		}
		if len(orgs) != 1 {
			return directory.Organization{}, directory.Invalid("organizationId", "is required: the tenant has several organizations")
		}
		if cache != nil {
			cache[orgID] = orgs[0]
		}
		return orgs[0], nil
	}
	o, err := s.store.GetOrganization(ctx, tenantID, orgID)
	if errors.Is(err, storage.ErrNotFound) {
		return o, directory.Invalid("organizationId", "no organization with this id in the tenant")
	}
	if err == nil && cache != nil {
		cache[orgID] = o
	}
	return o, err
}

// prepareUser fills in what creation adds and validates the result.
func (s *Service) prepareUser(ctx context.Context, tenantID string, u directory.User, cache map[string]directory.Organization) (directory.User, error) {
	u.ID, u.TenantID, u.CreatedAt = s.newID(), tenantID, s.stamp()
	u.UpdatedAt = u.CreatedAt
	u.Version = 0
	if u.Status == "" {
		u.Status = directory.StatusActive
	}
	if u.ImmutableID == "" {
		id, err := s.NewImmutableID()
		if err != nil {
			return u, err
		}
		u.ImmutableID = id
	}
	directory.NormalizeUser(&u)
	org, err := s.organizationFor(ctx, tenantID, u.OrganizationID, cache)
	if err != nil {
		return u, err
	}
	u.OrganizationID = org.ID
	return directory.ValidateUser(u, org)
}

// ListUsers lists a tenant's users.
func (s *Service) ListUsers(ctx context.Context, tenantID string, f storage.UserFilter, p storage.Page) ([]directory.User, string, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ReadDirectory); err != nil {
		return nil, "", err
	}
	return s.store.ListUsers(ctx, tenantID, f, p)
}

// GetUser reads a user.
func (s *Service) GetUser(ctx context.Context, tenantID, id string) (directory.User, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ReadDirectory); err != nil {
		return directory.User{}, err
	}
	return s.store.GetUser(ctx, tenantID, id)
}

// UserGroups lists the groups a user belongs to (ErrNotFound for no user).
func (s *Service) UserGroups(ctx context.Context, tenantID, userID string, p storage.Page) ([]directory.Group, string, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ReadDirectory); err != nil {
		return nil, "", err
	}
	if _, err := s.store.GetUser(ctx, tenantID, userID); err != nil {
		return nil, "", err
	}
	return s.store.ListGroups(ctx, tenantID, storage.GroupFilter{MemberID: userID}, p)
}

// CreateUser creates a user. An empty organization means the tenant's
// default organization; an empty immutable id is generated.
func (s *Service) CreateUser(ctx context.Context, tenantID string, u directory.User) (directory.User, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ManageDirectory); err != nil {
		return u, err
	}
	u, err := s.prepareUser(ctx, tenantID, u, nil)
	if err != nil {
		return u, err
	}
	err = s.store.Atomically(ctx, func(ctx context.Context) error {
		if err := s.store.CreateUser(ctx, u); err != nil {
			return err
		}
		return s.changed(ctx, tenantID, "user.create", userObject(u), nil, u)
	})
	if err != nil {
		return u, err
	}
	u.Version = 1
	return u, nil
}

// UpdateUser applies change to a user and revalidates it, recomputing the
// UPN when the username or organization changes. A user who stops being
// active (suspended, say) is signed out of every browser: reactivating the
// user later does not revive those sessions.
func (s *Service) UpdateUser(ctx context.Context, tenantID, id string, ifMatch int64, change func(*directory.User) error) (directory.User, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ManageDirectory); err != nil {
		return directory.User{}, err
	}
	var before, after directory.User
	err := s.store.Atomically(ctx, func(ctx context.Context) error {
		var err error
		after, err = retryCAS(func() (directory.User, error) {
			return s.store.UpdateUser(ctx, tenantID, id, func(u directory.User) (directory.User, error) {
				before = u
				if err := checkVersion(ifMatch, u.Version); err != nil {
					return u, err
				}
				if err := change(&u); err != nil {
					return u, err
				}
				directory.NormalizeUser(&u)
				org, err := s.organizationFor(ctx, tenantID, u.OrganizationID, nil)
				if err != nil {
					return u, err
				}
				u.UpdatedAt = s.stamp()
				return directory.ValidateUser(u, org)
			})
		})
		if err != nil {
			return err
		}
		if before.Status == directory.StatusActive && after.Status != directory.StatusActive {
			n, err := s.store.RevokeUserSessions(ctx, tenantID, id, s.stamp())
			if err != nil {
				return fmt.Errorf("end the sessions of %s: %w", id, err)
			}
			s.log.InfoContext(ctx, "sessions revoked", "tenant", tenantID, "user", id, "count", n, "status", after.Status)
		}
		return s.changed(ctx, tenantID, "user.update", userObject(after), before, after)
	})
	return after, err
}

// DeleteUser deletes a user and its memberships.
func (s *Service) DeleteUser(ctx context.Context, tenantID, id string, ifMatch int64) error {
	if _, err := authz.Require(ctx, tenantID, authz.ManageDirectory); err != nil {
		return err
	}
	return s.store.Atomically(ctx, func(ctx context.Context) error {
		u, err := s.store.GetUser(ctx, tenantID, id)
		if err != nil {
			return err
		}
		if err := checkVersion(ifMatch, u.Version); err != nil {
			return err
		}
		if err := s.store.DeleteUser(ctx, tenantID, id); err != nil {
			return err
		}
		return s.changed(ctx, tenantID, "user.delete", userObject(u), u, nil)
	})
}

// ImportItem is one user of a bulk import.
type ImportItem struct {
	User     directory.User
	GroupIDs []string
}

// ImportResult is the outcome of one item: the created user, or the error.
type ImportResult struct {
	User directory.User
	Err  error
}

// importChunk is how many users go into one storage transaction: large
// enough to amortize commits, small enough to keep write locks short.
const importChunk = 500

// ImportUsers creates many users. Each item is validated on its own and
// written all-or-nothing (with its memberships); results are in input
// order. Each created user is in the audit log, written in the same
// transaction as its chunk. The error is a refusal of the whole import
// (the caller's role or scope); item errors are in the results.
func (s *Service) ImportUsers(ctx context.Context, tenantID string, items []ImportItem) ([]ImportResult, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ManageDirectory); err != nil {
		return nil, err
	}
	results := make([]ImportResult, len(items))
	cache := map[string]directory.Organization{}
	for start := 0; start < len(items); start += importChunk {
		end := min(start+importChunk, len(items))
		var batch []storage.NewUser
		var index []int
		for i := start; i < end; i++ {
			u, err := s.prepareUser(ctx, tenantID, items[i].User, cache)
			results[i].User = u
			if err != nil {
				results[i].Err = err
				continue
			}
			batch = append(batch, storage.NewUser{User: u, GroupIDs: items[i].GroupIDs})
			index = append(index, i)
		}
		if len(batch) == 0 {
			continue
		}
		var errs []error
		txErr := s.store.Atomically(ctx, func(ctx context.Context) error {
			errs = s.store.CreateUsers(ctx, batch)
			for j, err := range errs {
				if err != nil {
					continue
				}
				e := s.event(ctx, tenantID, "user.create", userObject(batch[j].User))
				e.Changes = audit.Diff(nil, batch[j].User)
				if len(batch[j].GroupIDs) > 0 {
					e.Changes["groupIds"] = audit.Change{After: batch[j].GroupIDs}
				}
				e.Details = map[string]any{"import": true}
				if err := s.record(ctx, e); err != nil {
					return err
				}
			}
			return nil
		})
		for j, err := range errs {
			i := index[j]
			if txErr != nil {
				err = txErr
			}
			if err != nil {
				results[i].Err = err
				continue
			}
			results[i].User.Version = 1
		}
		if errs == nil && txErr != nil {
			for _, i := range index {
				results[i].Err = txErr
			}
		}
	}
	return results, nil
}
