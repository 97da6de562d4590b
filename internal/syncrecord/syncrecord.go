// Package syncrecord is the record of synchronization with Microsoft 365:
// sync links (which Microsoft 365 object a Portico object is exported to)
// and runs (a plan of typed operations, each with its reason, the
// attributes it changes and its result). Storage persists these types;
// internal/m365/sync produces them.
package syncrecord

import "time"

// Kind is the kind of a linked object.
type Kind string

// Kinds of linked objects. Groups come with the group export.
const (
	KindUser Kind = "user"
)

// Link ties a Portico object to a Microsoft 365 object for one application.
// Nothing without a link is ever disabled or deleted by Portico.
type Link struct {
	TenantID string `json:"-"`
	AppID    string `json:"applicationId"`
	Kind     Kind   `json:"kind"`
	// LocalID is the Portico id; RemoteID the Microsoft Graph object id.
	LocalID  string `json:"localId"`
	RemoteID string `json:"remoteId"`
	// CreatedByPortico is set when Portico created the remote object (only
	// those may be deleted); a soft-matched object is only linked.
	CreatedByPortico bool `json:"createdByPortico"`
	// Fingerprint is a hash of the attributes last written (or found equal):
	// when the desired attributes hash the same, nothing is sent.
	Fingerprint string `json:"fingerprint"`
	// LicenseSkuID is the licence Portico assigned, if any; Portico never
	// removes a licence it did not assign.
	LicenseSkuID string `json:"licenseSkuId,omitempty"`
	// DisabledByPortico is set when Portico disabled the account on
	// deprovisioning, so that it re-enables it when the user returns.
	DisabledByPortico bool `json:"disabledByPortico"`
	// LastResult is the outcome of the last operation on the link.
	LastResult string    `json:"lastResult"`
	LastRunID  string    `json:"lastRunId"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// RunState is the life-cycle state of a run.
type RunState string

// Run states. A run is planned, then running, then one of the final states.
const (
	RunPlanned   RunState = "planned"
	RunRunning   RunState = "running"
	RunDone      RunState = "done"
	RunFailed    RunState = "failed"
	RunCancelled RunState = "cancelled"
	// RunStoppedByThreshold: the plan would disable or delete more users
	// than the delete threshold; nothing was applied.
	RunStoppedByThreshold RunState = "stopped-by-threshold"
)

// Final reports whether the run has ended.
func (s RunState) Final() bool {
	return s == RunDone || s == RunFailed || s == RunCancelled || s == RunStoppedByThreshold
}

// Triggers of a run.
const (
	TriggerManual   = "manual"
	TriggerSchedule = "schedule"
	TriggerChange   = "change"
)

// Counts sums a run's operations.
type Counts struct {
	// Planned is the number of operations in the plan; ByKind splits it.
	Planned int            `json:"planned"`
	ByKind  map[string]int `json:"byKind,omitempty"`
	Done    int            `json:"done"`
	Failed  int            `json:"failed"`
	Skipped int            `json:"skipped"`
	// Desired is the number of users in scope; Actual the number read from
	// Microsoft 365; Reported the number of report entries.
	Desired  int `json:"desired"`
	Actual   int `json:"actual"`
	Reported int `json:"reported"`
	// Writes and Throttled count Graph writes sent and 429 answers met.
	Writes    int `json:"writes"`
	Throttled int `json:"throttled"`
}

// Issue is an entry of a run's report: something not exported or not
// done, naming the setting or the user, in plain words.
type Issue struct {
	// Subject is the user (UPN or id) or the setting (office365.sync.x).
	Subject string `json:"subject"`
	// Code classifies it: setting, outOfDomain, conflict, invalidUser,
	// permission, licence, warning.
	Code    string `json:"code"`
	Message string `json:"message"`
}

// MaxIssues is the most report entries a run keeps; Counts.Reported still
// counts them all.
const MaxIssues = 1000

// Run is one synchronization run of an application.
type Run struct {
	ID       string   `json:"id"`
	TenantID string   `json:"-"`
	AppID    string   `json:"applicationId"`
	Trigger  string   `json:"trigger"`
	DryRun   bool     `json:"dryRun"`
	State    RunState `json:"state"`
	// AllowDeletes lets this run disable or delete up to that many users
	// even above the delete threshold.
	AllowDeletes int `json:"allowDeletes,omitempty"`
	// CancelRequested asks a running run to stop after the operations in
	// flight.
	CancelRequested bool    `json:"cancelRequested,omitempty"`
	Counts          Counts  `json:"counts"`
	Message         string  `json:"message"`
	Report          []Issue `json:"report"`
	// PlanMillis is how long planning took.
	PlanMillis int64     `json:"planMillis"`
	CreatedAt  time.Time `json:"createdAt"`
	StartedAt  time.Time `json:"startedAt,omitzero"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	Version    int64     `json:"-"`
}

// AddIssue appends to the report, keeping at most MaxIssues entries.
func (r *Run) AddIssue(i Issue) {
	r.Counts.Reported++
	if len(r.Report) < MaxIssues {
		r.Report = append(r.Report, i)
	}
}

// OpKind is the kind of an operation.
type OpKind string

// Operation kinds of the user export.
const (
	OpCreate OpKind = "createUser"
	OpUpdate OpKind = "updateUser"
	// OpLink links an existing Microsoft 365 user found by the username
	// mapping, setting onPremisesImmutableId when it is empty.
	OpLink          OpKind = "linkUser"
	OpDisable       OpKind = "disableUser"
	OpEnable        OpKind = "enableUser"
	OpDelete        OpKind = "deleteUser"
	OpAssignLicense OpKind = "assignLicense"
)

// Deprovisions reports whether the operation takes a user away (what the
// delete threshold counts).
func (k OpKind) Deprovisions() bool { return k == OpDisable || k == OpDelete }

// OpResult is the outcome of an operation.
type OpResult string

// Operation results.
const (
	OpPending OpResult = "pending"
	OpDone    OpResult = "done"
	OpFailed  OpResult = "failed"
	// OpSkipped: not applied (dry run, staging, cancelled, a prerequisite
	// failed).
	OpSkipped OpResult = "skipped"
)

// Operation is one step of a plan.
type Operation struct {
	RunID string `json:"-"`
	// Seq orders the operations of a run from 1.
	Seq  int    `json:"seq"`
	Kind OpKind `json:"kind"`
	// LocalID is the Portico user id; RemoteID the Graph id (empty for a
	// create until it is done); UPN names the user for people.
	LocalID  string `json:"localId,omitempty"`
	RemoteID string `json:"remoteId,omitempty"`
	UPN      string `json:"userPrincipalName"`
	// Reason says why, in plain words.
	Reason string `json:"reason"`
	// Changes lists the Graph attributes the operation sets.
	Changes []string `json:"changes,omitempty"`
	Result  OpResult `json:"result"`
	// Error is the failure in plain words; RequestID is Graph's request-id
	// of the failed request, for Microsoft support.
	Error     string    `json:"error,omitempty"`
	RequestID string    `json:"requestId,omitempty"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// OpOutcome is the recorded outcome of one operation, with the link it
// creates, changes or removes, written together so that a run killed at
// any point resumes without duplicates.
type OpOutcome struct {
	Seq       int
	Result    OpResult
	RemoteID  string
	Error     string
	RequestID string
	// Link, when set, is stored (inserted or replaced) with the outcome.
	Link *Link
	// DropLink removes the link of (Kind, LocalID) — after a delete.
	DropLink  bool
	Kind      Kind
	LocalID   string
	UpdatedAt time.Time
}
