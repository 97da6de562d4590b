// Package apps is the application library: the kinds of application
// Portico can sign users in to (the first is Office 365) and the
// configured instances of them, with who may use them (permission groups),
// how users authenticate (policy) and what they sign with (certificates).
package apps

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/portico-idp/portico/internal/directory"
)

// Kind is an entry of the application library.
type Kind string

// The library.
const (
	KindOffice365 Kind = "office365"
)

// Library describes the kinds an administrator can add.
var Library = []LibraryEntry{
	{Kind: KindOffice365, Name: "Office 365", Description: "Microsoft 365: federated sign-in (WS-Federation, SAML 2.0, WS-Trust) for your domains and directory synchronization through Microsoft Graph.",
		Choices: map[string]map[string]string{
			"office365.federatedIdpMfaBehavior": MFABehaviors,
			"office365.promptLoginBehavior":     PromptLoginBehaviors,
			"office365.mode": {
				ModeGraph:    "Microsoft Graph with an app registration and Portico's certificate (recommended).",
				ModeMSOnline: "Deprecated by Microsoft: an @….onmicrosoft.com administrator and password, which cannot use multi-factor authentication.",
			},
			"office365.protocol": {
				"wsFed": "WS-Federation (the default; what Microsoft 365 has always used with AD FS).",
				"saml":  "SAML 2.0 (Microsoft 365 posts an AuthnRequest; Portico answers with a signed assertion).",
			},
		}},
}

