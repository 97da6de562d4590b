package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/portico-idp/portico/internal/authn"
)

// commandPaths lists every command of the tree ("user create", ...),
// groups included.
func commandPaths(c *cobra.Command, prefix []string) [][]string {
	var out [][]string
	for _, sub := range c.Commands() {
		if sub.Hidden {
			continue
		}
		p := append(append([]string{}, prefix...), sub.Name())
		out = append(out, p)
		out = append(out, commandPaths(sub, p)...)
	}
	return out
}

// TestEveryHelp runs --help on every command and group: it succeeds,
// prints the usage with typed flags, and never says "unknown".
func TestEveryHelp(t *testing.T) {
	ctx := context.Background()
	paths := append([][]string{{}}, commandPaths(newRoot(), nil)...)
	if len(paths) < 40 {
		t.Fatalf("only %d commands found", len(paths))
	}
	var all []string
	for _, p := range paths {
		all = append(all, strings.Join(p, " "))
	}
	for _, want := range []string{"sync", "sync run", "sync runs", "sync show", "sync cancel"} {
		if !slices.Contains(all, want) {
			t.Errorf("portico %s is not in the command tree: %v", want, all)
		}
	}
	for _, p := range paths {
		var out, errb strings.Builder
		err := run(ctx, append(p, "--help"), &out, &errb)
		name := strings.Join(append([]string{"portico"}, p...), " ")
		if err != nil {
			t.Errorf("%s --help: %v", name, err)
			continue
		}
		h := out.String()
		if !strings.Contains(h, "Usage:") || strings.Contains(strings.ToLower(h+errb.String()), "unknown") {
			t.Errorf("%s --help printed:\n%s%s", name, h, errb.String())
		}
	}
	// Flags show their types; --version works.
	var h strings.Builder
	run(ctx, []string{"user", "list", "--help"}, &h, io.Discard)
	for _, want := range []string{"--tenant string", "--limit int", "(default 100)", "-o, --output format", "(default table)", "$PORTICO_DATA_DIR"} {
		if !strings.Contains(h.String(), want) {
			t.Errorf("user list --help lacks %q:\n%s", want, h.String())
		}
	}
	var v strings.Builder
	if err := run(ctx, []string{"--version"}, &v, io.Discard); err != nil || !strings.HasPrefix(v.String(), "portico ") {
		t.Errorf("--version: %q, %v", v.String(), err)
	}
	// Shell completion.
	for _, sh := range []string{"bash", "zsh", "fish"} {
		var c strings.Builder
		if err := run(ctx, []string{"completion", sh}, &c, io.Discard); err != nil || !strings.Contains(c.String(), "portico") {
			t.Errorf("completion %s: %v (%d bytes)", sh, err, c.Len())
		}
	}
	var comp strings.Builder
	if err := run(ctx, []string{"__complete", "user", "list", "--output", ""}, &comp, io.Discard); err != nil || !strings.Contains(comp.String(), "table\njson\n") {
		t.Errorf("completion of --output: %q, %v", comp.String(), err)
	}
	// m365sim takes GNU flags and its documented variables.
	var sim strings.Builder
	run(ctx, []string{"m365sim", "--help"}, &sim, io.Discard)
	if !strings.Contains(sim.String(), "--cert-out string") || !strings.Contains(sim.String(), "$PORTICO_M365SIM_CERT_OUT") {
		t.Errorf("m365sim --help:\n%s", sim.String())
	}
	// The ported commands of the roles branch: their flags, the alias of
	// token revoke, and serve's flags of both branches with their variables.
	for cmd, wants := range map[string][]string{
		"token create": {"--role string", "tenantAdmin", "--tenant string", "--global", "--server string"},
		"token list":   {"--tenant string", "--global", "-o, --output format", "--server string"},
		"token revoke": {"Aliases:", "revoke, delete", "--id string", "--server string"},
		"token delete": {"--id string"},
		"audit list":   {"--tenant", "--since", "--until", "--actor", "--action", "--object-type", "--object-id", "--user", "--outcome", "--limit int", "--cursor", "-o, --output format", "--server string"},
		"audit export": {"--tenant", "--since", "--until", "--actor", "--action", "--object-type", "--object-id", "--user", "--outcome", "--server string"},
		"serve":        {"--audit-retention days", "(default 365d)", "$PORTICO_AUDIT_RETENTION", "--lockout-threshold", "--lockout-window", "--client-failure-limit", "--m365-allow-endpoint", "--insecure-allow-http-wstrust", "--tls-cert", "--tls-key", "--metrics-addr"},
	} {
		var h strings.Builder
		if err := run(ctx, append(strings.Fields(cmd), "--help"), &h, io.Discard); err != nil {
			t.Errorf("%s --help: %v", cmd, err)
		}
		for _, w := range wants {
			if !strings.Contains(h.String(), w) {
				t.Errorf("%s --help lacks %q:\n%s", cmd, w, h.String())
			}
		}
		if strings.HasPrefix(cmd, "audit") && strings.Contains(h.String(), "--json") {
			t.Errorf("%s --help shows the hidden --json:\n%s", cmd, h.String())
		}
	}
	// app configure shows no defaults for flags that only change what is given.
	var conf strings.Builder
	run(ctx, []string{"app", "configure", "--help"}, &conf, io.Discard)
	if strings.Contains(conf.String(), "(default true)") {
		t.Errorf("app configure --help shows a default:\n%s", conf.String())
	}
}

