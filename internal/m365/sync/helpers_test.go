package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/portico-idp/portico/internal/authz"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/m365/cloud"
	"github.com/portico-idp/portico/internal/m365/federation"
	"github.com/portico-idp/portico/internal/m365/graph"
	"github.com/portico-idp/portico/internal/m365sim"
	"github.com/portico-idp/portico/internal/secrets"
	"github.com/portico-idp/portico/internal/signing"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/storage/sqlite"
	"github.com/portico-idp/portico/internal/storage/sqlstore"
	"github.com/portico-idp/portico/internal/syncrecord"
)

const (
	directoryID = "6d4c3b2a-1f0e-4d9c-8b7a-665544332211"
	clientID    = "11111111-2222-4333-8444-555555555555"
	readOnlyApp = "22222222-3333-4444-8555-666666666666"
	skuE3ID     = "6fd2c87f-b296-42f0-b197-1e91e994b900"
)

// env: Portico (SQLite) with an Office 365 application exporting the
// members of one group, and an emulated tenant (throttling on, Microsoft's
// limits at scale 50) with the managed domain contoso.com, the federated
// domain fabrikam.com and ENTERPRISEPACK seats.
type env struct {
	t      testing.TB
	ctx    context.Context
	sim    *m365sim.Server
	adm    *admin.Service
	store  storage.Storage
	svc    *Service
	tenant directory.Tenant
	org    directory.Organization
	group  directory.Group
	app    apps.Application
	// progress, when set, sees every recorded batch of the runs.
	progress func(runID string, done, failed int)
	path     string
}

type envOpts struct {
	// log receives the logs of the engine and of the Graph client.
	log      *slog.Logger
	seats    int
	faults   m365sim.FaultConfig
	mutate   func(*m365sim.SeedTenant)
	sync     apps.Sync
	clientID string
	// wrap, when set, stands between the engine and Graph.
	wrap func(Graph) Graph
}

