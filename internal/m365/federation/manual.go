package federation

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
)

// Field is one recommended setting, named as in Microsoft Graph's
// internalDomainFederation.
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Note  string `json:"note,omitempty"`
}

// Manual is everything an administrator needs to federate a domain by
// hand, when "Federate automatically" is off.
type Manual struct {
	Domain string  `json:"domain"`
	Fields []Field `json:"fields"`
	// Certificate is the current signing certificate, base64 DER on one line
	// (what signingCertificate takes) and PEM.
	CertificateBase64 string `json:"certificateBase64"`
	CertificatePEM    string `json:"certificatePem"`
	NextBase64        string `json:"nextCertificateBase64,omitempty"`
	// GraphRequest is the equivalent Microsoft Graph call.
	GraphMethod string `json:"graphMethod"`
	GraphURL    string `json:"graphUrl"`
	GraphBody   string `json:"graphBody"`
	// PowerShell is the equivalent Microsoft Graph PowerShell command.
	PowerShell string `json:"powershell"`
}

// Manual returns the recommended federation settings of a domain, with the
// Graph request and the Microsoft Graph PowerShell command that apply them
// (learn.microsoft.com graph/api/domain-post-federationconfiguration).
func (s *Service) Manual(ctx context.Context, t directory.Tenant, app apps.Application, domain string) (Manual, error) {
	if _, err := authz.Require(ctx, t.ID, authz.ReadApplications); err != nil {
		return Manual{}, err
	}
	domain = strings.ToLower(strings.TrimSpace(domain))
	f, err := s.Desired(ctx, t, app, domain)
	if err != nil {
		return Manual{}, err
	}
	keys, err := s.admin.SigningKeys(ctx, t.ID, app.ID)
	if err != nil {
		return Manual{}, err
	}
	m := Manual{Domain: domain, CertificateBase64: f.SigningCertificate, CertificatePEM: string(keys.Current.PEM()),
		NextBase64: f.NextSigningCertificate}
	m.Fields = []Field{
		{"displayName", f.DisplayName, "any name; shown to administrators"},
		{"issuerUri", f.IssuerURI, "must be unique among the tenant's federated domains"},
		{"passiveSignInUri", f.PassiveSignInURI, "where browsers are sent to sign in"},
		{"activeSignInUri", f.ActiveSignInURI, "WS-Trust 1.3 endpoint for legacy active clients"},
		{"metadataExchangeUri", f.MetadataExchangeURI, "WS-MetadataExchange document of the active endpoint"},
		{"signOutUri", f.SignOutURI, ""},
		{"signingCertificate", f.SigningCertificate, "base64 of the certificate, one line, no PEM armour; thumbprint " + keys.Current.ThumbprintSHA1()},
		{"preferredAuthenticationProtocol", f.PreferredAuthenticationProtocol, ""},
		{"promptLoginBehavior", f.PromptLoginBehavior, ""},
		{"federatedIdpMfaBehavior", f.FederatedIdpMfaBehavior, ""},
	}
	if f.NextSigningCertificate != "" {
		m.Fields = append(m.Fields, Field{"nextSigningCertificate", f.NextSigningCertificate, "the certificate Portico will sign with after rollover"})
	}
	body := map[string]any{"@odata.type": "#microsoft.graph.internalDomainFederation"}
	b, _ := json.Marshal(f)
	json.Unmarshal(b, &body)
	pretty, _ := json.MarshalIndent(body, "", "  ")
	m.GraphMethod, m.GraphURL, m.GraphBody = "POST", "https://graph.microsoft.com/v1.0/domains/"+domain+"/federationConfiguration", string(pretty)

	var ps strings.Builder
	ps.WriteString("Connect-MgGraph -Scopes \"Domain-InternalFederation.ReadWrite.All\"\n")
	ps.WriteString("$params = @{\n")
	for _, fl := range m.Fields {
		ps.WriteString("  " + fl.Name + " = \"" + psEscape(fl.Value) + "\"\n")
	}
	ps.WriteString("}\n")
	ps.WriteString("New-MgDomainFederationConfiguration -DomainId \"" + psEscape(domain) + "\" -BodyParameter $params\n")
	m.PowerShell = ps.String()
	return m, nil
}

// psEscape escapes a value for a double-quoted PowerShell string.
func psEscape(s string) string {
	r := strings.NewReplacer("`", "``", "\"", "`\"", "$", "`$")
	return r.Replace(s)
}
