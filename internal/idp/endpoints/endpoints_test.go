package endpoints

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestURLs(t *testing.T) {
	const pub, slug, app = "https://id.example.com/", "contoso", "0190c7a2-0000-7000-8000-000000000001"
	base := "https://id.example.com/t/contoso/apps/0190c7a2-0000-7000-8000-000000000001"
	for got, want := range map[string]string{
		App(pub, slug, app):                           base,
		IssuerURI(pub, slug, app, "Contoso.COM"):      base + "/issuer/contoso.com",
		WSFed(pub, slug, app):                         base + "/wsfed",
		FederationMetadata(pub, slug, app):            base + "/FederationMetadata/2007-06/FederationMetadata.xml",
		SAML(pub, slug, app):                          base + "/saml",
		SAMLSignOut(pub, slug, app):                   base + "/saml/logout",
		SAMLMetadata(pub, slug, app):                  base + "/saml/metadata",
		WSTrustUsernameMixed(pub, slug, app):          base + "/wstrust/13/usernamemixed",
		WSTrustMEX(pub, slug, app):                    base + "/wstrust/mex",
		App("https://x.example/prefix", "a b", "c/d"): "https://x.example/prefix/t/a%20b/apps/c%2Fd",
	} {
		if got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}

	ws := ForDomain(pub, slug, app, "contoso.com", ProtocolWSFed)
	want := Federation{IssuerURI: base + "/issuer/contoso.com", PassiveSignInURI: base + "/wsfed", SignOutURI: base + "/wsfed",
		ActiveSignInURI: base + "/wstrust/13/usernamemixed", MetadataExchangeURI: base + "/wstrust/mex",
		MetadataURI: base + "/FederationMetadata/2007-06/FederationMetadata.xml?domain=contoso.com"}
	if ws != want {
		t.Errorf("wsFed:\n got %+v\nwant %+v", ws, want)
	}
	sa := ForDomain(pub, slug, app, "contoso.com", ProtocolSAML)
	want = Federation{IssuerURI: base + "/issuer/contoso.com", PassiveSignInURI: base + "/saml", SignOutURI: base + "/saml/logout",
		MetadataURI: base + "/saml/metadata?domain=contoso.com"}
	if sa != want {
		t.Errorf("saml:\n got %+v\nwant %+v", sa, want)
	}
	if f := ForDomain("http://localhost:8080", slug, app, "contoso.com", ProtocolWSFed); f.ActiveSignInURI != "" || f.MetadataExchangeURI != "" {
		t.Errorf("WS-Trust offered over http: %+v", f)
	}
}

// The route patterns serve exactly the URLs the builders make.
func TestRoutesMatchURLs(t *testing.T) {
	const pub, slug, app = "https://id.example.com", "contoso", "app1"
	mux := http.NewServeMux()
	for _, r := range []string{RouteWSFed, RouteWSFedContinue, RouteFederationMetadata, RouteSAML, RouteSAMLContinue, RouteSAMLLogout,
		RouteSAMLMetadata, RouteWSTrustUsernameMix, RouteWSTrustMEX} {
		mux.HandleFunc(r, func(w http.ResponseWriter, req *http.Request) {
			if req.PathValue("tenant") != slug || req.PathValue("app") != app {
				t.Errorf("%s: tenant %q app %q", r, req.PathValue("tenant"), req.PathValue("app"))
			}
			w.Write([]byte(r))
		})
	}
	for u, route := range map[string]string{
		WSFed(pub, slug, app): RouteWSFed, FederationMetadata(pub, slug, app): RouteFederationMetadata, SAML(pub, slug, app): RouteSAML,
		SAMLSignOut(pub, slug, app): RouteSAMLLogout, SAMLMetadata(pub, slug, app): RouteSAMLMetadata,
		WSTrustUsernameMixed(pub, slug, app): RouteWSTrustUsernameMix, WSTrustMEX(pub, slug, app): RouteWSTrustMEX,
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u, nil))
		if rec.Body.String() != route {
			t.Errorf("%s served by %q, want %q", u, rec.Body.String(), route)
		}
	}
}
