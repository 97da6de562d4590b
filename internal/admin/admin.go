// Package admin is the directory administration service shared by the JSON
// API, the command line and the demo: it normalizes and validates input,
// applies the UPN rule, issues ids and immutable ids, and writes through
// storage. Handlers stay thin; every rule lives here once.
//
// Every method that reads or writes administrative data first checks the
// principal in its context (package authz): its role and its tenant
// scope. Every change is written to the audit log in the same transaction
// as the change itself (storage.Atomically), with the before and after of
// the changed fields, secrets redacted.
package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/m365/cloud"
	"github.com/portico-idp/portico/internal/secrets"
	"github.com/portico-idp/portico/internal/storage"
)

// Service performs directory administration for one Portico installation.
type Service struct {
	store  storage.Storage
	now    func() time.Time
	random io.Reader
	log    *slog.Logger
	keys   *secrets.Keyring
	certs  certCache
	// endpoints are the extra Microsoft 365 endpoints the server allows.
	endpoints cloud.AllowList
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithRandom sets the source of randomness for ids and secrets (tests).
func WithRandom(r io.Reader) Option { return func(s *Service) { s.random = r } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// New returns a Service writing to store.
func New(store storage.Storage, opts ...Option) *Service {
	s := &Service{store: store, now: time.Now, random: rand.Reader, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Store returns the storage the service writes to.
func (s *Service) Store() storage.Storage { return s.store }

func (s *Service) stamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func (s *Service) newID() string {
	id, err := uuid.NewV7FromReader(s.random)
	if err != nil {
		// crypto/rand does not fail on supported platforms; a failing test
		// reader is a programming error.
		panic(fmt.Sprintf("admin: generate id: %v", err))
	}
	return id.String()
}

// NewImmutableID returns base64 of 16 random bytes, the form Microsoft
// documents for onPremisesImmutableId values derived from a GUID.
func (s *Service) NewImmutableID() (string, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(s.random, b); err != nil {
		return "", fmt.Errorf("generate immutable id: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// ErrPreconditionFailed: the caller's If-Match version is not the current one.
var ErrPreconditionFailed = errors.New("the object has changed since it was read (If-Match)")

// casRetries bounds the automatic retries of an update without If-Match
// that lost a race: the change is re-applied to the newer version.
const casRetries = 5

// retryCAS runs update until it does not fail with storage.ErrConflict.
func retryCAS[T any](update func() (T, error)) (T, error) {
	var v T
	var err error
	for range casRetries {
		v, err = update()
		if !errors.Is(err, storage.ErrConflict) {
			return v, err
		}
	}
	return v, err
}

// checkVersion returns ErrPreconditionFailed when ifMatch (0 = none given)
// is not the current version.
func checkVersion(ifMatch, current int64) error {
	if ifMatch != 0 && ifMatch != current {
		return ErrPreconditionFailed
	}
	return nil
}

// CreateTenant creates a tenant and its default organization, whose
// principal name suffix may be empty.
func (s *Service) CreateTenant(ctx context.Context, slug, name, suffix string) (directory.Tenant, directory.Organization, error) {
	t := directory.Tenant{Slug: directory.NormalizeSlug(slug), Name: name}
	if _, err := authz.Require(ctx, "", authz.ManageTenants); err != nil {
		return t, directory.Organization{}, err
	}
	t.ID, t.CreatedAt = s.newID(), s.stamp()
	t.UpdatedAt = t.CreatedAt
	if t.Name == "" {
		t.Name = t.Slug
	}
	if err := directory.ValidateTenant(t); err != nil {
		return t, directory.Organization{}, err
	}
	o := directory.Organization{ID: s.newID(), TenantID: t.ID, Name: t.Name, PrincipalNameSuffix: directory.NormalizeSuffix(suffix),
		CreatedAt: t.CreatedAt, UpdatedAt: t.CreatedAt}
	if err := directory.ValidateOrganization(o); err != nil {
		return t, o, err
	}
	// One transaction: no tenant is ever left without its default
	// organization, and both are in the audit log or neither is.
	err := s.store.Atomically(ctx, func(ctx context.Context) error {
		if err := s.store.CreateTenant(ctx, t); err != nil {
			return err
		}
		if err := s.store.CreateOrganization(ctx, o); err != nil {
			return err
		}
		if err := s.changed(ctx, t.ID, "tenant.create", tenantObject(t), nil, t); err != nil {
			return err
		}
		return s.changed(ctx, t.ID, "organization.create", orgObject(o), nil, o)
	})
	if err != nil {
		return t, o, err
	}
	t.Version, o.Version = 1, 1
	s.log.InfoContext(ctx, "tenant created", "tenant", t.Slug, "id", t.ID)
	return t, o, nil
}

// TenantBySlug resolves a tenant in the caller's scope (any role may know
// its own tenant). A tenant outside the scope is reported as absent.
func (s *Service) TenantBySlug(ctx context.Context, slug string) (directory.Tenant, error) {
	if _, ok := authz.From(ctx); !ok {
		return directory.Tenant{}, authz.ErrNoPrincipal
	}
	t, err := s.store.GetTenantBySlug(ctx, directory.NormalizeSlug(slug))
	if err != nil {
		return t, err
	}
	if _, err := authz.RequireScope(ctx, t.ID); err != nil {
		return directory.Tenant{}, err
	}
	return t, nil
}

// GetTenant reads a tenant.
func (s *Service) GetTenant(ctx context.Context, id string) (directory.Tenant, error) {
	if _, err := authz.Require(ctx, id, authz.ReadDirectory); err != nil {
		return directory.Tenant{}, err
	}
	return s.store.GetTenant(ctx, id)
}

// ListTenants lists every tenant (principals of all tenants only).
func (s *Service) ListTenants(ctx context.Context, p storage.Page) ([]directory.Tenant, string, error) {
	if _, err := authz.Require(ctx, "", authz.ReadDirectory); err != nil {
		return nil, "", err
	}
	return s.store.ListTenants(ctx, p)
}

// UpdateTenant applies change to a tenant.
func (s *Service) UpdateTenant(ctx context.Context, id string, ifMatch int64, change func(*directory.Tenant) error) (directory.Tenant, error) {
	if _, err := authz.Require(ctx, id, authz.ManageTenants); err != nil {
		return directory.Tenant{}, err
	}
	var before, after directory.Tenant
	err := s.store.Atomically(ctx, func(ctx context.Context) error {
		var err error
		after, err = retryCAS(func() (directory.Tenant, error) {
			return s.store.UpdateTenant(ctx, id, func(t directory.Tenant) (directory.Tenant, error) {
				before = t
				if err := checkVersion(ifMatch, t.Version); err != nil {
					return t, err
				}
				if err := change(&t); err != nil {
					return t, err
				}
				t.Slug = directory.NormalizeSlug(t.Slug)
				t.UpdatedAt = s.stamp()
				return t, directory.ValidateTenant(t)
			})
		})
		if err != nil {
			return err
		}
		return s.changed(ctx, id, "tenant.update", tenantObject(after), before, after)
	})
	return after, err
}

// DeleteTenant deletes a tenant and everything in it (its audit events
// stay until the retention purge).
func (s *Service) DeleteTenant(ctx context.Context, id string, ifMatch int64) error {
	if _, err := authz.Require(ctx, id, authz.ManageTenants); err != nil {
		return err
	}
	return s.store.Atomically(ctx, func(ctx context.Context) error {
		t, err := s.store.GetTenant(ctx, id)
		if err != nil {
			return err
		}
		if err := checkVersion(ifMatch, t.Version); err != nil {
			return err
		}
		if err := s.store.DeleteTenant(ctx, id); err != nil {
			return err
		}
		return s.changed(ctx, id, "tenant.delete", tenantObject(t), t, nil)
	})
}

// ListOrganizations lists a tenant's organizations.
func (s *Service) ListOrganizations(ctx context.Context, tenantID string, f storage.OrganizationFilter, p storage.Page) ([]directory.Organization, string, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ReadDirectory); err != nil {
		return nil, "", err
	}
	return s.store.ListOrganizations(ctx, tenantID, f, p)
}

// GetOrganization reads an organization.
func (s *Service) GetOrganization(ctx context.Context, tenantID, id string) (directory.Organization, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ReadDirectory); err != nil {
		return directory.Organization{}, err
	}
	return s.store.GetOrganization(ctx, tenantID, id)
}

// CreateOrganization creates an organization in a tenant.
func (s *Service) CreateOrganization(ctx context.Context, tenantID string, o directory.Organization) (directory.Organization, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ManageDirectory); err != nil {
		return o, err
	}
	o.ID, o.TenantID, o.CreatedAt = s.newID(), tenantID, s.stamp()
	o.UpdatedAt = o.CreatedAt
	o.PrincipalNameSuffix = directory.NormalizeSuffix(o.PrincipalNameSuffix)
	if err := directory.ValidateOrganization(o); err != nil {
		return o, err
	}
	err := s.store.Atomically(ctx, func(ctx context.Context) error {
		if err := s.store.CreateOrganization(ctx, o); err != nil {
			return err
		}
		return s.changed(ctx, tenantID, "organization.create", orgObject(o), nil, o)
	})
	if err != nil {
		return o, err
	}
	o.Version = 1
	return o, nil
}

// UpdateOrganization applies change to an organization; storage keeps the
// users' UPNs in step with a new suffix.
func (s *Service) UpdateOrganization(ctx context.Context, tenantID, id string, ifMatch int64, change func(*directory.Organization) error) (directory.Organization, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ManageDirectory); err != nil {
		return directory.Organization{}, err
	}
	var before, after directory.Organization
	err := s.store.Atomically(ctx, func(ctx context.Context) error {
		var err error
		after, err = retryCAS(func() (directory.Organization, error) {
			return s.store.UpdateOrganization(ctx, tenantID, id, func(o directory.Organization) (directory.Organization, error) {
				before = o
				if err := checkVersion(ifMatch, o.Version); err != nil {
					return o, err
				}
				if err := change(&o); err != nil {
					return o, err
				}
				o.PrincipalNameSuffix = directory.NormalizeSuffix(o.PrincipalNameSuffix)
				o.UpdatedAt = s.stamp()
				return o, directory.ValidateOrganization(o)
			})
		})
		if err != nil {
			return err
		}
		return s.changed(ctx, tenantID, "organization.update", orgObject(after), before, after)
	})
	return after, err
}

// DeleteOrganization deletes an organization that has no users.
func (s *Service) DeleteOrganization(ctx context.Context, tenantID, id string, ifMatch int64) error {
	if _, err := authz.Require(ctx, tenantID, authz.ManageDirectory); err != nil {
		return err
	}
	return s.store.Atomically(ctx, func(ctx context.Context) error {
		o, err := s.store.GetOrganization(ctx, tenantID, id)
		if err != nil {
			return err
		}
		if err := checkVersion(ifMatch, o.Version); err != nil {
			return err
		}
		if err := s.store.DeleteOrganization(ctx, tenantID, id); err != nil {
			return err
		}
		return s.changed(ctx, tenantID, "organization.delete", orgObject(o), o, nil)
	})
}

// ListGroups lists a tenant's groups.
func (s *Service) ListGroups(ctx context.Context, tenantID string, f storage.GroupFilter, p storage.Page) ([]directory.Group, string, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ReadDirectory); err != nil {
		return nil, "", err
	}
	return s.store.ListGroups(ctx, tenantID, f, p)
}

// GetGroup reads a group.
func (s *Service) GetGroup(ctx context.Context, tenantID, id string) (directory.Group, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ReadDirectory); err != nil {
		return directory.Group{}, err
	}
	return s.store.GetGroup(ctx, tenantID, id)
}

// CreateGroup creates a group.
func (s *Service) CreateGroup(ctx context.Context, tenantID string, g directory.Group) (directory.Group, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ManageDirectory); err != nil {
		return g, err
	}
	g.ID, g.TenantID, g.CreatedAt = s.newID(), tenantID, s.stamp()
	g.UpdatedAt = g.CreatedAt
	directory.NormalizeGroup(&g)
	if err := directory.ValidateGroup(g); err != nil {
		return g, err
	}
	err := s.store.Atomically(ctx, func(ctx context.Context) error {
		if err := s.store.CreateGroup(ctx, g); err != nil {
			return err
		}
		return s.changed(ctx, tenantID, "group.create", groupObject(g), nil, g)
	})
	if err != nil {
		return g, err
	}
	g.Version = 1
	return g, nil
}

