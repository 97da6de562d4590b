package federation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/idp/endpoints"
	"github.com/portico-idp/portico/internal/m365/cloud"
	"github.com/portico-idp/portico/internal/m365/graph"
	"github.com/portico-idp/portico/internal/secrets"
	"github.com/portico-idp/portico/internal/signing"
)

// Graph is what federation needs of Microsoft Graph (internal/m365/graph
// implements it; tests may substitute a failing one).
type Graph interface {
	Token(ctx context.Context) (graph.AccessToken, error)
	Organization(ctx context.Context) (*graph.Organization, error)
	ListDomains(ctx context.Context) ([]graph.Domain, error)
	GetDomain(ctx context.Context, name string) (*graph.Domain, error)
	ListFederationConfigurations(ctx context.Context, domain string) ([]graph.InternalDomainFederation, error)
	CreateFederationConfiguration(ctx context.Context, domain string, f graph.InternalDomainFederation) (*graph.InternalDomainFederation, error)
	UpdateFederationConfiguration(ctx context.Context, domain, id string, f graph.InternalDomainFederation, null ...string) (*graph.InternalDomainFederation, error)
	DeleteFederationConfiguration(ctx context.Context, domain, id string) error
}

// Service runs the Federation tab's operations for Office 365 applications.
type Service struct {
	admin     *admin.Service
	keys      *secrets.Keyring
	publicURL string
	http      *http.Client
	log       *slog.Logger
	// endpoints are the extra Microsoft 365 endpoints the server allows.
	endpoints cloud.AllowList
	// connect builds the Graph client of an application (tests replace it).
	connect func(ctx context.Context, t directory.Tenant, app apps.Application) (Graph, error)
	// connectAs builds one that authenticates with a given certificate
	// (rollover checks the next one before Portico depends on it).
	connectAs func(ctx context.Context, t directory.Tenant, app apps.Application, cert *signing.Certificate) (Graph, error)
}

// Option configures a Service.
type Option func(*Service)

// WithHTTPClient sets the client for calls to Microsoft (to trust
// m365sim's certificate authority, for example).
func WithHTTPClient(c *http.Client) Option { return func(s *Service) { s.http = c } }

