package federation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/idp/endpoints"
	"github.com/portico-idp/portico/internal/m365/graph"
)

// Status is the outcome of one check.
type Status string

// Outcomes. A report with any fail must not be acted on; warnings are
// worth reading but do not block.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Check is one named check of a report.
type Check struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	// Fix says what to do when the check does not pass.
	Fix string `json:"fix,omitempty"`
}

// State is where a domain stands.
type State string

// Domain states.
const (
	StateUnknown            State = "unknown"
	StateManaged            State = "managed"
	StateFederatedHere      State = "federatedToThisApplication"
	StateFederatedElsewhere State = "federatedElsewhere"
)

// Report is the result of Verify Compatibility for one domain.
type Report struct {
	Domain     string  `json:"domain"`
	RootDomain string  `json:"rootDomain"`
	Issuer     string  `json:"issuer"`
	State      State   `json:"state"`
	Checks     []Check `json:"checks"`
	// Compatible is true when no check failed.
	Compatible bool `json:"compatible"`
	// current is the domain's configuration when it is federated.
	current *graph.InternalDomainFederation
	// app is the application verified (to recognize its issuers).
	app appRef
	// graph is the client Verify connected with, for the write that follows
	// (one token, not two).
	graph Graph
}

// appRef names an application's issuers.
type appRef struct{ tenantSlug, appID string }

// ours reports whether an issuer is one of the application's: its single
// issuer or one of its per-domain issuers. A domain whose issuer changed
// because "one of several" was ticked is still this application's.
func (s *Service) ours(a appRef, issuer string) bool {
	base := endpoints.SingleIssuerURI(s.publicURL, a.tenantSlug, a.appID)
	return issuer == base || strings.HasPrefix(issuer, base+"/")
}

func (r *Report) add(c Check) { r.Checks = append(r.Checks, c) }

func (r *Report) failed() bool {
	return slices.ContainsFunc(r.Checks, func(c Check) bool { return c.Status == Fail })
}

// Application permissions the seed guide grants the app registration.
var requiredRoles = []string{"Domain.ReadWrite.All", "User.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"}

// globalAdministrator is the role template id of Global Administrator,
// which Microsoft Entra puts in the wids claim of tokens of principals
// holding the role.
const globalAdministrator = "62e90394-69f5-4237-9190-012177145e10"

