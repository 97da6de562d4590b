package api

import (
	"errors"
	"net/http"
	"strings"

	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	m365sync "github.com/portico-idp/portico/internal/m365/sync"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/syncrecord"
)

// The Synchronization tab's runs: start, list, get with progress, list the
// plan's operations, cancel. Handlers only decode and encode; the rules
// live in internal/m365/sync.

var errNoSync = errors.New("synchronization service not configured")

// syncRoutes are the synchronization operations under an application.
func (a *API) syncRoutes(t string) []Route {
	runs := t + "/applications/{id}/sync/runs"
	return []Route{
		inTenant("GET", runs, authz.ReadApplications, a.listSyncRuns),
		inTenant("POST", runs, authz.ManageApplications, a.startSyncRun),
		inTenant("GET", runs+"/{runId}", authz.ReadApplications, a.getSyncRun),
		inTenant("GET", runs+"/{runId}/operations", authz.ReadApplications, a.listSyncOperations),
		inTenant("POST", runs+"/{runId}/cancel", authz.ManageApplications, a.cancelSyncRun),
	}
}

// syncProblem maps the engine's errors to problems.
func syncProblem(err error) error {
	switch {
	case errors.Is(err, m365sync.ErrRunInProgress):
		return newProblem(http.StatusConflict, "sync-in-progress", "Run in progress", err.Error()+": wait for it to finish or cancel it")
	case errors.Is(err, m365sync.ErrExportDisabled):
		return fieldProblem(http.StatusConflict, "sync-disabled", "Export is off", "office365.sync.exportEnabled", "is false: turn it on, or start a dry run")
	case errors.Is(err, m365sync.ErrNotOffice365):
		return newProblem(http.StatusConflict, "not-office365", "Not an Office 365 application", err.Error())
	case errors.Is(err, m365sync.ErrRunFinished):
		return newProblem(http.StatusConflict, "sync-finished", "Run finished", err.Error())
	}
	return err
}

func (a *API) syncReady(w http.ResponseWriter, r *http.Request) bool {
	if a.sync == nil {
		writeProblem(w, r, a.log, errNoSync)
		return false
	}
	return true
}

// syncRun reads the run named in the path and checks that it belongs to
// the application in the path.
func (a *API) syncRun(w http.ResponseWriter, r *http.Request, t directory.Tenant) (syncrecord.Run, bool) {
	run, err := a.sync.GetRun(r.Context(), t.ID, r.PathValue("runId"))
	if err == nil && run.AppID != r.PathValue("id") {
		err = storage.ErrNotFound
	}
	if err != nil {
		writeProblem(w, r, a.log, syncProblem(err))
		return run, false
	}
	return run, true
}

func (a *API) startSyncRun(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	if !a.syncReady(w, r) {
		return
	}
	var in struct {
		DryRun       bool `json:"dryRun"`
		AllowDeletes int  `json:"allowDeletes"`
	}
	b, err := readBody(w, r, maxBody)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		err = decodeStrict(b, &in)
	}
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	run, err := a.sync.Start(r.Context(), t.ID, r.PathValue("id"), m365sync.RunOptions{DryRun: in.DryRun, AllowDeletes: in.AllowDeletes})
	if err != nil {
		writeProblem(w, r, a.log, syncProblem(err))
		return
	}
	w.Header().Set("Location", "/api/v1/tenants/"+t.Slug+"/applications/"+run.AppID+"/sync/runs/"+run.ID)
	writeObject(w, http.StatusAccepted, run, run.Version)
}

func (a *API) listSyncRuns(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	if !a.syncReady(w, r) {
		return
	}
	_, p, err := query(r)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	items, next, err := a.sync.ListRuns(r.Context(), t.ID, r.PathValue("id"), p)
	if err != nil {
		writeProblem(w, r, a.log, syncProblem(err))
		return
	}
	writeList(w, items, next)
}

func (a *API) getSyncRun(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	if !a.syncReady(w, r) {
		return
	}
	if run, ok := a.syncRun(w, r, t); ok {
		writeObject(w, http.StatusOK, run, run.Version)
	}
}

func (a *API) listSyncOperations(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	if !a.syncReady(w, r) {
		return
	}
	q, p, err := query(r, "result", "kind")
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	f := storage.OperationFilter{Result: syncrecord.OpResult(q["result"]), Kind: syncrecord.OpKind(q["kind"])}
	switch f.Result {
	case "", syncrecord.OpPending, syncrecord.OpDone, syncrecord.OpFailed, syncrecord.OpSkipped:
	default:
		writeProblem(w, r, a.log, fieldProblem(http.StatusBadRequest, "bad-request", "Bad request", "result", "must be one of pending, done, failed, skipped"))
		return
	}
	run, ok := a.syncRun(w, r, t)
	if !ok {
		return
	}
	items, next, err := a.sync.ListOperations(r.Context(), t.ID, run.ID, f, p)
	if err != nil {
		writeProblem(w, r, a.log, syncProblem(err))
		return
	}
	writeList(w, items, next)
}

func (a *API) cancelSyncRun(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	if !a.syncReady(w, r) {
		return
	}
	run, ok := a.syncRun(w, r, t)
	if !ok {
		return
	}
	run, err := a.sync.Cancel(r.Context(), t.ID, run.ID)
	if err != nil {
		writeProblem(w, r, a.log, syncProblem(err))
		return
	}
	writeObject(w, http.StatusAccepted, run, run.Version)
}
