package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
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