// dbPath is the SQLite file of an env (tests read it raw).
func (e *env) dbPath() string { return e.path }

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	ctx := authz.With(context.Background(), authz.System("test"))
	fedCert, err := signing.Generate(signing.Options{CommonName: "Fabrikam IdP"})
	if err != nil {
		t.Fatal(err)
	}
	if o.seats == 0 {
		o.seats = 1000
	}
	seed := m365sim.SeedTenant{ID: directoryID, DisplayName: "Contoso", InitialDomain: "contoso.onmicrosoft.com",
		Domains: []m365sim.SeedDomain{
			{ID: "contoso.com", IsVerified: true},
			{ID: "fabrikam.com", IsVerified: true, FederationConfiguration: map[string]any{
				"displayName": "Portico", "issuerUri": "https://portico.example/issuer", "passiveSignInUri": "https://portico.example/wsfed",
				"signingCertificate": fedCert.Base64(), "preferredAuthenticationProtocol": "wsFed"}},
		},
		Apps: []m365sim.SeedApp{
			{ClientID: clientID, DisplayName: "Portico", ApplicationPermissions: []string{"User.ReadWrite.All", "Directory.ReadWrite.All", "Domain.ReadWrite.All", "Organization.Read.All"}},
			{ClientID: readOnlyApp, DisplayName: "Reader", ApplicationPermissions: []string{"User.Read.All", "Directory.Read.All", "Domain.Read.All", "Organization.Read.All"}},
		},
		SubscribedSkus: []m365sim.SeedSKU{
			{SkuID: skuE3ID, SkuPartNumber: "ENTERPRISEPACK", PrepaidUnits: m365sim.SeedUnits{Enabled: o.seats}},
			{SkuID: "18181a46-0d4e-45cd-891e-60aabd171b4e", SkuPartNumber: "STANDARDPACK", PrepaidUnits: m365sim.SeedUnits{Enabled: 10}},
		},
	}
	if o.mutate != nil {
		o.mutate(&seed)
	}
	sim, err := m365sim.New(m365sim.WithAddr("127.0.0.1:0"), m365sim.WithSeed(m365sim.SeedFile{Tenants: []m365sim.SeedTenant{seed}}),
		m365sim.WithThrottling(m365sim.ThrottleConfig{Enabled: true, Scale: 50}), m365sim.WithFaults(o.faults))
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	path := filepath.Join(t.TempDir(), "p.db")
	st, err := sqlite.Open(ctx, path, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mk, _ := secrets.NewMasterKey(make([]byte, 32))
	kr, _ := secrets.NewKeyring(nil, mk)
	allow, err := cloud.ParseAllowList(strings.TrimPrefix(sim.URL(), "https://"))
	if err != nil {
		t.Fatal(err)
	}
	adm := admin.New(st, admin.WithKeyring(kr), admin.WithMicrosoftEndpoints(allow))
	e := &env{t: t, ctx: ctx, sim: sim, adm: adm, store: st, path: path}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if e.tenant, e.org, err = adm.CreateTenant(ctx, "contoso", "Contoso", "@contoso.com"); err != nil {
		t.Fatal(err)
	}
	if e.group, err = adm.CreateGroup(ctx, e.tenant.ID, directory.Group{Name: "Office 365 Users", Type: directory.GroupSecurity}); err != nil {
		t.Fatal(err)
	}
	if o.clientID == "" {
		o.clientID = clientID
	}
	e.app, err = adm.CreateApplication(ctx, e.tenant.ID, apps.Application{Name: "Office 365", Enabled: true, GroupIDs: []string{e.group.ID},
		Office365: &apps.Office365Settings{Domains: apps.Domains("contoso.com", "fabrikam.com"), Sync: o.sync, Federation: apps.Federation{
			ClientID: o.clientID, DirectoryID: directoryID, AuthorityURL: sim.URL(), GraphURL: sim.URL() + "/v1.0"}}})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := adm.SigningKeys(ctx, e.tenant.ID, e.app.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.RegisterAppCertificate(directoryID, o.clientID, keys.Current.Cert); err != nil {
		t.Fatal(err)
	}
	fed := federation.New(adm, kr, "https://portico.example", federation.WithHTTPClient(sim.Client()), federation.WithEndpoints(allow), federation.WithLogger(o.log))
	// Short backoffs keep fault tests quick; everything else is the
	// production connection of both modes.
	connect := func(ctx context.Context, t directory.Tenant, app apps.Application, observe func(graph.Retry)) (Graph, []string, error) {
		c, warn, err := fed.SyncGraph(ctx, t, app, graph.WithRetryObserver(observe), graph.WithMaxAttempts(30), graph.WithRetryBudget(10*time.Minute),
			graph.WithBackoff(5*time.Millisecond, 50*time.Millisecond))
		if err != nil {
			return nil, warn, err
		}
		if o.wrap != nil {
			return o.wrap(c), warn, nil
		}
		return c, warn, nil
	}
	e.svc = New(st, connect, WithLogger(o.log), WithProgress(func(runID string, done, failed int) {
		if e.progress != nil {
			e.progress(runID, done, failed)
		}
	}))
	return e
}

// user creates a Portico user (username@contoso.com by the suffix unless
// the username has a domain) in the exported group.
func (e *env) user(username string, mut ...func(*directory.User)) directory.User {
	e.t.Helper()
	u := directory.User{OrganizationID: e.org.ID, Username: username, Email: strings.SplitN(username, "@", 2)[0] + "@contoso.com",
		GivenName: "Given", FamilyName: strings.ToUpper(username[:1]) + username[1:], Status: directory.StatusActive}
	for _, m := range mut {
		m(&u)
	}
	u, err := e.adm.CreateUser(e.ctx, e.tenant.ID, u)
	if err != nil {
		e.t.Fatalf("create user %s: %v", username, err)
	}
	if err := e.store.AddGroupMember(e.ctx, e.tenant.ID, e.group.ID, u.ID); err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *env) settings(change func(*apps.Sync)) {
	e.t.Helper()
	a, err := e.adm.UpdateApplication(e.ctx, e.tenant.ID, e.app.ID, 0, func(a *apps.Application) error { change(&a.Office365.Sync); return nil })
	if err != nil {
		e.t.Fatal(err)
	}
	e.app = a
}

// run performs a run and fails the test on an engine error.
func (e *env) run(o RunOptions) syncrecord.Run {
	e.t.Helper()
	r, err := e.svc.Run(e.ctx, e.tenant.ID, e.app.ID, o)
	if err != nil {
		e.t.Fatalf("run: %v (%+v)", err, r)
	}
	return r
}

func (e *env) ops(runID string, f storage.OperationFilter) []syncrecord.Operation {
	e.t.Helper()
	var out []syncrecord.Operation
	cursor := ""
	for {
		page, next, err := e.svc.ListOperations(e.ctx, e.tenant.ID, runID, f, storage.Page{Limit: 1000, Cursor: cursor})
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		cursor = next
	}
}

// simUsers returns the live users of the emulated tenant by lower-case UPN
// (from its state, as /_sim/state shows it), failing on a duplicate
// immutable id.
func (e *env) simUsers() map[string]m365sim.SeedObject {
	e.t.Helper()
	out := map[string]m365sim.SeedObject{}
	imm := map[string]string{}
	for _, u := range e.sim.Dump().Tenants[0].Users {
		if u["deletedDateTime"] != nil {
			continue
		}
		upn := strings.ToLower(fmt.Sprint(u["userPrincipalName"]))
		if _, dup := out[upn]; dup {
			e.t.Fatalf("two users %s in Microsoft 365", upn)
		}
		out[upn] = u
		if id, _ := u["onPremisesImmutableId"].(string); id != "" {
			if other, dup := imm[id]; dup {
				e.t.Fatalf("users %s and %s carry the same immutable id", other, upn)
			}
			imm[id] = upn
		}
	}
	return out
}

// graphDo sends one Graph request as the full-permission app (the
// administrator changing things in the portal).
func (e *env) graphDo(method, path string, body any) {
	e.t.Helper()
	tok, err := e.sim.IssueAppToken(directoryID, clientID)
	if err != nil {
		e.t.Fatal(err)
	}
	var rd *strings.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	} else {
		rd = strings.NewReader("")
	}
	req, _ := http.NewRequest(method, e.sim.URL()+"/v1.0"+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	res, err := e.sim.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode >= 300 {
		e.t.Fatalf("%s %s: %d", method, path, res.StatusCode)
	}
}

func hasIssue(r syncrecord.Run, code, subject, words string) bool {
	for _, i := range r.Report {
		if i.Code == code && i.Subject == subject && strings.Contains(i.Message, words) {
			return true
		}
	}
	return false
}
