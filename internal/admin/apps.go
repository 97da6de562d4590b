package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/m365/cloud"
	"github.com/portico-idp/portico/internal/secrets"
	"github.com/portico-idp/portico/internal/signing"
	"github.com/portico-idp/portico/internal/storage"
)

// WithKeyring sets the keyring that seals private keys; applications
// cannot be created without one.
func WithKeyring(kr *secrets.Keyring) Option { return func(s *Service) { s.keys = kr } }

// WithMicrosoftEndpoints sets the endpoints, besides Microsoft's clouds,
// that an application's authorityUrl and graphUrl may name (the server's
// --m365-allow-endpoint). Without it only Microsoft's clouds are accepted.
func WithMicrosoftEndpoints(allow cloud.AllowList) Option {
	return func(s *Service) { s.endpoints = allow }
}

// checkEndpoints applies the Microsoft endpoint rule to the URLs a change
// sets. A URL stored before the rule existed and left as it is does not
// block unrelated changes (disabling the application, say): it is refused
// where it would be used, and Verify Compatibility reports it.
func (s *Service) checkEndpoints(prev *apps.Application, a apps.Application) error {
	if a.Office365 == nil {
		return nil
	}
	check := a
	o := *a.Office365
	if prev != nil && prev.Office365 != nil {
		if o.AuthorityURL == prev.Office365.AuthorityURL {
			o.AuthorityURL = ""
		}
		if o.GraphURL == prev.Office365.GraphURL {
			o.GraphURL = ""
		}
	}
	check.Office365 = &o
	return check.CheckMicrosoftEndpoints(s.endpoints)
}

// Names of the policies every tenant gets.
const (
	PolicyPasswordOnly = "Password only"
	PolicyPasswordTOTP = "Password and authenticator app"
)

// Default session lifetimes: an idle browser is signed out after an hour,
// any session after a working day.
const (
	defaultSessionIdle = time.Hour
	defaultSessionMax  = 12 * time.Hour
)

// EnsurePolicies creates the two standard authentication policies of a
// tenant if they do not exist, and returns them.
func (s *Service) EnsurePolicies(ctx context.Context, tenantID string) (passwordOnly, mfa authn.Policy, err error) {
	have, err := s.store.ListPolicies(ctx, tenantID)
	if err != nil {
		return passwordOnly, mfa, err
	}
	find := func(name string, f authn.SecondFactor) (authn.Policy, error) {
		for _, p := range have {
			if strings.EqualFold(p.Name, name) {
				return p, nil
			}
		}
		p := authn.Policy{ID: s.newID(), TenantID: tenantID, Name: name, SecondFactor: f, SessionIdle: defaultSessionIdle,
			SessionMax: defaultSessionMax, CreatedAt: s.stamp(), UpdatedAt: s.stamp()}
		if err := s.store.CreatePolicy(ctx, p); err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
			return p, err
		}
		p.Version = 1
		return p, nil
	}
	if passwordOnly, err = find(PolicyPasswordOnly, authn.FactorNone); err != nil {
		return
	}
	mfa, err = find(PolicyPasswordTOTP, authn.FactorTOTP)
	return
}

// CreatePolicy creates an authentication policy.
func (s *Service) CreatePolicy(ctx context.Context, tenantID string, p authn.Policy) (authn.Policy, error) {
	p.ID, p.TenantID, p.CreatedAt = s.newID(), tenantID, s.stamp()
	p.UpdatedAt = p.CreatedAt
	if p.SessionIdle == 0 {
		p.SessionIdle = defaultSessionIdle
	}
	if p.SessionMax == 0 {
		p.SessionMax = defaultSessionMax
	}
	if err := validatePolicy(p); err != nil {
		return p, err
	}
	if err := s.store.CreatePolicy(ctx, p); err != nil {
		return p, err
	}
	p.Version = 1
	return p, nil
}

func validatePolicy(p authn.Policy) error {
	var c []string
	var fields []string
	if strings.TrimSpace(p.Name) == "" || len(p.Name) > 128 {
		fields, c = append(fields, "name"), append(c, "is required (at most 128 characters)")
	}
	if p.SecondFactor != authn.FactorNone && p.SecondFactor != authn.FactorTOTP {
		fields, c = append(fields, "secondFactor"), append(c, "must be none or totp")
	}
	if p.SessionIdle < time.Minute || p.SessionIdle > p.SessionMax {
		fields, c = append(fields, "sessionIdleMinutes"), append(c, "must be at least 1 and at most the session's maximum")
	}
	if p.SessionMax > 30*24*time.Hour {
		fields, c = append(fields, "sessionMaxMinutes"), append(c, "must be at most 30 days")
	}
	if len(fields) == 0 {
		return nil
	}
	return invalidAll(fields, c)
}

