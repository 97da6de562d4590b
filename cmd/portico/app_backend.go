package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/m365/federation"
)

// appBackend is what the app and federation commands act through, so that
// each is written once: on the database with the master key loaded
// (directApps) or through a running server's API (apiBackend), where the
// server holds the keys and the Microsoft endpoints it may call.
type appBackend interface {
	Close() error
	// CreateApplication creates a, naming its policy and permission
	// groups as the administrator typed them (name or id).
	CreateApplication(ctx context.Context, a apps.Application, policy string, groups []string) (apps.Application, error)
	ListApplications(ctx context.Context) ([]apps.Application, error)
	GetApplication(ctx context.Context, id string) (apps.Application, error)
	// UpdateApplication reads the application, lets change alter it and
	// writes it back (through the API only if nobody changed it between).
	UpdateApplication(ctx context.Context, id string, change func(*apps.Application) error) (apps.Application, error)
	// Certificate returns the public part of the application's
	// certificate with role (current or next).
	Certificate(ctx context.Context, id string, role apps.SigningKeyRole) (certInfo, error)
	// Federation runs verb (verify, federate, disconnect, manual,
	// rollover) for domain of app. The result is a federation.Report,
	// Result, Manual or []RolloverStep, also when the operation failed.
	Federation(ctx context.Context, app apps.Application, verb, domain string) (any, error)
}

// certInfo is a certificate as the commands print it.
type certInfo struct {
	SHA1, SHA256 string
	NotAfter     time.Time
	DER          []byte
}

// PEM is the certificate in PEM armour.
func (c certInfo) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.DER})
}

// directApps acts on the database with the services of this process.
type directApps struct {
	s   *services
	fed *federation.Service // only for the federation commands
}

func (d *directApps) Close() error { return d.s.store.Close() }

func (d *directApps) CreateApplication(ctx context.Context, a apps.Application, policy string, groups []string) (apps.Application, error) {
	var err error
	if a.PolicyID, err = d.s.policyID(ctx, policy); err != nil {
		return a, err
	}
	if a.GroupIDs, err = d.s.groupIDs(ctx, groups); err != nil {
		return a, err
	}
	return d.s.admin.CreateApplication(ctx, d.s.tenant.ID, a)
}

func (d *directApps) ListApplications(ctx context.Context) ([]apps.Application, error) {
	list, err := d.s.admin.ListApplications(ctx, d.s.tenant.ID)
	if err != nil {
		return nil, fmt.Errorf("list applications of tenant %s: %w", d.s.tenant.Slug, err)
	}
	return list, nil
}

func (d *directApps) GetApplication(ctx context.Context, id string) (apps.Application, error) {
	a, err := d.s.admin.GetApplication(ctx, d.s.tenant.ID, id)
	return a, d.s.appNotFound(err, id)
}

func (d *directApps) UpdateApplication(ctx context.Context, id string, change func(*apps.Application) error) (apps.Application, error) {
	a, err := d.s.admin.UpdateApplication(ctx, d.s.tenant.ID, id, 0, change)
	return a, d.s.appNotFound(err, id)
}

func (d *directApps) Certificate(ctx context.Context, id string, role apps.SigningKeyRole) (certInfo, error) {
	c, err := currentCertificate(ctx, d.s, id, role)
	if err != nil {
		return certInfo{}, d.s.appNotFound(err, id)
	}
	return certInfo{SHA1: c.ThumbprintSHA1(), SHA256: c.ThumbprintSHA256(), NotAfter: c.Cert.NotAfter, DER: c.DER()}, nil
}

func (d *directApps) Federation(ctx context.Context, app apps.Application, verb, domain string) (any, error) {
	t := d.s.tenant
	switch verb {
	case "verify":
		return d.fed.Verify(ctx, t, app, domain)
	case "federate":
		return d.fed.Federate(ctx, t, app, domain)
	case "disconnect":
		return d.fed.Disconnect(ctx, t, app, domain)
	case "manual":
		return d.fed.Manual(ctx, t, app, domain)
	case "rollover":
		return d.fed.Rollover(ctx, t, app)
	}
	return nil, fmt.Errorf("unknown federation operation %q", verb)
}

// remoteApps is the API of a running server, for one tenant.
type remoteApps struct {
	*apiBackend
	tenant string
}

func (r *remoteApps) apps() string { return tpath(r.tenant) + "/applications" }

func (r *remoteApps) app(id string) string { return r.apps() + "/" + url.PathEscape(id) }

// named turns a 404 on the application's paths into its name (or the
// tenant's, when the tenant is what is missing).
func (r *remoteApps) named(ctx context.Context, err error, id string) error {
	if !errors.Is(err, errAPINotFound) {
		return err
	}
	if terr := r.checkTenant(ctx, r.tenant); terr != nil {
		return terr
	}
	return &notFound{kind: "application", name: id, tenant: r.tenant}
}

func (r *remoteApps) CreateApplication(ctx context.Context, a apps.Application, policy string, groups []string) (apps.Application, error) {
	if err := r.checkTenant(ctx, r.tenant); err != nil {
		return a, err
	}
	in := map[string]any{"kind": a.Kind, "name": a.Name, "enabled": a.Enabled}
	if policy != "" {
		ps, err := listAll[struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		}](ctx, r.apiBackend, tpath(r.tenant)+"/policies", nil, 0)
		if err != nil {
			return a, fmt.Errorf("list the policies of tenant %s: %w", r.tenant, err)
		}
		id := ""
		for _, p := range ps {
			if p.ID == policy || strings.EqualFold(p.Name, policy) {
				id = p.ID
			}
		}
		if id == "" {
			return a, fmt.Errorf("no policy %q in tenant %s", policy, r.tenant)
		}
		in["authenticationPolicyId"] = id
	}
	if len(groups) > 0 {
		var ids []string
		for _, ref := range groups {
			g, err := r.group(ctx, r.tenant, ref)
			var nf *notFound
			if errors.As(err, &nf) {
				return a, fmt.Errorf("no group %q in tenant %s", ref, r.tenant)
			}
			if err != nil {
				return a, err
			}
			ids = append(ids, g.ID)
		}
		in["permissionGroupIds"] = ids
	}
	if a.Office365 != nil {
		in["office365"] = a.Office365
	}
	var out apps.Application
	err := r.do(ctx, http.MethodPost, r.apps(), in, &out)
	return out, err
}

