package sync

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/portico-idp/portico/internal/m365/graph"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/syncrecord"
)

// maxThrottleRounds is how many times a batch item that stayed throttled,
// or failed with a server error, through the Graph client's retries is
// sent again.
const maxThrottleRounds = 10

// applier runs a plan against Microsoft Graph and records every outcome
// at once, with its link, in storage.
type applier struct {
	g        Graph
	store    storage.Storage
	tenantID string
	appID    string
	runID    string
	now      func() time.Time
	// inFlight is how many batches are sent at once.
	inFlight int
	// pace spaces the batches under the write budget (gate.go).
	pace *pacer
	// onRecorded is called after each batch's outcomes are stored, with
	// the number of operations recorded so far (progress, tests).
	onRecorded func(done, failed int)

	mu     gosync.Mutex
	remote map[string]string // local id -> remote id, from creates
	done   atomic.Int64
	failed atomic.Int64
	skip   atomic.Int64
	writes atomic.Int64
}

// phases splits the plan: creates, links, updates and enables first;
// licences once the users exist; disables and deletes last. An operation
// never waits for another of its phase.
func phases(ops []PlannedOp) [][]PlannedOp {
	var a, b, c []PlannedOp
	for _, op := range ops {
		switch {
		case op.Kind == syncrecord.OpAssignLicense:
			b = append(b, op)
		case op.Kind.Deprovisions():
			c = append(c, op)
		default:
			a = append(a, op)
		}
	}
	return [][]PlannedOp{a, b, c}
}

// apply runs the phases in order. It stops early when ctx ends: the
// operations not sent are recorded as skipped.
func (ap *applier) apply(ctx context.Context, ops []PlannedOp) error {
	const notSent = "not sent: the run was cancelled; the next run plans it again"
	all := phases(ops)
	for n, ph := range all {
		if ctx.Err() != nil {
			// Cancelled: this phase and the later ones are not sent.
			var rest []PlannedOp
			for _, p := range all[n:] {
				rest = append(rest, p...)
			}
			if err := ap.record(ctx, ap.skipAll(rest, notSent)); err != nil {
				return err
			}
			return ctx.Err()
		}
		var batches [][]PlannedOp
		for i := 0; i < len(ph); i += graph.MaxBatchSize {
			batches = append(batches, ph[i:min(i+graph.MaxBatchSize, len(ph))])
		}
		work := make(chan []PlannedOp)
		errs := make(chan error, 1)
		var wg gosync.WaitGroup
		for w := 0; w < max(1, ap.inFlight); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range work {
					if err := ap.batch(ctx, b); err != nil {
						select {
						case errs <- err:
						default:
						}
					}
				}
			}()
		}
		var skipped []PlannedOp
	feed:
		for i, b := range batches {
			select {
			case work <- b:
			case <-ctx.Done():
				for _, rest := range batches[i:] {
					skipped = append(skipped, rest...)
				}
				break feed
			}
		}
		close(work)
		wg.Wait()
		if err := ap.record(ctx, ap.skipAll(skipped, notSent)); err != nil {
			return err
		}
		select {
		case err := <-errs:
			return err
		default:
		}
	}
	return ctx.Err()
}

func (ap *applier) skipAll(ops []PlannedOp, why string) []syncrecord.OpOutcome {
	out := make([]syncrecord.OpOutcome, len(ops))
	for i, op := range ops {
		out[i] = syncrecord.OpOutcome{Seq: op.Seq, Result: syncrecord.OpSkipped, Error: why, UpdatedAt: ap.now()}
	}
	return out
}

// record stores outcomes; it is not stopped by a cancelled run (what was
// done in Microsoft 365 must be written down).
func (ap *applier) record(ctx context.Context, outs []syncrecord.OpOutcome) error {
	if len(outs) == 0 {
		return nil
	}
	for _, o := range outs {
		switch o.Result {
		case syncrecord.OpDone:
			ap.done.Add(1)
		case syncrecord.OpFailed:
			ap.failed.Add(1)
		case syncrecord.OpSkipped:
			ap.skip.Add(1)
		}
	}
	if err := ap.store.RecordSyncOutcomes(context.WithoutCancel(ctx), ap.tenantID, ap.appID, ap.runID, outs); err != nil {
		return err
	}
	if ap.onRecorded != nil {
		ap.onRecorded(int(ap.done.Load()+ap.failed.Load()+ap.skip.Load()), int(ap.failed.Load()))
	}
	return nil
}

