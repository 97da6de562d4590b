package m365sim

import (
	"crypto/sha1" //nolint:gosec // certificate thumbprints are SHA-1 by convention
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The read-only HTML view of the sim (GET /_sim/ and GET /) and the sign-in
// pages. Server-rendered with html/template (auto-escaped), no JavaScript
// except the auto-submit of the SAML form, one small stylesheet.

const viewPageSize = 100

// viewData is everything the tenant view shows, copied under the lock.
type viewData struct {
	Now        string
	Tenants    []viewTenantTab
	T          *viewTenant
	SignIns    []viewSignIn
	SignInMore int
	Stats      Stats
	Throttle   throttleState
	Faults     FaultConfig
	FaultsOn   bool
	SAMLCert   string
	Refresh    int
	Query      string
}

type viewTenantTab struct {
	ID, Name string
	Current  bool
}

type viewTenant struct {
	ID, Name, InitialDomain string
	Hybrid                  bool
	Domains                 []viewDomain
	Users                   []viewUser
	UserCount, UserPage     int
	UserPages               []int
	DeletedUsers            int
	Groups                  []viewGroup
	SKUs                    []viewSKU
	Apps                    []viewApp
}

type viewDomain struct {
	Name, Auth                                 string
	Verified, Default, Initial, Root           bool
	InheritsFrom                               string
	Issuer, Passive, Protocol, Prompt, MFA     string
	SignedRequests                             bool
	Cert, NextCert                             string
	CertExpires, NextCertExpires, DisplayName  string
	ActiveSignIn, SignOut, MetadataExchangeURI string
}

type viewUser struct {
	UPN, Name, ImmutableID, Usage, Licences, Roles, Created string
	Enabled, Federated                                      bool
}

type viewGroup struct {
	Name, Kind, Mail  string
	MemberCount       int
	Members           []string
	MoreMembers       int
	Deleted, Security bool
}

type viewSKU struct {
	Part, ID      string
	Used, Enabled int
	Pct           int
	Over          bool
}

type viewApp struct {
	ID, Name, Permissions string
	Certificates          int
}

type viewSignIn struct {
	Time, UPN, Protocol, Result, Reason, MFA, Cert, Issuer, Warnings string
	OK                                                               bool
	Code                                                             int
}

// serveView renders the tenant view.
func (s *Server) serveView(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	d := viewData{Now: s.now().UTC().Format("2006-01-02 15:04:05 UTC")}
	if n, err := strconv.Atoi(q.Get("refresh")); err == nil && n > 0 {
		d.Refresh = min(n, 3600)
	}
	page, _ := strconv.Atoi(q.Get("users"))
	s.store.mu.RLock()
	ids := make([]string, 0, len(s.store.tenants))
	for id := range s.store.tenants {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := s.store.tenants[ids[i]], s.store.tenants[ids[j]]
		if a.DisplayName != b.DisplayName {
			return a.DisplayName < b.DisplayName
		}
		return a.ID < b.ID
	})
	var cur *Tenant
	want := strings.ToLower(q.Get("tenant"))
	for _, id := range ids {
		t := s.store.tenants[id]
		if cur == nil && (want == "" || want == id) {
			cur = t
		}
		d.Tenants = append(d.Tenants, viewTenantTab{ID: t.ID, Name: t.DisplayName})
	}
	if cur == nil && len(ids) > 0 {
		cur = s.store.tenants[ids[0]]
	}
	for i := range d.Tenants {
		d.Tenants[i].Current = cur != nil && d.Tenants[i].ID == cur.ID
	}
	if cur != nil {
		d.T = s.viewTenantLocked(cur, page)
		d.Query = "tenant=" + cur.ID
	}
	all := s.store.signIns
	for i := len(all) - 1; i >= 0 && len(d.SignIns) < 50; i-- {
		si := all[i]
		if cur != nil && si.TenantID != "" && si.TenantID != cur.ID {
			continue
		}
		d.SignIns = append(d.SignIns, toViewSignIn(si))
	}
	d.SignInMore = len(all) - len(d.SignIns)
	s.store.mu.RUnlock()

	d.Stats = s.Stats()
	d.Throttle = s.throttleSnapshot()
	d.Faults = s.Faults()
	d.FaultsOn = d.Faults.active()
	s.samlMu.Lock()
	if s.saml != nil {
		d.SAMLCert = thumbprintHex(s.saml.cert.Raw)
	}
	s.samlMu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := viewTemplates.ExecuteTemplate(w, "view", d); err != nil {
		s.log.Error("m365sim: rendering the view", "err", err)
	}
}