// UpdateGroup applies change to a group.
func (s *Service) UpdateGroup(ctx context.Context, tenantID, id string, ifMatch int64, change func(*directory.Group) error) (directory.Group, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ManageDirectory); err != nil {
		return directory.Group{}, err
	}
	var before, after directory.Group
	err := s.store.Atomically(ctx, func(ctx context.Context) error {
		var err error
		after, err = retryCAS(func() (directory.Group, error) {
			return s.store.UpdateGroup(ctx, tenantID, id, func(g directory.Group) (directory.Group, error) {
				before = g
				if err := checkVersion(ifMatch, g.Version); err != nil {
					return g, err
				}
				if err := change(&g); err != nil {
					return g, err
				}
				directory.NormalizeGroup(&g)
				g.UpdatedAt = s.stamp()
				return g, directory.ValidateGroup(g)
			})
		})
		if err != nil {
			return err
		}
		return s.changed(ctx, tenantID, "group.update", groupObject(after), before, after)
	})
	return after, err
}

// DeleteGroup deletes a group and its memberships.
func (s *Service) DeleteGroup(ctx context.Context, tenantID, id string, ifMatch int64) error {
	if _, err := authz.Require(ctx, tenantID, authz.ManageDirectory); err != nil {
		return err
	}
	return s.store.Atomically(ctx, func(ctx context.Context) error {
		g, err := s.store.GetGroup(ctx, tenantID, id)
		if err != nil {
			return err
		}
		if err := checkVersion(ifMatch, g.Version); err != nil {
			return err
		}
		if err := s.store.DeleteGroup(ctx, tenantID, id); err != nil {
			return err
		}
		return s.changed(ctx, tenantID, "group.delete", groupObject(g), g, nil)
	})
}

