package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/directory"
)

// tokenEnv holds the API token for --server when --token-file is not
// given. It is the one exception to "no command arguments from the
// environment": a credential must not be a flag value, which every user
// of the machine sees in `ps`, and a variable is how CI systems hand
// secrets to a step. It selects nothing by itself (without --server it is
// never read).
const tokenEnv = "PORTICO_TOKEN"

// apiBackend acts through a running server's JSON API (/api/v1), with the
// permissions of its token.
type apiBackend struct {
	base  string // https://host/api/v1
	token string
	http  *http.Client
}

func openRemote(server, tokenFile string) (*apiBackend, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server must be an http(s) URL such as https://idp.example.com, got %q", server)
	}
	var token string
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	} else {
		token = strings.TrimSpace(os.Getenv(tokenEnv))
	}
	if token == "" {
		return nil, fmt.Errorf("--server needs an API token: give --token-file FILE or set $%s (create one with \"portico token create\")", tokenEnv)
	}
	return &apiBackend{base: strings.TrimRight(server, "/") + "/api/v1", token: token, http: &http.Client{Timeout: time.Minute}}, nil
}

func (a *apiBackend) Close() error { return nil }

// apiProblem is an RFC 9457 problem document from the API.
type apiProblem struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Detail string `json:"detail"`
}

// errAPINotFound is a 404 before it is given its object's name.
var errAPINotFound = errors.New("not found")

// do sends one request; out, when not nil, receives the JSON answer.
func (a *apiBackend) do(ctx context.Context, method, path string, in, out any) error {
	_, err := a.send(ctx, method, path, nil, in, out, false)
	return err
}

// send is do with request headers hdr, returning the answer's headers.
// An error answer is a *problemBody; with decodeError its body is also
// decoded into out (the answers that carry a result beside the problem).
func (a *apiBackend) send(ctx context.Context, method, path string, hdr http.Header, in, out any, decodeError bool) (http.Header, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		ct := "application/json"
		if method == http.MethodPatch {
			ct = "application/merge-patch+json"
		}
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", a.base, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("server %s: %w", a.base, err)
	}
	if res.StatusCode >= 300 {
		if decodeError && out != nil {
			json.Unmarshal(b, out)
		}
		return res.Header, &problemBody{err: a.problem(res, b), body: b}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return res.Header, fmt.Errorf("server's answer to %s %s: %w", method, path, err)
		}
	}
	return res.Header, nil
}

// problem turns an error answer with body b into an error in the
// administrator's words.
func (a *apiBackend) problem(res *http.Response, b []byte) error {
	var p apiProblem
	json.Unmarshal(b, &p)
	switch {
	case res.StatusCode == http.StatusNotFound:
		return errAPINotFound
	case res.StatusCode == http.StatusUnauthorized:
		return errors.New("the server refused the API token (401): check --token-file or $" + tokenEnv)
	case res.StatusCode == http.StatusForbidden:
		// The detail names the roles that may do it and the token's.
		detail := p.Detail
		if detail == "" {
			detail = "the API token's role does not allow this"
		}
		return fmt.Errorf("the server refused the API token (403 forbidden): %s", detail)
	case p.Detail != "":
		return fmt.Errorf("%s", p.Detail)
	case p.Title != "":
		return fmt.Errorf("%s (%d)", p.Title, res.StatusCode)
	}
	return fmt.Errorf("server answered %s", res.Status)
}

// listAll follows nextCursor until the end or limit items (0: no limit).
func listAll[T any](ctx context.Context, a *apiBackend, path string, q url.Values, limit int) ([]T, error) {
	var all []T
	if q == nil {
		q = url.Values{}
	}
	for {
		var page struct {
			Items      []T    `json:"items"`
			NextCursor string `json:"nextCursor"`
		}
		if err := a.do(ctx, http.MethodGet, path+"?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if limit > 0 && len(all) >= limit {
			return all[:limit], nil
		}
		if page.NextCursor == "" {
			return all, nil
		}
		q.Set("cursor", page.NextCursor)
	}
}

func tpath(tenant string) string { return "/tenants/" + url.PathEscape(tenant) }

// checkTenant turns a 404 on a tenant path into the tenant's name.
func (a *apiBackend) checkTenant(ctx context.Context, tenant string) error {
	if tenant == "" {
		return errors.New("--tenant is required")
	}
	var t directory.Tenant
	err := a.do(ctx, http.MethodGet, tpath(tenant), nil, &t)
	if errors.Is(err, errAPINotFound) {
		return &notFound{kind: "tenant", name: tenant}
	}
	return err
}