func toViewSignIn(si SignIn) viewSignIn {
	v := viewSignIn{Time: si.CreatedDateTime.UTC().Format("2006-01-02 15:04:05"), UPN: si.UserPrincipalName, Protocol: si.Protocol,
		OK: si.Succeeded(), Code: si.Status.ErrorCode, Reason: si.Status.FailureReason, Issuer: si.Issuer, Cert: si.SigningCertificate,
		Warnings: strings.Join(si.Warnings, "; ")}
	if v.OK {
		v.Result = "Success"
	} else {
		v.Result = fmt.Sprintf("AADSTS%d", si.Status.ErrorCode)
	}
	switch {
	case si.MFASatisfiedBy != "":
		v.MFA = "by " + si.MFASatisfiedBy
	case si.MFARequired:
		v.MFA = "required"
	default:
		v.MFA = "—"
	}
	return v
}

func (s *Server) viewTenantLocked(t *Tenant, page int) *viewTenant {
	vt := &viewTenant{ID: t.ID, Name: t.DisplayName, Hybrid: t.OnPremisesSyncEnabled}
	if d := t.initialDomain(); d != nil {
		vt.InitialDomain = d.Name
	}
	for _, d := range t.Domains {
		root := t.rootOf(d)
		vd := viewDomain{Name: d.Name, Verified: d.IsVerified, Default: d.IsDefault, Initial: d.IsInitial, Root: root == d, Auth: "Managed"}
		f := t.effectiveFederation(d)
		if f != nil {
			vd.Auth = "Federated"
			if root != d {
				vd.InheritsFrom = root.Name
			} else {
				fs := fedProps(f.Props)
				str := func(k string) string { v, _ := f.Props[k].(string); return v }
				vd.Issuer, vd.Passive, vd.Protocol, vd.DisplayName = fs.issuer, fs.passive, fs.protocol, str("displayName")
				vd.Prompt = str("promptLoginBehavior")
				if vd.Prompt == "" {
					vd.Prompt = "translateToFreshPasswordAuthentication"
				}
				vd.MFA, vd.SignedRequests = fs.mfaBehavior, fs.signedRequests
				vd.ActiveSignIn, vd.SignOut, vd.MetadataExchangeURI = str("activeSignInUri"), str("signOutUri"), str("metadataExchangeUri")
				if fs.current != nil {
					vd.Cert = thumbprintHex(fs.current.Raw)
					vd.CertExpires = fs.current.NotAfter.UTC().Format("2006-01-02")
				}
				if fs.next != nil {
					vd.NextCert = thumbprintHex(fs.next.Raw)
					vd.NextCertExpires = fs.next.NotAfter.UTC().Format("2006-01-02")
				}
			}
		}
		vt.Domains = append(vt.Domains, vd)
	}
	skuName := map[string]string{}
	for _, k := range t.SKUs {
		skuName[strings.ToLower(k.SkuID)] = k.SkuPartNumber
		v := viewSKU{Part: k.SkuPartNumber, ID: k.SkuID, Used: k.consumed, Enabled: k.PrepaidEnabled}
		if k.PrepaidEnabled > 0 {
			v.Pct = min(100, k.consumed*100/k.PrepaidEnabled)
		}
		v.Over = k.consumed > k.PrepaidEnabled
		vt.SKUs = append(vt.SKUs, v)
	}
	vt.UserCount = len(t.users.items)
	pages := (vt.UserCount + viewPageSize - 1) / viewPageSize
	if page < 0 || page >= pages {
		page = 0
	}
	vt.UserPage = page
	for p := 0; p < pages && pages > 1; p++ {
		if p < 3 || p >= pages-2 || (p >= page-2 && p <= page+2) {
			vt.UserPages = append(vt.UserPages, p)
		}
	}
	for _, u := range t.users.items[min(page*viewPageSize, len(t.users.items)):min((page+1)*viewPageSize, len(t.users.items))] {
		vu := viewUser{UPN: u.str("userPrincipalName"), Name: u.str("displayName"), ImmutableID: u.str("onPremisesImmutableId"),
			Usage: u.str("usageLocation"), Enabled: accountEnabled(u), Roles: strings.Join(u.DirectoryRoles, ", ")}
		if c, ok := u.props["createdDateTime"].(time.Time); ok {
			vu.Created = c.UTC().Format("2006-01-02 15:04")
		}
		var lic []string
		for _, l := range licensesOf(u) {
			n := skuName[strings.ToLower(l.SkuID)]
			if n == "" {
				n = l.SkuID
			}
			lic = append(lic, n)
		}
		vu.Licences = strings.Join(lic, ", ")
		_, dom, _ := strings.Cut(vu.UPN, "@")
		if d := t.domain(dom); d != nil && t.effectiveFederation(d) != nil {
			vu.Federated = true
		}
		vt.Users = append(vt.Users, vu)
	}
	for _, it := range t.deleted {
		if it.user != nil {
			vt.DeletedUsers++
		}
	}
	names := func(id string) string {
		if u, ok := t.users.get(id); ok {
			return u.str("userPrincipalName")
		}
		if g, ok := t.groups.get(id); ok {
			return g.str("displayName") + " (group)"
		}
		return id
	}
	for i, g := range t.groups.items {
		if i >= 500 {
			break
		}
		vg := viewGroup{Name: g.str("displayName"), Mail: g.str("mail"), MemberCount: len(g.members)}
		sec, _ := g.props["securityEnabled"].(bool)
		mail, _ := g.props["mailEnabled"].(bool)
		switch {
		case g.isUnified():
			vg.Kind = "Microsoft 365"
		case sec && mail:
			vg.Kind = "Mail-enabled security"
		case sec:
			vg.Kind, vg.Security = "Security", true
		default:
			vg.Kind = "Distribution"
		}
		for j, m := range g.members {
			if j >= 12 {
				vg.MoreMembers = len(g.members) - j
				break
			}
			vg.Members = append(vg.Members, names(m))
		}
		vt.Groups = append(vt.Groups, vg)
	}
	appIDs := make([]string, 0, len(t.Apps))
	for id := range t.Apps {
		appIDs = append(appIDs, id)
	}
	sort.Strings(appIDs)
	for _, id := range appIDs {
		a := t.Apps[id]
		vt.Apps = append(vt.Apps, viewApp{ID: a.ClientID, Name: a.DisplayName, Certificates: len(a.Certificates),
			Permissions: strings.Join(a.ApplicationPermissions, ", ")})
	}
	return vt
}