// Verify runs Verify Compatibility for one domain of an application. It
// reads only (the applications.read permission suffices); a returned error means the report could not be made at all
// (the application is not an Office 365 one, or storage failed).
func (s *Service) Verify(ctx context.Context, t directory.Tenant, app apps.Application, domain string) (rep Report, err error) {
	domain = strings.ToLower(strings.TrimSpace(domain))
	rep = Report{Domain: domain, RootDomain: domain, State: StateUnknown, app: appRef{t.Slug, app.ID}}
	if _, err := authz.Require(ctx, t.ID, authz.ReadApplications); err != nil {
		return rep, err
	}
	if app.Kind != apps.KindOffice365 || app.Office365 == nil {
		return rep, errors.New("verify: not an Office 365 application")
	}
	defer func() { rep.Compatible = !rep.failed() }()
	o := app.Office365
	if !s.checkSettings(&rep, app, domain) {
		return rep, nil
	}
	g, cerr := s.connect(ctx, t, app)
	rep.graph = g
	if cerr != nil {
		err := cerr
		rep.add(Check{ID: "token", Title: "Sign in to Microsoft Graph", Status: Fail, Detail: err.Error(),
			Fix: "complete the Microsoft Graph settings of the Federation tab"})
		return rep, nil
	}
	tok, err := g.Token(ctx)
	if err != nil {
		rep.add(tokenCheck(err, app, s.thumbprint(ctx, t, app)))
		return rep, nil
	}
	rep.add(Check{ID: "token", Title: "Sign in to Microsoft Graph", Status: Pass, Detail: "Portico obtained a token for " + modeName(o)})
	claims, _ := tok.Claims()
	rep.add(permissionsCheck(o, claims))
	rep.add(federatePermissionCheck(o, claims))

	org, err := g.Organization(ctx)
	switch {
	case err != nil:
		rep.add(graphFailure("hybrid", "The tenant is cloud-only", err))
	case org.OnPremisesSyncEnabled != nil && *org.OnPremisesSyncEnabled:
		rep.add(Check{ID: "hybrid", Title: "The tenant is cloud-only", Status: Fail,
			Detail: "the tenant is synchronized from on-premises Active Directory (onPremisesSyncEnabled)",
			Fix:    "hybrid Office 365 deployments are not compatible with this integration: federate through your on-premises federation service instead"})
	default:
		rep.add(Check{ID: "hybrid", Title: "The tenant is cloud-only", Status: Pass, Detail: "not synchronized from on-premises Active Directory"})
	}

	d, err := g.GetDomain(ctx, domain)
	if err != nil {
		if graph.IsNotFound(err) {
			rep.add(Check{ID: "domain", Title: "The domain exists in Microsoft 365", Status: Fail,
				Detail: domain + " is not a domain of this Microsoft 365 tenant",
				Fix:    "add and verify " + domain + " in the Microsoft 365 admin center (Settings → Domains), or correct the managed domain"})
		} else {
			rep.add(graphFailure("domain", "The domain exists in Microsoft 365", err))
		}
		return rep, nil
	}
	rep.add(Check{ID: "domain", Title: "The domain exists in Microsoft 365", Status: Pass, Detail: domain + " found"})
	s.checkDomain(&rep, d)
	domains, err := g.ListDomains(ctx)
	if err != nil {
		rep.add(graphFailure("root", "Root domain", err))
		return rep, nil
	}
	rep.RootDomain = rootOf(domain, domains)
	if rep.RootDomain != domain {
		rep.add(Check{ID: "root", Title: "Root domain", Status: Warn,
			Detail: domain + " is a subdomain of " + rep.RootDomain + ": it inherits the root's authentication and issuer",
			Fix:    "federate " + rep.RootDomain + " (its subdomains follow it)"})
	} else {
		rep.add(Check{ID: "root", Title: "Root domain", Status: Pass, Detail: domain + " is a root domain"})
	}
	rep.Issuer = s.issuer(t, app, app.RootDomainIn(domain, rep.RootDomain))
	if rep.RootDomain != domain {
		if d, err = g.GetDomain(ctx, rep.RootDomain); err != nil {
			rep.add(graphFailure("state", "Current federation", err))
			return rep, nil
		}
	}
	s.checkState(ctx, &rep, g, d)
	s.checkIssuers(ctx, &rep, g, domains)
	return rep, nil
}

func modeName(o *apps.Office365Settings) string {
	if o.EffectiveMode() == apps.ModeMSOnline {
		return "the Microsoft Online administrator " + o.MSOnlineUsername
	}
	return "application " + o.ClientID + " with its certificate"
}