func (r *remoteApps) ListApplications(ctx context.Context) ([]apps.Application, error) {
	if err := r.checkTenant(ctx, r.tenant); err != nil {
		return nil, err
	}
	list, err := listAll[apps.Application](ctx, r.apiBackend, r.apps(), nil, 0)
	if err != nil {
		return nil, fmt.Errorf("list applications of tenant %s: %w", r.tenant, err)
	}
	return list, nil
}

func (r *remoteApps) GetApplication(ctx context.Context, id string) (apps.Application, error) {
	if id == "" {
		return apps.Application{}, errors.New("--app is required (the application id: see \"portico app list\")")
	}
	var a apps.Application
	err := r.do(ctx, http.MethodGet, r.app(id), nil, &a)
	return a, r.named(ctx, err, id)
}

// UpdateApplication sends what change altered (enabled and the Office 365
// settings) as a merge patch, with If-Match on the version it read so that
// a change made meanwhile by someone else is not overwritten.
func (r *remoteApps) UpdateApplication(ctx context.Context, id string, change func(*apps.Application) error) (apps.Application, error) {
	if id == "" {
		return apps.Application{}, errors.New("--app is required (the application id: see \"portico app list\")")
	}
	var a apps.Application
	hdr, err := r.send(ctx, http.MethodGet, r.app(id), nil, nil, &a, false)
	if err != nil {
		return a, r.named(ctx, err, id)
	}
	if err := change(&a); err != nil {
		return a, err
	}
	patch := map[string]any{"enabled": a.Enabled}
	if a.Office365 != nil {
		patch["office365"] = a.Office365
	}
	var h http.Header
	if etag := hdr.Get("ETag"); etag != "" {
		h = http.Header{"If-Match": {etag}}
	}
	var out apps.Application
	if _, err := r.send(ctx, http.MethodPatch, r.app(id), h, patch, &out, false); err != nil {
		return out, r.named(ctx, err, id)
	}
	return out, nil
}

func (r *remoteApps) Certificate(ctx context.Context, id string, role apps.SigningKeyRole) (certInfo, error) {
	if id == "" {
		return certInfo{}, errors.New("--app is required (the application id: see \"portico app list\")")
	}
	certs, err := listAll[struct {
		Role             string    `json:"role"`
		ThumbprintSHA1   string    `json:"thumbprint"`
		ThumbprintSHA256 string    `json:"thumbprintSha256"`
		NotAfter         time.Time `json:"notAfter"`
		Base64           string    `json:"base64"`
	}](ctx, r.apiBackend, r.app(id)+"/certificates", nil, 0)
	if err != nil {
		return certInfo{}, r.named(ctx, err, id)
	}
	for _, c := range certs {
		if c.Role != string(role) {
			continue
		}
		der, err := base64.StdEncoding.DecodeString(c.Base64)
		if err != nil {
			return certInfo{}, fmt.Errorf("the server's certificate of application %s: %w", id, err)
		}
		return certInfo{SHA1: c.ThumbprintSHA1, SHA256: c.ThumbprintSHA256, NotAfter: c.NotAfter, DER: der}, nil
	}
	return certInfo{}, fmt.Errorf("the application has no %s certificate", role)
}

// Federation calls the application's federation endpoint. A refused
// federate, disconnect or rollover still carries its result (the report,
// the steps), which is decoded so that it is printed as on the database.
func (r *remoteApps) Federation(ctx context.Context, app apps.Application, verb, domain string) (any, error) {
	path := r.app(app.ID) + "/federation/" + verb
	body := map[string]string{"domain": domain}
	switch verb {
	case "verify":
		var rep federation.Report
		_, err := r.send(ctx, http.MethodPost, path, nil, body, &rep, false)
		return rep, r.named(ctx, err, app.ID)
	case "federate", "disconnect":
		var res federation.Result
		_, err := r.send(ctx, http.MethodPost, path, nil, body, &res, false)
		if err != nil {
			var p struct {
				Result federation.Result `json:"result"`
			}
			var pb *problemBody
			if errors.As(err, &pb) {
				json.Unmarshal(pb.body, &p)
				res = p.Result
			}
		}
		return res, r.named(ctx, err, app.ID)
	case "manual":
		var m federation.Manual
		_, err := r.send(ctx, http.MethodGet, path+"?"+url.Values{"domain": {domain}}.Encode(), nil, nil, &m, false)
		return m, r.named(ctx, err, app.ID)
	case "rollover":
		var out struct {
			Steps []federation.RolloverStep `json:"steps"`
		}
		_, err := r.send(ctx, http.MethodPost, path, nil, nil, &out, true)
		return out.Steps, r.named(ctx, err, app.ID)
	}
	return nil, fmt.Errorf("unknown federation operation %q", verb)
}

// problemBody is an error answer with its body kept, for the answers that
// carry a result beside the problem.
type problemBody struct {
	err  error
	body []byte
}

func (p *problemBody) Error() string { return p.err.Error() }
func (p *problemBody) Unwrap() error { return p.err }
