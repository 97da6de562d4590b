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
	for _, k := range []string{"portico_url", "tenant", "api_token", "global_api_token", "data_dir", "users"} {
		if _, ok := info[k]; !ok {
			t.Errorf("demo JSON lacks %q", k)
		}
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
