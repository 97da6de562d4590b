package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/portico-idp/portico/internal/m365/cloud"
	"github.com/portico-idp/portico/internal/m365/federation"
	m365sync "github.com/portico-idp/portico/internal/m365/sync"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/syncrecord"
)

// syncBackend is what the sync commands act through: the database with
// the synchronization service in this process (directSync), or a running
// server's API (apiBackend).
type syncBackend interface {
	Close() error
	// RunSync starts a run. On the database it runs in this process until
	// it ends, calling progress about once a second; through the API it
	// returns the run as started and the caller follows it with SyncRun.
	RunSync(ctx context.Context, tenant, app string, o m365sync.RunOptions, progress func(syncrecord.Run)) (run syncrecord.Run, finished bool, err error)
	SyncRun(ctx context.Context, tenant, app, id string) (syncrecord.Run, error)
	// SyncRuns returns a page of the application's runs, newest first.
	SyncRuns(ctx context.Context, tenant, app string, limit int, cursor string) ([]syncrecord.Run, string, error)
	// SyncOperations returns a page of a run's operations in plan order.
	SyncOperations(ctx context.Context, tenant, app, id string, limit int, cursor string) ([]syncrecord.Operation, string, error)
	CancelSync(ctx context.Context, tenant, app, id string) (syncrecord.Run, error)
}

// syncFlags are the flags every sync command shares.
type syncFlags struct {
	admin   adminFlags
	backend backendFlags
	app     string
	caFile  string
}

func (f *syncFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.admin.tenant, "tenant", "", "tenant slug (required)")
	fs.StringVar(&f.app, "app", "", "application id (required)")
	f.backend.register(fs)
	fs.StringVar(&f.admin.masterKeyFile, "master-key-file", "", "master key file (as for serve; without --server)")
	registerM365Allow(fs, &f.admin.m365Allow)
	fs.StringVar(&f.caFile, "m365-ca-file", "", "PEM file of extra certificate authorities to trust when calling Microsoft (m365sim's --cert-out; without --server)")
}

// open checks the required flags and opens the backend.
func (f *syncFlags) open(ctx context.Context) (syncBackend, error) {
	if f.admin.tenant == "" {
		return nil, errors.New("--tenant is required")
	}
	if f.app == "" {
		return nil, errors.New("--app is required (the application id: see \"portico app list\")")
	}
	if f.backend.server != "" {
		return openRemote(f.backend.server, f.backend.tokenFile)
	}
	f.admin.store = f.backend.store
	s, err := f.admin.open(ctx)
	if err != nil {
		return nil, err
	}
	d := &directSync{s: s, allow: f.admin.m365Allow, caFile: f.caFile, keyFile: f.admin.masterKeyFile, store: f.backend.store}
	return d, nil
}