func (a *apiBackend) CreateTenant(ctx context.Context, slug, name, suffix string) (directory.Tenant, directory.Organization, error) {
	in := map[string]string{"slug": slug}
	if name != "" {
		in["name"] = name
	}
	if suffix != "" {
		in["principalNameSuffix"] = suffix
	}
	var t directory.Tenant
	if err := a.do(ctx, http.MethodPost, "/tenants", in, &t); err != nil {
		return t, directory.Organization{}, err
	}
	os, err := a.ListOrganizations(ctx, t.Slug)
	if err != nil || len(os) == 0 {
		return t, directory.Organization{}, err
	}
	return t, os[0], nil
}

func (a *apiBackend) ListTenants(ctx context.Context) ([]directory.Tenant, error) {
	return listAll[directory.Tenant](ctx, a, "/tenants", nil, 0)
}

func (a *apiBackend) ListOrganizations(ctx context.Context, tenant string) ([]directory.Organization, error) {
	if err := a.checkTenant(ctx, tenant); err != nil {
		return nil, err
	}
	return listAll[directory.Organization](ctx, a, tpath(tenant)+"/organizations", nil, 0)
}

func (a *apiBackend) SetOrganizationSuffix(ctx context.Context, tenant, org, suffix string) (directory.Organization, error) {
	os, err := a.ListOrganizations(ctx, tenant)
	if err != nil {
		return directory.Organization{}, err
	}
	o, err := pickOrganization(os, org, tenant)
	if err != nil {
		return o, err
	}
	err = a.do(ctx, http.MethodPatch, tpath(tenant)+"/organizations/"+url.PathEscape(o.ID), map[string]string{"principalNameSuffix": suffix}, &o)
	return o, err
}

// user finds a user by username, UPN or id.
func (a *apiBackend) user(ctx context.Context, tenant, ref string) (directory.User, error) {
	if ref == "" {
		return directory.User{}, errors.New("--user is required")
	}
	if err := a.checkTenant(ctx, tenant); err != nil {
		return directory.User{}, err
	}
	var u directory.User
	err := a.do(ctx, http.MethodGet, tpath(tenant)+"/users/"+url.PathEscape(ref), nil, &u)
	if err == nil {
		return u, nil
	}
	if !errors.Is(err, errAPINotFound) {
		return u, err
	}
	want := strings.ToLower(ref)
	prefix := want
	if i := strings.Index(prefix, "@"); i >= 0 {
		prefix = prefix[:i] // a UPN's username may be plain
	}
	us, err := listAll[directory.User](ctx, a, tpath(tenant)+"/users", url.Values{"name": {prefix}}, 0)
	if err != nil {
		return directory.User{}, err
	}
	for _, u := range us {
		if u.Username == want {
			return u, nil
		}
	}
	for _, u := range us {
		if strings.EqualFold(u.UPN, want) {
			return u, nil
		}
	}
	return directory.User{}, &notFound{kind: "user", name: ref, tenant: tenant}
}

func (a *apiBackend) group(ctx context.Context, tenant, ref string) (directory.Group, error) {
	if ref == "" {
		return directory.Group{}, errors.New("--group is required")
	}
	gs, err := a.ListGroups(ctx, tenant)
	if err != nil {
		return directory.Group{}, err
	}
	for _, g := range gs {
		if g.ID == ref || strings.EqualFold(g.Name, ref) {
			return g, nil
		}
	}
	return directory.Group{}, &notFound{kind: "group", name: ref, tenant: tenant}
}

func (a *apiBackend) CreateUser(ctx context.Context, tenant string, u directory.User, password string) (directory.User, error) {
	if err := a.checkTenant(ctx, tenant); err != nil {
		return u, err
	}
	in := map[string]string{"username": u.Username}
	for k, v := range map[string]string{"displayName": u.DisplayName, "givenName": u.GivenName, "familyName": u.FamilyName,
		"email": u.Email, "organizationId": u.OrganizationID} {
		if v != "" {
			in[k] = v
		}
	}
	var nu directory.User
	if err := a.do(ctx, http.MethodPost, tpath(tenant)+"/users", in, &nu); err != nil {
		return nu, err
	}
	if password != "" {
		if err := a.do(ctx, http.MethodPut, tpath(tenant)+"/users/"+url.PathEscape(nu.ID)+"/password", map[string]string{"password": password}, nil); err != nil {
			return nu, fmt.Errorf("user %s created, but the password was not set: %w", nu.UPN, err)
		}
	}
	return nu, nil
}

