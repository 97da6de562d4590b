package admin

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/authz"
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
	if _, err = authz.Require(ctx, tenantID, authz.ManageApplications); err != nil {
		return passwordOnly, mfa, err
	}
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
		err := s.store.Atomically(ctx, func(ctx context.Context) error {
			if err := s.store.CreatePolicy(ctx, p); err != nil {
				return err
			}
			return s.changed(ctx, tenantID, "policy.create", policyObject(p), nil, toPolicyAudit(p))
		})
		if err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
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

// policyAudit is a policy as the audit log shows it (durations in minutes,
// as the API shows them).
type policyAudit struct {
	Name               string             `json:"name"`
	SecondFactor       authn.SecondFactor `json:"secondFactor"`
	SessionIdleMinutes int64              `json:"sessionIdleMinutes"`
	SessionMaxMinutes  int64              `json:"sessionMaxMinutes"`
}

func toPolicyAudit(p authn.Policy) policyAudit {
	return policyAudit{p.Name, p.SecondFactor, int64(p.SessionIdle / time.Minute), int64(p.SessionMax / time.Minute)}
}

// ListPolicies lists a tenant's authentication policies.
func (s *Service) ListPolicies(ctx context.Context, tenantID string) ([]authn.Policy, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ReadApplications); err != nil {
		return nil, err
	}
	return s.store.ListPolicies(ctx, tenantID)
}

// GetPolicy reads an authentication policy.
func (s *Service) GetPolicy(ctx context.Context, tenantID, id string) (authn.Policy, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ReadApplications); err != nil {
		return authn.Policy{}, err
	}
	return s.store.GetPolicy(ctx, tenantID, id)
}

// CreatePolicy creates an authentication policy.
func (s *Service) CreatePolicy(ctx context.Context, tenantID string, p authn.Policy) (authn.Policy, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ManageApplications); err != nil {
		return p, err
	}
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
	err := s.store.Atomically(ctx, func(ctx context.Context) error {
		if err := s.store.CreatePolicy(ctx, p); err != nil {
			return err
		}
		return s.changed(ctx, tenantID, "policy.create", policyObject(p), nil, toPolicyAudit(p))
	})
	if err != nil {
		return p, err
	}
	p.Version = 1
	return p, nil
}

// DeletePolicy deletes a policy no application uses.
func (s *Service) DeletePolicy(ctx context.Context, tenantID, id string, ifMatch int64) error {
	if _, err := authz.Require(ctx, tenantID, authz.ManageApplications); err != nil {
		return err
	}
	return s.store.Atomically(ctx, func(ctx context.Context) error {
		p, err := s.store.GetPolicy(ctx, tenantID, id)
		if err != nil {
			return err
		}
		if err := checkVersion(ifMatch, p.Version); err != nil {
			return err
		}
		if err := s.store.DeletePolicy(ctx, tenantID, id); err != nil {
			return err
		}
		return s.changed(ctx, tenantID, "policy.delete", policyObject(p), toPolicyAudit(p), nil)
	})
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

// ListApplications lists a tenant's applications.
func (s *Service) ListApplications(ctx context.Context, tenantID string) ([]apps.Application, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ReadApplications); err != nil {
		return nil, err
	}
	return s.store.ListApplications(ctx, tenantID)
}

// GetApplication reads an application.
func (s *Service) GetApplication(ctx context.Context, tenantID, id string) (apps.Application, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ReadApplications); err != nil {
		return apps.Application{}, err
	}
	return s.store.GetApplication(ctx, tenantID, id)
}