// withSync opens the sync backend, runs fn and closes it.
func withSync(ctx context.Context, f *syncFlags, fn func(b syncBackend) error) error {
	b, err := f.open(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	return describe(fn(b))
}

// pageFlags are --limit and --cursor of a paged list.
func pageFlags(fs *pflag.FlagSet, what string, def int) (*int, *string) {
	limit := fs.Int("limit", def, fmt.Sprintf("%s per page (at most %d)", what, storage.MaxLimit))
	cursor := fs.String("cursor", "", "continue after the previous page (standard error says how)")
	return limit, cursor
}

func checkLimit(limit int) error {
	if limit < 1 || limit > storage.MaxLimit {
		return fmt.Errorf("--limit must be from 1 to %d", storage.MaxLimit)
	}
	return nil
}

func syncRunFlags(fs *pflag.FlagSet) runFunc {
	var sf syncFlags
	dry := fs.Bool("dry-run", false, "plan only: record what would change in Microsoft 365 without writing")
	allow := fs.Int("allow-deletes", 0, "allow this run more deletions or disables than the application's threshold (0: the threshold holds)")
	wait := fs.Bool("wait", false, "follow the run until it ends, printing progress; the exit status is non-zero when it fails, is cancelled or is stopped by the threshold (without --server the run always runs here, to its end)")
	sf.register(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		if *allow < 0 {
			return errors.New("--allow-deletes must be 0 or more")
		}
		return withSync(ctx, &sf, func(b syncBackend) error {
			p := newProgress(stderr)
			run, finished, err := b.RunSync(ctx, sf.admin.tenant, sf.app, m365sync.RunOptions{DryRun: *dry, AllowDeletes: *allow}, p.show)
			if err != nil && !finished {
				return syncNotFound(err, "application", sf.app, sf.admin.tenant)
			}
			if !finished && !*wait {
				fmt.Fprintln(stdout, run.ID)
				fmt.Fprintf(stderr, "run %s started; follow it with:\n  portico sync show %s --tenant %s --app %s --server %s\n", run.ID, run.ID, sf.admin.tenant, sf.app, sf.backend.server)
				return nil
			}
			for !run.State.Final() {
				select {
				case <-ctx.Done():
					return fmt.Errorf("stopped following run %s (it goes on; cancel it with \"portico sync cancel %s\"): %w", run.ID, run.ID, ctx.Err())
				case <-time.After(time.Second):
				}
				if run, err = b.SyncRun(ctx, sf.admin.tenant, sf.app, run.ID); err != nil {
					return err
				}
				p.show(run)
			}
			p.end()
			return finalState(stdout, run)
		})
	}
}

// finalState prints how a run ended and its counts, and is an error when
// it did not end well.
func finalState(w io.Writer, run syncrecord.Run) error {
	c := run.Counts
	fmt.Fprintf(w, "run %s: %s\n", run.ID, run.State)
	fmt.Fprintf(w, "planned %d, done %d, failed %d, skipped %d; writes %d, throttled %d\n", c.Planned, c.Done, c.Failed, c.Skipped, c.Writes, c.Throttled)
	if run.Message != "" {
		fmt.Fprintln(w, run.Message)
	}
	switch run.State {
	case syncrecord.RunFailed:
		return fmt.Errorf("run %s failed: %s", run.ID, orDash(run.Message))
	case syncrecord.RunCancelled:
		return fmt.Errorf("run %s was cancelled", run.ID)
	case syncrecord.RunStoppedByThreshold:
		return fmt.Errorf("run %s was stopped by the deletion threshold: nothing was deleted or disabled; rerun with --allow-deletes N if the deletions are meant", run.ID)
	}
	return nil
}

// progress prints a run's progress: one updating line in a terminal,
// otherwise plain lines at most once a second.
type progress struct {
	w     io.Writer
	tty   bool
	last  time.Time
	shown bool
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) show(run syncrecord.Run) {
	now := time.Now()
	if !p.tty && now.Sub(p.last) < time.Second {
		return
	}
	p.last = now
	line := progressLine(run, now)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
	p.shown = true
}

// end closes the updating line.
func (p *progress) end() {
	if p.tty && p.shown {
		fmt.Fprintln(p.w)
	}
}

// progressLine is "done/total  writes/s  throttled  ETA".
func progressLine(run syncrecord.Run, now time.Time) string {
	c := run.Counts
	done := c.Done + c.Failed + c.Skipped
	rate, eta := 0.0, "-"
	if !run.StartedAt.IsZero() {
		if el := now.Sub(run.StartedAt).Seconds(); el > 0 {
			rate = float64(c.Writes) / el
			if done > 0 && c.Planned > done {
				eta = (time.Duration(el*float64(c.Planned-done)/float64(done)) * time.Second).Round(time.Second).String()
			}
		}
	}
	return fmt.Sprintf("%s %d/%d  %.1f writes/s  %d throttled  ETA %s", run.State, done, c.Planned, rate, c.Throttled, eta)
}

func syncRunsFlags(fs *pflag.FlagSet) runFunc {
	var sf syncFlags
	var out outputFlag
	limit, cursor := pageFlags(fs, "runs", 20)
	out.register(fs)
	sf.register(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		if err := checkLimit(*limit); err != nil {
			return err
		}
		return withSync(ctx, &sf, func(b syncBackend) error {
			runs, next, err := b.SyncRuns(ctx, sf.admin.tenant, sf.app, *limit, *cursor)
			if err != nil {
				return syncNotFound(err, "application", sf.app, sf.admin.tenant)
			}
			var rows [][]string
			for _, r := range runs {
				c := r.Counts
				rows = append(rows, []string{r.ID, day(r.CreatedAt), r.Trigger, strconv.FormatBool(r.DryRun), string(r.State),
					strconv.Itoa(c.Planned), strconv.Itoa(c.Done), strconv.Itoa(c.Failed), strconv.Itoa(c.Writes), r.Message})
			}
			if err := out.print(stdout, nonNil(runs), []string{"ID", "CREATED", "TRIGGER", "DRY RUN", "STATE", "PLANNED", "DONE", "FAILED", "WRITES", "MESSAGE"}, rows); err != nil {
				return err
			}
			if next != "" {
				fmt.Fprintf(stderr, "more runs: add --cursor %s\n", next)
			}
			return nil
		})
	}
}

// syncShow is sync show's JSON: the run and a page of its operations.
type syncShow struct {
	Run        syncrecord.Run         `json:"run"`
	Operations []syncrecord.Operation `json:"operations"`
	NextCursor string                 `json:"nextCursor,omitempty"`
}

func syncShowFlags(fs *pflag.FlagSet) runFunc {
	var sf syncFlags
	var out outputFlag
	id := fs.String("run", "", "run id (required; also the first argument)")
	limit, cursor := pageFlags(fs, "operations", 50)
	out.register(fs)
	sf.register(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		if *id == "" {
			return errors.New("name the run: portico sync show RUN (see \"portico sync runs\")")
		}
		if err := checkLimit(*limit); err != nil {
			return err
		}
		return withSync(ctx, &sf, func(b syncBackend) error {
			run, err := b.SyncRun(ctx, sf.admin.tenant, sf.app, *id)
			if err != nil {
				return syncNotFound(err, "run", *id, sf.admin.tenant)
			}
			ops, next, err := b.SyncOperations(ctx, sf.admin.tenant, sf.app, *id, *limit, *cursor)
			if err != nil {
				return syncNotFound(err, "run", *id, sf.admin.tenant)
			}
			if out == "json" {
				return out.print(stdout, syncShow{Run: run, Operations: nonNil(ops), NextCursor: next}, nil, nil)
			}
			c := run.Counts
			fmt.Fprintf(stdout, "Run %s (%s, %s", run.ID, run.Trigger, run.State)
			if run.DryRun {
				fmt.Fprint(stdout, ", dry run")
			}
			fmt.Fprintf(stdout, ")\ncreated %s", day(run.CreatedAt))
			if !run.FinishedAt.IsZero() {
				fmt.Fprintf(stdout, ", finished %s", day(run.FinishedAt))
			}
			fmt.Fprintf(stdout, "\ndesired %d, in Microsoft 365 %d; planned %d, done %d, failed %d, skipped %d; writes %d, throttled %d\n",
				c.Desired, c.Actual, c.Planned, c.Done, c.Failed, c.Skipped, c.Writes, c.Throttled)
			if run.Message != "" {
				fmt.Fprintln(stdout, run.Message)
			}
			for _, i := range run.Report {
				fmt.Fprintf(stdout, "  report: %s %s: %s\n", i.Subject, i.Code, i.Message)
			}
			fmt.Fprintln(stdout)
			var rows [][]string
			for _, o := range ops {
				res := string(o.Result)
				if o.Error != "" {
					res += ": " + o.Error
				}
				rows = append(rows, []string{strconv.Itoa(o.Seq), string(o.Kind), o.UPN, o.Reason, res})
			}
			if err := out.print(stdout, nil, []string{"SEQ", "KIND", "OBJECT", "REASON", "RESULT"}, rows); err != nil {
				return err
			}
			if next != "" {
				fmt.Fprintf(stderr, "more operations: add --cursor %s\n", next)
			}
			return nil
		})
	}
}

func syncCancelFlags(fs *pflag.FlagSet) runFunc {
	var sf syncFlags
	id := fs.String("run", "", "run id (required; also the first argument)")
	sf.register(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		if *id == "" {
			return errors.New("name the run: portico sync cancel RUN (see \"portico sync runs\")")
		}
		return withSync(ctx, &sf, func(b syncBackend) error {
			run, err := b.CancelSync(ctx, sf.admin.tenant, sf.app, *id)
			if errors.Is(err, m365sync.ErrRunFinished) {
				return fmt.Errorf("run %s has already ended (%s): nothing to cancel", *id, run.State)
			}
			if err != nil {
				return syncNotFound(err, "run", *id, sf.admin.tenant)
			}
			fmt.Fprintf(stdout, "cancel requested for run %s: the operations in flight finish, the others are not sent\n", run.ID)
			return nil
		})
	}
}

// runArg lets c take the run id as its one argument (or --run).
func runArg(c *cobra.Command) *cobra.Command {
	c.Use += " RUN"
	c.Args = func(c *cobra.Command, args []string) error {
		if len(args) > 1 {
			return fmt.Errorf("unexpected argument %q: give one run id (see \"%s --help\")", args[1], c.CommandPath())
		}
		return nil
	}
	act := c.RunE
	c.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 1 {
			if err := c.Flags().Set("run", args[0]); err != nil {
				return err
			}
		}
		return act(c, args)
	}
	return c
}

