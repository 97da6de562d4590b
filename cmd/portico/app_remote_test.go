package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portico-idp/portico/internal/apps"
)

// TestAppAndFederationCommandsThroughTheAPI: against the demo, the app and
// federation commands act with --server as they do on the database: app
// list reads the application and its certificate's thumbprint, disable
// and enable change it (as the API shows), app certificate prints the
// demo's thumbprint, federation verify passes its checks and federation
// manual prints the settings; a helpdesk token is refused in plain words,
// and the flags of the database mode are refused with --server.
func TestAppAndFederationCommandsThroughTheAPI(t *testing.T) {
	e := startE2E(t)
	t.Setenv("PORTICO_TOKEN", e.info.APIToken)
	ctx := context.Background()
	base := []string{"--tenant", e.info.Tenant, "--server", e.s.URL}
	cli := func(args ...string) (string, string, error) {
		var out, errb strings.Builder
		err := run(ctx, append(args, base...), &out, &errb)
		return out.String(), errb.String(), err
	}
	type row struct {
		ID         string `json:"id"`
		Name       string `json:"name"`
		Kind       string `json:"kind"`
		Enabled    bool   `json:"enabled"`
		Thumbprint string `json:"certificateThumbprint"`
	}
	list := func() row {
		t.Helper()
		out, errs, err := cli("app", "list", "-o", "json")
		if err != nil {
			t.Fatalf("app list --server: %v\n%s", err, errs)
		}
		var rows []row
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("app list -o json: %v\n%s", err, out)
		}
		for _, r := range rows {
			if r.ID == e.info.AppID {
				return r
			}
		}
		t.Fatalf("app list --server does not list the demo's application %s:\n%s", e.info.AppID, out)
		return row{}
	}
	apiApp := func() apps.Application {
		t.Helper()
		req, _ := http.NewRequest("GET", e.s.URL+"/api/v1/tenants/"+e.info.Tenant+"/applications/"+e.info.AppID, nil)
		req.Header.Set("Authorization", "Bearer "+e.info.APIToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var a apps.Application
		if err := json.NewDecoder(res.Body).Decode(&a); err != nil {
			t.Fatal(err)
		}
		return a
	}

	r := list()
	if !r.Enabled || r.Kind != string(apps.KindOffice365) || !strings.EqualFold(r.Thumbprint, e.info.Thumbprint) {
		t.Fatalf("app list --server: %+v, want enabled office365 with thumbprint %s", r, e.info.Thumbprint)
	}

	if out, errs, err := cli("app", "disable", "--app", e.info.AppID); err != nil || out != "application "+e.info.AppID+" disabled\n" {
		t.Fatalf("app disable --server: %v\n%s%s", err, out, errs)
	}
	if a := apiApp(); a.Enabled || a.Office365 == nil || len(a.Office365.Domains) == 0 {
		t.Fatalf("after app disable the API shows %+v: want disabled, its Office 365 settings kept", a)
	}
	if list().Enabled {
		t.Fatal("app list still shows the application enabled after app disable")
	}
	if _, errs, err := cli("app", "enable", "--app", e.info.AppID); err != nil {
		t.Fatalf("app enable --server: %v\n%s", err, errs)
	}
	if !apiApp().Enabled {
		t.Fatal("after app enable the API shows the application disabled")
	}

	out, errs, err := cli("app", "certificate", "--app", e.info.AppID)
	if err != nil || !strings.HasPrefix(out, "-----BEGIN CERTIFICATE-----") ||
		!strings.Contains(strings.ToLower(errs), "thumbprint (sha-1): "+strings.ToLower(e.info.Thumbprint)) {
		t.Fatalf("app certificate --server: %v\nstdout %s\nstderr %s\nwant thumbprint %s", err, out, errs, e.info.Thumbprint)
	}

	if _, _, err := cli("app", "disable", "--app", "no-such-app"); err == nil || !strings.Contains(err.Error(), `application "no-such-app" not found in tenant `+e.info.Tenant) {
		t.Fatalf("app disable of an unknown application: %v", err)
	}

	out, errs, err = cli("federation", "verify", "--app", e.info.AppID, "--domain", e.info.Domain)
	if err != nil || !strings.Contains(out, "Domain "+e.info.Domain) || !strings.Contains(out, "Compatible: yes") || strings.Contains(out, "[FAIL]") {
		t.Fatalf("federation verify --server: %v\n%s%s", err, out, errs)
	}
	out, errs, err = cli("federation", "manual", "--app", e.info.AppID, "--domain", e.info.Domain)
	if err != nil || !strings.Contains(out, "Federation settings for "+e.info.Domain) || !strings.Contains(out, "BEGIN CERTIFICATE") {
		t.Fatalf("federation manual --server: %v\n%s%s", err, out, errs)
	}

	for _, flags := range [][]string{{"--master-key-file", "k"}, {"--m365-allow-endpoint", "127.0.0.1:1"}} {
		if _, _, err := cli(append([]string{"app", "configure", "--app", e.info.AppID}, flags...)...); err == nil || !strings.Contains(err.Error(), flags[0]+" applies only without --server") {
			t.Fatalf("app configure %s with --server: %v", flags[0], err)
		}
	}
	if _, _, err := cli("federation", "verify", "--app", e.info.AppID, "--m365-ca-file", "x.pem"); err == nil || !strings.Contains(err.Error(), "--m365-ca-file applies only without --server") {
		t.Fatalf("federation verify --m365-ca-file with --server: %v", err)
	}

	// federate of a domain already federated to this application prints
	// its result; disconnect while "Federate automatically" is on is
	// refused in the server's words.
	out, errs, err = cli("federation", "federate", "--app", e.info.AppID, "--domain", e.info.Domain)
	if err != nil || !strings.Contains(out, "Action: unchanged") || !strings.Contains(out, "State: federatedToThisApplication") {
		t.Fatalf("federation federate --server of a federated domain: %v\n%s%s", err, out, errs)
	}
	out, _, err = cli("federation", "disconnect", "--app", e.info.AppID, "--domain", e.info.Domain)
	if err == nil || !strings.Contains(err.Error(), "Federate automatically") || !strings.Contains(out, "Action: none") {
		t.Fatalf("federation disconnect --server with automatic federation on: %v\n%q", err, out)
	}

	// app create and app configure with --server: the new application
	// is listed; configure replaces its domains.
	out, errs, err = cli("app", "create", "--name", "Second", "--domain", "second.example", "--disabled")
	if err != nil {
		t.Fatalf("app create --server: %v\n%s", err, errs)
	}
	newID := strings.TrimSpace(out)
	if _, errs, err := cli("app", "configure", "--app", newID, "--domain", "third.example", "--protocol", "saml"); err != nil {
		t.Fatalf("app configure --server: %v\n%s", err, errs)
	}
	out, _, err = cli("app", "list")
	if err != nil || !strings.Contains(out, newID) || !strings.Contains(out, "Second") {
		t.Fatalf("app list after app create --server: %v\n%s", err, out)
	}
	b, _ := openRemote(e.s.URL, "")
	second, err := (&remoteApps{apiBackend: b, tenant: e.info.Tenant}).GetApplication(ctx, newID)
	if err != nil || second.Enabled || second.Office365 == nil || strings.Join(second.Office365.DomainNames(), ",") != "third.example" || second.Office365.Protocol != "saml" {
		t.Fatalf("the application made by app create and app configure --server: %v %+v", err, second.Office365)
	}

	// The server settings of the environment are not command-line flags:
	// with --server they are not used, and not refused.
	t.Setenv("PORTICO_MASTER_KEY_FILE", filepath.Join(t.TempDir(), "absent"))
	t.Setenv("PORTICO_M365_CA_FILE", filepath.Join(t.TempDir(), "absent.pem"))
	t.Setenv("PORTICO_PUBLIC_URL", "https://elsewhere.example")
	if out, errs, err := cli("federation", "manual", "--app", e.info.AppID); err != nil || !strings.Contains(out, "Federation settings for") {
		t.Fatalf("federation manual --server with server settings in the environment: %v\n%s%s", err, out, errs)
	}

	// Errors name what was typed, as on the database.
	if err := run(ctx, []string{"app", "list", "--tenant", "nope", "--server", e.s.URL}, io.Discard, io.Discard); err == nil || err.Error() != `tenant "nope" not found` {
		t.Fatalf("app list --server of an unknown tenant: %v", err)
	}
	if _, _, err := cli("federation", "manual", "--app", "no-such-app"); err == nil || !strings.Contains(err.Error(), `application "no-such-app" not found in tenant `+e.info.Tenant) {
		t.Fatalf("federation manual --server of an unknown application: %v", err)
	}

	tokenFile := filepath.Join(t.TempDir(), "helpdesk")
	os.WriteFile(tokenFile, []byte(e.info.HelpdeskAPIToken+"\n"), 0o600)
	_, _, err = cli("app", "disable", "--app", e.info.AppID, "--token-file", tokenFile)
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "refused the API token") {
		t.Fatalf("app disable with a helpdesk token: %v, want a 403 refusal in plain words", err)
	}
	t.Logf("helpdesk refusal: %v", err)
	if !apiApp().Enabled {
		t.Fatal("a helpdesk token disabled the application")
	}
}
