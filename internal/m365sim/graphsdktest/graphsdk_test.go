//go:build graphsdk

// Package graphsdktest runs Microsoft's Graph Go SDK (msgraph-sdk-go)
// against m365sim. It is behind the graphsdk build tag because a cold build
// of the SDK takes about four minutes and 4.6 GB (TESTING.md); CI runs it
// with `go test -tags graphsdk ./internal/m365sim/graphsdktest/`.
package graphsdktest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	absauth "github.com/microsoft/kiota-abstractions-go/authentication"
	khttp "github.com/microsoft/kiota-http-go"
	msgraph "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/portico-idp/portico/internal/m365sim"
)

const (
	tenantID = "8f3a7d52-6c1e-4b9a-9d4e-2f7c1a0b5e31"
	clientID = "3f1e2d4c-5b6a-4978-8a9b-0c1d2e3f4a5b"
)

// msalTokens gets tokens with MSAL (client credentials with a certificate)
// for the Kiota authentication provider.
type msalTokens struct {
	client confidential.Client
	hosts  *absauth.AllowedHostsValidator
}

func (m *msalTokens) GetAuthorizationToken(ctx context.Context, _ *url.URL, _ map[string]interface{}) (string, error) {
	res, err := m.client.AcquireTokenByCredential(ctx, []string{"https://graph.microsoft.com/.default"})
	if err != nil {
		return "", err
	}
	return res.AccessToken, nil
}

func (m *msalTokens) GetAllowedHostsValidator() *absauth.AllowedHostsValidator { return m.hosts }

func ptr[T any](v T) *T { return &v }

