package sync

import (
	"context"
	"errors"
	"fmt"
	"github.com/portico-idp/portico/internal/authz"
	"log/slog"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/m365/federation"
	"github.com/portico-idp/portico/internal/m365/graph"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/syncrecord"
)

// Errors of the service; the API maps them to problems.
var (
	// ErrRunInProgress: an application runs one synchronization at a time.
	ErrRunInProgress = errors.New("a synchronization run of this application is already in progress")
	// ErrExportDisabled: a run that would write needs the export enabled.
	ErrExportDisabled = errors.New("export to Microsoft 365 is off: turn on office365.sync.exportEnabled, or start a dry run")
	// ErrNotOffice365: synchronization applies to Office 365 applications.
	ErrNotOffice365 = errors.New("synchronization applies to Office 365 applications")
	// ErrRunFinished: a finished run cannot be cancelled.
	ErrRunFinished = errors.New("the run has already finished")
)

// Connector opens the Graph connection of an application's run; observe
// sees every retry (throttling counts). It returns warnings for the run
// report.
type Connector func(ctx context.Context, t directory.Tenant, app apps.Application, observe func(graph.Retry)) (Graph, []string, error)

// FederationConnector connects as the Federation tab does, in both modes
// (federation.Service.SyncGraph).
func FederationConnector(f *federation.Service) Connector {
	return func(ctx context.Context, t directory.Tenant, app apps.Application, observe func(graph.Retry)) (Graph, []string, error) {
		// A large export meets throttling for minutes: let each request
		// wait out Retry-After longer than interactive calls do.
		c, warn, err := f.SyncGraph(ctx, t, app, graph.WithRetryObserver(observe), graph.WithMaxAttempts(30), graph.WithRetryBudget(10*time.Minute))
		if err != nil {
			return nil, warn, err
		}
		return c, warn, nil
	}
}

// RunOptions start a run.
type RunOptions struct {
	// DryRun plans and records the plan but writes nothing to Microsoft 365.
	DryRun bool
	// AllowDeletes lets this run disable or delete up to that many users
	// even when it is more than the delete threshold.
	AllowDeletes int
	// Trigger is manual (default), schedule or change.
	Trigger string
}

// Service runs synchronization of Office 365 applications and keeps their
// record. Every method takes the context first, so that a check of the
// caller's role can be added in one place.
type Service struct {
	store    storage.Storage
	connect  Connector
	log      *slog.Logger
	now      func() time.Time
	inFlight int
	// onRecorded, when set, sees the progress of every run (tests).
	onRecorded func(runID string, done, failed int)

	mu     gosync.Mutex
	active map[string]*activeRun // by tenant/app
	wg     gosync.WaitGroup
}

type activeRun struct {
	runID  string
	cancel context.CancelFunc
}

// Option configures a Service.
type Option func(*Service)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithConcurrency sets how many $batch requests are in flight at once
// (default 4).
func WithConcurrency(n int) Option { return func(s *Service) { s.inFlight = max(1, n) } }

// WithProgress sets a function called after every recorded batch of
// outcomes (tests cancel runs at chosen points with it).
func WithProgress(fn func(runID string, done, failed int)) Option {
	return func(s *Service) { s.onRecorded = fn }
}