// syncNotFound names what was not found.
func syncNotFound(err error, kind, name, tenant string) error {
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, errAPINotFound) {
		return &notFound{kind: kind, name: name, tenant: tenant}
	}
	return err
}

// directSync runs the synchronization service on the database, in this
// process, as the server does.
type directSync struct {
	s       *services
	store   storeFlags
	allow   stringList
	caFile  string
	keyFile string
}

func (d *directSync) Close() error { return d.s.store.Close() }

// service builds the synchronization service as serve does, with progress.
func (d *directSync) service(ctx context.Context, opts ...m365sync.Option) (*m365sync.Service, error) {
	keys, err := loadKeyring(ctx, serveConfig{store: d.store, masterKeyFile: d.keyFile}, d.s.store, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	client, err := serveConfig{m365CAFile: d.caFile}.microsoftClient()
	if err != nil {
		return nil, err
	}
	allow, err := cloud.ParseAllowList(d.allow...)
	if err != nil {
		return nil, err
	}
	fed := federation.New(d.s.admin, keys, "", federation.WithHTTPClient(client), federation.WithEndpoints(allow))
	return m365sync.New(d.s.store, m365sync.FederationConnector(fed), opts...), nil
}

func (d *directSync) RunSync(ctx context.Context, tenant, app string, o m365sync.RunOptions, progress func(syncrecord.Run)) (syncrecord.Run, bool, error) {
	var svc *m365sync.Service
	var mu sync.Mutex
	var last time.Time
	svc, err := d.service(ctx, m365sync.WithProgress(func(runID string, done, failed int) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < time.Second {
			return
		}
		last = time.Now()
		if run, err := svc.GetRun(ctx, d.s.tenant.ID, runID); err == nil {
			progress(run)
		}
	}))
	if err != nil {
		return syncrecord.Run{}, false, err
	}
	// A run that ends failed is also an error: the run, final, says more.
	run, err := svc.Run(ctx, d.s.tenant.ID, app, o)
	return run, run.ID != "" && run.State.Final(), err
}