func thumbprintHex(der []byte) string {
	d := sha1.Sum(der) //nolint:gosec // thumbprint
	return strings.ToUpper(hex.EncodeToString(d[:]))
}

// renderStartPage shows the sign-in start page.
func (s *Server) renderStartPage(w http.ResponseWriter, r *http.Request, username string, o startOptions, e *signInError) {
	type dom struct{ Name, Auth, Tenant string }
	var doms []dom
	s.store.mu.RLock()
	for _, t := range s.store.tenants {
		for _, d := range t.Domains {
			if !d.IsVerified {
				continue
			}
			a := "managed"
			if t.effectiveFederation(d) != nil {
				a = "federated"
			}
			doms = append(doms, dom{d.Name, a, t.DisplayName})
		}
	}
	s.store.mu.RUnlock()
	sort.Slice(doms, func(i, j int) bool { return doms[i].Name < doms[j].Name })
	if len(doms) > 30 {
		doms = doms[:30]
	}
	status := http.StatusOK
	if e != nil {
		status = http.StatusBadRequest
	}
	s.renderPage(w, status, "start", map[string]any{"Username": username, "Fresh": o.fresh, "MFA": o.mfa, "Err": e, "Domains": doms})
}

// renderPasswordPage asks for a managed user's cloud password.
func (s *Server) renderPasswordPage(w http.ResponseWriter, r *http.Request, username string, o startOptions, e *signInError) {
	s.renderPage(w, http.StatusOK, "password", map[string]any{"Username": username, "Fresh": o.fresh, "MFA": o.mfa, "Err": e})
}

// renderPostForm sends the browser on with an auto-submitting POST form
// (SAML HTTP-POST binding).
func (s *Server) renderPostForm(w http.ResponseWriter, action string, fields map[string]string) {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	type kv struct{ K, V string }
	var fs []kv
	for _, k := range keys {
		fs = append(fs, kv{k, fields[k]})
	}
	s.renderPage(w, http.StatusOK, "post", map[string]any{"Action": template.URL(action), "Fields": fs})
}

