// Package endpoints builds the public URLs of an application's sign-in
// protocol endpoints — the values an administrator (or the federation code)
// registers in Microsoft Entra ID as a domain's internalDomainFederation
// (M365-CONTRACT.md §3: issuerUri, passiveSignInUri, activeSignInUri,
// metadataExchangeUri, signOutUri) — and the routes the protocol handlers
// serve them on. It is the one place that knows the URL layout, so that
// what is registered in Microsoft 365 and what Portico serves cannot drift.
//
// Layout, under {publicURL}/t/{tenant}/apps/{app}:
//
//	/issuer/{rootDomain}                          issuer URI (an identifier, not served)
//	/wsfed                                        WS-Federation passive requestor: sign-in and sign-out (WS-Federation 1.2 §13)
//	/FederationMetadata/2007-06/FederationMetadata.xml  WS-Federation metadata (WS-Federation 1.2 §3.1)
//	/saml                                         SAML 2.0 SSO service, HTTP-Redirect and HTTP-POST (SAML bindings §3.4, §3.5)
//	/saml/logout                                  SAML sign-out (Entra sends its LogoutRequest by Redirect)
//	/saml/metadata                                SAML 2.0 IdP metadata (SAML metadata §2.4.3)
//	/wstrust/13/usernamemixed                     WS-Trust 1.3 usernamemixed (active clients)
//	/wstrust/mex                                  WS-MetadataExchange document advertising usernamemixed
package endpoints

import (
	"net/url"
	"strings"
)

// Route patterns (net/http.ServeMux syntax) of the protocol endpoints.
const (
	RouteWSFed              = "/t/{tenant}/apps/{app}/wsfed"
	RouteWSFedContinue      = "/t/{tenant}/apps/{app}/wsfed/continue"
	RouteFederationMetadata = "/t/{tenant}/apps/{app}/FederationMetadata/2007-06/FederationMetadata.xml"
	RouteSAML               = "/t/{tenant}/apps/{app}/saml"
	RouteSAMLContinue       = "/t/{tenant}/apps/{app}/saml/continue"
	RouteSAMLLogout         = "/t/{tenant}/apps/{app}/saml/logout"
	RouteSAMLMetadata       = "/t/{tenant}/apps/{app}/saml/metadata"
	RouteWSTrustUsernameMix = "/t/{tenant}/apps/{app}/wstrust/13/usernamemixed"
	RouteWSTrustMEX         = "/t/{tenant}/apps/{app}/wstrust/mex"
)

// App returns the base URL of an application's endpoints:
// {publicURL}/t/{tenant}/apps/{app}. publicURL is Portico's external base
// URL (scheme, host, optional path prefix); a trailing slash is ignored.
func App(publicURL, tenantSlug, appID string) string {
	return strings.TrimRight(publicURL, "/") + "/t/" + url.PathEscape(tenantSlug) + "/apps/" + url.PathEscape(appID)
}

// IssuerURI is the token issuer (and metadata entity id) for the users of
// one root domain: {app}/issuer/{rootDomain}. Entra requires a distinct
// issuerUri per federated root domain and picks the trust by it; a
// subdomain uses its root's issuer (M365-CONTRACT.md §3; the layout is our
// choice). rootDomain is lower-cased.
func IssuerURI(publicURL, tenantSlug, appID, rootDomain string) string {
	return SingleIssuerURI(publicURL, tenantSlug, appID) + "/" + url.PathEscape(strings.ToLower(rootDomain))
}

// SingleIssuerURI is the application's one issuer, {app}/issuer, used for
// a domain that is not "one of several" federated to the application (as
// AD FS uses one issuer unless told -SupportMultipleDomain).
func SingleIssuerURI(publicURL, tenantSlug, appID string) string {
	return App(publicURL, tenantSlug, appID) + "/issuer"
}

// WSFed is the WS-Federation passive requestor endpoint (WS-Federation 1.2 §13):
// wa=wsignin1.0 signs in, wa=wsignout1.0 signs out. It is both the
// passiveSignInUri and the signOutUri of a wsFed domain.
func WSFed(publicURL, tenantSlug, appID string) string {
	return App(publicURL, tenantSlug, appID) + "/wsfed"
}

