// Package graph is Portico's thin Microsoft Graph v1.0 client: only the calls
// of ../shared/M365-CONTRACT.md (organization, domains and their federation
// configuration, users, groups and members, subscribed SKUs, deleted items),
// with typed Go structs that carry Graph's property names.
//
// Tokens come from MSAL Go (github.com/AzureAD/microsoft-authentication-library-for-go):
// a confidential client with the application's signing certificate (client
// credentials, https://learn.microsoft.com/entra/identity-platform/certificate-credentials)
// or, for the legacy "Microsoft Online" mode, a public client with the
// resource owner password grant
// (https://learn.microsoft.com/entra/identity-platform/v2-oauth-ropc). The
// authority is always {login}/{tenantId}, instance discovery is off and
// regional endpoints are never used, so the login and Graph base URLs can point
// at m365sim. Token failures are *TokenError values carrying the AADSTS code.
//
// Requests follow Microsoft's guidance:
//   - every request carries a client-request-id GUID, and the request-id of
//     every failure is logged with log/slog
//     (https://learn.microsoft.com/graph/best-practices-concept#reliability-and-support);
//   - 429 is retried after Retry-After (fractional seconds allowed), 503 after
//     Retry-After or a jittered exponential backoff over a fresh connection,
//     other 5xx and transport errors with jittered exponential backoff when
//     the request is safe to repeat — all within a time budget
//     (https://learn.microsoft.com/graph/throttling, /graph/errors);
//   - collections are read by following @odata.nextLink until it is absent;
//     pages may be empty (https://learn.microsoft.com/graph/paging);
//   - $batch holds at most 20 requests with unique ids; each item is
//     throttled on its own and is retried after its own Retry-After
//     (https://learn.microsoft.com/graph/json-batching);
//   - an object written by this client may read as 404 for a short while
//     (eventual consistency, contract §2): such 404s are retried within a
//     window;
//   - failures are *Error values (Graph's error envelope) with helpers such as
//     IsNotFound, IsObjectConflict, IsThrottled and IsAuthorizationDenied.
package graph