func (s *Server) renderErrorPage(w http.ResponseWriter, status int, e *signInError, si SignIn) {
	s.renderPage(w, status, "error", map[string]any{"Code": e.code, "Msg": e.msg, "S": si, "Time": s.now().UTC().Format("2006-01-02 15:04:05Z")})
}

func (s *Server) renderSignedInPage(w http.ResponseWriter, si SignIn, tenant string) {
	s.renderPage(w, http.StatusOK, "signedin", map[string]any{"S": si, "Tenant": tenant})
}

func (s *Server) renderPage(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := viewTemplates.ExecuteTemplate(w, name, data); err != nil {
		s.log.Error("m365sim: rendering a page", "page", name, "err", err)
	}
}

var viewTemplates = template.Must(template.New("m365sim").Funcs(template.FuncMap{
	"short": func(s string) string {
		if len(s) > 16 {
			return s[:8] + "…" + s[len(s)-6:]
		}
		return s
	},
	"pct": func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"num": func(v any) string {
		var n int64
		switch x := v.(type) {
		case int:
			n = int64(x)
		case int64:
			n = x
		case float64:
			return strconv.FormatFloat(x, 'f', 0, 64)
		}
		s := strconv.FormatInt(n, 10)
		for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
			s = s[:i] + "," + s[i:]
		}
		return s
	},
	"add":   func(a, b int) int { return a + b },
	"add64": func(a, b int64) int64 { return a + b },
}).Parse(viewHTML))

const viewCSS = `
:root{--fg:#1b1b1b;--muted:#616161;--line:#e1e1e1;--bg:#f5f5f5;--card:#fff;--accent:#0067b8;--ok:#107c10;--bad:#c50f1f;--warn:#8a5d00}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 "Segoe UI",system-ui,-apple-system,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#fff;border-bottom:1px solid var(--line);padding:10px 24px;display:flex;align-items:center;gap:24px}
header .brand{font-weight:600;font-size:16px}
header .brand span{color:var(--muted);font-weight:400}
header nav a{margin-right:16px;color:var(--accent);text-decoration:none}
header nav a:hover{text-decoration:underline}
header .now{margin-left:auto;color:var(--muted);font-size:12px}
main{padding:20px 24px;max-width:1500px}
h1{font-size:22px;font-weight:600;margin:0 0 4px}
h2{font-size:16px;font-weight:600;margin:28px 0 8px;display:flex;align-items:baseline;gap:10px}
h2 small{font-weight:400;color:var(--muted);font-size:13px}
.sub{color:var(--muted);margin-bottom:16px}
.tabs a{display:inline-block;padding:6px 12px;margin-right:4px;border:1px solid var(--line);border-radius:4px 4px 0 0;background:#fafafa;color:var(--fg);text-decoration:none}
.tabs a.cur{background:#fff;border-bottom-color:#fff;font-weight:600}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;margin:12px 0}
.card{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:10px 14px}
.card .v{font-size:22px;font-weight:600}
.card .l{color:var(--muted);font-size:12px}
table{border-collapse:collapse;width:100%;background:var(--card);border:1px solid var(--line);border-radius:6px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;font-size:12px;color:var(--muted);background:#fafafa;white-space:nowrap}
tr:last-child td{border-bottom:none}
td.nw{white-space:nowrap}
td.mono,.mono{font-family:ui-monospace,SFMono-Regular,Consolas,monospace;font-size:12px}
.pill{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;background:#eee;white-space:nowrap}
.pill.fed{background:#e6f0fb;color:#004e8c}.pill.ok{background:#dff6dd;color:var(--ok)}.pill.bad{background:#fde7e9;color:var(--bad)}
.pill.warn{background:#fff4ce;color:var(--warn)}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;font-size:13px;margin:0}
.kv dt{color:var(--muted)}.kv dd{margin:0;word-break:break-all}
.bar{height:6px;background:#eee;border-radius:3px;overflow:hidden;min-width:80px}
.bar i{display:block;height:100%;background:var(--accent)}
.bar.over i{background:var(--bad)}
.muted{color:var(--muted)}
.pager a,.pager b{margin-right:6px}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:16px}
@media(max-width:900px){.cols{grid-template-columns:1fr}}
.login{max-width:440px;margin:48px auto;background:#fff;border:1px solid var(--line);box-shadow:0 2px 6px rgba(0,0,0,.08);padding:36px 40px}
.login h1{font-size:24px;margin-bottom:16px}
.login input[type=text],.login input[type=email],.login input[type=password]{width:100%;padding:8px 4px;border:none;border-bottom:1px solid #666;font-size:15px;margin:6px 0 14px;outline:none}
.login input:focus{border-bottom-color:var(--accent)}
.login label.opt{display:block;margin:6px 0;color:var(--fg)}
.login button{background:var(--accent);color:#fff;border:none;padding:8px 28px;font-size:15px;margin-top:14px;cursor:pointer}
.login .err{color:var(--bad);margin:8px 0}
.login .who{border:1px solid var(--line);padding:6px 10px;margin-bottom:12px}
.login .doms{margin-top:24px;font-size:12px;color:var(--muted)}
.big{font-size:15px}
`

