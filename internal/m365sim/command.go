package m365sim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// envPrefix prefixes the environment variables that set the flags: --cert-out
// is PORTICO_M365SIM_CERT_OUT.
const envPrefix = "PORTICO_M365SIM_"

// Command runs `portico m365sim`: it parses args (without the command name),
// starts the emulator and serves until ctx is cancelled, then shuts down
// gracefully and saves the state file. Each flag can also be set through
// PORTICO_M365SIM_<FLAG> (upper case, dashes as underscores); a flag on the
// command line wins over the environment.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("m365sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8443", "listen address")
	plain := fs.Bool("http", false, "serve plain HTTP instead of HTTPS")
	certOut := fs.String("cert-out", "", "write the generated CA and server certificate (PEM) to this file")
	seed := fs.String("seed", "", "seed file (JSON, see docs/m365sim.md)")
	state := fs.String("state", "", "state file: loaded at start when it exists, saved after changes (default: memory only)")
	verbose := fs.Bool("verbose", false, "log every request")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: portico m365sim [flags]\n\n"+
			"Runs an offline Microsoft 365 tenant: the Entra token endpoint and the Microsoft Graph\n"+
			"directory API, for tests, benchmarks and `portico demo`.\n\nFlags (each also read from %s<FLAG>):\n", envPrefix)
		fs.PrintDefaults()
	}
	if err := applyEnv(fs); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("m365sim: %w", err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("m365sim: unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	opts := []Option{WithAddr(*addr), WithLogger(log)}
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

// applyEnv sets each flag from PORTICO_M365SIM_<NAME> when that variable is
// set, before the command line is parsed (so the command line wins).
func applyEnv(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
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