// WithEndpoints sets the endpoints, besides Microsoft's clouds, that an
// application's authorityUrl and graphUrl may name (the server's
// --m365-allow-endpoint). Without it only Microsoft's clouds are called.
func WithEndpoints(allow cloud.AllowList) Option { return func(s *Service) { s.endpoints = allow } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithGraph replaces how an application's Graph client is made (tests).
func WithGraph(connect func(ctx context.Context, t directory.Tenant, app apps.Application) (Graph, error)) Option {
	return func(s *Service) {
		s.connect = connect
		s.connectAs = func(ctx context.Context, t directory.Tenant, app apps.Application, _ *signing.Certificate) (Graph, error) {
			return connect(ctx, t, app)
		}
	}
}

// New returns the federation service. publicURL is Portico's external base
// URL, from which the sign-in endpoints registered in Microsoft 365 are
// built.
func New(adm *admin.Service, keys *secrets.Keyring, publicURL string, opts ...Option) *Service {
	s := &Service{admin: adm, keys: keys, publicURL: strings.TrimSuffix(publicURL, "/"), http: http.DefaultClient,
		log: slog.New(slog.DiscardHandler)}
	s.connect = func(ctx context.Context, t directory.Tenant, app apps.Application) (Graph, error) {
		return s.graphClient(ctx, t, app, nil)
	}
	s.connectAs = s.graphClient
	for _, o := range opts {
		o(s)
	}
	return s
}

// graphClient builds the Graph client of an application: in Microsoft
// Graph mode with the application's own signing certificate (the one
// uploaded to the Azure app registration), in Microsoft Online mode with
// the stored administrator's password.
func (s *Service) graphClient(ctx context.Context, t directory.Tenant, app apps.Application, cert *signing.Certificate) (Graph, error) {
	return s.newGraph(ctx, t, app, cert, app.Office365.EffectiveMode())
}

// newGraph builds a Graph client that authenticates as mode says: with the
// app registration and a certificate (ModeGraph) or with the stored
// administrator's password (ModeMSOnline). extra options come last.
func (s *Service) newGraph(ctx context.Context, t directory.Tenant, app apps.Application, cert *signing.Certificate, mode string, extra ...graph.Option) (*graph.Client, error) {
	o := app.Office365
	// Settings stored before the endpoint rule existed are refused here,
	// where a token would be sent, not silently used.
	if err := app.CheckMicrosoftEndpoints(s.endpoints); err != nil {
		return nil, fmt.Errorf("the application's Microsoft endpoints are not allowed: %w", err)
	}
	opts := []graph.Option{graph.WithHTTPClient(s.http), graph.WithLogger(s.log), graph.WithRetryBudget(30 * time.Second)}
	if o.AuthorityURL != "" {
		opts = append(opts, graph.WithLoginURL(o.AuthorityURL))
	}
	if o.GraphURL != "" {
		opts = append(opts, graph.WithGraphURL(o.GraphURL))
	}
	switch mode {
	case apps.ModeMSOnline:
		password, err := s.msOnlinePassword(app)
		if err != nil {
			return nil, err
		}
		tenant := o.DirectoryID
		if tenant == "" {
			// The password grant needs a tenant, never "common" (contract §1):
			// the administrator's onmicrosoft.com domain names it.
			_, tenant, _ = strings.Cut(o.MSOnlineUsername, "@")
		}
		opts = append(opts, graph.WithPassword(tenant, o.MSOnlineClient(), o.MSOnlineUsername, password))
	default:
		if cert == nil {
			keys, err := s.admin.SigningKeys(ctx, t.ID, app.ID)
			if err != nil {
				return nil, err
			}
			cert = keys.Current
		}
		opts = append(opts, graph.WithCertificate(o.DirectoryID, o.ClientID, cert))
	}
	return graph.New(append(opts, extra...)...)
}

// msOnlinePassword opens the stored Microsoft Online administrator password.
func (s *Service) msOnlinePassword(app apps.Application) (string, error) {
	if len(app.Office365.MSOnlinePassword) == 0 {
		return "", errors.New("no Microsoft Online administrator password is stored")
	}
	b, err := s.keys.Open(app.Office365.MSOnlinePassword, apps.MSOnlinePasswordBinding(app.TenantID, app.ID))
	if err != nil {
		return "", fmt.Errorf("open Microsoft Online password: %w", err)
	}
	return string(b), nil
}

// issuer returns the issuer Portico uses for a federated root domain.
func (s *Service) issuer(t directory.Tenant, app apps.Application, root string) string {
	return app.Issuer(s.publicURL, t.Slug, root)
}

// Desired is the federation configuration Portico wants a domain to have:
// its endpoints from the public URL, the issuer of the domain's root, the
// current and next certificates, and the application's protocol, MFA and
// prompt-login behaviours. All required values are always sent (contract
// §3: a configuration without signingCertificate cannot be managed).
func (s *Service) Desired(ctx context.Context, t directory.Tenant, app apps.Application, domain string) (graph.InternalDomainFederation, error) {
	if _, err := authz.Require(ctx, t.ID, authz.ReadApplications); err != nil {
		return graph.InternalDomainFederation{}, err
	}
	keys, err := s.admin.SigningKeys(ctx, t.ID, app.ID)
	if err != nil {
		return graph.InternalDomainFederation{}, err
	}
	o := app.Office365
	root := app.RootDomain(domain)
	f := graph.InternalDomainFederation{
		DisplayName:                           "Portico " + t.Name + " (" + app.Name + ")",
		IssuerURI:                             s.issuer(t, app, root),
		ActiveSignInURI:                       endpoints.WSTrustUsernameMixed(s.publicURL, t.Slug, app.ID),
		MetadataExchangeURI:                   endpoints.WSTrustMEX(s.publicURL, t.Slug, app.ID),
		SigningCertificate:                    keys.Current.Base64(),
		PreferredAuthenticationProtocol:       o.EffectiveProtocol(),
		PromptLoginBehavior:                   o.EffectivePromptLogin(),
		FederatedIdpMfaBehavior:               o.EffectiveMFABehavior(),
		IsSignedAuthenticationRequestRequired: new(bool),
	}
	if keys.Next != nil {
		f.NextSigningCertificate = keys.Next.Base64()
	}
	if f.PreferredAuthenticationProtocol == graph.ProtocolSAML {
		f.PassiveSignInURI = endpoints.SAML(s.publicURL, t.Slug, app.ID)
		f.SignOutURI = endpoints.SAMLSignOut(s.publicURL, t.Slug, app.ID)
		*f.IsSignedAuthenticationRequestRequired = o.RequireSignedRequests
	} else {
		f.PassiveSignInURI = endpoints.WSFed(s.publicURL, t.Slug, app.ID)
		f.SignOutURI = endpoints.WSFed(s.publicURL, t.Slug, app.ID)
	}
	return f, nil
}
