package admin

import (
	"context"
	"errors"
	"fmt"

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

// CreateUser creates a user. An empty organization means the tenant's
// default organization; an empty immutable id is generated.
func (s *Service) CreateUser(ctx context.Context, tenantID string, u directory.User) (directory.User, error) {
	u, err := s.prepareUser(ctx, tenantID, u, nil)
	if err != nil {
		return u, err
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
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
	var wasActive bool
	nu, err := retryCAS(func() (directory.User, error) {
		return s.store.UpdateUser(ctx, tenantID, id, func(u directory.User) (directory.User, error) {
			if err := checkVersion(ifMatch, u.Version); err != nil {
				return u, err
			}
			wasActive = u.Status == directory.StatusActive
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
	if err == nil && wasActive && nu.Status != directory.StatusActive {
		n, rerr := s.store.RevokeUserSessions(ctx, tenantID, id, s.stamp())
		if rerr != nil {
			return nu, fmt.Errorf("user %s is %s, but their sessions were not ended (revoke them): %w", id, nu.Status, rerr)
		}
		s.log.InfoContext(ctx, "sessions revoked", "tenant", tenantID, "user", id, "count", n, "status", nu.Status)
	}
	return nu, err
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
// written all-or-nothing (with its memberships); results are in input order.
func (s *Service) ImportUsers(ctx context.Context, tenantID string, items []ImportItem) []ImportResult {
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
		for j, err := range s.store.CreateUsers(ctx, batch) {
			i := index[j]
			if err != nil {
				results[i].Err = err
				continue
			}
			results[i].User.Version = 1
		}
	}
	return results
}