func (d *directSync) SyncRun(ctx context.Context, tenant, app, id string) (syncrecord.Run, error) {
	svc, err := d.service(ctx)
	if err != nil {
		return syncrecord.Run{}, err
	}
	run, err := svc.GetRun(ctx, d.s.tenant.ID, id)
	if err == nil && run.AppID != app {
		err = storage.ErrNotFound
	}
	return run, err
}

func (d *directSync) SyncRuns(ctx context.Context, tenant, app string, limit int, cursor string) ([]syncrecord.Run, string, error) {
	svc, err := d.service(ctx)
	if err != nil {
		return nil, "", err
	}
	return svc.ListRuns(ctx, d.s.tenant.ID, app, storage.Page{Limit: limit, Cursor: cursor})
}

func (d *directSync) SyncOperations(ctx context.Context, tenant, app, id string, limit int, cursor string) ([]syncrecord.Operation, string, error) {
	if _, err := d.SyncRun(ctx, tenant, app, id); err != nil {
		return nil, "", err
	}
	svc, err := d.service(ctx)
	if err != nil {
		return nil, "", err
	}
	return svc.ListOperations(ctx, d.s.tenant.ID, id, storage.OperationFilter{}, storage.Page{Limit: limit, Cursor: cursor})
}

// CancelSync records the request on the run: the process running it (the
// server, or another sync run --wait) sees it and stops.
func (d *directSync) CancelSync(ctx context.Context, tenant, app, id string) (syncrecord.Run, error) {
	if _, err := d.SyncRun(ctx, tenant, app, id); err != nil {
		return syncrecord.Run{}, err
	}
	svc, err := d.service(ctx)
	if err != nil {
		return syncrecord.Run{}, err
	}
	return svc.Cancel(ctx, d.s.tenant.ID, id)
}

