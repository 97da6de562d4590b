// Package m365sim emulates the parts of Microsoft 365 that Portico talks to:
// the Microsoft Entra ID token endpoint (v2.0, client credentials with a
// certificate assertion and the password grant, with OpenID configuration and
// instance discovery so that MSAL works against it), Entra's interactive
// sign-in for federated domains (WS-Federation and SAML 2.0, the independent
// judge of the tokens Portico issues), and the Microsoft Graph v1.0
// directory API (domains and their federation configuration, organization,
// users, groups and members, subscribed SKUs and licences, deleted items,
// $batch and delta queries) with Microsoft's throttling, switchable faults,
// request statistics and a read-only HTML view of the tenant.
//
// Everything here is written from Microsoft's documentation
// (learn.microsoft.com/graph and learn.microsoft.com/entra) and the Graph
// v1.0 CSDL, and from the shared contract (M365-CONTRACT.md); each handler
// cites the page it implements. It shares no code or types with Portico's
// own Microsoft 365 client (internal/m365), so that a misunderstanding in one
// is not silently agreed to by the other.
//
// # Layout
//
//   - state.go: the state model (Store, Tenant, Domain, Federation, App, SKU,
//     User, Group) behind one RWMutex;
//   - schema.go, bodies.go, render.go, query.go: property tables from the
//     CSDL, body checking, JSON rendering and $filter evaluation (the parser
//     is in the odata sub-package);
//   - entra.go, jwt.go: the token side;
//   - graph*.go: the Graph endpoints, $batch and delta;
//   - seed.go: the seed and state file format and the /_sim/ admin API;
//   - signin.go, signin_wsfed.go, signin_saml.go: the sign-in start page,
//     home-realm discovery, /login.srf, token validation and the sign-in
//     log; XML signatures are verified by the xmldsig sub-package (the sim's
//     own canonicalizer and verifier, not Portico's);
//   - throttle.go, faults.go, stats.go: the Graph middleware for Microsoft's
//     published limits, fault injection and request statistics;
//   - view.go: the tenant view and the sign-in pages;
//   - server.go, tls.go, command.go: the server, its certificate and the
//     `portico m365sim` command.
//
// The Graph handler chain, from the outside in: statistics, throttling,
// faults, the caller's WithGraphMiddleware, Graph. It wraps every Graph
// request, including each item of a $batch.
package m365sim
