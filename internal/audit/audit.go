// Package audit is the model of Portico's audit log: one Event per change
// an administrator, token, operator or job makes, and per sign-in attempt,
// with who, what, where from, and the before and after of the changed
// fields — secrets never included, only whether they changed.
//
// The log is append-only: storage has a method to append and one to read,
// none to change an event, and the database itself refuses UPDATE and any
// DELETE of an event younger than the retention period (see the
// migrations), so neither a bug nor an injected statement can rewrite
// history through Portico.
package audit

import (
	"context"
	"time"

	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/requestid"
)

// Outcome says how an attempt ended.
type Outcome string

// Outcomes.
const (
	Success Outcome = "success"
	Failure Outcome = "failure"
)

// Valid reports whether o is a known outcome.
func (o Outcome) Valid() bool { return o == Success || o == Failure }

// ActorUser is the actor kind of a sign-in: the person signing in (the
// other kinds are authz.Kind values).
const ActorUser = "user"

// Actor is who acted.
type Actor struct {
	// Kind is an authz.Kind ("apiToken", "administrator", "operator",
	// "system") or ActorUser.
	Kind string `json:"kind"`
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
	// Role is the role the actor acted with (empty for users).
	Role string `json:"role,omitempty"`
}

// Object is what was acted on.
type Object struct {
	// Type is "tenant", "organization", "user", "group", "application",
	// "policy", "apiToken", "domain", "auditLog".
	Type string `json:"type,omitempty"`
	ID   string `json:"id,omitempty"`
	// Name is what people know it by (username, group name, the name typed
	// at a failed sign-in).
	Name string `json:"name,omitempty"`
}

// Change is the before and after of one field. A secret field shows only
// Redacted (or null when unset), so the log tells that a password was set
// without holding it.
type Change struct {
	Before any `json:"before"`
	After  any `json:"after"`
}

// Event is one entry of the audit log.
type Event struct {
	// ID is a UUIDv7: ordering by id is ordering by time, which the cursor
	// paging relies on.
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// TenantID is empty for installation-wide events (tokens for all
	// tenants, the retention purge).
	TenantID string `json:"tenantId,omitempty"`
	Actor    Actor  `json:"actor"`
	// Action is "<object>.<verb>": "user.update", "user.password.set",
	// "application.delete", "signin", "token.create", ...
	Action string `json:"action"`
	Object Object `json:"object"`
	// AppID is the application of a sign-in or of an application change.
	AppID   string            `json:"applicationId,omitempty"`
	Changes map[string]Change `json:"changes,omitempty"`
	// Details carries what fits no column: a sign-in's factors and
	// protocol, a federation step's domain.
	Details   map[string]any `json:"details,omitempty"`
	Address   string         `json:"address,omitempty"`
	UserAgent string         `json:"userAgent,omitempty"`
	RequestID string         `json:"requestId,omitempty"`
	Outcome   Outcome        `json:"outcome"`
	// Reason says why an attempt failed ("wrong-password", "locked", ...).
	// It is for administrators only: the person signing in never sees it.
	Reason string `json:"reason,omitempty"`
}

// New starts an event of the call in ctx: the actor, address, user agent
// and request id come from its principal and request id.
func New(ctx context.Context, tenantID, action string, obj Object) Event {
	e := Event{TenantID: tenantID, Action: action, Object: obj, Outcome: Success, RequestID: requestid.From(ctx)}
	if p, ok := authz.From(ctx); ok {
		e.Actor = Actor{Kind: string(p.Kind), ID: p.ID, Name: p.Name, Role: string(p.Role)}
		e.Address, e.UserAgent = p.Address, p.UserAgent
		if p.RequestID != "" {
			e.RequestID = p.RequestID
		}
	}
	return e
}

// Recorder appends events to the log (storage implements it).
type Recorder interface {
	AppendAuditEvent(ctx context.Context, e Event) error
}

// Filter narrows a reading of the log. Empty fields do not filter.
type Filter struct {
	// TenantID limits the events to one tenant. Readers scoped to one
	// tenant always have it set to theirs.
	TenantID string
	// Since (inclusive) and Until (exclusive) bound the time.
	Since, Until time.Time
	// Actor matches the actor's id or name.
	Actor string
	// Action matches exactly, or as a prefix when it ends with "*"
	// ("user.*").
	Action     string
	ObjectType string
	ObjectID   string
	// User matches events about a user: by id, or by the name typed.
	User    string
	Outcome Outcome
	// Oldest lists oldest first (export); the default is newest first.
	Oldest bool
}