// GroupMembers lists the members of a group (ErrNotFound for no group).
func (s *Service) GroupMembers(ctx context.Context, tenantID, groupID string, p storage.Page) ([]directory.User, string, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ReadDirectory); err != nil {
		return nil, "", err
	}
	if _, err := s.store.GetGroup(ctx, tenantID, groupID); err != nil {
		return nil, "", err
	}
	return s.store.ListUsers(ctx, tenantID, storage.UserFilter{GroupID: groupID}, p)
}

// AddGroupMember makes a user a member of a group.
func (s *Service) AddGroupMember(ctx context.Context, tenantID, groupID, userID string) error {
	if _, err := authz.Require(ctx, tenantID, authz.ManageDirectory); err != nil {
		return err
	}
	return s.store.Atomically(ctx, func(ctx context.Context) error {
		g, err := s.store.GetGroup(ctx, tenantID, groupID)
		if err != nil {
			return err
		}
		if err := s.store.AddGroupMember(ctx, tenantID, groupID, userID); err != nil {
			return err
		}
		e := s.event(ctx, tenantID, "group.member.add", groupObject(g))
		e.Changes = audit.Set("members", nil, userID)
		return s.record(ctx, e)
	})
}

// RemoveGroupMember ends a membership.
func (s *Service) RemoveGroupMember(ctx context.Context, tenantID, groupID, userID string) error {
	if _, err := authz.Require(ctx, tenantID, authz.ManageDirectory); err != nil {
		return err
	}
	return s.store.Atomically(ctx, func(ctx context.Context) error {
		if err := s.store.RemoveGroupMember(ctx, tenantID, groupID, userID); err != nil {
			return err
		}
		g, err := s.store.GetGroup(ctx, tenantID, groupID)
		if err != nil {
			return err
		}
		e := s.event(ctx, tenantID, "group.member.remove", groupObject(g))
		e.Changes = audit.Set("members", userID, nil)
		return s.record(ctx, e)
	})
}

// invalidAll builds a validation error from parallel lists of fields and
// messages.
func invalidAll(fields, messages []string) error {
	ve := &directory.ValidationError{}
	for i := range fields {
		ve.Errors = append(ve.Errors, directory.FieldError{Field: fields[i], Message: messages[i]})
	}
	return ve
}