// CreateApplication adds an application of the library to a tenant with a
// fresh signing certificate. Without a policy it gets "Password and
// authenticator app": the seed guide's Office 365 integration requires a
// second factor for every sign-in.
func (s *Service) CreateApplication(ctx context.Context, tenantID string, a apps.Application) (apps.Application, error) {
	if s.keys == nil {
		return a, errors.New("create application: no keyring configured")
	}
	a.ID, a.TenantID, a.CreatedAt = s.newID(), tenantID, s.stamp()
	a.UpdatedAt = a.CreatedAt
	if a.Kind == "" {
		a.Kind = apps.KindOffice365
	}
	if a.Name == "" {
		a.Name = "Office 365"
	}
	if a.Kind == apps.KindOffice365 && a.Office365 == nil {
		a.Office365 = &apps.Office365Settings{}
	}
	if a.Office365 != nil && a.Office365.FederateAutomatically == nil {
		on := true
		a.Office365.FederateAutomatically = &on
	}
	if a.PolicyID == "" {
		_, mfa, err := s.EnsurePolicies(ctx, tenantID)
		if err != nil {
			return a, err
		}
		a.PolicyID = mfa.ID
	}
	if a.GroupIDs == nil {
		a.GroupIDs = []string{}
	}
	a.NormalizeSync()
	if err := a.Validate(); err != nil {
		return a, err
	}
	if err := s.checkEndpoints(nil, a); err != nil {
		return a, err
	}
	if err := s.sealSecrets(&a); err != nil {
		return a, err
	}
	if err := s.store.CreateApplication(ctx, a); err != nil {
		return a, err
	}
	a.Version = 1
	if _, err := s.addKey(ctx, a, apps.RoleCurrent); err != nil {
		if derr := s.store.DeleteApplication(context.WithoutCancel(ctx), tenantID, a.ID); derr != nil {
			s.log.ErrorContext(ctx, "undo application creation", "app", a.ID, "err", derr)
		}
		return a, fmt.Errorf("create application: signing key: %w", err)
	}
	return a, nil
}

// UpdateApplication applies change to an application and revalidates it.
func (s *Service) UpdateApplication(ctx context.Context, tenantID, id string, ifMatch int64, change func(*apps.Application) error) (apps.Application, error) {
	return retryCAS(func() (apps.Application, error) {
		return s.store.UpdateApplication(ctx, tenantID, id, func(a apps.Application) (apps.Application, error) {
			if err := checkVersion(ifMatch, a.Version); err != nil {
				return a, err
			}
			prev := a
			if a.Office365 != nil {
				o := *a.Office365
				prev.Office365 = &o
			}
			if err := change(&a); err != nil {
				return a, err
			}
			a.UpdatedAt = s.stamp()
			a.NormalizeSync()
			if err := a.Validate(); err != nil {
				return a, err
			}
			if err := s.checkEndpoints(&prev, a); err != nil {
				return a, err
			}
			return a, s.sealSecrets(&a)
		})
	})
}

func keyBinding(k apps.SigningKey) secrets.Binding {
	return secrets.Binding{Table: "signing_keys", Column: "key_sealed", RowID: k.TenantID + "/" + k.AppID + "/" + k.ID}
}

// addKey generates a certificate for an application and stores it sealed.
func (s *Service) addKey(ctx context.Context, a apps.Application, role apps.SigningKeyRole) (*signing.Certificate, error) {
	cert, err := signing.Generate(signing.Options{CommonName: "Portico " + a.Name + " signing (" + a.ID[:8] + ")", Rand: s.random, Now: s.now})
	if err != nil {
		return nil, err
	}
	pkcs8, err := cert.MarshalPKCS8()
	if err != nil {
		return nil, err
	}
	defer clear(pkcs8)
	k := apps.SigningKey{ID: s.newID(), TenantID: a.TenantID, AppID: a.ID, Role: role, CertDER: cert.DER(), CreatedAt: s.stamp(),
		NotAfter: cert.Cert.NotAfter}
	if k.KeySealed, err = s.keys.Seal(pkcs8, keyBinding(k)); err != nil {
		return nil, err
	}
	if err := s.store.CreateSigningKey(ctx, k); err != nil {
		return nil, err
	}
	s.certs.Store(k.TenantID+"/"+k.ID, cert)
	return cert, nil
}