// New returns the service.
func New(store storage.Storage, connect Connector, opts ...Option) *Service {
	s := &Service{store: store, connect: connect, log: slog.New(slog.DiscardHandler), now: time.Now, inFlight: 4,
		active: map[string]*activeRun{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

func (s *Service) stamp() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// app loads an Office 365 application and its tenant.
func (s *Service) app(ctx context.Context, tenantID, appID string) (directory.Tenant, apps.Application, error) {
	t, err := s.store.GetTenant(ctx, tenantID)
	if err != nil {
		return t, apps.Application{}, err
	}
	app, err := s.store.GetApplication(ctx, tenantID, appID)
	if err != nil {
		return t, app, err
	}
	if app.Kind != apps.KindOffice365 || app.Office365 == nil {
		return t, app, ErrNotOffice365
	}
	return t, app, nil
}

// Start begins a run in the background of the server process and returns
// it in state planned. One run at a time per application.
func (s *Service) Start(ctx context.Context, tenantID, appID string, o RunOptions) (syncrecord.Run, error) {
	run, release, err := s.begin(ctx, tenantID, appID, o)
	if err != nil {
		return run, err
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.setCancel(tenantID, appID, cancel)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer release()
		defer cancel()
		if _, err := s.execute(bg, run, o); err != nil {
			s.log.ErrorContext(bg, "synchronization run failed", "run", run.ID, "app", appID, "err", err)
		}
	}()
	return run, nil
}

// Run performs a run and returns it finished (the command line's --wait,
// tests). A cancelled ctx cancels the run.
func (s *Service) Run(ctx context.Context, tenantID, appID string, o RunOptions) (syncrecord.Run, error) {
	run, release, err := s.begin(ctx, tenantID, appID, o)
	if err != nil {
		return run, err
	}
	defer release()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.setCancel(tenantID, appID, cancel)
	return s.execute(ctx, run, o)
}

// Wait waits for the background runs to end (server shutdown, tests).
func (s *Service) Wait() { s.wg.Wait() }

func (s *Service) begin(ctx context.Context, tenantID, appID string, o RunOptions) (syncrecord.Run, func(), error) {
	// Start and Run: a run writes to Microsoft 365 (or plans to).
	if _, err := authz.Require(ctx, tenantID, authz.ManageApplications); err != nil {
		return syncrecord.Run{}, nil, err
	}
	_, app, err := s.app(ctx, tenantID, appID)
	if err != nil {
		return syncrecord.Run{}, nil, err
	}
	if !o.DryRun && !app.Office365.Sync.ExportEnabled {
		return syncrecord.Run{}, nil, ErrExportDisabled
	}
	if o.AllowDeletes < 0 {
		return syncrecord.Run{}, nil, directory.Invalid("allowDeletes", "must be 0 or more")
	}
	if o.Trigger == "" {
		o.Trigger = syncrecord.TriggerManual
	}
	key := tenantID + "/" + appID
	s.mu.Lock()
	if a := s.active[key]; a != nil {
		s.mu.Unlock()
		return syncrecord.Run{}, nil, fmt.Errorf("%w (run %s)", ErrRunInProgress, a.runID)
	}
	run := syncrecord.Run{ID: uuid.Must(uuid.NewV7()).String(), TenantID: tenantID, AppID: appID, Trigger: o.Trigger,
		DryRun: o.DryRun || app.Office365.Sync.Staging, State: syncrecord.RunPlanned, AllowDeletes: o.AllowDeletes,
		CreatedAt: s.stamp(), Report: []syncrecord.Issue{}}
	s.active[key] = &activeRun{runID: run.ID}
	s.mu.Unlock()
	release := func() {
		s.mu.Lock()
		delete(s.active, key)
		s.mu.Unlock()
	}
	if err := s.store.CreateSyncRun(ctx, run); err != nil {
		release()
		return run, nil, err
	}
	run.Version = 1
	return run, release, nil
}

func (s *Service) setCancel(tenantID, appID string, cancel context.CancelFunc) {
	s.mu.Lock()
	if a := s.active[tenantID+"/"+appID]; a != nil {
		a.cancel = cancel
	}
	s.mu.Unlock()
}

// update changes the stored run, retrying when another writer (a cancel)
// got there first; fn must change only what the engine owns.
func (s *Service) update(ctx context.Context, run syncrecord.Run, fn func(*syncrecord.Run)) (syncrecord.Run, error) {
	ctx = context.WithoutCancel(ctx)
	var err error
	for range 5 {
		var out syncrecord.Run
		out, err = s.store.UpdateSyncRun(ctx, run.TenantID, run.ID, func(r syncrecord.Run) (syncrecord.Run, error) {
			fn(&r)
			return r, nil
		})
		if err == nil {
			return out, nil
		}
		if !errors.Is(err, storage.ErrConflict) {
			break
		}
	}
	return run, err
}

// execute is the pipeline: desired → actual → plan → apply → record.
func (s *Service) execute(ctx context.Context, run syncrecord.Run, o RunOptions) (syncrecord.Run, error) {
	// A cancel recorded by another node (or by a request this process did
	// not start) is seen when progress is written, about once a second.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := s.now()
	var report []syncrecord.Issue
	counts := syncrecord.Counts{}
	fail := func(msg string, err error) (syncrecord.Run, error) {
		if err != nil && !errors.Is(err, context.Canceled) {
			msg += ": " + err.Error()
		}
		state := syncrecord.RunFailed
		if ctx.Err() != nil {
			state, msg = syncrecord.RunCancelled, "cancelled before anything was applied"
		}
		out, uerr := s.update(ctx, run, func(r *syncrecord.Run) {
			r.State, r.Message, r.FinishedAt = state, msg, s.stamp()
			for _, i := range report {
				r.AddIssue(i)
			}
			r.Counts.Reported = max(r.Counts.Reported, len(report))
		})
		return out, errors.Join(err, uerr)
	}
	run, err := s.update(ctx, run, func(r *syncrecord.Run) { r.State, r.StartedAt = syncrecord.RunRunning, s.stamp() })
	if err != nil {
		return run, err
	}
	t, app, err := s.app(ctx, run.TenantID, run.AppID)
	if err != nil {
		return fail("the application could not be read", err)
	}
	set := app.Office365.Sync
	var throttled atomic.Int64
	hold := &pacer{now: s.now}
	g, warnings, err := s.connect(ctx, t, app, func(r graph.Retry) {
		if r.Status == 429 {
			throttled.Add(1)
			hold.hold(r.Wait)
		}
	})
	for _, w := range warnings {
		report = append(report, syncrecord.Issue{Subject: "office365.mode", Code: "warning", Message: w})
	}
	if err != nil {
		return fail("could not connect to Microsoft 365", err)
	}
	if tok, err := g.Token(ctx); err != nil {
		return fail("could not sign in to Microsoft 365 (office365.clientId, office365.directoryId and the app registration's certificate)", err)
	} else if c, err := tok.Claims(); err == nil && len(c.Roles) > 0 &&
		!slices.Contains(c.Roles, "User.ReadWrite.All") && !slices.Contains(c.Roles, "Directory.ReadWrite.All") {
		report = append(report, syncrecord.Issue{Subject: "office365.clientId", Code: "permission",
			Message: "the app registration has no User.ReadWrite.All application permission (it has " + strings.Join(c.Roles, ", ") + "): Microsoft 365 will refuse every change; grant it with admin consent in the Microsoft Entra admin center"})
	}

	desired, err := DesiredState(ctx, s.store, run.TenantID, app)
	if err != nil {
		return fail("could not read the directory", err)
	}
	held := map[string]bool{}
	report = append(report, desired.Issues...)
	links, err := s.links(ctx, run.TenantID, run.AppID)
	if err != nil {
		return fail("could not read the sync links", err)
	}
	linked := map[string]bool{}
	for _, l := range links {
		if l.RemoteID != "" {
			linked[l.RemoteID] = true
		}
	}
	// Users in scope that are not exportable keep their links untouched.
	if err := s.heldUsers(ctx, run.TenantID, app, desired, held); err != nil {
		return fail("could not read the directory", err)
	}
	actual, err := ActualState(ctx, g, app.Office365.DomainNames(), linked)
	if err != nil {
		if graph.IsAuthorizationDenied(err) {
			return fail("Microsoft 365 refused to list users: the app registration (office365.clientId) needs the User.ReadWrite.All application permission with admin consent", err)
		}
		return fail("could not read Microsoft 365", err)
	}
	plan := Build(PlanInput{Settings: set, Desired: desired, Actual: actual, Links: links, Held: held})
	report = append(report, plan.Issues...)
	counts.Desired, counts.Actual, counts.Planned, counts.ByKind = len(desired.Users), len(actual.Users), len(plan.Ops), plan.Counts()
	planMillis := s.now().Sub(start).Milliseconds()

	limit := max(set.Threshold(), run.AllowDeletes)
	stopped := !run.DryRun && plan.Deprovisions > limit
	skipWhy := ""
	switch {
	case run.DryRun && set.Staging:
		skipWhy = "staging mode (office365.sync.staging): planned only"
	case run.DryRun:
		skipWhy = "dry run: planned only"
	case stopped:
		skipWhy = "not applied: the run stopped at the delete threshold"
	}
	ops := make([]syncrecord.Operation, len(plan.Ops))
	for i, op := range plan.Ops {
		ops[i] = op.Operation
		ops[i].UpdatedAt = s.stamp()
		if skipWhy != "" {
			ops[i].Result, ops[i].Error = syncrecord.OpSkipped, skipWhy
		}
	}
	for i := 0; i < len(ops); i += 500 {
		if err := s.store.AddSyncOperations(context.WithoutCancel(ctx), run.TenantID, run.ID, ops[i:min(i+500, len(ops))]); err != nil {
			return fail("could not record the plan", err)
		}
	}
	finish := func(state syncrecord.RunState, msg string, c syncrecord.Counts) (syncrecord.Run, error) {
		return s.update(ctx, run, func(r *syncrecord.Run) {
			r.State, r.Message, r.Counts, r.PlanMillis, r.FinishedAt = state, msg, c, planMillis, s.stamp()
			r.Report = nil
			for _, i := range report {
				r.AddIssue(i)
			}
		})
	}
	if skipWhy != "" {
		counts.Skipped = len(ops)
		msg := fmt.Sprintf("%s: %d operations; nothing was changed in Microsoft 365", strings.Split(skipWhy, ":")[0], len(ops))
		state := syncrecord.RunDone
		if stopped {
			state = syncrecord.RunStoppedByThreshold
			msg = fmt.Sprintf("stopped before changing anything: this run would disable or delete %d users, more than the delete threshold of %d (office365.sync.deleteThreshold). Check the plan; to go on, start the run again with allowDeletes %d, or raise the threshold", plan.Deprovisions, set.Threshold(), plan.Deprovisions)
		}
		return finish(state, msg, counts)
	}
	run, err = s.update(ctx, run, func(r *syncrecord.Run) { r.Counts, r.PlanMillis = counts, planMillis })
	if err != nil {
		return run, err
	}

	ap := &applier{g: g, store: s.store, tenantID: run.TenantID, appID: run.AppID, runID: run.ID, now: s.stamp,
		inFlight: s.inFlight, remote: map[string]string{}, pace: hold}
	lastProgress := time.Time{}
	var progressMu gosync.Mutex
	ap.onRecorded = func(done, failed int) {
		if s.onRecorded != nil {
			s.onRecorded(run.ID, done, failed)
		}
		progressMu.Lock()
		defer progressMu.Unlock()
		if s.now().Sub(lastProgress) < time.Second {
			return
		}
		lastProgress = s.now()
		c := counts
		c.Done, c.Failed, c.Skipped = int(ap.done.Load()), int(ap.failed.Load()), int(ap.skip.Load())
		c.Writes, c.Throttled = int(ap.writes.Load()), int(throttled.Load())
		if _, err := s.update(ctx, run, func(r *syncrecord.Run) {
			r.Counts = c
			if r.CancelRequested {
				cancel()
			}
		}); err != nil {
			s.log.WarnContext(ctx, "synchronization progress not recorded", "run", run.ID, "err", err)
		}
	}
	aerr := ap.apply(ctx, plan.Ops)
	counts.Done, counts.Failed, counts.Skipped = int(ap.done.Load()), int(ap.failed.Load()), int(ap.skip.Load())
	counts.Writes, counts.Throttled = int(ap.writes.Load()), int(throttled.Load())
	switch {
	case aerr != nil && ctx.Err() != nil:
		return finish(syncrecord.RunCancelled, fmt.Sprintf("cancelled: %d operations done, %d failed, %d not sent; the next run continues from what was recorded", counts.Done, counts.Failed, counts.Skipped), counts)
	case aerr != nil:
		out, _ := finish(syncrecord.RunFailed, "stopped: "+aerr.Error(), counts)
		return out, aerr
	}
	msg := fmt.Sprintf("%d operations done, %d failed, %d skipped", counts.Done, counts.Failed, counts.Skipped)
	if len(ops) == 0 {
		msg = "nothing to change: Microsoft 365 is in step"
	}
	return finish(syncrecord.RunDone, msg, counts)
}

// links reads all of an application's user links.
func (s *Service) links(ctx context.Context, tenantID, appID string) ([]syncrecord.Link, error) {
	var out []syncrecord.Link
	cursor := ""
	for {
		page, next, err := s.store.ListSyncLinks(ctx, tenantID, appID, syncrecord.KindUser, storage.Page{Limit: storage.MaxLimit, Cursor: cursor})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}

// heldUsers marks the members of the permission groups that are not
// exported because they are invalid (not those outside the domains, which
// left the scope): their links are not deprovisioned.
func (s *Service) heldUsers(ctx context.Context, tenantID string, app apps.Application, d Desired, held map[string]bool) error {
	for _, i := range d.Issues {
		if i.Code != "invalidUser" {
			continue
		}
		u, err := s.store.GetUserByUPN(ctx, tenantID, i.Subject)
		if err == nil {
			held[u.ID] = true
		} else if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	return nil
}

// Cancel asks a run to stop: the operations in flight finish and are
// recorded, the others are not sent.
func (s *Service) Cancel(ctx context.Context, tenantID, runID string) (syncrecord.Run, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ManageApplications); err != nil {
		return syncrecord.Run{}, err
	}
	run, err := s.store.GetSyncRun(ctx, tenantID, runID)
	if err != nil {
		return run, err
	}
	if run.State.Final() {
		return run, ErrRunFinished
	}
	run, err = s.update(ctx, run, func(r *syncrecord.Run) { r.CancelRequested = true })
	if err != nil {
		return run, err
	}
	s.mu.Lock()
	a := s.active[tenantID+"/"+run.AppID]
	s.mu.Unlock()
	if a != nil && a.runID == runID && a.cancel != nil {
		a.cancel()
	}
	return run, nil
}

// GetRun returns a run with its progress.
func (s *Service) GetRun(ctx context.Context, tenantID, runID string) (syncrecord.Run, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ReadApplications); err != nil {
		return syncrecord.Run{}, err
	}
	return s.store.GetSyncRun(ctx, tenantID, runID)
}

// ListRuns lists an application's runs, newest first.
func (s *Service) ListRuns(ctx context.Context, tenantID, appID string, p storage.Page) ([]syncrecord.Run, string, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ReadApplications); err != nil {
		return nil, "", err
	}
	if _, _, err := s.app(ctx, tenantID, appID); err != nil {
		return nil, "", err
	}
	return s.store.ListSyncRuns(ctx, tenantID, appID, p)
}

// ListOperations lists a run's operations in plan order.
func (s *Service) ListOperations(ctx context.Context, tenantID, runID string, f storage.OperationFilter, p storage.Page) ([]syncrecord.Operation, string, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ReadApplications); err != nil {
		return nil, "", err
	}
	if _, err := s.store.GetSyncRun(ctx, tenantID, runID); err != nil {
		return nil, "", err
	}
	return s.store.ListSyncOperations(ctx, tenantID, runID, f, p)
}