// checkSettings checks the Federation tab's own fields before calling out.
func (s *Service) checkSettings(rep *Report, app apps.Application, domain string) bool {
	o := app.Office365
	var missing []string
	if !directory.ValidDomain(domain) {
		missing = append(missing, "a managed domain such as contoso.com")
	}
	if o.EffectiveMode() == apps.ModeMSOnline {
		if !strings.HasSuffix(strings.ToLower(o.MSOnlineUsername), ".onmicrosoft.com") {
			missing = append(missing, "the @….onmicrosoft.com administrator username")
		}
		if len(o.MSOnlinePassword) == 0 {
			missing = append(missing, "the administrator's password")
		}
	} else {
		if !isGUID(o.ClientID) {
			missing = append(missing, "the Application (client) ID (a GUID from the Azure app registration)")
		}
		if !isGUID(o.DirectoryID) {
			missing = append(missing, "the Directory (tenant) ID (a GUID from the Azure app registration's overview)")
		}
	}
	if o.EffectiveMode() == apps.ModeMSOnline {
		rep.add(Check{ID: "mode", Title: "Connection mode", Status: Warn,
			Detail: "Microsoft Online mode is deprecated by Microsoft and cannot work for administrators who must use multi-factor authentication",
			Fix:    "switch to Microsoft Graph: register an app in Azure, upload Portico's certificate, and enter its client and tenant ids"})
	}
	if o.EffectiveProtocol() == "saml" && o.RequireSignedRequests && !o.AllowSHA1Requests {
		rep.add(Check{ID: "sha1", Title: "Signed requests use an algorithm Portico accepts", Status: Warn,
			Detail: "Microsoft Entra documents RSA-SHA1 for the AuthnRequests it signs, and Portico refuses SHA-1 signatures unless office365.allowSha1Requests is on: SAML sign-ins would fail",
			Fix:    "turn on office365.allowSha1Requests (only SHA-1 request signatures from Microsoft's certificates are then accepted), or stop requiring signed requests"})
	}
	if !app.Enabled {
		rep.add(Check{ID: "enabled", Title: "The application is enabled", Status: Warn,
			Detail: "the application is disabled: once federated, every sign-in to Office 365 would be refused",
			Fix:    "enable the application before federating"})
	}
	if len(missing) > 0 {
		rep.add(Check{ID: "settings", Title: "Federation settings are complete", Status: Fail,
			Detail: "missing: " + strings.Join(missing, "; "), Fix: "fill in the Federation tab"})
		return false
	}
	if err := app.CheckMicrosoftEndpoints(s.endpoints); err != nil {
		// Stored before the rule existed, or the server's allow-list
		// changed: say which setting and how to fix it, and call nothing.
		rep.add(Check{ID: "endpoints", Title: "Microsoft endpoints are allowed", Status: Fail, Detail: err.Error(),
			Fix: "clear office365.authorityUrl and office365.graphUrl to use Microsoft's global service, set them to another of Microsoft's clouds, " +
				"or start the server with --m365-allow-endpoint HOST:PORT for an emulator"})
		return false
	}
	rep.add(Check{ID: "settings", Title: "Federation settings are complete", Status: Pass, Detail: "all fields are set"})
	return true
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", c):
			return false
		}
	}
	return true
}

func (s *Service) thumbprint(ctx context.Context, t directory.Tenant, app apps.Application) string {
	keys, err := s.admin.SigningKeys(ctx, t.ID, app.ID)
	if err != nil {
		return "?"
	}
	return keys.Current.ThumbprintSHA1()
}

// tokenCheck explains a failure to get a token, by its AADSTS code
// (learn.microsoft.com entra/identity-platform/reference-error-codes).
func tokenCheck(err error, app apps.Application, thumbprint string) Check {
	c := Check{ID: "token", Title: "Sign in to Microsoft Graph", Status: Fail, Detail: err.Error()}
	var te *graph.TokenError
	if errors.As(err, &te) {
		c.Detail = te.Reason()
	}
	o := app.Office365
	code, _ := graph.AADSTS(err)
	switch code {
	case 700016:
		c.Fix = "no application with client ID " + o.ClientID + " exists in directory " + o.DirectoryID + ": copy the Application (client) ID from the app registration's overview"
	case 90002:
		c.Fix = "no directory " + o.DirectoryID + ": copy the Directory (tenant) ID from the app registration's overview"
	case 700027:
		c.Fix = "upload Portico's signing certificate (thumbprint " + thumbprint + ") to the app registration: Certificates & secrets → Certificates → Upload certificate"
	case 7000218:
		c.Fix = "the app registration has no credential: upload Portico's certificate (thumbprint " + thumbprint + ")"
	case 50126, 50034:
		c.Fix = "check the Microsoft Online administrator's username and password"
	case 50076, 50079:
		c.Fix = "this administrator must use multi-factor authentication, which the password grant cannot do: use Microsoft Graph mode (recommended) or an administrator without MFA"
	case 50053:
		c.Fix = "the administrator account is locked: wait, or use another account"
	default:
		c.Fix = "check the application (client) ID, the directory (tenant) ID and the uploaded certificate, and that Portico can reach Microsoft"
	}
	return c
}