// batch sends one $batch and records its outcomes.
func (ap *applier) batch(ctx context.Context, ops []PlannedOp) error {
	if ctx.Err() != nil {
		return ap.record(ctx, ap.skipAll(ops, "not sent: the run was cancelled; the next run plans it again"))
	}
	// Write down the intent to create before sending: if the answer is
	// lost (a crash, a kill, a cancel), the next run knows these users may
	// exist and finds them by their immutable id instead of creating twice.
	var intents []syncrecord.OpOutcome
	for _, op := range ops {
		if op.Kind == syncrecord.OpCreate {
			l := op.Link
			l.RemoteID, l.LastResult, l.LastRunID, l.UpdatedAt = "", "creating", ap.runID, ap.now()
			intents = append(intents, syncrecord.OpOutcome{Link: &l})
		}
	}
	if len(intents) > 0 {
		if err := ap.store.RecordSyncOutcomes(context.WithoutCancel(ctx), ap.tenantID, ap.appID, ap.runID, intents); err != nil {
			return err
		}
	}
	var reqs []graph.BatchRequest
	var sent []PlannedOp
	var outs []syncrecord.OpOutcome
	for _, op := range ops {
		req, ok, why := ap.request(op)
		switch {
		case why != "":
			outs = append(outs, syncrecord.OpOutcome{Seq: op.Seq, Result: syncrecord.OpSkipped, Error: why, UpdatedAt: ap.now()})
		case !ok:
			// Nothing to send (a link whose attributes already match).
			outs = append(outs, ap.success(op, op.RemoteID, "linked"))
		default:
			req.ID = fmt.Sprint(op.Seq)
			reqs = append(reqs, req)
			sent = append(sent, op)
		}
	}
	// Items still throttled or failed with a server error when the client's
	// own retries are spent go round again through the pacer, up to
	// maxThrottleRounds times: a throttled write did not happen, and a
	// repeated create that did answers "already exists" and is adopted.
	for round := 1; len(reqs) > 0; round++ {
		if ap.pace != nil {
			if err := ap.pace.take(ctx, len(reqs)); err != nil {
				for _, op := range sent {
					outs = append(outs, syncrecord.OpOutcome{Seq: op.Seq, Result: syncrecord.OpSkipped, Error: "not sent: the run was cancelled; the next run plans it again", UpdatedAt: ap.now()})
				}
				break
			}
		}
		res, err := ap.g.Batch(ctx, reqs)
		if err != nil && ctx.Err() == nil && round < maxThrottleRounds {
			// The $batch itself failed (a 5xx or a dropped connection that
			// the client does not repeat, as the batch holds POSTs). Every
			// request Portico sends is safe to send again: a repeated create
			// answers "already exists" and is read back and linked, the
			// others are idempotent.
			if ap.pace != nil {
				ap.pace.hold(time.Duration(round) * 50 * time.Millisecond)
			} else {
				time.Sleep(time.Duration(round) * 50 * time.Millisecond)
			}
			continue
		}
		if err != nil {
			why := "not known whether it took effect: " + plain(err) + "; the next run checks"
			for _, op := range sent {
				outs = append(outs, syncrecord.OpOutcome{Seq: op.Seq, Result: syncrecord.OpSkipped, Error: why, UpdatedAt: ap.now()})
			}
			break
		}
		calm := true
		var againReqs []graph.BatchRequest
		var againOps []PlannedOp
		for i, r := range res {
			ap.writes.Add(int64(max(1, r.Attempts)))
			calm = calm && r.Attempts <= 1 && r.Status != 429
			// Throttled, or a server error (which the client repeats only
			// for idempotent methods): send it again.
			if (r.Status == 429 || r.Status >= 500 || r.Status == 0) && round < maxThrottleRounds && ctx.Err() == nil {
				againReqs, againOps = append(againReqs, reqs[i]), append(againOps, sent[i])
				continue
			}
			outs = append(outs, ap.outcome(ctx, sent[i], r))
		}
		if calm && ap.pace != nil {
			ap.pace.ok()
		}
		reqs, sent = againReqs, againOps
	}
	return ap.record(ctx, outs)
}