// TestWrongFlagReportedOnce: a wrong flag is one error, returned (main
// prints it once), with nothing on the command's own output.
func TestWrongFlagReportedOnce(t *testing.T) {
	for _, args := range [][]string{{"tenant", "list", "--bogus"}, {"m365sim", "-addr", "x"}, {"serve", "--lockout-window", "soon"}} {
		var out, errb strings.Builder
		err := run(context.Background(), args, &out, &errb)
		if err == nil {
			t.Errorf("%v accepted", args)
			continue
		}
		if out.Len() != 0 || errb.Len() != 0 {
			t.Errorf("%v printed %q / %q besides the error %v", args, out.String(), errb.String(), err)
		}
		if !strings.Contains(err.Error(), "--help") {
			t.Errorf("%v: %v; want a pointer to --help", args, err)
		}
	}
	err := run(context.Background(), []string{"m365sim", "-addr", "x"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "two dashes, --addr") {
		t.Errorf("single-dash long flag: %v", err)
	}
	err = run(context.Background(), []string{"tenant", "frobnicate"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Errorf("unknown subcommand: %v", err)
	}
}

// TestArgumentsNotFromEnvironment: a variable left in a shell does not
// change a command's arguments (issue 10, item 2).
func TestArgumentsNotFromEnvironment(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("PORTICO_DATA_DIR", dir)
	if err := run(ctx, []string{"tenant", "create", "--slug", "acme"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PORTICO_GLOBAL", "true")
	t.Setenv("PORTICO_NAME", "from-env")
	t.Setenv("PORTICO_SLUG", "envslug")
	if err := run(ctx, []string{"token", "create", "--tenant", "acme"}, io.Discard, io.Discard); err != nil {
		t.Fatalf("token create --tenant with PORTICO_GLOBAL set: %v", err)
	}
	if err := run(ctx, []string{"tenant", "create"}, io.Discard, io.Discard); err == nil {
		t.Fatal("tenant create took its slug from PORTICO_SLUG")
	}
	var out strings.Builder
	if err := run(ctx, []string{"token", "list", "--tenant", "acme", "-o", "json"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var toks []tokenInfo
	if err := json.Unmarshal([]byte(out.String()), &toks); err != nil {
		t.Fatal(err)
	}
	if len(toks) != 1 || toks[0].Global || toks[0].Name != "cli" {
		t.Fatalf("tokens %+v: want one tenant token named cli", toks)
	}
}

// seedCLI creates, through the CLI alone, a tenant with a user in a group.
func seedCLI(t *testing.T, extra ...string) {
	t.Helper()
	ctx := context.Background()
	for _, args := range [][]string{
		{"tenant", "create", "--slug", "acme", "--suffix", "acme.com"},
		{"organization", "set-suffix", "--tenant", "acme", "--suffix", "@acme.example"},
		{"user", "create", "--tenant", "acme", "--username", "ann", "--display-name", "Ann Example"},
		{"group", "create", "--tenant", "acme", "--name", "Staff"},
		{"group", "add-member", "--tenant", "acme", "--group", "staff", "--user", "ann@acme.example"},
		{"user", "suspend", "--tenant", "acme", "--user", "ann"},
		{"user", "resume", "--tenant", "acme", "--user", "ann"},
		{"user", "reset-mfa", "--tenant", "acme", "--user", "ann"},
		{"user", "revoke-sessions", "--tenant", "acme", "--user", "ann"},
	} {
		if err := run(ctx, append(args, extra...), io.Discard, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
}

// readCommands are every read command with its arguments.
var readCommands = [][]string{
	{"tenant", "list"},
	{"organization", "list", "--tenant", "acme"},
	{"user", "list", "--tenant", "acme"},
	{"user", "list", "--tenant", "acme", "--group", "Staff", "--status", "active"},
	{"user", "show", "--tenant", "acme", "--user", "ann"},
	{"group", "list", "--tenant", "acme"},
}

// TestReadCommandsJSON: every read command prints valid JSON with
// --output json, and an aligned table by default.
func TestReadCommandsJSON(t *testing.T) {
	ctx := context.Background()
	t.Setenv("PORTICO_DATA_DIR", t.TempDir())
	seedCLI(t)
	if err := run(ctx, []string{"token", "create", "--global", "--name", "ops"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	var appID strings.Builder
	if err := run(ctx, []string{"app", "create", "--tenant", "acme"}, &appID, io.Discard); err != nil {
		t.Fatal(err)
	}
	cmds := append(readCommands, []string{"token", "list"}, []string{"token", "list", "--tenant", "acme"}, []string{"app", "list", "--tenant", "acme"})
	for _, c := range cmds {
		var out strings.Builder
		if err := run(ctx, append(c, "--output", "json"), &out, io.Discard); err != nil {
			t.Errorf("%v: %v", c, err)
			continue
		}
		if !json.Valid([]byte(out.String())) {
			t.Errorf("%v --output json printed invalid JSON:\n%s", c, out.String())
		}
		var table strings.Builder
		run(ctx, c, &table, io.Discard)
		if json.Valid([]byte(table.String())) || !strings.Contains(table.String(), "  ") {
			t.Errorf("%v table:\n%s", c, table.String())
		}
	}
	var out strings.Builder
	run(ctx, []string{"user", "list", "--tenant", "acme", "--group", "staff", "-o", "json"}, &out, io.Discard)
	var us []map[string]any
	json.Unmarshal([]byte(out.String()), &us)
	if len(us) != 1 || us[0]["userPrincipalName"] != "ann@acme.example" || us[0]["status"] != "active" {
		t.Fatalf("members of Staff: %s", out.String())
	}
	var toks strings.Builder
	run(ctx, []string{"token", "list", "-o", "json"}, &toks, io.Discard)
	var ts []tokenInfo
	json.Unmarshal([]byte(toks.String()), &ts)
	if len(ts) != 1 || !ts[0].Global || ts[0].Name != "ops" {
		t.Fatalf("global tokens: %s", toks.String())
	}
	if err := run(ctx, []string{"token", "revoke", "--id", ts[0].ID}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	toks.Reset()
	run(ctx, []string{"token", "list", "-o", "json"}, &toks, io.Discard)
	if strings.TrimSpace(toks.String()) != "[]" {
		t.Fatalf("after revoke: %s", toks.String())
	}
	if err := run(ctx, []string{"user", "list", "--tenant", "acme", "-o", "yaml"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "table or json") {
		t.Errorf("--output yaml: %v", err)
	}
}

// notFoundCases are the not-found errors and their wording.
var notFoundCases = []struct {
	args []string
	want string
}{
	{[]string{"user", "show", "--tenant", "acme", "--user", "bob"}, `user "bob" not found in tenant acme`},
	{[]string{"user", "suspend", "--tenant", "acme", "--user", "bob"}, `user "bob" not found in tenant acme`},
	{[]string{"user", "list", "--tenant", "nope"}, `tenant "nope" not found`},
	{[]string{"group", "add-member", "--tenant", "acme", "--group", "Nobody", "--user", "ann"}, `group "Nobody" not found in tenant acme`},
	{[]string{"group", "remove-member", "--tenant", "acme", "--group", "Staff", "--user", "bob"}, `user "bob" not found in tenant acme`},
	{[]string{"organization", "set-suffix", "--tenant", "acme", "--organization", "Elsewhere", "--suffix", "@x.example"}, `organization "Elsewhere" not found in tenant acme`},
}

// TestNotFoundWording: errors name the object as the user typed it.
func TestNotFoundWording(t *testing.T) {
	ctx := context.Background()
	t.Setenv("PORTICO_DATA_DIR", t.TempDir())
	seedCLI(t)
	cases := append(notFoundCases,
		struct {
			args []string
			want string
		}{[]string{"token", "revoke", "--tenant", "acme", "--id", "t1"}, `token "t1" not found in tenant acme`},
		struct {
			args []string
			want string
		}{[]string{"app", "enable", "--tenant", "acme", "--app", "a1"}, `application "a1" not found in tenant acme`},
		struct {
			args []string
			want string
		}{[]string{"app", "list", "--tenant", "nope"}, `tenant "nope" not found`},
	)
	for _, c := range cases {
		err := run(ctx, c.args, io.Discard, io.Discard)
		if err == nil || err.Error() != c.want {
			t.Errorf("%v: %v; want %q", c.args, err, c.want)
		}
	}
}

// TestRemoteMode: the same commands act through a running server's API
// with --server and a token from --token-file or $PORTICO_TOKEN.
func TestRemoteMode(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var tok strings.Builder
	if err := run(ctx, []string{"token", "create", "--global", "--data-dir", dir}, &tok, io.Discard); err != nil {
		t.Fatal(err)
	}
	s, _ := startTestServer(t, serveConfig{store: storeFlags{dataDir: dir}})
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte(tok.String()), 0o600)
	remote := []string{"--server", s.URL, "--token-file", tokenFile}
	// Nothing may reach the database directly: point it elsewhere.
	t.Setenv("PORTICO_DATA_DIR", t.TempDir())
	seedCLI(t, remote...)
	for _, c := range readCommands {
		var out strings.Builder
		if err := run(ctx, append(append(c, "-o", "json"), remote...), &out, io.Discard); err != nil {
			t.Errorf("%v remote: %v", c, err)
			continue
		}
		if !json.Valid([]byte(out.String())) || strings.TrimSpace(out.String()) == "[]" {
			t.Errorf("%v remote printed:\n%s", c, out.String())
		}
	}
	for _, c := range notFoundCases {
		err := run(ctx, append(c.args, remote...), io.Discard, io.Discard)
		if err == nil || err.Error() != c.want {
			t.Errorf("%v remote: %v; want %q", c.args, err, c.want)
		}
	}
	// The token from the environment; a wrong one is refused in words.
	t.Setenv("PORTICO_TOKEN", strings.TrimSpace(tok.String()))
	var out strings.Builder
	if err := run(ctx, []string{"user", "show", "--tenant", "acme", "--user", "ann", "--server", s.URL}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "ann@acme.example") {
		t.Fatalf("$PORTICO_TOKEN: %v\n%s", err, out.String())
	}
	t.Setenv("PORTICO_TOKEN", "ptc_wrong")
	if err := run(ctx, []string{"tenant", "list", "--server", s.URL}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "refused the API token") {
		t.Fatalf("wrong token: %v", err)
	}
	t.Setenv("PORTICO_TOKEN", "")
	if err := run(ctx, []string{"tenant", "list", "--server", s.URL}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--token-file") {
		t.Fatalf("no token: %v", err)
	}
}

// TestTOTPCode: `portico totp code` prints the code an authenticator shows
// (issue 10, item 7), from --secret or standard input.
func TestTOTPCode(t *testing.T) {
	const secret = "JBSWY3DPEHPK3PXP"
	before, _ := authn.TOTPCode(secret, time.Now())
	var out strings.Builder
	if err := run(context.Background(), []string{"totp", "code", "--secret", strings.ToLower(secret)}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	after, _ := authn.TOTPCode(secret, time.Now())
	if got := strings.TrimSpace(out.String()); len(got) != 6 || (got != before && got != after) {
		t.Fatalf("totp code printed %q; want %s (or %s across a step boundary)", got, before, after)
	}
	err := run(context.Background(), []string{"totp", "code", "--secret", "not base32!"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--secret") {
		t.Fatalf("bad secret: %v", err)
	}
}

// TestEnvironmentDocumented: the README's and the configuration
// reference's tables name every variable Portico reads, and no other
// PORTICO_ variable is documented as a setting (issue 10, item 2).
func TestEnvironmentDocumented(t *testing.T) {
	for _, doc := range []string{"../../README.md", "../../docs/operations.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for flag, v := range envVars {
			if !strings.Contains(string(b), "`"+v+"`") {
				t.Errorf("%s does not document %s (--%s)", doc, v, flag)
			}
		}
		if !strings.Contains(string(b), "`"+tokenEnv+"`") {
			t.Errorf("%s does not document %s", doc, tokenEnv)
		}
	}
	// Every flag bound to a variable is in the table (or the emulator's).
	for _, p := range commandPaths(newRoot(), nil) {
		c, _, err := newRoot().Find(p)
		if err != nil {
			t.Fatal(err)
		}
		c.Flags().VisitAll(func(f *pflag.Flag) {
			v := f.Annotations[envAnnotation]
			if len(v) == 0 {
				return
			}
			if envVars[f.Name] != v[0] && !strings.HasPrefix(v[0], "PORTICO_M365SIM_") {
				t.Errorf("%v --%s reads %s, not in the table", p, f.Name, v[0])
			}
		})
	}
}

// withStdin makes os.Stdin read s for the rest of the test.
func withStdin(t *testing.T, s string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString(s)
	w.Close()
	old := os.Stdin
	os.Stdin = r
	t.Cleanup(func() { os.Stdin = old; r.Close() })
}

// TestPasswordsFromStdin: user create --password-stdin and set-password
// read the first line of standard input, on the database and through the
// API alike; the password then signs in.
func TestPasswordsFromStdin(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var tok strings.Builder
	if err := run(ctx, []string{"token", "create", "--global", "--data-dir", dir}, &tok, io.Discard); err != nil {
		t.Fatal(err)
	}
	s, _ := startTestServer(t, serveConfig{store: storeFlags{dataDir: dir}})
	t.Setenv("PORTICO_TOKEN", strings.TrimSpace(tok.String()))
	if err := run(ctx, []string{"tenant", "create", "--slug", "acme", "--suffix", "acme.example", "--data-dir", dir}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []struct {
		name  string
		where []string
	}{{"direct", []string{"--data-dir", dir}}, {"remote", []string{"--server", s.URL}}} {
		user := "user-" + mode.name
		withStdin(t, "first password one\n")
		if err := run(ctx, append([]string{"user", "create", "--tenant", "acme", "--username", user, "--password-stdin"}, mode.where...), io.Discard, io.Discard); err != nil {
			t.Fatalf("%s: user create: %v", mode.name, err)
		}
		tn, _ := s.Store.GetTenantBySlug(ctx, "acme")
		if _, err := s.Signin.CheckPassword(ctx, tn.ID, user, "first password one", "192.0.2.1"); err != nil {
			t.Fatalf("%s: the first password does not sign in: %v", mode.name, err)
		}
		withStdin(t, "second password two\r\n")
		var out strings.Builder
		if err := run(ctx, append([]string{"user", "set-password", "--tenant", "acme", "--user", user}, mode.where...), &out, io.Discard); err != nil {
			t.Fatalf("%s: set-password: %v", mode.name, err)
		}
		if _, err := s.Signin.CheckPassword(ctx, tn.ID, user, "second password two", "192.0.2.1"); err != nil {
			t.Fatalf("%s: the new password does not sign in: %v (%s)", mode.name, err, out.String())
		}
		withStdin(t, "short\n")
		err := run(ctx, append([]string{"user", "set-password", "--tenant", "acme", "--user", user}, mode.where...), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "password") || !strings.Contains(err.Error(), "8 characters") {
			t.Fatalf("%s: short password: %v", mode.name, err)
		}
	}
}

// TestTokensAndAuditRemote: token create/list/revoke and audit list/export
// act through the API with --server as they do on the database, within the
// token's role.
func TestTokensAndAuditRemote(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var tok strings.Builder
	if err := run(ctx, []string{"token", "create", "--global", "--name", "root-token", "--data-dir", dir}, &tok, io.Discard); err != nil {
		t.Fatal(err)
	}
	s, _ := startTestServer(t, serveConfig{store: storeFlags{dataDir: dir}})
	tokenFile := func(secret string) string {
		f := filepath.Join(t.TempDir(), "token")
		os.WriteFile(f, []byte(secret), 0o600)
		return f
	}
	remote := []string{"--server", s.URL, "--token-file", tokenFile(tok.String())}
	// Nothing may reach the database directly: point it elsewhere.
	t.Setenv("PORTICO_DATA_DIR", t.TempDir())
	runOK := func(args ...string) (string, string) {
		t.Helper()
		var out, errOut strings.Builder
		if err := run(ctx, append(args, remote...), &out, &errOut); err != nil {
			t.Fatalf("%v: %v (%s)", args, err, errOut.String())
		}
		return out.String(), errOut.String()
	}
	runOK("tenant", "create", "--slug", "acme", "--suffix", "acme.com")
	desk, _ := runOK("token", "create", "--tenant", "acme", "--role", "helpdesk", "--name", "desk")
	admin, _ := runOK("token", "create", "--tenant", "acme", "--name", "acme-admin")
	if !strings.HasPrefix(desk, "ptc_") || !strings.HasPrefix(admin, "ptc_") {
		t.Fatalf("secrets %q %q", desk, admin)
	}

	var listed []tokenInfo
	out, _ := runOK("token", "list", "--tenant", "acme", "-o", "json")
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 2 {
		t.Fatalf("token list --tenant acme -o json: %v\n%s", err, out)
	}
	roles := map[string]string{}
	for _, l := range listed {
		if l.Tenant != "acme" || l.Global {
			t.Errorf("token %+v: not of acme", l)
		}
		roles[l.Name] = l.Role
	}
	if roles["desk"] != "helpdesk" || roles["acme-admin"] != "tenantAdmin" {
		t.Fatalf("roles: %v", roles)
	}
	if g, _ := runOK("token", "list"); !strings.Contains(g, "root-token") || !strings.Contains(g, "(global)") || !strings.Contains(g, "global") || strings.Contains(g, "desk") {
		t.Fatalf("token list (all tenants):\n%s", g)
	}

	// A token's role bounds what it may do through the CLI too.
	for _, c := range []struct {
		token string
		args  []string
		want  string
	}{
		{admin, []string{"token", "create", "--global"}, ""},
		{admin, []string{"token", "create", "--tenant", "acme", "--role", "global"}, "global role"},
		{desk, []string{"token", "create", "--tenant", "acme", "--role", "helpdesk"}, ""},
		{tok.String(), []string{"token", "create", "--tenant", "acme", "--role", "boss"}, "--role: unknown role"},
		{tok.String(), []string{"token", "revoke", "--id", "nope"}, `no token "nope"`},
		{tok.String(), []string{"token", "revoke", "--tenant", "acme", "--id", "nope"}, `token "nope" not found in tenant acme`},
		{tok.String(), []string{"audit", "list", "--tenant", "nope"}, `tenant "nope" not found`},
		{tok.String(), []string{"audit", "export", "--tenant", "nope"}, `tenant "nope" not found`},
	} {
		args := append(c.args, "--server", s.URL, "--token-file", tokenFile(c.token))
		err := run(ctx, args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v; want an error saying %q", c.args, err, c.want)
		}
	}

	// The audit log, through the API: the changes above by the global token.
	table, _ := runOK("audit", "list", "--tenant", "acme", "--action", "token.*")
	for _, w := range []string{"token.create", "apiToken:root-token", "acme", `role: ∅ → "helpdesk"`} {
		if !strings.Contains(table, w) {
			t.Errorf("audit list lacks %q:\n%s", w, table)
		}
	}
	var evs []map[string]any
	out, _ = runOK("audit", "list", "-o", "json", "--since", "1h", "--action", "tenant.create", "--outcome", "success")
	if err := json.Unmarshal([]byte(out), &evs); err != nil || len(evs) != 1 || evs[0]["action"] != "tenant.create" {
		t.Fatalf("audit list -o json: %v\n%s", err, out)
	}
	first, hint := runOK("audit", "list", "--limit", "1")
	_, cursor, ok := strings.Cut(strings.TrimSpace(hint), "--cursor ")
	if !ok {
		t.Fatalf("no paging hint: %q", hint)
	}
	if second, _ := runOK("audit", "list", "--limit", "1", "--cursor", cursor); second == first || !strings.Contains(second, "token.create") {
		t.Fatalf("second page:\n%s\nafter\n%s", second, first)
	}
	export, _ := runOK("audit", "export")
	lines := strings.Split(strings.TrimSpace(export), "\n")
	var oldest map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &oldest); err != nil || len(lines) != 5 || oldest["action"] != "token.create" ||
		oldest["actor"].(map[string]any)["kind"] != "operator" {
		t.Fatalf("export (oldest first, the operator's token first): %d lines, %v (%v)\n%s", len(lines), oldest, err, export)
	}

	// Revocation: the helpdesk token stops working at once, and the alias
	// "delete" works through the API as well.
	var deskID, adminID string
	for _, l := range listed {
		if l.Name == "desk" {
			deskID = l.ID
		} else {
			adminID = l.ID
		}
	}
	if out, _ := runOK("token", "revoke", "--tenant", "acme", "--id", deskID); !strings.Contains(out, "desk") {
		t.Fatalf("revoke: %q", out)
	}
	err := run(ctx, []string{"audit", "list", "--server", s.URL, "--token-file", tokenFile(desk)}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "refused the API token") {
		t.Fatalf("revoked token: %v", err)
	}
	runOK("token", "delete", "--tenant", "acme", "--id", adminID)
	if out, _ := runOK("token", "list", "--tenant", "acme"); strings.Contains(out, "acme-admin") {
		t.Fatalf("after delete:\n%s", out)
	}
	if out, _ := runOK("audit", "list", "--action", "token.delete", "-o", "json"); strings.Count(out, `"token.delete"`) != 2 {
		t.Fatalf("revocations not audited:\n%s", out)
	}
}

// TestAdministrationRunsAsOperator: every command that may call the
// services on the database gets the operator's principal (the services
// refuse a call without one), and the commands that must not act as the
// operator (the server, the demo, the emulator) do not.
func TestAdministrationRunsAsOperator(t *testing.T) {
	notAdmin := map[string]bool{"serve": true, "demo": true, "migrate": true, "m365sim": true, "version": true,
		"totp code": true, "completion": true, "help": true}
	for _, p := range commandPaths(newRoot(), nil) {
		name := strings.Join(p, " ")
		c, _, err := newRoot().Find(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.HasSubCommands() || notAdmin[name] || notAdmin[p[0]] {
			if !c.HasSubCommands() && administers(c) {
				t.Errorf("%s runs as the operator", name)
			}
			continue
		}
		if !administers(c) {
			t.Errorf("%s does not run as the operator", name)
		}
	}
}