func permissionsCheck(o *apps.Office365Settings, claims graph.TokenClaims) Check {
	have := claims.Roles
	kind := "application permissions"
	if o.EffectiveMode() == apps.ModeMSOnline {
		have, kind = strings.Fields(claims.Scope), "delegated permissions"
	}
	var missing []string
	for _, r := range requiredRoles {
		if !slices.ContainsFunc(have, func(h string) bool { return strings.EqualFold(h, r) }) {
			missing = append(missing, r)
		}
	}
	c := Check{ID: "permissions", Title: "Microsoft Graph permissions are granted", Status: Pass,
		Detail: "granted: " + strings.Join(requiredRoles, ", ")}
	if len(missing) > 0 {
		c.Status, c.Detail = Fail, "missing "+kind+": "+strings.Join(missing, ", ")
		c.Fix = "in the app registration: API permissions → Add a permission → Microsoft Graph → Application permissions → " +
			strings.Join(missing, ", ") + ", then Grant admin consent"
		if o.EffectiveMode() == apps.ModeMSOnline {
			c.Fix = "the administrator lacks " + strings.Join(missing, ", ") + ": use a Global Administrator"
		}
	}
	return c
}

func federatePermissionCheck(o *apps.Office365Settings, claims graph.TokenClaims) Check {
	c := Check{ID: "federate", Title: "Allowed to federate domains", Status: Pass}
	switch {
	case slices.Contains(claims.WIDs, globalAdministrator):
		c.Detail = "holds the Global Administrator role"
	case slices.Contains(claims.Roles, "Domain-InternalFederation.ReadWrite.All"):
		c.Detail = "has Domain-InternalFederation.ReadWrite.All"
	default:
		c.Status = Fail
		c.Detail = "neither the Global Administrator role nor Domain-InternalFederation.ReadWrite.All"
		c.Fix = "Microsoft Entra ID → Roles and administrators → Global Administrator → Add assignments → your app registration"
		if o.EffectiveMode() == apps.ModeMSOnline {
			c.Fix = "use an administrator who holds the Global Administrator role"
		}
	}
	return c
}

func graphFailure(id, title string, err error) Check {
	c := Check{ID: id, Title: title, Status: Fail, Detail: err.Error(),
		Fix: "Microsoft Graph did not answer as expected; try again, and check the request id in Portico's log"}
	if graph.IsAuthorizationDenied(err) {
		c.Fix = "grant the app registration the Microsoft Graph permissions (Domain.ReadWrite.All, Directory.ReadWrite.All) with admin consent"
	}
	if graph.IsThrottled(err) {
		c.Fix = "Microsoft Graph is throttling this application: try again in a few minutes"
	}
	return c
}

// checkDomain: only a verified, non-initial, non-default domain can be
// federated (contract §3).
func (s *Service) checkDomain(rep *Report, d *graph.Domain) {
	if d.IsVerified {
		rep.add(Check{ID: "verified", Title: "The domain is verified", Status: Pass, Detail: d.ID + " is verified"})
	} else {
		rep.add(Check{ID: "verified", Title: "The domain is verified", Status: Fail, Detail: d.ID + " is not verified",
			Fix: "verify " + d.ID + " in the Microsoft 365 admin center (add the TXT record it shows to your DNS)"})
	}
	if d.IsInitial {
		rep.add(Check{ID: "initial", Title: "Not the initial domain", Status: Fail,
			Detail: d.ID + " is the tenant's initial .onmicrosoft.com domain, which can never be federated",
			Fix:    "federate one of your own domains; keep the .onmicrosoft.com administrator as a way in"})
	} else {
		rep.add(Check{ID: "initial", Title: "Not the initial domain", Status: Pass, Detail: d.ID + " is not the initial domain"})
	}
	if d.IsDefault {
		rep.add(Check{ID: "default", Title: "Not the default domain", Status: Fail, Detail: d.ID + " is the tenant's default domain",
			Fix: "make another domain the default (Microsoft 365 admin center → Settings → Domains → Set as default), then verify again"})
	} else {
		rep.add(Check{ID: "default", Title: "Not the default domain", Status: Pass, Detail: d.ID + " is not the default domain"})
	}
}