func (a *apiBackend) ListUsers(ctx context.Context, tenant string, q userQuery) ([]directory.User, error) {
	if err := a.checkTenant(ctx, tenant); err != nil {
		return nil, err
	}
	v := url.Values{}
	if q.Prefix != "" {
		v.Set("name", q.Prefix)
	}
	if q.Status != "" {
		v.Set("status", string(q.Status))
	}
	if q.Group != "" {
		g, err := a.group(ctx, tenant, q.Group)
		if err != nil {
			return nil, err
		}
		v.Set("group", g.ID)
	}
	return listAll[directory.User](ctx, a, tpath(tenant)+"/users", v, q.Limit)
}

func (a *apiBackend) GetUser(ctx context.Context, tenant, user string) (directory.User, error) {
	return a.user(ctx, tenant, user)
}

func (a *apiBackend) SetUserStatus(ctx context.Context, tenant, user string, status directory.UserStatus) (directory.User, error) {
	u, err := a.user(ctx, tenant, user)
	if err != nil {
		return u, err
	}
	err = a.do(ctx, http.MethodPatch, tpath(tenant)+"/users/"+url.PathEscape(u.ID), map[string]string{"status": string(status)}, &u)
	return u, err
}

func (a *apiBackend) userCall(ctx context.Context, tenant, user, method, sub string, in any) (directory.User, error) {
	u, err := a.user(ctx, tenant, user)
	if err != nil {
		return u, err
	}
	return u, a.do(ctx, method, tpath(tenant)+"/users/"+url.PathEscape(u.ID)+sub, in, nil)
}

func (a *apiBackend) SetPassword(ctx context.Context, tenant, user, password string) (directory.User, error) {
	return a.userCall(ctx, tenant, user, http.MethodPut, "/password", map[string]string{"password": password})
}

func (a *apiBackend) ResetMFA(ctx context.Context, tenant, user string) (directory.User, error) {
	return a.userCall(ctx, tenant, user, http.MethodDelete, "/totp", nil)
}

func (a *apiBackend) RevokeSessions(ctx context.Context, tenant, user string) (directory.User, error) {
	return a.userCall(ctx, tenant, user, http.MethodDelete, "/sessions", nil)
}

func (a *apiBackend) CreateGroup(ctx context.Context, tenant string, g directory.Group) (directory.Group, error) {
	if err := a.checkTenant(ctx, tenant); err != nil {
		return g, err
	}
	in := map[string]string{"name": g.Name, "type": string(g.Type)}
	if g.Email != "" {
		in["email"] = g.Email
	}
	if g.Description != "" {
		in["description"] = g.Description
	}
	var ng directory.Group
	err := a.do(ctx, http.MethodPost, tpath(tenant)+"/groups", in, &ng)
	return ng, err
}

func (a *apiBackend) ListGroups(ctx context.Context, tenant string) ([]directory.Group, error) {
	if err := a.checkTenant(ctx, tenant); err != nil {
		return nil, err
	}
	return listAll[directory.Group](ctx, a, tpath(tenant)+"/groups", nil, 0)
}

func (a *apiBackend) AddMember(ctx context.Context, tenant, group, user string) error {
	g, err := a.group(ctx, tenant, group)
	if err != nil {
		return err
	}
	u, err := a.user(ctx, tenant, user)
	if err != nil {
		return err
	}
	return a.do(ctx, http.MethodPost, tpath(tenant)+"/groups/"+url.PathEscape(g.ID)+"/members", map[string]string{"userId": u.ID}, nil)
}

func (a *apiBackend) RemoveMember(ctx context.Context, tenant, group, user string) error {
	g, err := a.group(ctx, tenant, group)
	if err != nil {
		return err
	}
	u, err := a.user(ctx, tenant, user)
	if err != nil {
		return err
	}
	err = a.do(ctx, http.MethodDelete, tpath(tenant)+"/groups/"+url.PathEscape(g.ID)+"/members/"+url.PathEscape(u.ID), nil, nil)
	if errors.Is(err, errAPINotFound) {
		return fmt.Errorf("user %q is not a member of group %q", user, g.Name)
	}
	return err
}

// tokenPath is where the API keeps a tenant's tokens, or with tenant ""
// the tokens for all tenants.
func tokenPath(tenant string) string {
	if tenant == "" {
		return "/tokens"
	}
	return tpath(tenant) + "/tokens"
}

