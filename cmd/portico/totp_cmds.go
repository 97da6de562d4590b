package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/portico-idp/portico/internal/authn"
)

// totpCodeFlags: `portico totp code` prints what an authenticator app
// would show, so that the demo needs no oathtool. The secret comes from
// --secret (the demo's secrets are printed anyway) or, for a real one,
// from standard input, which `ps` does not show.
func totpCodeFlags(fs *pflag.FlagSet) runFunc {
	secret := fs.String("secret", "", "the base32 TOTP secret (as the demo prints it); omit to read it from standard input")
	return func(ctx context.Context, stdout, stderr io.Writer) error {
		s := *secret
		if s == "" {
			var err error
			if s, err = readSecretLine("TOTP secret (or --secret)"); err != nil {
				return err
			}
		}
		s = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
		if s == "" {
			return errors.New("the TOTP secret is empty")
		}
		now := time.Now()
		code, err := authn.TOTPCode(s, now)
		if err != nil {
			return fmt.Errorf("--secret is not a base32 TOTP secret: %w", err)
		}
		fmt.Fprintln(stdout, code)
		left := 30 - now.Unix()%30
		fmt.Fprintf(stderr, "valid for %d more seconds\n", left)
		return nil
	}
}