// rootOf returns the shortest verified domain of the tenant that is domain
// itself or a parent of it.
func rootOf(domain string, all []graph.Domain) string {
	root := domain
	for _, d := range all {
		name := strings.ToLower(d.ID)
		if strings.HasSuffix(domain, "."+name) && len(name) < len(root) && !d.IsInitial {
			root = name
		}
	}
	return root
}

// checkState tells managed, federated here, or federated elsewhere.
func (s *Service) checkState(ctx context.Context, rep *Report, g Graph, d *graph.Domain) {
	root := strings.ToLower(d.ID)
	if !d.Federated() {
		rep.State = StateManaged
		rep.add(Check{ID: "state", Title: "Current federation", Status: Pass, Detail: root + " is managed (cloud passwords): ready to federate"})
		return
	}
	cfgs, err := g.ListFederationConfigurations(ctx, root)
	if err != nil {
		rep.add(graphFailure("state", "Current federation", err))
		return
	}
	if len(cfgs) > 0 && s.ours(rep.app, cfgs[0].IssuerURI) {
		rep.State, rep.current = StateFederatedHere, &cfgs[0]
		detail := root + " is federated to this application"
		if cfgs[0].IssuerURI != rep.Issuer {
			detail += " (its issuer changes to " + rep.Issuer + " when federated again)"
		}
		rep.add(Check{ID: "state", Title: "Current federation", Status: Pass, Detail: detail})
		return
	}
	rep.State = StateFederatedElsewhere
	issuer := "an unknown identity provider"
	if len(cfgs) > 0 {
		issuer = cfgs[0].IssuerURI
		if cfgs[0].DisplayName != "" {
			issuer = cfgs[0].DisplayName + " (" + issuer + ")"
		}
	}
	rep.add(Check{ID: "state", Title: "Current federation", Status: Fail,
		Detail: root + " is federated to " + issuer,
		Fix:    "Portico never takes over a domain federated elsewhere: remove that federation first (in the other identity provider, or with Remove-MgDomainFederationConfiguration), then verify again"})
}

// checkIssuers: Entra requires issuerUri to be unique among the tenant's
// federated domains.
func (s *Service) checkIssuers(ctx context.Context, rep *Report, g Graph, all []graph.Domain) {
	var clash []string
	for _, d := range all {
		name := strings.ToLower(d.ID)
		if !d.Federated() || !d.IsRoot || name == rep.RootDomain {
			continue
		}
		cfgs, err := g.ListFederationConfigurations(ctx, name)
		if err != nil {
			rep.add(graphFailure("issuers", "Issuers are distinct", err))
			return
		}
		for _, c := range cfgs {
			if c.IssuerURI == rep.Issuer {
				clash = append(clash, name)
			}
		}

	}
	if len(clash) > 0 {
		rep.add(Check{ID: "issuers", Title: "Issuers are distinct", Status: Fail,
			Detail: "issuer " + rep.Issuer + " is already used by " + strings.Join(clash, ", "),
			Fix:    "several domains of this tenant are federated to this application: tick \"domain is one of several to be federated\" for each of them, then federate again (each gets its own issuer)"})
		return
	}
	rep.add(Check{ID: "issuers", Title: "Issuers are distinct", Status: Pass, Detail: fmt.Sprintf("issuer %s is used by no other domain", rep.Issuer)})
}
