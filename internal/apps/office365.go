package apps

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/idp/endpoints"
	"github.com/portico-idp/portico/internal/m365/cloud"
	"github.com/portico-idp/portico/internal/secrets"
)

// Domain is one Microsoft 365 domain of an Office 365 application.
type Domain struct {
	Name string `json:"name"`
	// OneOfSeveral is the Federation tab's "domain is one of several to be
	// federated to this organization". Entra needs a distinct issuer per
	// federated domain; like AD FS's SupportMultipleDomain, the box gives
	// the domain an issuer of its own ({app}/issuer/{domain}) instead of the
	// application's single issuer ({app}/issuer). Tick it for every domain
	// when more than one is federated.
	OneOfSeveral bool `json:"oneOfSeveral"`
	// Federated records that Portico federated the domain (read-only; the
	// Federation tab's status).
	Federated   bool       `json:"federated"`
	FederatedAt *time.Time `json:"federatedAt,omitempty"`
}

// UnmarshalJSON also accepts a bare domain name ("contoso.com").
func (d *Domain) UnmarshalJSON(b []byte) error {
	var name string
	if json.Unmarshal(b, &name) == nil {
		*d = Domain{Name: name}
		return nil
	}
	type plain Domain
	var p plain
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*d = Domain(p)
	return nil
}

// Domains builds a domain list from names (tests, the command line).
func Domains(names ...string) []Domain {
	out := make([]Domain, len(names))
	for i, n := range names {
		out[i] = Domain{Name: strings.ToLower(n), OneOfSeveral: len(names) > 1}
	}
	return out
}

// Federation modes of the Office 365 application.
const (
	// ModeGraph federates and synchronizes through Microsoft Graph with an
	// app registration and Portico's certificate (recommended).
	ModeGraph = "graph"
	// ModeMSOnline is the legacy "Microsoft Online" mode: an
	// @….onmicrosoft.com administrator and password (deprecated by Microsoft).
	ModeMSOnline = "msonline"
)

// AzureADPowerShellClientID is the public client the legacy Microsoft
// Online mode signs in as (the well-known "Azure Active Directory
// PowerShell" first-party application), unless another is configured.
const AzureADPowerShellClientID = "1b730954-1685-4b74-9bfd-dac224a7b894"

// Federation holds the Federation tab's settings.
type Federation struct {
	// Mode is "graph" (default) or "msonline".
	Mode string `json:"mode,omitempty"`
	// ClientID and DirectoryID identify the Azure app registration
	// ("Application (client) ID", "Directory (tenant) ID").
	ClientID    string `json:"clientId,omitempty"`
	DirectoryID string `json:"directoryId,omitempty"`
	// MSOnlineUsername is the @….onmicrosoft.com administrator of the
	// Microsoft Online mode; its password is stored sealed.
	MSOnlineUsername string `json:"msOnlineUsername,omitempty"`
	MSOnlinePassword []byte `json:"msOnlinePasswordSealed,omitempty"`
	// MSOnlinePasswordInput carries a new password from the API to the
	// service, which seals it; it is never stored or shown.
	MSOnlinePasswordInput string `json:"msOnlinePassword,omitempty"`
	// MSOnlineClientID is the public client of the password grant
	// (AzureADPowerShellClientID when empty).
	MSOnlineClientID string `json:"msOnlineClientId,omitempty"`
	// UseGraphForSync: in Microsoft Online mode, synchronize through
	// Microsoft Graph with ClientID and DirectoryID.
	UseGraphForSync bool `json:"useGraphForSync,omitempty"`
	// FederateAutomatically lets Portico write the domains' federation
	// configuration; off, it shows the settings to enter by hand. On when
	// unset (Automatic).
	FederateAutomatically *bool `json:"federateAutomatically,omitempty"`
	// Protocol is the domains' preferredAuthenticationProtocol: wsFed
	// (default) or saml.
	Protocol string `json:"protocol,omitempty"`
	// MFABehavior is federatedIdpMfaBehavior: acceptIfMfaDoneByFederatedIdp
	// (default), enforceMfaByFederatedIdp or rejectMfaByFederatedIdp.
	MFABehavior string `json:"federatedIdpMfaBehavior,omitempty"`
	// PromptLoginBehavior is promptLoginBehavior:
	// translateToFreshPasswordAuthentication (default), nativeSupport or
	// disabled.
	PromptLoginBehavior string `json:"promptLoginBehavior,omitempty"`
	// AuthorityURL and GraphURL point at Microsoft's global service (the
	// defaults), at another of Microsoft's clouds (US Government, China),
	// or at an endpoint the server allows (an emulator): see
	// CheckMicrosoftEndpoints.
	AuthorityURL string `json:"authorityUrl,omitempty"`
	GraphURL     string `json:"graphUrl,omitempty"`
}