func TestGraphSDKAgainstSim(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	seed, err := m365sim.LoadSeedFile("../testdata/seed-example.json")
	if err != nil {
		t.Fatal(err)
	}
	sim, err := m365sim.New(m365sim.WithAddr("127.0.0.1:0"), m365sim.WithSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer sim.Close()

	// Register the app's certificate, as "Upload certificate" in the portal.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "portico"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	if err := sim.RegisterAppCertificate(tenantID, clientID, cert); err != nil {
		t.Fatal(err)
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(sim.CACertPEM())
	base := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	cred, err := confidential.NewCredFromCert([]*x509.Certificate{cert}, key)
	if err != nil {
		t.Fatal(err)
	}
	app, err := confidential.New(sim.URL()+"/"+tenantID, clientID, cred,
		confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(&http.Client{Transport: base}))
	if err != nil {
		t.Fatal(err)
	}
	simURL, _ := url.Parse(sim.URL())
	hosts, err := absauth.NewAllowedHostsValidatorErrorCheck([]string{simURL.Host})
	if err != nil {
		t.Fatal(err)
	}
	auth := absauth.NewBaseBearerTokenAuthenticationProvider(&msalTokens{client: app, hosts: hosts})
	opts := &msgraphcore.GraphClientOptions{GraphServiceVersion: "v1.0", GraphServiceLibraryVersion: "1.89.0"}
	httpClient := &http.Client{Transport: khttp.NewCustomTransportWithParentTransport(base, msgraphcore.GetDefaultMiddlewaresWithOptions(opts)...), Timeout: time.Minute}
	adapter, err := msgraph.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, nil, nil, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	adapter.SetBaseUrl(sim.URL() + "/v1.0")
	client := msgraph.NewGraphServiceClient(adapter)

	// List users with paging through the SDK's page iterator.
	page, err := client.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Top: ptr(int32(10)), Select: []string{"id", "displayName", "userPrincipalName"}},
	})
	if err != nil {
		t.Fatalf("list users: %v", describe(err))
	}
	it, err := msgraphcore.NewPageIterator[models.Userable](page, adapter, models.CreateUserCollectionResponseFromDiscriminatorValue)
	if err != nil {
		t.Fatal(err)
	}
	var upns []string
	if err := it.Iterate(ctx, func(u models.Userable) bool {
		upns = append(upns, *u.GetUserPrincipalName())
		return true
	}); err != nil {
		t.Fatalf("iterate: %v", describe(err))
	}
	if len(upns) != 53 { // 3 live seeded users + 50 generated
		t.Fatalf("listed %d users", len(upns))
	}

	// Create a user.
	nu := models.NewUser()
	nu.SetAccountEnabled(ptr(true))
	nu.SetDisplayName(ptr("Megan Bowen"))
	nu.SetMailNickname(ptr("MeganB"))
	nu.SetUserPrincipalName(ptr("MeganB@contoso.com"))
	pp := models.NewPasswordProfile()
	pp.SetForceChangePasswordNextSignIn(ptr(true))
	pp.SetPassword(ptr("xWwvJ]6NMw+bWH-d"))
	nu.SetPasswordProfile(pp)
	created, err := client.Users().Post(ctx, nu, nil)
	if err != nil {
		t.Fatalf("create user: %v", describe(err))
	}
	if created.GetId() == nil || *created.GetUserPrincipalName() != "MeganB@contoso.com" {
		t.Fatalf("created %+v", created)
	}
	// The same UPN again is Graph's ObjectConflict error, surfaced by the SDK.
	_, err = client.Users().Post(ctx, nu, nil)
	var oerr *odataerrors.ODataError
	if !errors.As(err, &oerr) || *oerr.GetErrorEscaped().GetCode() != "Request_BadRequest" || oerr.ResponseStatusCode != 400 ||
		!strings.Contains(*oerr.GetErrorEscaped().GetMessage(), "userPrincipalName already exists") {
		t.Fatalf("duplicate: %v", describe(err))
	}
	if d := oerr.GetErrorEscaped().GetDetails(); len(d) != 1 || *d[0].GetCode() != "ObjectConflict" {
		t.Fatalf("details: %v", d)
	}
	// Read it back by UPN with $select.
	got, err := client.Users().ByUserId("meganb@contoso.com").Get(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: []string{"id", "accountEnabled", "onPremisesImmutableId"}},
	})
	if err != nil || *got.GetId() != *created.GetId() || !*got.GetAccountEnabled() {
		t.Fatalf("get user: %v", describe(err))
	}

	// Create a security group and add the user with members/$ref.
	g := models.NewGroup()
	g.SetDisplayName(ptr("Portico Users"))
	g.SetMailEnabled(ptr(false))
	g.SetMailNickname(ptr("porticousers"))
	g.SetSecurityEnabled(ptr(true))
	g.SetGroupTypes([]string{})
	cg, err := client.Groups().Post(ctx, g, nil)
	if err != nil {
		t.Fatalf("create group: %v", describe(err))
	}
	ref := models.NewReferenceCreate()
	ref.SetOdataId(ptr("https://graph.microsoft.com/v1.0/directoryObjects/" + *created.GetId()))
	if err := client.Groups().ByGroupId(*cg.GetId()).Members().Ref().Post(ctx, ref, nil); err != nil {
		t.Fatalf("add member: %v", describe(err))
	}
	members, err := client.Groups().ByGroupId(*cg.GetId()).Members().Get(ctx, nil)
	if err != nil || len(members.GetValue()) != 1 || *members.GetValue()[0].GetId() != *created.GetId() {
		t.Fatalf("members: %v", describe(err))
	}
	if _, ok := members.GetValue()[0].(models.Userable); !ok {
		t.Fatalf("member is %T, want a user (from @odata.type)", members.GetValue()[0])
	}
	// Mail-enabled security groups cannot be created through Graph.
	bad := models.NewGroup()
	bad.SetDisplayName(ptr("Mail security"))
	bad.SetMailEnabled(ptr(true))
	bad.SetMailNickname(ptr("mailsec"))
	bad.SetSecurityEnabled(ptr(true))
	if _, err := client.Groups().Post(ctx, bad, nil); !errors.As(err, &oerr) || oerr.ResponseStatusCode != 400 {
		t.Fatalf("mail-enabled security group: %v", describe(err))
	}
	// List groups with a filter.
	gl, err := client.Groups().Get(ctx, &groups.GroupsRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupsRequestBuilderGetQueryParameters{Filter: ptr("displayName eq 'Portico Users'")},
	})
	if err != nil || len(gl.GetValue()) != 1 {
		t.Fatalf("filter groups: %v", describe(err))
	}
	// Domains and organization deserialize.
	doms, err := client.Domains().Get(ctx, nil)
	if err != nil || len(doms.GetValue()) != 4 || *doms.GetValue()[0].GetIsInitial() != true {
		t.Fatalf("domains: %v", describe(err))
	}
	org, err := client.Organization().Get(ctx, nil)
	if err != nil || len(org.GetValue()) != 1 || *org.GetValue()[0].GetId() != tenantID {
		t.Fatalf("organization: %v", describe(err))
	}
}

// describe renders an SDK error with Graph's code and message.
func describe(err error) string {
	var oerr *odataerrors.ODataError
	if errors.As(err, &oerr) && oerr.GetErrorEscaped() != nil {
		e := oerr.GetErrorEscaped()
		code, msg := "", ""
		if e.GetCode() != nil {
			code = *e.GetCode()
		}
		if e.GetMessage() != nil {
			msg = *e.GetMessage()
		}
		return code + ": " + msg
	}
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