// apiToken is a token as the API shows it.
type apiToken struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenantId"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"createdAt"`
	Secret    string    `json:"secret"`
}

func (t apiToken) info(tenant string) tokenInfo {
	return tokenInfo{ID: t.ID, Name: t.Name, Tenant: tenant, Global: t.TenantID == "", Role: t.Role, CreatedAt: t.CreatedAt}
}

func (a *apiBackend) CreateToken(ctx context.Context, spec tokenSpec) (string, tokenInfo, error) {
	tenant := spec.Tenant
	if spec.Global {
		tenant = ""
	} else if err := a.checkTenant(ctx, tenant); err != nil {
		return "", tokenInfo{}, err
	}
	var t apiToken
	if err := a.do(ctx, http.MethodPost, tokenPath(tenant), map[string]string{"name": spec.Name, "role": string(spec.Role)}, &t); err != nil {
		return "", tokenInfo{}, fmt.Errorf("create token: %w", err)
	}
	return t.Secret, t.info(tenant), nil
}

func (a *apiBackend) ListTokens(ctx context.Context, tenant string) ([]tokenInfo, error) {
	if tenant != "" {
		if err := a.checkTenant(ctx, tenant); err != nil {
			return nil, err
		}
	}
	ts, err := listAll[apiToken](ctx, a, tokenPath(tenant), nil, 0)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out := make([]tokenInfo, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.info(tenant))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// RevokeToken deletes a token. The API finds a token within its tenant, so
// without --tenant it is one for all tenants.
func (a *apiBackend) RevokeToken(ctx context.Context, tenant, id string) (tokenInfo, error) {
	ts, err := a.ListTokens(ctx, tenant)
	if err != nil {
		return tokenInfo{}, err
	}
	for _, t := range ts {
		if t.ID != id {
			continue
		}
		err := a.do(ctx, http.MethodDelete, tokenPath(tenant)+"/"+url.PathEscape(id), nil, nil)
		if errors.Is(err, errAPINotFound) {
			break
		}
		if err != nil {
			return t, fmt.Errorf("revoke token %s: %w", id, err)
		}
		return t, nil
	}
	if tenant == "" {
		return tokenInfo{}, fmt.Errorf("no token %q for all tenants (a tenant's token needs --tenant)", id)
	}
	return tokenInfo{}, &notFound{kind: "token", name: id, tenant: tenant}
}

// auditValues are q as the API's query parameters.
func auditValues(q auditQuery) url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("tenant", q.Tenant)
	if !q.Since.IsZero() {
		v.Set("since", q.Since.Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.Format(time.RFC3339Nano))
	}
	set("actor", q.Actor)
	set("action", q.Action)
	set("objectType", q.ObjectType)
	set("objectId", q.ObjectID)
	set("user", q.User)
	set("outcome", string(q.Outcome))
	return v
}

// auditNotFound names the tenant of a 404 on the audit log (the only
// thing it can miss).
func auditNotFound(err error, q auditQuery) error {
	if errors.Is(err, errAPINotFound) && q.Tenant != "" {
		return &notFound{kind: "tenant", name: q.Tenant}
	}
	return err
}

func (a *apiBackend) AuditEvents(ctx context.Context, q auditQuery, limit int, cursor string) ([]audit.Event, string, error) {
	v := auditValues(q)
	v.Set("limit", strconv.Itoa(limit))
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	var page struct {
		Items      []audit.Event `json:"items"`
		NextCursor string        `json:"nextCursor"`
	}
	if err := a.do(ctx, http.MethodGet, "/audit?"+v.Encode(), nil, &page); err != nil {
		return nil, "", fmt.Errorf("read the audit log: %w", auditNotFound(err, q))
	}
	return page.Items, page.NextCursor, nil
}

// ExportAudit copies the server's NDJSON stream to w as it arrives: an
// export can be larger than memory.
func (a *apiBackend) ExportAudit(ctx context.Context, q auditQuery, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/audit/export?"+auditValues(q).Encode(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/x-ndjson")
	// No overall timeout: a year of events takes as long as it takes.
	client := *a.http
	client.Timeout = 0
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("server %s: %w", a.base, err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		return fmt.Errorf("export the audit log: %w", auditNotFound(a.problem(res, b), q))
	}
	if _, err := io.Copy(w, res.Body); err != nil {
		return fmt.Errorf("export the audit log from %s: %w", a.base, err)
	}
	return nil
}