// CreateApplication adds an application of the library to a tenant with a
// fresh signing certificate. Without a policy it gets "Password and
// authenticator app": the seed guide's Office 365 integration requires a
// second factor for every sign-in.
func (s *Service) CreateApplication(ctx context.Context, tenantID string, a apps.Application) (apps.Application, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ManageApplications); err != nil {
		return a, err
	}
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
	// The key is made before the transaction (RSA generation takes a
	// while); the application, its key and the audit event are written
	// together, so there is never an application without a certificate.
	k, cert, err := s.newKey(a, apps.RoleCurrent)
	if err != nil {
		return a, fmt.Errorf("create application: signing key: %w", err)
	}
	err = s.store.Atomically(ctx, func(ctx context.Context) error {
		if err := s.store.CreateApplication(ctx, a); err != nil {
			return err
		}
		if err := s.store.CreateSigningKey(ctx, k); err != nil {
			return fmt.Errorf("create application: signing key: %w", err)
		}
		e := s.event(ctx, tenantID, "application.create", appObject(a))
		e.AppID, e.Changes = a.ID, audit.Diff(nil, a)
		e.Details = map[string]any{"certificateThumbprint": cert.ThumbprintSHA1()}
		return s.record(ctx, e)
	})
	if err != nil {
		return a, err
	}
	s.certs.Store(k.TenantID+"/"+k.ID, cert)
	a.Version = 1
	return a, nil
}