// request builds the Graph request of an operation; ok is false when
// nothing needs sending, why is set when it cannot be sent.
func (ap *applier) request(op PlannedOp) (graph.BatchRequest, bool, string) {
	remote := op.RemoteID
	if remote == "" && op.Kind != syncrecord.OpCreate {
		ap.mu.Lock()
		remote = ap.remote[op.LocalID]
		ap.mu.Unlock()
		if remote == "" {
			return graph.BatchRequest{}, false, "skipped: the user was not created in Microsoft 365 (see its create operation)"
		}
	}
	switch op.Kind {
	case syncrecord.OpCreate:
		body := make(map[string]any, len(op.Body)+1)
		for k, v := range op.Body {
			body[k] = v
		}
		if op.Managed {
			// A managed domain needs a password; nobody ever sees it
			// (federated sign-in or a reset by an administrator).
			body["passwordProfile"] = map[string]any{"password": newPassword(), "forceChangePasswordNextSignIn": true}
		}
		return graph.BatchRequest{Method: http.MethodPost, URL: "/users", Body: body}, true, ""
	case syncrecord.OpLink:
		if len(op.Body) == 0 {
			return graph.BatchRequest{}, false, ""
		}
		fallthrough
	case syncrecord.OpUpdate, syncrecord.OpEnable, syncrecord.OpDisable:
		return graph.BatchRequest{Method: http.MethodPatch, URL: "/users/" + remote, Body: op.Body}, true, ""
	case syncrecord.OpAssignLicense:
		return graph.BatchRequest{Method: http.MethodPost, URL: "/users/" + remote + "/assignLicense", Body: map[string]any{
			"addLicenses": []graph.AssignedLicense{{SkuID: op.SkuID}}, "removeLicenses": []string{}}}, true, ""
	case syncrecord.OpDelete:
		return graph.BatchRequest{Method: http.MethodDelete, URL: "/users/" + remote}, true, ""
	}
	return graph.BatchRequest{}, false, "unknown operation " + string(op.Kind)
}

// success records a done operation and its link.
func (ap *applier) success(op PlannedOp, remoteID, result string) syncrecord.OpOutcome {
	if remoteID == "" {
		ap.mu.Lock()
		remoteID = ap.remote[op.LocalID]
		ap.mu.Unlock()
	}
	o := syncrecord.OpOutcome{Seq: op.Seq, Result: syncrecord.OpDone, RemoteID: remoteID, UpdatedAt: ap.now()}
	if op.Kind == syncrecord.OpDelete {
		o.DropLink, o.Kind, o.LocalID = true, syncrecord.KindUser, op.LocalID
		return o
	}
	l := op.Link
	l.RemoteID, l.LastResult, l.LastRunID, l.UpdatedAt = remoteID, result, ap.runID, ap.now()
	o.Link = &l
	if op.Kind == syncrecord.OpCreate || op.Kind == syncrecord.OpLink {
		ap.mu.Lock()
		ap.remote[op.LocalID] = remoteID
		ap.mu.Unlock()
	}
	return o
}

func (ap *applier) failure(op PlannedOp, msg string, e *graph.Error) syncrecord.OpOutcome {
	o := syncrecord.OpOutcome{Seq: op.Seq, Result: syncrecord.OpFailed, Error: msg, UpdatedAt: ap.now()}
	if e != nil {
		o.RequestID = e.RequestID
	}
	return o
}

// outcome interprets one answer.
func (ap *applier) outcome(ctx context.Context, op PlannedOp, r graph.BatchResponse) syncrecord.OpOutcome {
	if r.Err == nil {
		switch op.Kind {
		case syncrecord.OpCreate:
			var u graph.User
			if err := r.Decode(&u); err != nil || u.ID == "" {
				return ap.adopt(ctx, op, r.Err)
			}
			return ap.success(op, u.ID, "created")
		case syncrecord.OpLink:
			return ap.success(op, op.RemoteID, "linked")
		case syncrecord.OpUpdate:
			return ap.success(op, op.RemoteID, "updated")
		case syncrecord.OpEnable:
			return ap.success(op, op.RemoteID, "enabled")
		case syncrecord.OpDisable:
			return ap.success(op, op.RemoteID, "disabled")
		case syncrecord.OpAssignLicense:
			return ap.success(op, op.RemoteID, "licensed")
		case syncrecord.OpDelete:
			return ap.success(op, op.RemoteID, "deleted")
		}
	}
	e := r.Err
	switch {
	case op.Kind == syncrecord.OpCreate && (graph.IsObjectConflict(e) || e.Status >= 500 || e.Status == 0):
		// The user exists — perhaps made by this very request, whose
		// answer was lost — or the answer was an error after the write:
		// read it back and link it when it is Portico's.
		return ap.adopt(ctx, op, e)
	case op.Kind == syncrecord.OpDelete && graph.IsNotFound(e):
		return ap.success(op, op.RemoteID, "deleted")
	case op.Kind == syncrecord.OpAssignLicense && (e.Status >= 500 || e.Status == 0):
		if u, err := ap.g.GetUser(ctx, ap.remoteOf(op), "id", "assignedLicenses"); err == nil && hasLicense(*u, op.SkuID) {
			return ap.success(op, op.RemoteID, "licensed")
		}
	case op.Kind == syncrecord.OpAssignLicense && strings.Contains(strings.ToLower(e.Message), "available licenses"):
		return ap.failure(op, fmt.Sprintf("no licence of the default licence is left for %s (Microsoft 365: %q): buy seats or free one; the user is exported without a licence and gets it on a later run", op.UPN, e.Message), e)
	case op.Kind == syncrecord.OpAssignLicense && strings.Contains(strings.ToLower(e.Message), "usage location"):
		return ap.failure(op, fmt.Sprintf("%s has no usage location in Microsoft 365, so no licence can be assigned: set the user's or office365.sync.usageLocation", op.UPN), e)
	}
	return ap.failure(op, describe(op, e), e)
}

