package m365sim

import (
	"bytes"
	"context"
	"crypto/sha1" //nolint:gosec // x5t
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSeedExample(t *testing.T) {
	f, err := LoadSeedFile("testdata/seed-example.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(WithHTTP(), WithSeed(f), WithSigningKey(fixtures().sign))
	if err != nil {
		t.Fatal(err)
	}
	d := s.Dump()
	tn := d.Tenants[0]
	// 4 seeded users (one deleted) + 50 generated.
	if len(tn.Users) != 54 || len(tn.Groups) != 2 || len(tn.Apps) != 1 {
		t.Fatalf("users %d groups %d apps %d", len(tn.Users), len(tn.Groups), len(tn.Apps))
	}
	for _, bad := range []string{
		`{"tenants":[{"displayName":"x","initialDomain":"x.example"}]}`,
		`{"tenants":[{"displayName":"x","initialDomain":"x.onmicrosoft.com","users":[{"userPrincipalName":"a@elsewhere.example","displayName":"A"}]}]}`,
		`{"tenants":[{"displayName":"x","initialDomain":"x.onmicrosoft.com","unknownField":1}]}`,
		`{"tenants":[{"displayName":"x","initialDomain":"x.onmicrosoft.com","groups":[{"displayName":"G","mailNickname":"g","mailEnabled":false,"securityEnabled":true,"members":["nobody"]}]}]}`,
		`{"tenants":[{"displayName":"x","initialDomain":"x.onmicrosoft.com","domains":[{"id":"f.example","isVerified":true,"federationConfiguration":{"issuerUri":"i"}}]}]}`,
	} {
		f, err := ParseSeed(strings.NewReader(bad))
		if err == nil {
			err = s.Seed(f)
		}
		if err == nil {
			t.Errorf("seed accepted: %s", bad)
		}
	}
}

func TestStateFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	fx := fixtures()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := New(WithHTTP(), WithAddr("127.0.0.1:0"), WithSeed(testSeed()), WithStateFile(state), WithSigningKey(fx.sign))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, s: s}
	e.all = e.token(appAll)
	do := func(method, path string, body any) resp {
		return e.do(method, s.URL()+path, e.all, body)
	}
	id := do("POST", "/v1.0/users", newUserBody("persisted@contoso.com")).body["id"].(string)
	do("POST", "/v1.0/domains/contoso.com/federationConfiguration", fedBody("http://contoso.com/adfs/services/trust"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("state file not written: %v", err)
	}
	// A new sim on the same state file sees the changes, not the seed alone.
	s2, err := New(WithHTTP(), WithSeed(SeedFile{}), WithStateFile(state), WithSigningKey(fx.sign))
	if err != nil {
		t.Fatal(err)
	}
	e2 := newEnvFrom(t, s2)
	if r := e2.do("GET", "/v1.0/users/persisted@contoso.com", e2.all, nil); r.status != 200 || r.body["id"] != id {
		t.Fatalf("persisted user: %d %s", r.status, r.raw)
	}
	if r := e2.do("GET", "/v1.0/domains/contoso.com", e2.all, nil); r.body["authenticationType"] != "Federated" {
		t.Fatalf("persisted federation: %s", r.raw)
	}
	if r := e2.do("GET", "/v1.0/directory/deletedItems/microsoft.graph.user", e2.all, nil); len(r.values()) != 1 {
		t.Fatalf("persisted deleted items: %s", r.raw)
	}
}

func newEnvFrom(t *testing.T, s *Server) *testEnv {
	hs := httptestServer(t, s)
	e := &testEnv{t: t, s: s, hs: hs}
	e.all = e.token(appAll)
	return e
}

func TestAdminAPI(t *testing.T) {
	e := newEnv(t)
	fx := fixtures()
	// Upload a certificate to a new app, as "Upload certificate" in the portal.
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fx.other.cert.Raw})
	res, err := http.Post(e.hs.URL+"/_sim/tenants/contoso.onmicrosoft.com/apps/cccccccc-0000-4000-8000-000000000001/certificates", "application/x-pem-file", bytes.NewReader(pemCert))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("upload: %d", res.StatusCode)
	}
	e.s.store.mu.RLock()
	app := e.s.store.tenants[tenantID].Apps["cccccccc-0000-4000-8000-000000000001"]
	d := sha1.Sum(fx.other.cert.Raw) //nolint:gosec
	ok := app != nil && app.certByThumbprint(d[:], nil) != nil
	e.s.store.mu.RUnlock()
	if !ok {
		t.Fatal("certificate not registered")
	}
	// The new app can get a token with it.
	aud := e.hs.URL + "/" + tenantID + "/oauth2/v2.0/token"
	a := assertion(t, "RS256", fx.other, aud, nil, map[string]any{"iss": "cccccccc-0000-4000-8000-000000000001", "sub": "cccccccc-0000-4000-8000-000000000001"})
	if r := postToken(t, e, tenantID, ccForm("cccccccc-0000-4000-8000-000000000001", a)); r.status != 200 {
		t.Fatalf("token with uploaded certificate: %v", r.body)
	}
	// Dump, reset, seed.
	res, _ = http.Get(e.hs.URL + "/_sim/state")
	dump, err := ParseSeed(res.Body)
	res.Body.Close()
	if err != nil || len(dump.Tenants) != 1 {
		t.Fatalf("dump: %v", err)
	}
	res, _ = http.Post(e.hs.URL+"/_sim/reset", "application/json", nil)
	res.Body.Close()
	expectError(t, e.do("GET", "/v1.0/organization", e.all, nil), 401, "InvalidAuthenticationToken", "tenant")
	raw, _ := os.ReadFile("testdata/seed-example.json")
	res, _ = http.Post(e.hs.URL+"/_sim/seed", "application/json", bytes.NewReader(raw))
	res.Body.Close()
	if res.StatusCode != 204 {
		t.Fatalf("seed: %d", res.StatusCode)
	}
	res, _ = http.Post(e.hs.URL+"/_sim/seed", "application/json", strings.NewReader("{"))
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Fatalf("bad seed: %d", res.StatusCode)
	}
}

// A Dump fed back to Seed in Go, without a JSON file in between, gives the
// same state (its []string and json.RawMessage values are read as JSON).
func TestSeedDumpInGo(t *testing.T) {
	f, err := LoadSeedFile("testdata/seed-example.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(WithHTTP(), WithSeed(f), WithSigningKey(fixtures().sign))
	if err != nil {
		t.Fatal(err)
	}
	d := s.Dump()
	s2, err := New(WithHTTP(), WithSigningKey(fixtures().sign))
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Seed(d); err != nil {
		t.Fatalf("Seed(Dump()): %v", err)
	}
	want, _ := json.Marshal(d)
	got, _ := json.Marshal(s2.Dump())
	if !bytes.Equal(got, want) {
		t.Fatalf("state after Seed(Dump()):\n%s\nwant\n%s", got, want)
	}
}
