package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/portico-idp/portico/internal/signin"
)

func TestLockoutFlags(t *testing.T) {
	parseLockout := func(args ...string) (*lockoutFlags, error) {
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var f lockoutFlags
		f.register(fs)
		serverEnv(fs)
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if err := applyEnv(fs); err != nil {
			return nil, err
		}
		return &f, f.check()
	}
	f, err := parseLockout()
	if err != nil {
		t.Fatal(err)
	}
	d, got := signin.DefaultLimits, f.limits()
	if got.Unfamiliar != d.Unfamiliar || got.Familiar != d.Familiar || got.Window != d.Window || got.FamiliarFor != d.FamiliarFor || got.PerClient != d.PerClient {
		t.Fatalf("defaults: %+v; want those of %+v", got, d)
	}
	t.Setenv("PORTICO_LOCKOUT_FAMILIAR_THRESHOLD", "30")
	f, err = parseLockout("--lockout-threshold", "5", "--lockout-window", "30m", "--lockout-familiar-days", "14", "--client-failure-limit", "50")
	if err != nil {
		t.Fatal(err)
	}
	l := f.limits()
	if l.Unfamiliar != 5 || l.Familiar != 30 || l.Window != 30*time.Minute || l.FamiliarFor != 14*24*time.Hour || l.PerClient != 50 {
		t.Fatalf("limits: %+v", l)
	}
	for _, tt := range []struct{ args []string }{
		{[]string{"--lockout-threshold", "0"}},
		{[]string{"--lockout-familiar-threshold", "-1"}},
		{[]string{"--lockout-window", "25h"}},
		{[]string{"--lockout-window", "10s"}},
		{[]string{"--lockout-familiar-days", "0"}},
		{[]string{"--client-failure-limit", "0"}},
	} {
		_, err := parseLockout(tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.args[0]) {
			t.Errorf("%v: %v; want an error naming %s", tt.args, err, tt.args[0])
		}
	}
}
