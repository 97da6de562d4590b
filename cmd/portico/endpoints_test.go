package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portico-idp/portico/internal/m365/cloud"
)

// TestM365AllowEndpointFlag: without --m365-allow-endpoint an application
// cannot point at a non-Microsoft endpoint (an emulator on loopback); the
// flag (or PORTICO_M365_ALLOW_ENDPOINT, comma-separated) allows exactly
// the endpoints it names, and never a metadata address.
func TestM365AllowEndpointFlag(t *testing.T) {
	ctx := context.Background()
	t.Setenv("PORTICO_DATA_DIR", t.TempDir())
	for _, args := range [][]string{{"migrate"}, {"tenant", "create", "--slug", "acme", "--suffix", "acme.com"}} {
		if err := run(ctx, args, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	var id strings.Builder
	if err := run(ctx, []string{"app", "create", "--tenant", "acme"}, &id, io.Discard); err != nil {
		t.Fatal(err)
	}
	configure := func(extra ...string) error {
		return run(ctx, append([]string{"app", "configure", "--tenant", "acme", "--app", strings.TrimSpace(id.String())}, extra...), io.Discard, io.Discard)
	}
	err := configure("--authority-url", "https://127.0.0.1:8443")
	if err == nil || !strings.Contains(err.Error(), "office365.authorityUrl") || !strings.Contains(err.Error(), "--m365-allow-endpoint 127.0.0.1:8443") {
		t.Fatalf("loopback authority without the flag: %v", err)
	}
	if err := configure("--authority-url", "https://127.0.0.1:8443", "--m365-allow-endpoint", "127.0.0.1:8443"); err != nil {
		t.Fatalf("with the flag: %v", err)
	}
	if err := configure("--graph-url", "https://127.0.0.1:9443/v1.0", "--m365-allow-endpoint", "127.0.0.1:8443"); err == nil ||
		!strings.Contains(err.Error(), "office365.graphUrl") {
		t.Fatalf("an endpoint the flag does not name: %v", err)
	}
	t.Setenv("PORTICO_M365_ALLOW_ENDPOINT", "127.0.0.1:8443,127.0.0.1:9443")
	if err := configure("--graph-url", "https://127.0.0.1:9443/v1.0"); err != nil {
		t.Fatalf("allowed through the environment: %v", err)
	}
	if err := configure("--m365-allow-endpoint", "169.254.169.254"); err == nil || !strings.Contains(err.Error(), "never allowed") {
		t.Fatalf("metadata address as an allowed endpoint: %v", err)
	}
	t.Setenv("PORTICO_M365_ALLOW_ENDPOINT", "")
	err = run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--m365-allow-endpoint", "[fd00:ec2::254]"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--m365-allow-endpoint") {
		t.Fatalf("serve with a metadata address allowed: %v", err)
	}
}

// TestMicrosoftClientGuarded: whichever way the client for calls to
// Microsoft is made (system roots, --m365-ca-file, the demo's emulator
// client), it refuses unspecified and metadata addresses at dial time.
func TestMicrosoftClientGuarded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for name, cfg := range map[string]serveConfig{
		"default":      {},
		"given client": {m365Client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}},
	} {
		c, err := cfg.microsoftClient()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get("http://0.0.0.0:" + port + "/"); !errors.Is(err, cloud.ErrForbiddenAddress) {
			t.Errorf("%s client to 0.0.0.0: %v", name, err)
		}
	}
}