// Explanations of the behaviours, shown next to the settings.
var (
	MFABehaviors = map[string]string{
		"acceptIfMfaDoneByFederatedIdp": "Microsoft 365 accepts the second factor Portico performed; if Portico did not perform one and Microsoft 365 needs it, Microsoft 365 asks for its own.",
		"enforceMfaByFederatedIdp":      "When Microsoft 365 needs a second factor it sends the user back to Portico to perform it.",
		"rejectMfaByFederatedIdp":       "Microsoft 365 always performs its own second factor and ignores Portico's.",
	}
	PromptLoginBehaviors = map[string]string{
		"translateToFreshPasswordAuthentication": "When an application asks for a fresh sign-in, Microsoft 365 sends wfresh=0 and Portico asks for the password again.",
		"nativeSupport":                          "Microsoft 365 passes prompt=login to Portico as it is; Portico asks for the password again.",
		"disabled":                               "When an application asks for a fresh sign-in, Microsoft 365 sends only wfresh=0 (no wauth, no prompt); Portico asks for the password again.",
	}
)

// Automatic reports whether "Federate automatically" is on (the default).
func (f Federation) Automatic() bool {
	return f.FederateAutomatically == nil || *f.FederateAutomatically
}

// EffectiveMode is the mode, ModeGraph when unset.
func (f Federation) EffectiveMode() string {
	if f.Mode == ModeMSOnline {
		return ModeMSOnline
	}
	return ModeGraph
}

// EffectiveProtocol is the protocol, wsFed when unset.
func (f Federation) EffectiveProtocol() string {
	if f.Protocol == "saml" {
		return "saml"
	}
	return "wsFed"
}

// EffectiveMFABehavior is the MFA behaviour, acceptIfMfaDoneByFederatedIdp
// when unset.
func (f Federation) EffectiveMFABehavior() string {
	if f.MFABehavior == "" {
		return "acceptIfMfaDoneByFederatedIdp"
	}
	return f.MFABehavior
}

// EffectivePromptLogin is the prompt-login behaviour,
// translateToFreshPasswordAuthentication when unset.
func (f Federation) EffectivePromptLogin() string {
	if f.PromptLoginBehavior == "" {
		return "translateToFreshPasswordAuthentication"
	}
	return f.PromptLoginBehavior
}

// MSOnlineClient is the public client of the password grant.
func (f Federation) MSOnlineClient() string {
	if f.MSOnlineClientID != "" {
		return f.MSOnlineClientID
	}
	return AzureADPowerShellClientID
}

// MSOnlinePasswordBinding ties the sealed administrator password to its
// application.
func MSOnlinePasswordBinding(tenantID, appID string) secrets.Binding {
	return secrets.Binding{Table: "applications", Column: "settings.msOnlinePassword", RowID: tenantID + "/" + appID}
}

func (o *Office365Settings) validateFederation(add func(field, msg string)) {
	f := o.Federation
	oneOf := func(field, v string, allowed ...string) {
		if v == "" {
			return
		}
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		add("office365."+field, "must be one of "+strings.Join(allowed, ", "))
	}
	oneOf("mode", f.Mode, ModeGraph, ModeMSOnline)
	oneOf("protocol", f.Protocol, "wsFed", "saml")
	oneOf("federatedIdpMfaBehavior", f.MFABehavior, "acceptIfMfaDoneByFederatedIdp", "enforceMfaByFederatedIdp", "rejectMfaByFederatedIdp")
	oneOf("promptLoginBehavior", f.PromptLoginBehavior, "translateToFreshPasswordAuthentication", "nativeSupport", "disabled")
	if f.MSOnlineUsername != "" && !strings.HasSuffix(strings.ToLower(f.MSOnlineUsername), ".onmicrosoft.com") {
		add("office365.msOnlineUsername", "must be an administrator of the tenant's initial domain, such as admin@contoso.onmicrosoft.com")
	}
	for _, u := range []struct{ field, v string }{{"authorityUrl", f.AuthorityURL}, {"graphUrl", f.GraphURL}} {
		if u.v != "" && !strings.HasPrefix(u.v, "https://") {
			add("office365."+u.field, "must be an https URL")
		}
	}
	seen := map[string]bool{}
	for _, d := range o.Domains {
		n := strings.ToLower(d.Name)
		if seen[n] {
			add("office365.domains", "\""+d.Name+"\" is listed twice")
		}
		seen[n] = true
	}
}