// Keys is an application's certificate set: the current one signs, the
// next one (if any) is published for rollover.
type Keys struct {
	Current   *signing.Certificate
	CurrentID string
	Next      *signing.Certificate
	NextID    string
}

// SigningKeys opens an application's current and next certificates. Opened
// keys are cached by key id: a key never changes, only its role.
func (s *Service) SigningKeys(ctx context.Context, tenantID, appID string) (Keys, error) {
	var out Keys
	if s.keys == nil {
		return out, errors.New("signing keys: no keyring configured")
	}
	list, err := s.store.ListSigningKeys(ctx, tenantID, appID)
	if err != nil {
		return out, err
	}
	for _, k := range list {
		if k.Role != apps.RoleCurrent && k.Role != apps.RoleNext {
			continue
		}
		cert, err := s.openKey(k)
		if err != nil {
			return out, err
		}
		if k.Role == apps.RoleCurrent {
			out.Current, out.CurrentID = cert, k.ID
		} else {
			out.Next, out.NextID = cert, k.ID
		}
	}
	if out.Current == nil {
		return out, fmt.Errorf("application %s has no current signing key: %w", appID, storage.ErrNotFound)
	}
	return out, nil
}

func (s *Service) openKey(k apps.SigningKey) (*signing.Certificate, error) {
	cacheKey := k.TenantID + "/" + k.ID
	if c, ok := s.certs.Load(cacheKey); ok {
		return c.(*signing.Certificate), nil
	}
	pkcs8, err := s.keys.Open(k.KeySealed, keyBinding(k))
	if err != nil {
		return nil, fmt.Errorf("open signing key %s: %w", k.ID, err)
	}
	defer clear(pkcs8)
	cert, err := signing.Load(k.CertDER, pkcs8)
	if err != nil {
		return nil, fmt.Errorf("load signing key %s: %w", k.ID, err)
	}
	s.certs.Store(cacheKey, cert)
	return cert, nil
}

// CreateNextKey generates the next certificate of an application (the
// first step of a rollover); an existing next certificate is returned as is.
func (s *Service) CreateNextKey(ctx context.Context, tenantID, appID string) (*signing.Certificate, error) {
	keys, err := s.SigningKeys(ctx, tenantID, appID)
	if err != nil {
		return nil, err
	}
	if keys.Next != nil {
		return keys.Next, nil
	}
	a, err := s.store.GetApplication(ctx, tenantID, appID)
	if err != nil {
		return nil, err
	}
	return s.addKey(ctx, a, apps.RoleNext)
}

// PromoteNextKey makes the next certificate current and retires the
// current one, in one transaction.
func (s *Service) PromoteNextKey(ctx context.Context, tenantID, appID string) error {
	keys, err := s.SigningKeys(ctx, tenantID, appID)
	if err != nil {
		return err
	}
	if keys.Next == nil {
		return fmt.Errorf("promote: %w", signing.ErrNoNext)
	}
	return s.store.SetSigningKeyRoles(ctx, tenantID, appID, map[string]apps.SigningKeyRole{
		keys.CurrentID: apps.RoleRetired, keys.NextID: apps.RoleCurrent})
}

// certCache is the type of Service.certs (opened keys by tenant/key id).
type certCache = sync.Map

// UpdatePolicy applies change to a policy and revalidates it.
func (s *Service) UpdatePolicy(ctx context.Context, tenantID, id string, ifMatch int64, change func(*authn.Policy) error) (authn.Policy, error) {
	return retryCAS(func() (authn.Policy, error) {
		return s.store.UpdatePolicy(ctx, tenantID, id, func(p authn.Policy) (authn.Policy, error) {
			if err := checkVersion(ifMatch, p.Version); err != nil {
				return p, err
			}
			if err := change(&p); err != nil {
				return p, err
			}
			p.UpdatedAt = s.stamp()
			return p, validatePolicy(p)
		})
	})
}

// sealSecrets seals a Microsoft Online password given in clear (from the
// API) into the settings, bound to the application, and forgets the clear
// text.
func (s *Service) sealSecrets(a *apps.Application) error {
	o := a.Office365
	if o == nil || o.MSOnlinePasswordInput == "" {
		return nil
	}
	if s.keys == nil {
		return errors.New("seal password: no keyring configured")
	}
	sealed, err := s.keys.Seal([]byte(o.MSOnlinePasswordInput), apps.MSOnlinePasswordBinding(a.TenantID, a.ID))
	if err != nil {
		return err
	}
	o.MSOnlinePassword, o.MSOnlinePasswordInput = sealed, ""
	return nil
}