const viewHTML = `
{{define "head"}}<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.}} · m365sim</title><style>` + viewCSS + `</style>{{end}}
{{define "bar"}}<header><div class="brand">m365sim <span>offline Microsoft 365</span></div>
<nav><a href="/_sim/">Tenant</a><a href="/common/login">Sign in</a><a href="/_sim/signins">Sign-in log (JSON)</a><a href="/_sim/stats">Statistics (JSON)</a><a href="/_sim/state">State (JSON)</a></nav>
<div class="now">{{.}}</div></header>{{end}}

{{define "view"}}{{template "head" "Tenant"}}{{if .Refresh}}<meta http-equiv="refresh" content="{{.Refresh}}">{{end}}</head><body>
{{template "bar" .Now}}<main>
{{if not .T}}<h1>No tenant</h1><p class="sub">The sim holds no tenant. Seed one with <span class="mono">--seed</span> or <span class="mono">POST /_sim/seed</span>.</p>{{else}}
{{if gt (len .Tenants) 1}}<div class="tabs">{{range .Tenants}}<a href="/_sim/?tenant={{.ID}}"{{if .Current}} class="cur"{{end}}>{{.Name}}</a>{{end}}</div>{{end}}
{{with .T}}<h1>{{.Name}}</h1><div class="sub mono">tenant {{.ID}} · {{.InitialDomain}}{{if .Hybrid}} · <span class="pill warn">hybrid (onPremisesSyncEnabled)</span>{{end}}</div>{{end}}
<div class="cards">
<div class="card"><div class="v">{{num .T.UserCount}}</div><div class="l">users{{if .T.DeletedUsers}} (+{{.T.DeletedUsers}} deleted){{end}}</div></div>
<div class="card"><div class="v">{{num (len .T.Groups)}}</div><div class="l">groups</div></div>
<div class="card"><div class="v">{{num .Stats.Requests.WritesSucceeded}}</div><div class="l">writes done</div></div>
<div class="card"><div class="v">{{pct .Stats.Rates.WritesPerSecond}}</div><div class="l">writes / second</div></div>
<div class="card"><div class="v">{{num .Stats.Throttled.Total}}</div><div class="l">throttled (429)</div></div>
<div class="card"><div class="v">{{num .Stats.SignIns.Succeeded}} / {{num (add64 .Stats.SignIns.Succeeded .Stats.SignIns.Failed)}}</div><div class="l">sign-ins succeeded</div></div>
</div>

<h2>Domains</h2>
<table><tr><th>Domain</th><th>Authentication</th><th>Federation</th></tr>
{{range .T.Domains}}<tr><td><b>{{.Name}}</b><br>{{if .Verified}}<span class="pill ok">verified</span>{{else}}<span class="pill">unverified</span>{{end}}
{{if .Initial}}<span class="pill">initial</span>{{end}}{{if .Default}}<span class="pill">default</span>{{end}}{{if not .Root}}<span class="pill">subdomain</span>{{end}}</td>
<td>{{if eq .Auth "Federated"}}<span class="pill fed">Federated</span>{{else}}<span class="pill">Managed</span>{{end}}</td>
<td>{{if .InheritsFrom}}<span class="muted">inherits the federation of {{.InheritsFrom}}</span>{{else if eq .Auth "Federated"}}<dl class="kv">
{{if .DisplayName}}<dt>Identity provider</dt><dd>{{.DisplayName}}</dd>{{end}}
<dt>Protocol</dt><dd>{{if eq .Protocol "saml"}}SAML 2.0{{else}}WS-Federation{{end}}{{if .SignedRequests}} · signed AuthnRequests{{end}}</dd>
<dt>issuerUri</dt><dd class="mono">{{.Issuer}}</dd>
<dt>passiveSignInUri</dt><dd class="mono">{{.Passive}}</dd>
{{if .SignOut}}<dt>signOutUri</dt><dd class="mono">{{.SignOut}}</dd>{{end}}
{{if .ActiveSignIn}}<dt>activeSignInUri</dt><dd class="mono">{{.ActiveSignIn}}</dd>{{end}}
<dt>signingCertificate</dt><dd class="mono">{{if .Cert}}{{.Cert}} <span class="muted">(until {{.CertExpires}})</span>{{else}}<span class="pill bad">none</span>{{end}}</dd>
{{if .NextCert}}<dt>nextSigningCertificate</dt><dd class="mono">{{.NextCert}} <span class="muted">(until {{.NextCertExpires}})</span></dd>{{end}}
<dt>promptLoginBehavior</dt><dd>{{.Prompt}}</dd>
<dt>federatedIdpMfaBehavior</dt><dd>{{.MFA}}</dd></dl>{{else}}<span class="muted">—</span>{{end}}</td></tr>{{end}}
</table>

<h2>Users <small>{{num .T.UserCount}} · page {{add .T.UserPage 1}}</small></h2>
<table><tr><th>User principal name</th><th>Display name</th><th>Immutable id</th><th>Enabled</th><th>Usage location</th><th>Licences</th><th>Roles</th><th>Created</th></tr>
{{range .T.Users}}<tr><td>{{.UPN}}{{if .Federated}} <span class="pill fed">federated</span>{{end}}</td><td>{{.Name}}</td><td class="mono">{{.ImmutableID}}</td>
<td>{{if .Enabled}}<span class="pill ok">yes</span>{{else}}<span class="pill bad">disabled</span>{{end}}</td><td>{{.Usage}}</td><td>{{.Licences}}</td><td>{{.Roles}}</td><td class="muted">{{.Created}}</td></tr>
{{else}}<tr><td colspan="8" class="muted">No users.</td></tr>{{end}}</table>
{{if .T.UserPages}}<p class="pager">Pages: {{$q := .Query}}{{$p := .T.UserPage}}{{range .T.UserPages}}{{if eq . $p}}<b>{{add . 1}}</b>{{else}}<a href="/_sim/?{{$q}}&users={{.}}">{{add . 1}}</a>{{end}} {{end}}</p>{{end}}

<div class="cols"><div>
<h2>Groups <small>{{len .T.Groups}}</small></h2>
<table><tr><th>Group</th><th>Type</th><th>Members</th></tr>
{{range .T.Groups}}<tr><td><b>{{.Name}}</b>{{if .Mail}}<br><span class="muted">{{.Mail}}</span>{{end}}</td><td>{{.Kind}}</td>
<td>{{.MemberCount}}{{if .Members}}: {{range $i, $m := .Members}}{{if $i}}, {{end}}{{$m}}{{end}}{{if .MoreMembers}} <span class="muted">and {{.MoreMembers}} more</span>{{end}}{{end}}</td></tr>
{{else}}<tr><td colspan="3" class="muted">No groups.</td></tr>{{end}}</table>
</div><div>
<h2>Licences</h2>
<table><tr><th>SKU</th><th>Seats used</th><th></th></tr>
{{range .T.SKUs}}<tr><td><b>{{.Part}}</b><br><span class="mono muted">{{.ID}}</span></td><td>{{.Used}} of {{.Enabled}}</td><td><div class="bar{{if .Over}} over{{end}}"><i style="width:{{.Pct}}%"></i></div></td></tr>
{{else}}<tr><td colspan="3" class="muted">No subscriptions.</td></tr>{{end}}</table>
<h2>App registrations</h2>
<table><tr><th>Application</th><th>Permissions</th><th>Certificates</th></tr>
{{range .T.Apps}}<tr><td><b>{{.Name}}</b><br><span class="mono muted">{{.ID}}</span></td><td>{{.Permissions}}</td><td>{{.Certificates}}</td></tr>
{{else}}<tr><td colspan="3" class="muted">No apps.</td></tr>{{end}}</table>
</div></div>
{{end}}

<h2>Sign-in log <small>latest {{len .SignIns}}{{if .SignInMore}} · {{.SignInMore}} more in <a href="/_sim/signins">/_sim/signins</a>{{end}}</small></h2>
<table><tr><th>Time (UTC)</th><th>User</th><th>Protocol</th><th>Result</th><th>MFA</th><th>Certificate</th><th>Details</th></tr>
{{range .SignIns}}<tr><td class="muted nw">{{.Time}}</td><td>{{.UPN}}</td><td>{{.Protocol}}</td>
<td>{{if .OK}}<span class="pill ok">Success</span>{{else}}<span class="pill bad">{{.Result}}</span>{{end}}</td><td>{{.MFA}}</td><td class="mono">{{.Cert}}</td>
<td>{{if not .OK}}{{.Reason}}{{end}}{{if .Warnings}}<span class="pill warn">warning</span> {{.Warnings}}{{end}}</td></tr>
{{else}}<tr><td colspan="7" class="muted">No sign-in yet. Try <a href="/common/login">the sign-in page</a>.</td></tr>{{end}}</table>

<div class="cols"><div>
<h2>Requests <small>since {{.Stats.Since.UTC.Format "15:04:05"}} · {{pct .Stats.ElapsedSeconds}} s · <a href="/_sim/stats">JSON</a></small></h2>
<table>
<tr><td>HTTP requests to Graph</td><td>{{num .Stats.Requests.HTTP}}</td></tr>
<tr><td>$batch requests / items</td><td>{{num .Stats.Requests.Batches}} / {{num .Stats.Requests.BatchItems}}</td></tr>
<tr><td>Reads</td><td>{{num .Stats.Requests.Reads}}</td></tr>
<tr><td>Writes (succeeded)</td><td>{{num .Stats.Requests.Writes}} ({{num .Stats.Requests.WritesSucceeded}})</td></tr>
<tr><td>Resource units</td><td>{{num .Stats.Requests.ResourceUnits}}</td></tr>
<tr><td>Throttled reads / writes</td><td>{{num .Stats.Throttled.Reads}} / {{num .Stats.Throttled.Writes}}</td></tr>
<tr><td>Writes per second</td><td>{{pct .Stats.Rates.WritesPerSecond}}</td></tr>
<tr><td>Injected errors / drops / lag 404s / delays</td><td>{{num .Stats.Faults.Errors}} / {{num .Stats.Faults.Drops}} / {{num .Stats.Faults.ReadAfterWriteLag}} / {{num .Stats.Faults.Delayed}}</td></tr>
</table>
</div><div>
<h2>Throttling and faults</h2>
<table>
<tr><td>Throttling</td><td>{{if .Throttle.Enabled}}<span class="pill ok">on</span> Microsoft's limits{{if ne .Throttle.Scale 0.0}}{{if ne .Throttle.Scale 1.0}} × {{.Throttle.Scale}}{{end}}{{end}}{{else}}<span class="pill">off</span>{{end}}</td></tr>
{{range .Throttle.Buckets}}<tr><td class="mono">{{.Limit}} <span class="muted">{{short .Key}}</span></td><td>{{num .Available}} of {{num .Capacity}} {{.Unit}} per {{.Window}}</td></tr>{{end}}
<tr><td>Faults</td><td>{{if .FaultsOn}}<span class="pill warn">on</span> seed {{.Faults.Seed}}{{if .Faults.ErrorRate}} · 5xx {{.Faults.ErrorRate}}{{end}}{{if .Faults.DropRate}} · drops {{.Faults.DropRate}}{{end}}{{if .Faults.ReadAfterWriteLag}} · read-after-write lag {{.Faults.ReadAfterWriteLag}}{{end}}{{if .Faults.Latency}} · latency {{.Faults.Latency}}{{end}}{{else}}<span class="pill">off</span>{{end}}</td></tr>
{{if .SAMLCert}}<tr><td>AuthnRequest signing certificate</td><td class="mono"><a href="/_sim/authnrequest-signing.pem">{{.SAMLCert}}</a></td></tr>{{end}}
</table>
<p class="muted">{{if .Refresh}}Refreshing every {{.Refresh}} s · <a href="/_sim/?{{.Query}}">stop</a>{{else}}<a href="/_sim/?{{.Query}}&refresh=5">Refresh every 5 s</a>{{end}}</p>
</div></div>
</main></body></html>{{end}}

{{define "start"}}{{template "head" "Sign in"}}</head><body>{{template "bar" ""}}
<form class="login" method="get" action="/common/login"><h1>Sign in</h1>
{{if .Err}}<div class="err">AADSTS{{.Err.Code}}: {{.Err.Msg}}</div>{{end}}
<input type="email" name="username" placeholder="Email or phone" value="{{.Username}}" autofocus required aria-label="User name">
<label class="opt"><input type="checkbox" name="prompt" value="login"{{if .Fresh}} checked{{end}}> Ask for a fresh sign-in (prompt=login)</label>
<label class="opt"><input type="checkbox" name="mfa" value="1"{{if .MFA}} checked{{end}}> Require MFA, as a Conditional Access policy would</label>
<button type="submit">Next</button>
{{if .Domains}}<div class="doms">Domains of this sim: {{range $i, $d := .Domains}}{{if $i}}, {{end}}{{$d.Name}} ({{$d.Auth}}){{end}}</div>{{end}}
</form></body></html>{{end}}

{{define "password"}}{{template "head" "Enter password"}}</head><body>{{template "bar" ""}}
<form class="login" method="post" action="/common/login"><h1>Enter password</h1>
<div class="who">{{.Username}}</div>
{{if .Err}}<div class="err">AADSTS{{.Err.Code}}: {{.Err.Msg}}</div>{{end}}
<input type="hidden" name="username" value="{{.Username}}">{{if .Fresh}}<input type="hidden" name="prompt" value="login">{{end}}{{if .MFA}}<input type="hidden" name="mfa" value="1">{{end}}
<input type="password" name="password" placeholder="Password" autofocus required aria-label="Password">
<button type="submit">Sign in</button>
<p class="muted">This domain is managed: Microsoft Entra checks the user's cloud password.</p>
</form></body></html>{{end}}

{{define "post"}}{{template "head" "Continue"}}</head><body onload="document.forms[0].submit()">
<form class="login" method="post" action="{{.Action}}"><h1>Continue</h1>
<p>Sending you to your organization's sign-in page…</p>
{{range .Fields}}<input type="hidden" name="{{.K}}" value="{{.V}}">{{end}}
<noscript><button type="submit">Continue</button></noscript>
</form></body></html>{{end}}

{{define "error"}}{{template "head" "Sign-in failed"}}</head><body>{{template "bar" ""}}
<div class="login"><h1>Sign-in failed</h1>
<p class="err big"><b>AADSTS{{.Code}}</b>: {{.Msg}}</p>
<dl class="kv">{{if .S.UserPrincipalName}}<dt>User</dt><dd>{{.S.UserPrincipalName}}</dd>{{end}}
<dt>Protocol</dt><dd>{{.S.Protocol}}</dd>{{if .S.Domain}}<dt>Domain</dt><dd>{{.S.Domain}}</dd>{{end}}
{{if .S.TenantID}}<dt>Tenant</dt><dd class="mono">{{.S.TenantID}}</dd>{{end}}<dt>Timestamp</dt><dd>{{.Time}}</dd></dl>
<p><a href="/common/login">Sign in again</a> · <a href="/_sim/">Tenant view</a></p></div></body></html>{{end}}

{{define "signedin"}}{{template "head" "Signed in"}}</head><body>{{template "bar" ""}}
<div class="login"><h1>You're signed in</h1>
<p class="big"><b>{{.S.UserDisplayName}}</b><br>{{.S.UserPrincipalName}}</p>
<dl class="kv"><dt>Tenant</dt><dd>{{.Tenant}}</dd><dt>Protocol</dt><dd>{{if eq .S.Protocol "wsFed"}}WS-Federation{{else if eq .S.Protocol "saml"}}SAML 2.0{{else}}Cloud password{{end}}</dd>
{{if .S.Issuer}}<dt>Issuer</dt><dd class="mono">{{.S.Issuer}}</dd>{{end}}
{{if .S.ImmutableID}}<dt>Immutable id</dt><dd class="mono">{{.S.ImmutableID}}</dd>{{end}}
{{if .S.SigningCertificate}}<dt>Signed with</dt><dd>{{.S.SigningCertificate}}</dd>{{end}}
<dt>MFA</dt><dd>{{if .S.MFASatisfiedBy}}done by {{.S.MFASatisfiedBy}}{{else if .S.MFARequired}}required{{else}}not required{{end}}</dd></dl>
{{range .S.Warnings}}<p><span class="pill warn">warning</span> {{.}}</p>{{end}}
<p><a href="/_sim/">Tenant view</a> · <a href="/common/login">Sign in as someone else</a></p></div></body></html>{{end}}
`