// CheckMicrosoftEndpoints checks that authorityUrl and graphUrl point at
// Microsoft's clouds or at an endpoint the server allows (allow, from
// --m365-allow-endpoint). Portico sends a tenant's token or administrator
// password there, so any other URL would let whoever edits the settings
// make Portico call into its own network. Applications stored before this
// rule are refused when used (the federation service checks again) and by
// Verify Compatibility.
func (a Application) CheckMicrosoftEndpoints(allow cloud.AllowList) error {
	if a.Office365 == nil {
		return nil
	}
	var errs []directory.FieldError
	f := a.Office365.Federation
	if f.AuthorityURL != "" {
		if err := allow.CheckAuthority(f.AuthorityURL); err != nil {
			errs = append(errs, directory.FieldError{Field: "office365.authorityUrl", Message: err.Error()})
		}
	}
	if f.GraphURL != "" {
		if err := allow.CheckGraph(f.GraphURL); err != nil {
			errs = append(errs, directory.FieldError{Field: "office365.graphUrl", Message: err.Error()})
		}
	}
	if len(errs) > 0 {
		return &directory.ValidationError{Errors: errs}
	}
	return nil
}

// DomainNames lists the domain names.
func (o *Office365Settings) DomainNames() []string {
	if o == nil {
		return nil
	}
	out := make([]string, len(o.Domains))
	for i, d := range o.Domains {
		out[i] = strings.ToLower(d.Name)
	}
	return out
}

// FederatedDomains lists the domains Portico federated.
func (o *Office365Settings) FederatedDomains() []string {
	var out []string
	for _, d := range o.Domains {
		if d.Federated {
			out = append(out, strings.ToLower(d.Name))
		}
	}
	return out
}

// SetDomainFederated records a domain's federation status, adding the
// domain when it is not listed.
func (o *Office365Settings) SetDomainFederated(name string, federated bool, at time.Time) {
	name = strings.ToLower(name)
	for i := range o.Domains {
		if strings.EqualFold(o.Domains[i].Name, name) {
			o.Domains[i].Federated = federated
			o.Domains[i].FederatedAt = nil
			if federated {
				o.Domains[i].FederatedAt = &at
			}
			return
		}
	}
	d := Domain{Name: name, Federated: federated}
	if federated {
		d.FederatedAt = &at
	}
	o.Domains = append(o.Domains, d)
}

// RootDomain returns the root of the configured domain upnDomain belongs
// to: the shortest configured domain equal to it or a parent of it. A
// subdomain inherits its root's federation and issuer (M365 contract §3).
// With no configured match the UPN's own domain is used.
func (a Application) RootDomain(upnDomain string) string {
	return a.RootDomainIn(upnDomain, "")
}

// RootDomainIn is RootDomain with a root known from Microsoft 365 (its
// domain list) used when the application lists no parent of upnDomain.
func (a Application) RootDomainIn(upnDomain, known string) string {
	upnDomain = strings.ToLower(upnDomain)
	root := ""
	for _, d := range a.Office365.DomainNames() {
		if (upnDomain == d || strings.HasSuffix(upnDomain, "."+d)) && (root == "" || len(d) < len(root)) {
			root = d
		}
	}
	switch {
	case root != "":
		return root
	case known != "":
		return strings.ToLower(known)
	}
	return upnDomain
}

// Issuer is the token issuer for users of a root domain: the domain's own
// issuer when it is "one of several" (or not listed at all), else the
// application's single issuer.
func (a Application) Issuer(publicURL, tenantSlug, root string) string {
	if a.Office365 != nil {
		for _, d := range a.Office365.Domains {
			if strings.EqualFold(d.Name, root) && !d.OneOfSeveral {
				return endpoints.SingleIssuerURI(publicURL, tenantSlug, a.ID)
			}
		}
	}
	return endpoints.IssuerURI(publicURL, tenantSlug, a.ID, root)
}