func syncPath(tenant, app string) string {
	return tpath(tenant) + "/applications/" + url.PathEscape(app) + "/sync/runs"
}

func (a *apiBackend) RunSync(ctx context.Context, tenant, app string, o m365sync.RunOptions, _ func(syncrecord.Run)) (syncrecord.Run, bool, error) {
	var run syncrecord.Run
	in := map[string]any{"dryRun": o.DryRun, "allowDeletes": o.AllowDeletes}
	err := a.do(ctx, http.MethodPost, syncPath(tenant, app), in, &run)
	return run, false, err
}

func (a *apiBackend) SyncRun(ctx context.Context, tenant, app, id string) (syncrecord.Run, error) {
	var run syncrecord.Run
	err := a.do(ctx, http.MethodGet, syncPath(tenant, app)+"/"+url.PathEscape(id), nil, &run)
	return run, err
}

func (a *apiBackend) SyncRuns(ctx context.Context, tenant, app string, limit int, cursor string) ([]syncrecord.Run, string, error) {
	return apiPage[syncrecord.Run](ctx, a, syncPath(tenant, app), limit, cursor)
}

func (a *apiBackend) SyncOperations(ctx context.Context, tenant, app, id string, limit int, cursor string) ([]syncrecord.Operation, string, error) {
	return apiPage[syncrecord.Operation](ctx, a, syncPath(tenant, app)+"/"+url.PathEscape(id)+"/operations", limit, cursor)
}

func (a *apiBackend) CancelSync(ctx context.Context, tenant, app, id string) (syncrecord.Run, error) {
	var run syncrecord.Run
	err := a.do(ctx, http.MethodPost, syncPath(tenant, app)+"/"+url.PathEscape(id)+"/cancel", nil, &run)
	if err != nil && strings.Contains(err.Error(), "finished") {
		if r, gerr := a.SyncRun(ctx, tenant, app, id); gerr == nil {
			return r, m365sync.ErrRunFinished
		}
	}
	return run, err
}

// apiPage reads one page of a list.
func apiPage[T any](ctx context.Context, a *apiBackend, path string, limit int, cursor string) ([]T, string, error) {
	v := url.Values{"limit": {strconv.Itoa(limit)}}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	var page struct {
		Items      []T    `json:"items"`
		NextCursor string `json:"nextCursor"`
	}
	err := a.do(ctx, http.MethodGet, path+"?"+v.Encode(), nil, &page)
	return page.Items, page.NextCursor, err
}
