// Package m365sim emulates the parts of Microsoft 365 that Portico talks to:
// the Microsoft Entra ID token endpoint (v2.0, client credentials with a
// certificate assertion and the password grant, with OpenID configuration and
// instance discovery so that MSAL works against it) and the Microsoft Graph
// v1.0 directory API (domains and their federation configuration,
// organization, users, groups and members, subscribed SKUs and licences,
// deleted items, $batch and delta queries).
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
//   - server.go, tls.go, command.go: the server, its certificate and the
//     `portico m365sim` command.
//
// Middleware such as throttling or fault injection plugs in with
// WithGraphMiddleware: it wraps every Graph request, including each item of
// a $batch.
package m365sim
