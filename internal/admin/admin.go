// Package admin is the directory administration service shared by the JSON
// API, the command line and the demo: it normalizes and validates input,
// applies the UPN rule, issues ids and immutable ids, and writes through
// storage. Handlers stay thin; every rule lives here once.
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

	"github.com/portico-idp/portico/internal/apitoken"
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
	t := directory.Tenant{ID: s.newID(), Slug: directory.NormalizeSlug(slug), Name: name, CreatedAt: s.stamp()}
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
	if err := s.store.CreateTenant(ctx, t); err != nil {
		return t, o, err
	}
	if err := s.store.CreateOrganization(ctx, o); err != nil {
		// Leave no tenant without its default organization.
		if derr := s.store.DeleteTenant(context.WithoutCancel(ctx), t.ID); derr != nil {
			s.log.ErrorContext(ctx, "undo tenant creation", "tenant", t.Slug, "err", derr)
		}
		return t, o, err
	}
	t.Version, o.Version = 1, 1
	s.log.InfoContext(ctx, "tenant created", "tenant", t.Slug, "id", t.ID)
	return t, o, nil
}

// UpdateTenant applies change to a tenant.
func (s *Service) UpdateTenant(ctx context.Context, id string, ifMatch int64, change func(*directory.Tenant) error) (directory.Tenant, error) {
	return retryCAS(func() (directory.Tenant, error) {
		return s.store.UpdateTenant(ctx, id, func(t directory.Tenant) (directory.Tenant, error) {
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
}

// CreateOrganization creates an organization in a tenant.
func (s *Service) CreateOrganization(ctx context.Context, tenantID string, o directory.Organization) (directory.Organization, error) {
	o.ID, o.TenantID, o.CreatedAt = s.newID(), tenantID, s.stamp()
	o.UpdatedAt = o.CreatedAt
	o.PrincipalNameSuffix = directory.NormalizeSuffix(o.PrincipalNameSuffix)
	if err := directory.ValidateOrganization(o); err != nil {
		return o, err
	}
	if err := s.store.CreateOrganization(ctx, o); err != nil {
		return o, err
	}
	o.Version = 1
	return o, nil
}

// UpdateOrganization applies change to an organization; storage keeps the
// users' UPNs in step with a new suffix.
func (s *Service) UpdateOrganization(ctx context.Context, tenantID, id string, ifMatch int64, change func(*directory.Organization) error) (directory.Organization, error) {
	return retryCAS(func() (directory.Organization, error) {
		return s.store.UpdateOrganization(ctx, tenantID, id, func(o directory.Organization) (directory.Organization, error) {
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
}

// CreateGroup creates a group.
func (s *Service) CreateGroup(ctx context.Context, tenantID string, g directory.Group) (directory.Group, error) {
	g.ID, g.TenantID, g.CreatedAt = s.newID(), tenantID, s.stamp()
	g.UpdatedAt = g.CreatedAt
	directory.NormalizeGroup(&g)
	if err := directory.ValidateGroup(g); err != nil {
		return g, err
	}
	if err := s.store.CreateGroup(ctx, g); err != nil {
		return g, err
	}
	g.Version = 1
	return g, nil
}

// UpdateGroup applies change to a group.
func (s *Service) UpdateGroup(ctx context.Context, tenantID, id string, ifMatch int64, change func(*directory.Group) error) (directory.Group, error) {
	return retryCAS(func() (directory.Group, error) {
		return s.store.UpdateGroup(ctx, tenantID, id, func(g directory.Group) (directory.Group, error) {
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
}

// CreateAPIToken issues a token for a tenant ("" = global). The secret is
// returned once and never stored.
func (s *Service) CreateAPIToken(ctx context.Context, tenantID, name string) (string, apitoken.Token, error) {
	secret, hash, err := apitoken.Generate(s.random)
	if err != nil {
		return "", apitoken.Token{}, err
	}
	if name == "" {
		name = "token"
	}
	t := apitoken.Token{ID: s.newID(), TenantID: tenantID, Name: name, Hash: hash, CreatedAt: s.stamp()}
	if err := s.store.CreateAPIToken(ctx, t); err != nil {
		return "", t, err
	}
	return secret, t, nil
}

// Authenticate returns the token a request presented.
func (s *Service) Authenticate(ctx context.Context, secret string) (apitoken.Token, error) {
	if !apitoken.WellFormed(secret) {
		return apitoken.Token{}, storage.ErrNotFound
	}
	return s.store.GetAPITokenByHash(ctx, apitoken.Hash(secret))
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
