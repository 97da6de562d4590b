package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestDemoJSON(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--json", "--addr", "127.0.0.1:0"}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadBytes('\n')
	if err != nil {
		t.Fatalf("read demo output: %v (run: %v)", err, <-done)
	}
	var info map[string]any
	if err := json.Unmarshal(line, &info); err != nil {
		t.Fatalf("demo --json printed %q: %v", line, err)
	}
	for _, k := range []string{"portico_url", "tenant", "api_token", "global_api_token", "helpdesk_api_token", "metrics_url", "sync_run_id", "sync_counts", "data_dir", "users", "signin_url", "app_id", "m365sim_view_url"} {
		if _, ok := info[k]; !ok {
			t.Errorf("demo JSON lacks %q", k)
		}
	}
	// The first export made the three members of "Office 365 Users" in
	// Microsoft 365: a user and a licence each, nothing failed.
	if c, _ := info["sync_counts"].(map[string]any); c["desired"] != 3.0 || c["done"] != 6.0 || c["failed"] != 0.0 {
		t.Errorf("first export counts %v; want 3 users in scope, 6 operations done, none failed", info["sync_counts"])
	}
	url := info["portico_url"].(string)
	res, err := http.Get(url + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", res, err)
	}
	// The root page links the demo's sign-in test and the emulator.
	res, err = http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(page), "Sign-in test") || !strings.Contains(string(page), info["m365sim_view_url"].(string)) {
		t.Fatalf("root page: %d\n%s", res.StatusCode, page)
	}
	req, _ := http.NewRequest("GET", url+"/api/v1/tenants/contoso/users?limit=10", nil)
	req.Header.Set("Authorization", "Bearer "+info["api_token"].(string))
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), `"userPrincipalName":"john.smith@contoso.com"`) {
		t.Fatalf("demo users: %d %s", res.StatusCode, b)
	}
	// The helpdesk token the demo prints may read users but not delete the
	// application, as the printed example says.
	req, _ = http.NewRequest("DELETE", url+"/api/v1/tenants/contoso/applications/"+info["app_id"].(string), nil)
	req.Header.Set("Authorization", "Bearer "+info["helpdesk_api_token"].(string))
	if res, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("helpdesk token deleting the application: %d, want 403", res.StatusCode)
	}
	// The CLI lines the demo prints work against it: the tenant's tokens
	// with their roles, and the audit log.
	t.Setenv("PORTICO_TOKEN", info["api_token"].(string))
	var tokens, events strings.Builder
	if err := run(ctx, []string{"token", "list", "--server", url, "--tenant", "contoso"}, &tokens, io.Discard); err != nil ||
		!strings.Contains(tokens.String(), "demo-helpdesk") || !strings.Contains(tokens.String(), "helpdesk") {
		t.Fatalf("token list --server: %v\n%s", err, tokens.String())
	}
	if err := run(ctx, []string{"audit", "list", "--server", url, "--since", "1h"}, &events, io.Discard); err != nil ||
		!strings.Contains(events.String(), "application.create") {
		t.Fatalf("audit list --server: %v\n%s", err, events.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not stop on cancel")
	}
	if _, err := os.Stat(info["data_dir"].(string)); !os.IsNotExist(err) {
		t.Fatalf("demo left its data directory behind: %v", err)
	}
}

func TestAdminCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("PORTICO_DATA_DIR", dir) // flags come from the environment too
	var out strings.Builder
	if err := run(ctx, []string{"migrate"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"tenant", "create", "--slug", "acme", "--suffix", "acme.com"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	err := run(ctx, []string{"tenant", "create", "--slug", "acme"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "slug is already taken") {
		t.Fatalf("duplicate tenant: %v", err)
	}
	err = run(ctx, []string{"tenant", "create", "--slug", "Not A Slug!"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "slug") {
		t.Fatalf("bad slug: %v", err)
	}
	var tok strings.Builder
	if err := run(ctx, []string{"token", "create", "--tenant", "acme"}, &tok, io.Discard); err != nil {
		t.Fatal(err)
	}
	if s := tok.String(); !strings.HasPrefix(s, "ptc_") || strings.Count(s, "\n") != 1 || len(strings.TrimSpace(s)) != 47 {
		t.Fatalf("token output %q: want the token alone on one line", s)
	}
	if err := run(ctx, []string{"token", "create", "--tenant", "nope"}, io.Discard, io.Discard); err == nil {
		t.Fatal("token for an unknown tenant")
	}
	if err := run(ctx, []string{"token", "create"}, io.Discard, io.Discard); err == nil {
		t.Fatal("token without --tenant or --global")
	}
	var g strings.Builder
	if err := run(ctx, []string{"token", "create", "--global", "--data-dir", dir}, &g, io.Discard); err != nil {
		t.Fatal(err)
	}
	var help strings.Builder
	if err := run(ctx, []string{"serve", "--help"}, &help, io.Discard); err != nil {
		t.Fatalf("--help: %v", err)
	}
	if !strings.Contains(help.String(), "$PORTICO_DATABASE_URL") || !strings.Contains(help.String(), "--public-url") {
		t.Fatalf("serve --help: %s", help.String())
	}
	for _, c := range [][]string{{"tenant", "create", "--help"}, {"token", "create", "--help"}, {"demo", "--help"}, {"migrate", "--help"}, {"version", "--help"}} {
		if err := run(ctx, c, io.Discard, io.Discard); err != nil {
			t.Errorf("%v: %v", c, err)
		}
	}
	if err := run(ctx, []string{"frobnicate"}, io.Discard, io.Discard); err == nil {
		t.Fatal("unknown command accepted")
	}
	t.Setenv("PORTICO_LOG_LEVEL", "loud")
	if err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "log-level") {
		t.Fatalf("bad log level from the environment: %v", err)
	}
	var v strings.Builder
	run(ctx, []string{"version"}, &v, io.Discard)
	if !strings.HasPrefix(v.String(), "portico ") {
		t.Fatalf("version: %q", v.String())
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	log, _ := newLogger(io.Discard, "error")
	s, err := startServer(ctx, serveConfig{store: storeFlags{dataDir: t.TempDir()}, addr: "127.0.0.1:0"}, log)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(s.URL + "/readyz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", res, err)
	}
	cancel()
	if err := s.wait(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if _, err := http.Get(s.URL + "/healthz"); err == nil {
		t.Fatal("still serving after shutdown")
	}
}

func TestTokenRolesAndAuditCommands(t *testing.T) {
	ctx := context.Background()
	t.Setenv("PORTICO_DATA_DIR", t.TempDir())
	runOK := func(args ...string) string {
		t.Helper()
		var out, errOut strings.Builder
		if err := run(ctx, args, &out, &errOut); err != nil {
			t.Fatalf("%v: %v (%s)", args, err, errOut.String())
		}
		return out.String()
	}
	runOK("tenant", "create", "--slug", "acme", "--suffix", "acme.com")
	help := strings.TrimSpace(runOK("token", "create", "--tenant", "acme", "--role", "helpdesk", "--name", "desk"))
	if !strings.HasPrefix(help, "ptc_") {
		t.Fatalf("token %q", help)
	}
	runOK("token", "create", "--global", "--role", "read-only", "--name", "auditor")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "create", "--tenant", "acme", "--role", "global"}, "global role is for all tenants"},
		{[]string{"token", "create", "--tenant", "acme", "--role", "root"}, "tenantAdmin"},
		{[]string{"token", "create", "--tenant", "acme", "--role", "root"}, "--role: unknown role"},
		{[]string{"token", "list", "--tenant", "acme", "--global"}, "--tenant"},
		{[]string{"token", "delete", "--id", "nope"}, `token "nope" not found`},
		{[]string{"token", "revoke", "--id", "nope"}, `token "nope" not found`},
		{[]string{"audit", "list", "--since", "yesterday"}, "--since"},
		{[]string{"audit", "list", "--outcome", "maybe"}, "--outcome"},
		{[]string{"audit", "list", "--limit", "0"}, "--limit"},
		{[]string{"audit", "list", "--tenant", "nope"}, `tenant "nope" not found`},
		{[]string{"audit", "export", "--tenant", "nope"}, `tenant "nope" not found`},
	} {
		if err := run(ctx, c.args, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v; want an error saying %q", c.args, err, c.want)
		}
	}
	list := runOK("token", "list", "--tenant", "acme")
	if !strings.Contains(list, "desk") || !strings.Contains(list, "helpdesk") || strings.Contains(list, "ptc_") {
		t.Fatalf("token list:\n%s", list)
	}
	// The tokens for all tenants: with --global, and by default.
	for _, args := range [][]string{{"token", "list", "--global"}, {"token", "list"}} {
		if g := runOK(args...); !strings.Contains(g, "auditor") || !strings.Contains(g, "readOnly") || strings.Contains(g, "desk ") {
			t.Fatalf("%v:\n%s", args, g)
		}
	}
	var listed []tokenInfo
	if err := json.Unmarshal([]byte(runOK("token", "list", "--tenant", "acme", "-o", "json")), &listed); err != nil ||
		len(listed) != 1 || listed[0].Role != "helpdesk" || listed[0].Tenant != "acme" {
		t.Fatalf("token list -o json: %+v, %v", listed, err)
	}

	// The operator's changes are in the audit log under its name.
	table := runOK("audit", "list", "--tenant", "acme")
	for _, w := range []string{"tenant.create", "organization.create", "token.create", "operator:" + operatorName(), "role: ∅ → \"helpdesk\""} {
		if !strings.Contains(table, w) {
			t.Errorf("audit list lacks %q:\n%s", w, table)
		}
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(runOK("audit", "list", "--json", "--action", "token.*", "--since", "1h")), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("audit list --json line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 || lines[0]["action"] != "token.create" || lines[0]["object"].(map[string]any)["name"] != "auditor" {
		t.Fatalf("token events, newest first: %v", lines)
	}
	// -o json is one JSON array of the same events.
	var arr []map[string]any
	if err := json.Unmarshal([]byte(runOK("audit", "list", "-o", "json", "--action", "token.*", "--since", "1h")), &arr); err != nil ||
		len(arr) != 2 || arr[1]["object"].(map[string]any)["name"] != "desk" {
		t.Fatalf("audit list -o json: %v, %v", arr, err)
	}
	var more strings.Builder
	if err := run(ctx, []string{"audit", "list", "--limit", "1"}, io.Discard, &more); err != nil || !strings.Contains(more.String(), "--cursor") {
		t.Fatalf("paging hint: %v %q", err, more.String())
	}
	export := strings.Split(strings.TrimSpace(runOK("audit", "export")), "\n")
	var first map[string]any
	if err := json.Unmarshal([]byte(export[0]), &first); err != nil || first["action"] != "tenant.create" || len(export) != 4 {
		t.Fatalf("export (oldest first): %d lines, first %v (%v)", len(export), first, err)
	}

	var id string
	for _, f := range strings.Fields(list) {
		if len(f) == 36 && strings.Count(f, "-") == 4 {
			id = f
		}
	}
	// "token delete" is the first release's name of "token revoke"; the
	// token is found by its id alone, as before.
	if out := runOK("token", "delete", "--id", id); !strings.Contains(out, "revoked") || !strings.Contains(out, "desk") {
		t.Fatalf("delete: %q", out)
	}
	if out := runOK("audit", "list", "--action", "token.delete"); !strings.Contains(out, "desk") {
		t.Fatalf("deletion not audited:\n%s", out)
	}
}

func TestAuditRetentionFlag(t *testing.T) {
	for in, want := range map[string]int{"365": 365, "30d": 30, "48h": 2, "1d": 1} {
		var d retentionDays
		if err := d.Set(in); err != nil || int(d) != want {
			t.Errorf("--audit-retention %s = %d, %v; want %d", in, d, err, want)
		}
	}
	for _, in := range []string{"0", "-3d", "36h", "a year"} {
		var d retentionDays
		if err := d.Set(in); err == nil {
			t.Errorf("--audit-retention %s accepted", in)
		}
	}
	if retentionDays(0).days() != defaultAuditRetention {
		t.Error("no default retention")
	}
	if err := run(context.Background(), []string{"serve", "--audit-retention", "0", "--addr", "127.0.0.1:0"}, io.Discard, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "audit-retention") {
		t.Fatalf("serve --audit-retention 0: %v", err)
	}
	// The variable is read as the flag is, and refused in the same words.
	t.Setenv("PORTICO_AUDIT_RETENTION", "0")
	if err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"}, io.Discard, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "PORTICO_AUDIT_RETENTION") || !strings.Contains(err.Error(), "at least one day") {
		t.Fatalf("PORTICO_AUDIT_RETENTION=0 portico serve: %v", err)
	}
}