func (ap *applier) remoteOf(op PlannedOp) string {
	if op.RemoteID != "" {
		return op.RemoteID
	}
	ap.mu.Lock()
	defer ap.mu.Unlock()
	return ap.remote[op.LocalID]
}

// adopt resolves a create whose answer was an error: the user is read back
// by UPN, and linked when it carries Portico's immutable id.
func (ap *applier) adopt(ctx context.Context, op PlannedOp, cause *graph.Error) syncrecord.OpOutcome {
	u, err := ap.g.GetUser(ctx, op.UPN, "id", "userPrincipalName", "onPremisesImmutableId")
	if err == nil && u.OnPremisesImmutableID == op.ImmutableID {
		return ap.success(op, u.ID, "created")
	}
	if err == nil {
		return ap.failure(op, fmt.Sprintf("a Microsoft 365 user %s exists with another immutable id: not linked, never overwritten; link it by setting office365.sync.usernameMapping, or remove it", op.UPN), cause)
	}
	if cause != nil && graph.IsObjectConflict(cause) {
		// The conflict is on the immutable id under another UPN.
		var found *graph.User
		lerr := ap.g.ListUsers(ctx, graph.Query{Select: []string{"id", "userPrincipalName", "onPremisesImmutableId"},
			Filter: "onPremisesImmutableId eq '" + strings.ReplaceAll(op.ImmutableID, "'", "''") + "'"}, func(p []graph.User) error {
			if len(p) > 0 && found == nil {
				found = &p[0]
			}
			return nil
		})
		if lerr == nil && found != nil {
			return ap.success(op, found.ID, "linked")
		}
	}
	if cause == nil {
		return ap.failure(op, "the create answered without an id and the user could not be read back: "+plain(err), nil)
	}
	return ap.failure(op, describe(op, cause)+"; the user could not be read back ("+plain(err)+"): the next run checks again", cause)
}

// describe turns a Graph failure into words an administrator can act on.
func describe(op PlannedOp, e *graph.Error) string {
	switch {
	case graph.IsAuthorizationDenied(e):
		return fmt.Sprintf("Microsoft 365 refused to change %s: the app registration (office365.clientId) lacks the User.ReadWrite.All application permission, or admin consent: grant it in the Microsoft Entra admin center (%s)", op.UPN, e.Code)
	case graph.IsThrottled(e):
		return fmt.Sprintf("throttled by Microsoft 365 until the retry budget ran out (%d attempts): the next run sends it again", e.Attempts)
	case e.Status >= 500 || e.Status == 0:
		return fmt.Sprintf("Microsoft 365 failed (%d %s) after %d attempts: the next run sends it again", e.Status, e.Code, e.Attempts)
	}
	return fmt.Sprintf("Microsoft 365 refused %s of %s: %d %s: %s", op.Kind, op.UPN, e.Status, e.Code, e.Message)
}

func plain(err error) string {
	if err == nil {
		return "no error"
	}
	if errors.Is(err, context.Canceled) {
		return "the run was cancelled"
	}
	return err.Error()
}

// newPassword returns a random 24-character password with upper and lower
// case letters, digits and symbols (Microsoft 365's complexity rule needs
// three of the four).
func newPassword() string {
	const (
		upper  = "ABCDEFGHJKLMNPQRSTUVWXYZ"
		lower  = "abcdefghijkmnopqrstuvwxyz"
		digits = "23456789"
		symbol = "!#%+-.=?@^_~"
	)
	all := upper + lower + digits + symbol
	pick := func(set string) byte {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		return set[n.Int64()]
	}
	b := []byte{pick(upper), pick(lower), pick(digits), pick(symbol)}
	for len(b) < 24 {
		b = append(b, pick(all))
	}
	for i := len(b) - 1; i > 0; i-- {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		j := int(n.Int64())
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}
