//go:build unix

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/idp/idptest"
)

// TestBrowserSignIn signs in to "Office 365" through Portico in a real
// browser: `portico demo` runs in-process (random ports) and
// e2e/signin.mjs drives Debian's Chromium with playwright-core through the
// emulator's start page, Portico's login pages (password and TOTP, and an
// authenticator enrolment) to the emulator's signed-in page.
//
// Without node, e2e/node_modules/playwright-core (cd e2e && npm ci) or
// /usr/bin/chromium the test is skipped — unless CI is set, where it
// fails. PORTICO_E2E_SCREENSHOTS names a directory to keep the
// screenshots in (default: a temporary one).
func TestBrowserSignIn(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	chromium := "/usr/bin/chromium"
	var missing []string
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node (Debian: apt-get install nodejs)")
	}
	if _, err := os.Stat(filepath.Join(root, "e2e", "node_modules", "playwright-core", "package.json")); err != nil {
		missing = append(missing, "e2e/node_modules/playwright-core (cd e2e && npm ci)")
	}
	if _, err := os.Stat(chromium); err != nil {
		missing = append(missing, chromium+" (apt-get install chromium)")
	}
	if len(missing) > 0 {
		msg := "the browser test needs " + strings.Join(missing, ", ")
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (CI is set: the browser test must run)")
		}
		t.Skip(msg)
	}

	// The demo, exactly as `portico demo --json` runs it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	stderr := &idptest.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--json", "--addr", "127.0.0.1:0", "--m365sim-addr", "127.0.0.1:0"}, pw, stderr)
		pw.Close()
	}()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo exited with %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("demo did not stop on cancel")
		}
	}
	line, err := bufio.NewReader(pr).ReadBytes('\n')
	if err != nil {
		cancel()
		t.Fatalf("read the demo's JSON: %v (demo: %v)", err, <-done)
	}
	var info demoInfo
	if err := json.Unmarshal(line, &info); err != nil {
		stop()
		t.Fatalf("demo --json printed %q: %v", line, err)
	}
	user, enrol := findDemoUser(info, "john.smith"), findDemoUser(info, "ann.lee")
	if info.M365SimURL == "" || info.PorticoURL == "" || info.SigninURL == "" || !strings.HasPrefix(info.SigninURL, info.M365SimURL+"/common/login?") ||
		user == nil || enrol == nil || user.TOTPSecret == "" || enrol.TOTPSecret != "" || enrol.Password == "" {
		stop()
		t.Fatalf("demo --json lacks what a person needs to sign in: %s", line)
	}

	shots := os.Getenv("PORTICO_E2E_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	// A deadline for the script, and the whole process group (node and its
	// Chromium) killed when it passes.
	sctx, scancel := context.WithTimeout(ctx, 90*time.Second)
	defer scancel()
	cmd := exec.CommandContext(sctx, node, filepath.Join("e2e", "signin.mjs"))
	cmd.Dir = root
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(os.Environ(),
		"M365SIM_URL="+info.M365SimURL,
		"PORTICO_URL="+info.PorticoURL,
		"USER_UPN="+user.UPN, "USER_PASSWORD="+user.Password, "USER_TOTP_SECRET="+user.TOTPSecret, "USER_NAME=John Smith",
		"ENROL_UPN="+enrol.UPN, "ENROL_PASSWORD="+enrol.Password, "ENROL_NAME=Ann Lee",
		"SCREENSHOT_DIR="+shots,
		"CHROMIUM="+chromium,
	)
	out, err := cmd.CombinedOutput()
	if errors.Is(sctx.Err(), context.DeadlineExceeded) {
		err = errors.Join(err, errors.New("the script ran out of time"))
	}
	stop()
	if err != nil {
		t.Fatalf("node e2e/signin.mjs: %v\n%s\nscreenshots in %s\ndemo's log:\n%s", err, out, shots, stderr.String())
	}
	if !strings.Contains(string(out), "signed in: John Smith <"+user.UPN+">") ||
		!strings.Contains(string(out), "signed in: Ann Lee <"+enrol.UPN+">") {
		t.Fatalf("node e2e/signin.mjs did not report both sign-ins:\n%s", out)
	}
	t.Logf("node e2e/signin.mjs:\n%s", out)
}

func findDemoUser(info demoInfo, username string) *demoUser {
	for i := range info.Users {
		if info.Users[i].Username == username {
			return &info.Users[i]
		}
	}
	return nil
}
