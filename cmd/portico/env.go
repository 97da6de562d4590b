package main

import (
	"fmt"
	"os"

	"github.com/spf13/pflag"
)

// envVars are the environment variables Portico reads, one per server
// setting: where the data is, where to listen, the public URL, keys, the
// log level and the sign-in limits. The README's and docs/operations.md's
// tables list exactly these (a test checks). A command's arguments — a
// name, a tenant, --global — are never read from the environment: a
// variable left in a shell would silently change every later command.
// The emulator's flags have their own PORTICO_M365SIM_* variables
// (docs/m365sim.md), so that both run from one shell.
var envVars = map[string]string{
	"addr":                        "PORTICO_ADDR",
	"public-url":                  "PORTICO_PUBLIC_URL",
	"tls-cert":                    "PORTICO_TLS_CERT",
	"tls-key":                     "PORTICO_TLS_KEY",
	"metrics-addr":                "PORTICO_METRICS_ADDR",
	"data-dir":                    "PORTICO_DATA_DIR",
	"database-url":                "PORTICO_DATABASE_URL",
	"master-key-file":             "PORTICO_MASTER_KEY_FILE",
	"m365-ca-file":                "PORTICO_M365_CA_FILE",
	"m365-allow-endpoint":         "PORTICO_M365_ALLOW_ENDPOINT",
	"insecure-allow-http-wstrust": "PORTICO_INSECURE_ALLOW_HTTP_WSTRUST",
	"log-level":                   "PORTICO_LOG_LEVEL",
	"lockout-threshold":           "PORTICO_LOCKOUT_THRESHOLD",
	"lockout-familiar-threshold":  "PORTICO_LOCKOUT_FAMILIAR_THRESHOLD",
	"lockout-window":              "PORTICO_LOCKOUT_WINDOW",
	"lockout-familiar-days":       "PORTICO_LOCKOUT_FAMILIAR_DAYS",
	"client-failure-limit":        "PORTICO_CLIENT_FAILURE_LIMIT",
	"audit-retention":             "PORTICO_AUDIT_RETENTION",
}

// envAnnotation marks a flag with the variable that sets it.
const envAnnotation = "portico_env"

// serverEnv binds, among fs's flags, those named in envVars.
func serverEnv(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if v, ok := envVars[f.Name]; ok && f.Annotations[envAnnotation] == nil {
			bindEnv(fs, f.Name, v)
		}
	})
}

// bindEnv lets variable set flag name; the help shows it.
func bindEnv(fs *pflag.FlagSet, name, variable string) {
	f := fs.Lookup(name)
	if f == nil {
		panic("bindEnv: no flag " + name)
	}
	if f.Annotations == nil {
		f.Annotations = map[string][]string{}
	}
	f.Annotations[envAnnotation] = []string{variable}
	f.Usage += " [$" + variable + "]"
}

// applyEnv sets each bound flag the command line left alone from its
// variable, so the command line wins.
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		vs := f.Annotations[envAnnotation]
		if len(vs) == 0 || f.Changed || err != nil {
			return
		}
		if v, ok := os.LookupEnv(vs[0]); ok {
			if serr := f.Value.Set(v); serr != nil {
				err = fmt.Errorf("$%s (--%s): %w", vs[0], f.Name, serr)
			}
		}
	})
	return err
}