// LibraryEntry is one kind of application in the library.
type LibraryEntry struct {
	Kind        Kind   `json:"kind"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// Choices explains the values of the kind's multiple-choice settings,
	// one sentence each, as the Federation tab shows them.
	Choices map[string]map[string]string `json:"choices,omitempty"`
}

// Application is a configured instance of a library entry in a tenant.
type Application struct {
	ID       string `json:"id"`
	TenantID string `json:"-"`
	Kind     Kind   `json:"kind"`
	Name     string `json:"name"`
	Enabled  bool   `json:"enabled"`
	// PolicyID is the authentication policy sign-ins to this application
	// must satisfy.
	PolicyID string `json:"authenticationPolicyId"`
	// GroupIDs are the permission groups: only their members may sign in
	// (and, for Office 365, are exported).
	GroupIDs []string `json:"permissionGroupIds"`
	// AllowPasswordOnlyActive lets active (WS-Trust) clients, which cannot
	// show a second-factor prompt, sign in with the password alone even when
	// the policy asks for a second factor. Off by default.
	AllowPasswordOnlyActive bool `json:"allowPasswordOnlyActive"`
	// Office365 holds the Office 365 settings (Kind office365).
	Office365 *Office365Settings `json:"office365,omitempty"`
	CreatedAt time.Time          `json:"createdAt"`
	UpdatedAt time.Time          `json:"updatedAt"`
	Version   int64              `json:"-"`
}

// DefaultMicrosoftLoginURL is where Microsoft Entra ID accepts WS-Fed and
// SAML responses (M365 contract §4–5).
const DefaultMicrosoftLoginURL = "https://login.microsoftonline.com/login.srf"

// Office365Settings are the Office 365 application's own settings.
type Office365Settings struct {
	// LoginURL is the only address sign-in responses are ever posted to.
	// Microsoft's by default; an m365sim URL for offline use.
	LoginURL string `json:"loginUrl"`
	// Domains are the Microsoft 365 domains of this application: the
	// managed domain first, then any others to federate. The token issuer
	// is chosen from the root domain of the user's UPN.
	Domains []Domain `json:"domains"`
	Federation
	// RequireSignedRequests refuses SAML AuthnRequests that are not signed
	// by one of RequestSigningCertificates. Set it together with the
	// domain's isSignedAuthenticationRequestRequired (M365 contract §3, §5).
	RequireSignedRequests bool `json:"requireSignedRequests,omitempty"`
	// RequestSigningCertificates are Microsoft Entra's AuthnRequest signing
	// certificates (from its SAML metadata,
	// nexus.microsoftonline-p.com/federationmetadata/saml20/federationmetadata.xml),
	// PEM or base64 DER. When set, a signed request is verified even if
	// signing is not required.
	RequestSigningCertificates []string `json:"requestSigningCertificates,omitempty"`
	// AllowSHA1Requests accepts signed AuthnRequests whose signature uses
	// RSA-SHA1 (and SHA-1 digests), on either binding; off by default,
	// they are refused. Microsoft Entra documents RSA-SHA1 for the
	// requests it signs (how-to-connect-fed-saml-idp), so an application
	// that verifies Entra's signatures needs it on: docs/office365.md.
	AllowSHA1Requests bool `json:"allowSha1Requests,omitempty"`
	// Sync is the Synchronization tab (export to Microsoft 365): sync.go.
	Sync Sync `json:"sync"`
}

// RequestSigningCerts parses RequestSigningCertificates.
func (s *Office365Settings) RequestSigningCerts() ([]*x509.Certificate, error) {
	if s == nil {
		return nil, nil
	}
	out := make([]*x509.Certificate, 0, len(s.RequestSigningCertificates))
	for i, c := range s.RequestSigningCertificates {
		der := []byte(nil)
		if b, _ := pem.Decode([]byte(c)); b != nil {
			der = b.Bytes
		} else {
			var err error
			if der, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(c), "")); err != nil {
				return nil, fmt.Errorf("request signing certificate %d: neither PEM nor base64", i+1)
			}
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("request signing certificate %d: %w", i+1, err)
		}
		out = append(out, cert)
	}
	return out, nil
}

// SettingsJSON encodes the kind-specific settings for storage.
func (a Application) SettingsJSON() []byte {
	b, _ := json.Marshal(a.Office365)
	return b
}

// LoginURL returns the configured Microsoft login URL, or Microsoft's.
func (a Application) LoginURL() string {
	if a.Office365 != nil && a.Office365.LoginURL != "" {
		return a.Office365.LoginURL
	}
	return DefaultMicrosoftLoginURL
}

// Validate checks an application.
func (a Application) Validate() error {
	var errs []directory.FieldError
	add := func(f, m string) { errs = append(errs, directory.FieldError{Field: f, Message: m}) }
	if strings.TrimSpace(a.Name) == "" || len(a.Name) > 128 {
		add("name", "is required (at most 128 characters)")
	}
	if a.Kind != KindOffice365 {
		add("kind", "must be a kind of the application library (office365)")
	}
	if a.Office365 != nil {
		if a.Office365.LoginURL != "" {
			u, err := url.Parse(a.Office365.LoginURL)
			if err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
				add("office365.loginUrl", "must be an https URL without query or fragment (http only for a loopback emulator)")
			}
		}
		for _, d := range a.Office365.Domains {
			if !directory.ValidDomain(strings.ToLower(d.Name)) {
				add("office365.domains", "\""+d.Name+"\" is not a domain name")
			}
		}
		a.Office365.validateFederation(add)
		a.Office365.validateSync(add)
		if _, err := a.Office365.RequestSigningCerts(); err != nil {
			add("office365.requestSigningCertificates", err.Error())
		}
		if a.Office365.RequireSignedRequests && len(a.Office365.RequestSigningCertificates) == 0 {
			add("office365.requestSigningCertificates", "are required when signed requests are required")
		}
	}
	if len(errs) > 0 {
		return &directory.ValidationError{Errors: errs}
	}
	return nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1" || strings.HasPrefix(host, "127.")
}

// SigningKeyRole is the place of a certificate in rollover.
type SigningKeyRole string

// Roles: the current key signs; the next one is published for rollover;
// retired ones are kept for the record.
const (
	RoleCurrent SigningKeyRole = "current"
	RoleNext    SigningKeyRole = "next"
	RoleRetired SigningKeyRole = "retired"
)

// SigningKey is a stored signing certificate of an application; the
// private key is sealed by internal/secrets.
type SigningKey struct {
	ID        string
	TenantID  string
	AppID     string
	Role      SigningKeyRole
	CertDER   []byte
	KeySealed []byte
	CreatedAt time.Time
	NotAfter  time.Time
	Version   int64
}