// FederationMetadata is the WS-Federation metadata document URL. Without a
// query it describes the first configured domain's issuer; ?domain=NAME
// selects another root domain's.
func FederationMetadata(publicURL, tenantSlug, appID string) string {
	return App(publicURL, tenantSlug, appID) + "/FederationMetadata/2007-06/FederationMetadata.xml"
}

// SAML is the SAML 2.0 single sign-on service (HTTP-Redirect and HTTP-POST
// bindings), the passiveSignInUri of a saml domain, and the Destination an
// AuthnRequest must name when it names one (SAML bindings §3.4.5.2).
func SAML(publicURL, tenantSlug, appID string) string {
	return App(publicURL, tenantSlug, appID) + "/saml"
}

// SAMLSignOut is the signOutUri of a saml domain.
func SAMLSignOut(publicURL, tenantSlug, appID string) string {
	return App(publicURL, tenantSlug, appID) + "/saml/logout"
}

// SAMLMetadata is the SAML 2.0 IdP metadata URL (?domain=NAME as for
// FederationMetadata).
func SAMLMetadata(publicURL, tenantSlug, appID string) string {
	return App(publicURL, tenantSlug, appID) + "/saml/metadata"
}

// WSTrustUsernameMixed is the WS-Trust 1.3 usernamemixed endpoint, the
// activeSignInUri (M365-CONTRACT.md §6).
func WSTrustUsernameMixed(publicURL, tenantSlug, appID string) string {
	return App(publicURL, tenantSlug, appID) + "/wstrust/13/usernamemixed"
}

// WSTrustMEX is the WS-MetadataExchange document, the metadataExchangeUri
// (M365-CONTRACT.md §6).
func WSTrustMEX(publicURL, tenantSlug, appID string) string {
	return App(publicURL, tenantSlug, appID) + "/wstrust/mex"
}

// Protocol is a domain's preferredAuthenticationProtocol.
type Protocol string

// The protocols Entra can use with a federated domain (M365-CONTRACT.md §3).
const (
	ProtocolWSFed Protocol = "wsFed"
	ProtocolSAML  Protocol = "saml"
)

// Federation holds the URLs of one federated root domain, named as the
// properties of Microsoft Graph's internalDomainFederation.
type Federation struct {
	IssuerURI           string
	PassiveSignInURI    string
	ActiveSignInURI     string
	MetadataExchangeURI string
	SignOutURI          string
	// MetadataURI is the protocol's metadata document for this issuer (not
	// an internalDomainFederation property; for administrators).
	MetadataURI string
}

// ForDomain returns the URLs to register for rootDomain with protocol p.
// The WS-Trust (active) endpoints go with wsFed only: for a saml domain
// Entra takes activeSignInUri to be a SAML ECP (PAOS) endpoint, which
// Portico does not serve (how-to-connect-fed-saml-idp). They are also left
// empty over plain http, where the usernamemixed policy (transport
// security) cannot hold; the contract says to leave them empty when not
// served (M365-CONTRACT.md §6).
func ForDomain(publicURL, tenantSlug, appID, rootDomain string, p Protocol) Federation {
	f := Federation{IssuerURI: IssuerURI(publicURL, tenantSlug, appID, rootDomain)}
	q := "?domain=" + url.QueryEscape(strings.ToLower(rootDomain))
	switch p {
	case ProtocolSAML:
		f.PassiveSignInURI = SAML(publicURL, tenantSlug, appID)
		f.SignOutURI = SAMLSignOut(publicURL, tenantSlug, appID)
		f.MetadataURI = SAMLMetadata(publicURL, tenantSlug, appID) + q
	default:
		f.PassiveSignInURI = WSFed(publicURL, tenantSlug, appID)
		f.SignOutURI = f.PassiveSignInURI
		f.MetadataURI = FederationMetadata(publicURL, tenantSlug, appID) + q
	}
	if p != ProtocolSAML && strings.HasPrefix(publicURL, "https://") {
		f.ActiveSignInURI = WSTrustUsernameMixed(publicURL, tenantSlug, appID)
		f.MetadataExchangeURI = WSTrustMEX(publicURL, tenantSlug, appID)
	}
	return f
}
