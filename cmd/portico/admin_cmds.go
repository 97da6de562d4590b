package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/spf13/pflag"

	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/storage"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// versionString is the version, or dev-COMMIT for a build from a checkout.
func versionString() string {
	if version != "" {
		return version
	}
	v := "dev"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v = "dev-" + s.Value[:12]
			}
		}
	}
	return v
}

func migrateFlags(fs *pflag.FlagSet) runFunc {
	var sf storeFlags
	sf.register(fs)
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		st, err := sf.open(ctx, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s database is up to date\n", sf.backend())
		return st.Close()
	}
}

// describe turns validation and duplicate errors into a sentence naming
// the flag's field.
func describe(err error) error {
	if err == nil {
		return nil
	}
	if ve, ok := directory.AsValidation(err); ok {
		return fmt.Errorf("%s", ve.Error())
	}
	var de *storage.DuplicateError
	if errors.As(err, &de) {
		return fmt.Errorf("%s is already taken", de.Field)
	}
	return err
}
