package m365sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// envPrefix prefixes the environment variables that set the flags: --cert-out
// is PORTICO_M365SIM_CERT_OUT.
const envPrefix = "PORTICO_M365SIM_"

// Command runs `portico m365sim` on its own (its tests): it parses args
// (without the command name), with PORTICO_M365SIM_<FLAG> variables read
// first, and runs the emulator as Flags does. `portico m365sim` itself is
// built by cmd/portico with Flags, in the style of Portico's other commands.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := pflag.NewFlagSet("m365sim", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	run := Flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: portico m365sim [flags]\n\n%s\n\nFlags (each also read from %s<FLAG>):\n", Summary, envPrefix)
		fs.PrintDefaults()
	}
	if err := applyEnv(fs); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("m365sim: %w", err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("m365sim: unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return run(ctx, stdout, stderr)
}

// Summary describes the command, for its help.
const Summary = "Runs an offline Microsoft 365 tenant: the Entra token endpoint, federated sign-in\n" +
	"(WS-Federation and SAML 2.0) and the Microsoft Graph directory API with Microsoft's\n" +
	"throttling, for tests, benchmarks and `portico demo`. The tenant view is at /_sim/."

// EnvPrefix prefixes the environment variables of the emulator's flags
// (--cert-out is PORTICO_M365SIM_CERT_OUT): distinct from Portico's own
// PORTICO_ADDR and the like, so that both run from one shell.
const EnvPrefix = envPrefix

// Flags registers the emulator's flags on fs and returns the function that
// starts the emulator with them (after parsing) and serves until ctx is
// cancelled, then shuts down gracefully and saves the state file.
func Flags(fs *pflag.FlagSet) func(ctx context.Context, stdout, stderr io.Writer) error {
	addr := fs.String("addr", "127.0.0.1:8443", "listen address")
	plain := fs.Bool("http", false, "serve plain HTTP instead of HTTPS")
	certOut := fs.String("cert-out", "", "write the generated CA and server certificate (PEM) to this file")
	seed := fs.String("seed", "", "seed file (JSON, see docs/m365sim.md)")
	state := fs.String("state", "", "state file: loaded at start when it exists, saved after changes (default: memory only)")
	verbose := fs.Bool("verbose", false, "log every request")
	throttle := fs.Bool("throttle", true, "throttle Graph with Microsoft's published limits (identity and access service)")
	throttleScale := fs.Float64("throttle-scale", 1, "multiply the throttling limits' rates by N (windows N times shorter), so benchmarks run faster with the same shape")
	faultSeed := fs.Int64("fault-seed", 1, "seed of the fault decisions (same seed and requests: same faults)")
	faultErrors := fs.String("fault-error-rate", "0", "share of Graph requests and $batch items answered with a 5xx (0-1 or N%)")
	faultLatency := fs.Duration("fault-latency", 0, "latency added to every Graph request")
	faultJitter := fs.Duration("fault-latency-jitter", 0, "random extra latency, 0 to this much")
	faultLag := fs.Duration("fault-lag", 0, "read-after-write lag: a new user or group reads as 404 for this long")
	faultDrops := fs.String("fault-drop-rate", "0", "share of Graph requests whose connection is dropped without an answer (0-1 or N%)")
	faultAfter := fs.String("fault-after-write-rate", "0", "share of injected errors and drops on writes that happen after the write was applied (0-1 or N%)")
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		level := slog.LevelInfo
		if *verbose {
			level = slog.LevelDebug
		}
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
		if *throttleScale <= 0 {
			return fmt.Errorf("m365sim: --throttle-scale must be positive")
		}
		fc := FaultConfig{Seed: *faultSeed, Latency: Duration(*faultLatency), LatencyJitter: Duration(*faultJitter), ReadAfterWriteLag: Duration(*faultLag)}
		for _, r := range []struct {
			flag string
			v    string
			dst  *float64
		}{{"fault-error-rate", *faultErrors, &fc.ErrorRate}, {"fault-drop-rate", *faultDrops, &fc.DropRate}, {"fault-after-write-rate", *faultAfter, &fc.AfterWriteRate}} {
			v, err := parseRate(r.v)
			if err != nil {
				return fmt.Errorf("m365sim: --%s %q: %w", r.flag, r.v, err)
			}
			*r.dst = v
		}
		opts := []Option{WithAddr(*addr), WithLogger(log), WithThrottling(ThrottleConfig{Enabled: *throttle, Scale: *throttleScale}), WithFaults(fc)}
		if *plain {
			opts = append(opts, WithHTTP())
		}
		if *certOut != "" {
			opts = append(opts, WithCertOut(*certOut))
		}
		if *seed != "" {
			f, err := LoadSeedFile(*seed)
			if err != nil {
				return err
			}
			opts = append(opts, WithSeed(f))
		}
		if *state != "" {
			opts = append(opts, WithStateFile(*state))
		}
		srv, err := New(opts...)
		if err != nil {
			return err
		}
		if err := srv.Start(ctx); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "m365sim listening on %s\n", srv.URL())
		fmt.Fprintf(stdout, "  Graph:          %s/v1.0/\n", srv.URL())
		fmt.Fprintf(stdout, "  Token endpoint: %s/{tenant}/oauth2/v2.0/token\n", srv.URL())
		fmt.Fprintf(stdout, "  Sign-in:        %s/common/login (tokens to %s/login.srf)\n", srv.URL(), srv.URL())
		fmt.Fprintf(stdout, "  Tenant view:    %s/_sim/\n", srv.URL())
		if tc := srv.Throttling(); tc.Enabled {
			fmt.Fprintf(stdout, "  Throttling:     Microsoft's limits x %g (--throttle=false to turn off)\n", tc.scale())
		} else {
			fmt.Fprintf(stdout, "  Throttling:     off\n")
		}
		if fc.active() {
			fmt.Fprintf(stdout, "  Faults:         seed %d, 5xx %g, drops %g, latency %s+%s, read-after-write lag %s\n", fc.Seed, fc.ErrorRate, fc.DropRate,
				time.Duration(fc.Latency), time.Duration(fc.LatencyJitter), time.Duration(fc.ReadAfterWriteLag))
		}
		if *certOut != "" {
			fmt.Fprintf(stdout, "  CA certificate: %s\n", *certOut)
		}
		for _, t := range srv.Dump().Tenants {
			fmt.Fprintf(stdout, "  tenant %s (%s): %d users, %d groups\n", t.ID, t.InitialDomain, len(t.Users), len(t.Groups))
		}
		<-ctx.Done()
		if err := srv.Close(); err != nil {
			return fmt.Errorf("m365sim: shutting down: %w", err)
		}
		log.Info("m365sim: stopped")
		return nil
	}
}

// applyEnv sets each flag from PORTICO_M365SIM_<NAME> when that variable is
// set, before the command line is parsed (so the command line wins).
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		name := envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := os.LookupEnv(name)
		if !ok || err != nil {
			return
		}
		if serr := fs.Set(f.Name, v); serr != nil {
			err = fmt.Errorf("m365sim: %s=%q: %w", name, v, serr)
		}
	})
	return err
}
