package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/m365/graph"
	m365sync "github.com/portico-idp/portico/internal/m365/sync"
)

// fakeGraph is an empty Microsoft 365 tenant that accepts every write.
type fakeGraph struct{}

func (fakeGraph) Token(context.Context) (graph.AccessToken, error) { return graph.AccessToken{}, nil }
func (fakeGraph) ListUsers(_ context.Context, _ graph.Query, fn func([]graph.User) error) error {
	return fn(nil)
}
func (fakeGraph) GetUser(context.Context, string, ...string) (*graph.User, error) {
	return nil, &graph.Error{Status: 404}
}
func (fakeGraph) ListDomains(context.Context) ([]graph.Domain, error) {
	return []graph.Domain{{ID: "alpha.example.com", IsVerified: true, AuthenticationType: "Managed"}}, nil
}
func (fakeGraph) ListSubscribedSkus(context.Context) ([]graph.SubscribedSku, error) { return nil, nil }
func (fakeGraph) Batch(_ context.Context, reqs []graph.BatchRequest) ([]graph.BatchResponse, error) {
	out := make([]graph.BatchResponse, len(reqs))
	for i, r := range reqs {
		out[i] = graph.BatchResponse{ID: r.ID, Status: 201, Body: json.RawMessage(fmt.Sprintf(`{"id":"remote-%s"}`, r.ID)), Attempts: 1}
	}
	return out, nil
}

func TestSyncAPI(t *testing.T) {
	e := newEnv(t)
	svc := m365sync.New(e.svc.Store(), func(context.Context, directory.Tenant, apps.Application, func(graph.Retry)) (m365sync.Graph, []string, error) {
		return fakeGraph{}, nil, nil
	})
	mux := http.NewServeMux()
	New(e.svc, e.signin, slog.New(slog.DiscardHandler)).WithSync(svc).Register(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	t.Cleanup(svc.Wait)

	tb := "/api/v1/tenants/alpha"
	gid := e.do("POST", tb+"/groups", e.tokA, map[string]string{"name": "Office 365 Users"}).json(t)["id"].(string)
	for _, n := range []string{"ann", "ben", "cat"} {
		uid := e.do("POST", tb+"/users", e.tokA, map[string]any{"organizationId": e.orgA.ID, "username": n}).json(t)["id"].(string)
		want(t, e.do("POST", tb+"/groups/"+gid+"/members", e.tokA, map[string]string{"userId": uid}), 201)
	}
	r := e.do("POST", tb+"/applications", e.tokA, map[string]any{"permissionGroupIds": []string{gid},
		"office365": map[string]any{"domains": []string{"alpha.example.com"}}})
	want(t, r, 201)
	id := r.json(t)["id"].(string)
	base := tb + "/applications/" + id

	// Settings: each bad value is named; good ones are stored normalized.
	r = e.do("PATCH", base, e.tokA, map[string]any{"office365": map[string]any{"sync": map[string]any{
		"usernameMapping": "sid", "usageLocation": "XX", "deprovisionAction": "purge", "intervalMinutes": -1, "deleteThreshold": -5}}})
	want(t, r, 422)
	eqFields(t, r.problemFields(t), "office365.sync.usernameMapping", "office365.sync.usageLocation", "office365.sync.deprovisionAction",
		"office365.sync.intervalMinutes", "office365.sync.deleteThreshold")
	r = e.do("PATCH", base, e.tokA, map[string]any{"office365": map[string]any{"sync": map[string]any{
		"usernameMapping": "email", "usageLocation": "de", "defaultLicense": "ENTERPRISEPACK", "intervalMinutes": 0}}})
	want(t, r, 200)
	s := r.json(t)["office365"].(map[string]any)["sync"].(map[string]any)
	if s["usageLocation"] != "DE" || s["usernameMapping"] != "email" || s["intervalMinutes"] != float64(0) || s["exportEnabled"] != false {
		t.Fatalf("sync settings %v", s)
	}

	// A real run needs the export on; a dry run does not.
	r = e.do("POST", base+"/sync/runs", e.tokA, nil)
	want(t, r, 409)
	eqFields(t, r.problemFields(t), "office365.sync.exportEnabled")
	r = e.do("POST", base+"/sync/runs", e.tokA, map[string]any{"dryRun": true})
	want(t, r, 202)
	run := r.json(t)
	if run["state"] != "planned" || run["dryRun"] != true || !strings.HasSuffix(r.header.Get("Location"), "/sync/runs/"+run["id"].(string)) {
		t.Fatalf("started %s", r.body)
	}
	runURL := base + "/sync/runs/" + run["id"].(string)
	waitRun := func(url string) map[string]any {
		t.Helper()
		for i := 0; i < 500; i++ {
			got := e.do("GET", url, e.tokA, nil).json(t)
			if s := got["state"]; s != "planned" && s != "running" {
				return got
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("the run did not finish")
		return nil
	}
	got := waitRun(runURL)
	counts := got["counts"].(map[string]any)
	if got["state"] != "done" || counts["planned"] != float64(3) || counts["skipped"] != float64(3) {
		t.Fatalf("dry run %v", got)
	}
	// The unknown licence is in the report, naming the setting.
	if !strings.Contains(fmt.Sprint(got["report"]), "office365.sync.defaultLicense") {
		t.Fatalf("report %v", got["report"])
	}
	// Operations, paged.
	r = e.do("GET", runURL+"/operations?limit=2", e.tokA, nil)
	want(t, r, 200)
	page := r.json(t)
	items := page["items"].([]any)
	if len(items) != 2 || page["nextCursor"] == nil || items[0].(map[string]any)["kind"] != "createUser" || items[0].(map[string]any)["result"] != "skipped" {
		t.Fatalf("operations %s", r.body)
	}
	r = e.do("GET", runURL+"/operations?limit=2&cursor="+page["nextCursor"].(string), e.tokA, nil)
	if n := len(r.json(t)["items"].([]any)); n != 1 {
		t.Fatalf("second page: %d", n)
	}
	want(t, e.do("GET", runURL+"/operations?result=maybe", e.tokA, nil), 400)
	want(t, e.do("POST", runURL+"/cancel", e.tokA, nil), 409)

	// A real run exports, and the list shows both, newest first.
	want(t, e.do("PATCH", base, e.tokA, map[string]any{"office365": map[string]any{"sync": map[string]any{"exportEnabled": true}}}), 200)
	r = e.do("POST", base+"/sync/runs", e.tokA, map[string]any{})
	want(t, r, 202)
	second := r.json(t)["id"].(string)
	got = waitRun(base + "/sync/runs/" + second)
	if got["state"] != "done" || got["counts"].(map[string]any)["done"] != float64(3) {
		t.Fatalf("run %v", got)
	}
	r = e.do("GET", base+"/sync/runs", e.tokA, nil)
	list := r.json(t)["items"].([]any)
	if len(list) != 2 || list[0].(map[string]any)["id"] != second {
		t.Fatalf("runs %s", r.body)
	}
	// Another tenant sees nothing; a misspelt body member is refused.
	want(t, e.do("GET", "/api/v1/tenants/beta/applications/"+id+"/sync/runs/"+second, e.tokB, nil), 404)
	want(t, e.do("POST", base+"/sync/runs", e.tokA, map[string]any{"dryRunn": true}), 400)
}
