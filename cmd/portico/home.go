package main

import (
	"context"

	"github.com/portico-idp/portico/internal/idp/endpoints"
	"github.com/portico-idp/portico/internal/web"
)

// homeSections is the root page's content until the console lands. It
// names the metadata URLs by pattern rather than listing tenants and
// applications: the page is public, and a multi-tenant installation's
// customer list is not. The demo adds its own links (extra).
func homeSections(public string, extra func() []web.Link) func(ctx context.Context) []web.HomeSection {
	return func(ctx context.Context) []web.HomeSection {
		var out []web.HomeSection
		if extra != nil {
			if links := extra(); len(links) > 0 {
				out = append(out, web.HomeSection{Title: "Demo", Links: links})
			}
		}
		return append(out,
			web.HomeSection{Title: "Administration", Links: []web.Link{
				{Title: "API reference (OpenAPI 3.1)", URL: public + "/api/v1/openapi.json", Note: "the admin API under /api/v1, with a bearer token from \"portico token create\""},
				{Title: "Health", URL: public + "/healthz"},
				{Title: "Readiness", URL: public + "/readyz", Note: "the database answers"},
			}},
			web.HomeSection{Title: "Protocol metadata, per application", Links: []web.Link{
				{Title: endpoints.FederationMetadata(public, "TENANT", "APP-ID"), Note: "WS-Federation (\"portico app list --tenant TENANT\" shows the ids)"},
				{Title: endpoints.SAMLMetadata(public, "TENANT", "APP-ID"), Note: "SAML 2.0"},
			}},
		)
	}
}
