package storage

import (
	"context"

	"github.com/portico-idp/portico/internal/syncrecord"
)

// OperationFilter narrows ListSyncOperations. Empty fields do not filter.
type OperationFilter struct {
	Result syncrecord.OpResult
	Kind   syncrecord.OpKind
}

// SyncStorage persists synchronization with Microsoft 365: sync links and
// runs with their operations (internal/syncrecord).
type SyncStorage interface {
	// ListSyncLinks lists an application's links of one kind in local id
	// order, a page at a time.
	ListSyncLinks(ctx context.Context, tenantID, appID string, kind syncrecord.Kind, p Page) ([]syncrecord.Link, string, error)
	// GetSyncLink reads one link; ErrNotFound when the object has none.
	GetSyncLink(ctx context.Context, tenantID, appID string, kind syncrecord.Kind, localID string) (syncrecord.Link, error)
	// PutSyncLink inserts or replaces a link.
	PutSyncLink(ctx context.Context, l syncrecord.Link) error

	// CreateSyncRun stores a new run (its operations come with
	// AddSyncOperations).
	CreateSyncRun(ctx context.Context, r syncrecord.Run) error
	GetSyncRun(ctx context.Context, tenantID, id string) (syncrecord.Run, error)
	// ListSyncRuns lists an application's runs, newest first.
	ListSyncRuns(ctx context.Context, tenantID, appID string, p Page) ([]syncrecord.Run, string, error)
	// UpdateSyncRun compare-and-swaps a run.
	UpdateSyncRun(ctx context.Context, tenantID, id string, fn func(syncrecord.Run) (syncrecord.Run, error)) (syncrecord.Run, error)
	// AddSyncOperations appends operations to a run's plan in one
	// transaction.
	AddSyncOperations(ctx context.Context, tenantID, runID string, ops []syncrecord.Operation) error
	// ListSyncOperations lists a run's operations in plan order.
	ListSyncOperations(ctx context.Context, tenantID, runID string, f OperationFilter, p Page) ([]syncrecord.Operation, string, error)
	// RecordSyncOutcomes stores operation results together with the links
	// they create, change or drop, in one transaction: an operation that
	// succeeded in Microsoft 365 is never recorded without its link.
	RecordSyncOutcomes(ctx context.Context, tenantID, appID, runID string, outs []syncrecord.OpOutcome) error
}