// UpdateApplication applies change to an application and revalidates it.
func (s *Service) UpdateApplication(ctx context.Context, tenantID, id string, ifMatch int64, change func(*apps.Application) error) (apps.Application, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ManageApplications); err != nil {
		return apps.Application{}, err
	}
	var before json.RawMessage
	var after apps.Application
	err := s.store.Atomically(ctx, func(ctx context.Context) error {
		var err error
		after, err = retryCAS(func() (apps.Application, error) {
			return s.store.UpdateApplication(ctx, tenantID, id, func(a apps.Application) (apps.Application, error) {
				// A snapshot, not a copy: change may modify the settings
				// and their slices in place.
				before, _ = json.Marshal(a)
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
		if err != nil {
			return err
		}
		e := s.event(ctx, tenantID, "application.update", appObject(after))
		e.AppID, e.Changes = after.ID, audit.Diff(before, after)
		return s.record(ctx, e)
	})
	return after, err
}

// DeleteApplication deletes an application with its keys.
func (s *Service) DeleteApplication(ctx context.Context, tenantID, id string, ifMatch int64) error {
	if _, err := authz.Require(ctx, tenantID, authz.ManageApplications); err != nil {
		return err
	}
	return s.store.Atomically(ctx, func(ctx context.Context) error {
		a, err := s.store.GetApplication(ctx, tenantID, id)
		if err != nil {
			return err
		}
		if err := checkVersion(ifMatch, a.Version); err != nil {
			return err
		}
		if err := s.store.DeleteApplication(ctx, tenantID, id); err != nil {
			return err
		}
		e := s.event(ctx, tenantID, "application.delete", appObject(a))
		e.AppID, e.Changes = a.ID, audit.Diff(a, nil)
		return s.record(ctx, e)
	})
}

func keyBinding(k apps.SigningKey) secrets.Binding {
	return secrets.Binding{Table: "signing_keys", Column: "key_sealed", RowID: k.TenantID + "/" + k.AppID + "/" + k.ID}
}

// newKey generates a certificate for an application, sealed for storage.
func (s *Service) newKey(a apps.Application, role apps.SigningKeyRole) (apps.SigningKey, *signing.Certificate, error) {
	cert, err := signing.Generate(signing.Options{CommonName: "Portico " + a.Name + " signing (" + a.ID[:8] + ")", Rand: s.random, Now: s.now})
	if err != nil {
		return apps.SigningKey{}, nil, err
	}
	pkcs8, err := cert.MarshalPKCS8()
	if err != nil {
		return apps.SigningKey{}, nil, err
	}
	defer clear(pkcs8)
	k := apps.SigningKey{ID: s.newID(), TenantID: a.TenantID, AppID: a.ID, Role: role, CertDER: cert.DER(), CreatedAt: s.stamp(),
		NotAfter: cert.Cert.NotAfter}
	if k.KeySealed, err = s.keys.Seal(pkcs8, keyBinding(k)); err != nil {
		return k, nil, err
	}
	return k, cert, nil
}

// Keys is an application's certificate set: the current one signs, the
// next one (if any) is published for rollover.
type Keys struct {
	Current   *signing.Certificate
	CurrentID string
	Next      *signing.Certificate
	NextID    string
}

// SigningKeys opens an application's current and next certificates, with
// their private keys. Opened keys are cached by key id: a key never
// changes, only its role.
//
// It checks no role: it is the protocol handlers' way to sign tokens for
// people signing in, not an administration operation. Administrators see
// certificates through Certificates, which never opens a private key.
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

// Certificate is the public part of one of an application's signing
// certificates.
type Certificate struct {
	ID   string
	Role apps.SigningKeyRole
	// Cert holds no private key.
	Cert *signing.Certificate
}

// Certificates lists an application's certificates, public parts only
// (ErrNotFound for no application).
func (s *Service) Certificates(ctx context.Context, tenantID, appID string) ([]Certificate, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ReadApplications); err != nil {
		return nil, err
	}
	if _, err := s.store.GetApplication(ctx, tenantID, appID); err != nil {
		return nil, err
	}
	keys, err := s.store.ListSigningKeys(ctx, tenantID, appID)
	if err != nil {
		return nil, err
	}
	out := make([]Certificate, 0, len(keys))
	for _, k := range keys {
		x, err := x509.ParseCertificate(k.CertDER)
		if err != nil {
			return nil, fmt.Errorf("certificate %s: %w", k.ID, err)
		}
		out = append(out, Certificate{ID: k.ID, Role: k.Role, Cert: &signing.Certificate{Cert: x}})
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
	if _, err := authz.Require(ctx, tenantID, authz.ManageApplications); err != nil {
		return nil, err
	}
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
	k, cert, err := s.newKey(a, apps.RoleNext)
	if err != nil {
		return nil, err
	}
	err = s.store.Atomically(ctx, func(ctx context.Context) error {
		if err := s.store.CreateSigningKey(ctx, k); err != nil {
			return err
		}
		e := s.event(ctx, tenantID, "application.certificate.create", appObject(a))
		e.AppID = a.ID
		e.Changes = audit.Set("nextCertificate", nil, cert.ThumbprintSHA1())
		return s.record(ctx, e)
	})
	if err != nil {
		return nil, err
	}
	s.certs.Store(k.TenantID+"/"+k.ID, cert)
	return cert, nil
}

// PromoteNextKey makes the next certificate current and retires the
// current one, in one transaction.
func (s *Service) PromoteNextKey(ctx context.Context, tenantID, appID string) error {
	if _, err := authz.Require(ctx, tenantID, authz.ManageApplications); err != nil {
		return err
	}
	keys, err := s.SigningKeys(ctx, tenantID, appID)
	if err != nil {
		return err
	}
	if keys.Next == nil {
		return fmt.Errorf("promote: %w", signing.ErrNoNext)
	}
	a, err := s.store.GetApplication(ctx, tenantID, appID)
	if err != nil {
		return err
	}
	return s.store.Atomically(ctx, func(ctx context.Context) error {
		if err := s.store.SetSigningKeyRoles(ctx, tenantID, appID, map[string]apps.SigningKeyRole{
			keys.CurrentID: apps.RoleRetired, keys.NextID: apps.RoleCurrent}); err != nil {
			return err
		}
		e := s.event(ctx, tenantID, "application.certificate.promote", appObject(a))
		e.AppID = a.ID
		e.Changes = audit.Set("currentCertificate", keys.Current.ThumbprintSHA1(), keys.Next.ThumbprintSHA1())
		return s.record(ctx, e)
	})
}

// certCache is the type of Service.certs (opened keys by tenant/key id).
type certCache = sync.Map

// UpdatePolicy applies change to a policy and revalidates it.
func (s *Service) UpdatePolicy(ctx context.Context, tenantID, id string, ifMatch int64, change func(*authn.Policy) error) (authn.Policy, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ManageApplications); err != nil {
		return authn.Policy{}, err
	}
	var before, after authn.Policy
	err := s.store.Atomically(ctx, func(ctx context.Context) error {
		var err error
		after, err = retryCAS(func() (authn.Policy, error) {
			return s.store.UpdatePolicy(ctx, tenantID, id, func(p authn.Policy) (authn.Policy, error) {
				before = p
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
		if err != nil {
			return err
		}
		return s.changed(ctx, tenantID, "policy.update", policyObject(after), toPolicyAudit(before), toPolicyAudit(after))
	})
	return after, err
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
