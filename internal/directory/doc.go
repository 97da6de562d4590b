// Package directory holds Portico's universal directory model: tenants,
// organizations, users and groups, with the validation rules an
// administrator's input must pass and the rule that forms a user's
// principal name (UPN) for Microsoft 365.
//
// The package is pure: it performs no I/O. Persistence lives in
// internal/storage and orchestration (ids, defaults, writes) in
// internal/admin.
package directory
