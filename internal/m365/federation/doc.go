// Package federation is the Office 365 application's Federation tab: it
// checks that a Microsoft 365 domain can be federated to Portico (Verify
// Compatibility), federates it through Microsoft Graph (automatically,
// idempotently, one configuration per domain with its own issuer), shows
// the settings to enter by hand when automatic federation is off, removes
// the federation (Disconnect), and rolls the signing certificate over
// without interrupting sign-ins.
//
// It never takes over a domain federated to another identity provider and
// never leaves a domain half-federated without saying so: every operation
// returns a report of named checks and of the state the domain is in.
//
// Facts it follows: M365-CONTRACT.md §1–3; learn.microsoft.com
// graph/api/resources/internaldomainfederation,
// domain-post-federationconfiguration, internaldomainfederation-update,
// internaldomainfederation-delete.
package federation
