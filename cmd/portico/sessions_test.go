package main

import (
	"context"
	"errors"
	"github.com/portico-idp/portico/internal/authz"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/authn"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/signin"
)

// TestUserSetPasswordEndsSessions: `portico user set-password` ends every
// browser session of the user (issue 9, item 3).
func TestUserSetPasswordEndsSessions(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Setenv("PORTICO_DATA_DIR", dir)
	for _, args := range [][]string{{"migrate"}, {"tenant", "create", "--slug", "acme", "--suffix", "acme.com"}} {
		if err := run(ctx, args, io.Discard, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	sf := &storeFlags{dataDir: dir}
	st, err := sf.open(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tn, err := st.GetTenantBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	sys := authz.With(ctx, authz.System("test"))
	u, err := admin.New(st).CreateUser(sys, tn.ID, directory.User{Username: "ann"})
	if err != nil {
		t.Fatal(err)
	}
	sign := signin.New(st, nil)
	pol := authn.Policy{SessionIdle: time.Hour, SessionMax: 2 * time.Hour}
	var tokens []string
	for range 2 {
		tok, _, err := sign.NewSession(ctx, u, pol, time.Now(), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
	}
	st.Close()

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString("a long new passphrase\n")
	w.Close()
	stdin := os.Stdin
	os.Stdin = r
	t.Cleanup(func() { os.Stdin = stdin; r.Close() })
	var out strings.Builder
	if err := run(ctx, []string{"user", "set-password", "--tenant", "acme", "--user", "ann"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "sessions were ended") {
		t.Errorf("output %q does not say the sessions were ended", out.String())
	}

	st, err = sf.open(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sign = signin.New(st, nil)
	for i, tok := range tokens {
		if _, err := sign.Session(ctx, tn.ID, tok); !errors.Is(err, signin.ErrNoSession) {
			t.Errorf("session %d survived set-password: %v", i, err)
		}
	}
	if _, err := sign.CheckPassword(ctx, tn.ID, "ann", "a long new passphrase", "127.0.0.1"); err != nil {
		t.Fatalf("the new password does not work: %v", err)
	}
}
