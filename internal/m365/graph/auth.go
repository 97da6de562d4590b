package graph

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/portico-idp/portico/internal/signing"
)

const (
	// DefaultLoginURL is Microsoft Entra ID's public-cloud login host.
	DefaultLoginURL = "https://login.microsoftonline.com"
	// DefaultGraphURL is Microsoft Graph v1.0 in the public cloud.
	DefaultGraphURL = "https://graph.microsoft.com/v1.0"
	// graphScope asks for the application's (or user's) statically granted
	// Graph permissions (v2-oauth2-client-creds-grant-flow) on the global
	// service; a national cloud's Graph host has its own (AuthConfig.Scope).
	graphScope = "https://graph.microsoft.com/.default"
	// tokenRefreshMargin renews a cached password-grant token this long
	// before it expires.
	tokenRefreshMargin = 5 * time.Minute
)

// AccessToken is a bearer token for Graph.
type AccessToken struct {
	// Value is the bearer token.
	Value string
	// ExpiresOn is when it expires.
	ExpiresOn time.Time
}

// TokenClaims are the claims of a Graph access token that Verify
// Compatibility reads. Microsoft documents that a client should not depend on
// the content of tokens issued for another resource; read them for
// diagnostics only (which roles were granted), never to decide access.
type TokenClaims struct {
	TenantID string   `json:"tid"`
	AppID    string   `json:"appid"`
	ObjectID string   `json:"oid"`
	IDType   string   `json:"idtyp"`
	Roles    []string `json:"roles"`
	// Scope is the space-separated delegated permissions (password grant).
	Scope string `json:"scp"`
	// WIDs are the directory role template ids of a user token.
	WIDs []string `json:"wids"`
	UPN  string   `json:"upn"`
}

// Claims decodes the token's payload without verifying it (see TokenClaims).
func (t AccessToken) Claims() (TokenClaims, error) {
	var c TokenClaims
	parts := strings.Split(t.Value, ".")
	if len(parts) != 3 {
		return c, errors.New("graph: access token is not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return c, fmt.Errorf("graph: access token payload: %w", err)
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("graph: access token claims: %w", err)
	}
	return c, nil
}

// TokenSource supplies Graph access tokens. Implementations cache tokens and
// are safe for concurrent use.
type TokenSource interface {
	Token(ctx context.Context) (AccessToken, error)
}

// AuthConfig is where and as whom tokens are requested.
type AuthConfig struct {
	// LoginURL is the Entra login host; DefaultLoginURL when empty. Must be
	// https (MSAL refuses anything else).
	LoginURL string
	// TenantID is the directory (tenant) id. The authority is always
	// {LoginURL}/{TenantID}: never "common" or "organizations" (the password
	// grant needs the tenant, contract §1).
	TenantID string
	// ClientID is the application (client) id.
	ClientID string
	// HTTPClient carries MSAL's requests; http.DefaultClient when nil. Give
	// one that trusts m365sim's CA to test.
	HTTPClient *http.Client
	// Now is the clock for token expiry; time.Now when nil.
	Now func() time.Time
	// Scope is the token's scope; the global Graph service's ".default"
	// when empty. New sets it from the Graph URL (cloud.GraphScope): a
	// national cloud's tokens must name its own Graph host.
	Scope string
}

func (a AuthConfig) scope() string {
	if a.Scope != "" {
		return a.Scope
	}
	return graphScope
}

func (a AuthConfig) authority() (string, error) {
	if a.TenantID == "" || a.ClientID == "" {
		return "", errors.New("graph: tenant id and client id are required")
	}
	switch strings.ToLower(a.TenantID) {
	case "common", "organizations", "consumers":
		return "", fmt.Errorf("graph: tenant %q is not a tenant; give the directory (tenant) id", a.TenantID)
	}
	login := a.LoginURL
	if login == "" {
		login = DefaultLoginURL
	}
	u, err := url.Parse(login)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("graph: login URL %q must be an https URL", login)
	}
	return strings.TrimSuffix(login, "/") + "/" + url.PathEscape(a.TenantID), nil
}

func (a AuthConfig) httpClient() *http.Client {
	if a.HTTPClient != nil {
		return a.HTTPClient
	}
	return http.DefaultClient
}

// certSource is the client-credentials grant through MSAL's confidential
// client. MSAL caches the token and renews it before it expires.
type certSource struct {
	client confidential.Client
	scope  string
}

// NewCertificateSource returns a TokenSource for the client credentials
// grant with cert as the credential: MSAL signs a PS256 client assertion
// with an x5t#S256 header (certificate-credentials). When cert's key is an
// in-memory *rsa.PrivateKey it is handed to confidential.NewCredFromCert;
// any other crypto.Signer (HSM, KMS) — which NewCredFromCert refuses, it
// takes only *rsa.PrivateKey — signs through
// confidential.NewCredFromAssertionCallback with signing.ClientAssertion.
func NewCertificateSource(cfg AuthConfig, cert *signing.Certificate) (TokenSource, error) {
	authority, err := cfg.authority()
	if err != nil {
		return nil, err
	}
	if cert == nil || cert.Cert == nil || cert.Signer == nil {
		return nil, errors.New("graph: a certificate with its key is required")
	}
	var cred confidential.Credential
	if key, ok := cert.Signer.(*rsa.PrivateKey); ok {
		cred, err = confidential.NewCredFromCert([]*x509.Certificate{cert.Cert}, key)
		if err != nil {
			return nil, fmt.Errorf("graph: certificate credential: %w", err)
		}
	} else {
		cred = confidential.NewCredFromAssertionCallback(func(_ context.Context, o confidential.AssertionRequestOptions) (string, error) {
			return signing.ClientAssertion{ClientID: o.ClientID, Audience: o.TokenEndpoint, Alg: signing.PS256}.Sign(cert)
		})
	}
	client, err := confidential.New(authority, cfg.ClientID, cred,
		// Instance discovery would ask login.microsoftonline.com about any
		// other host (TESTING.md); the authority is given, not discovered.
		confidential.WithInstanceDiscovery(false),
		// MSAL reads MSAL_FORCE_REGION from the environment and would then
		// call {region}.login.microsoft.com; this value is MSAL's own
		// switch to ignore it (confidential.New).
		confidential.WithAzureRegion("DisableMsalForceRegion"),
		confidential.WithHTTPClient(cfg.httpClient()))
	if err != nil {
		return nil, fmt.Errorf("graph: MSAL confidential client: %w", err)
	}
	return &certSource{client: client, scope: cfg.scope()}, nil
}

// Token returns a cached or new app-only token.
func (s *certSource) Token(ctx context.Context) (AccessToken, error) {
	res, err := s.client.AcquireTokenByCredential(ctx, []string{s.scope})
	if err != nil {
		return AccessToken{}, newTokenError(err)
	}
	return AccessToken{Value: res.AccessToken, ExpiresOn: res.ExpiresOn}, nil
}

// passwordSource is the resource owner password credentials grant through
// MSAL's public client. MSAL does not look in its cache for this flow, so
// the token is kept here until shortly before it expires.
type passwordSource struct {
	client             public.Client
	scope              string
	username, password string
	now                func() time.Time

	mu  sync.Mutex
	tok AccessToken
}

// NewPasswordSource returns a TokenSource for the password grant of the
// legacy "Microsoft Online" mode: an …@….onmicrosoft.com administrator and
// password (v2-oauth-ropc). cfg.ClientID is a public client application that
// allows the flow. The grant fails for accounts that must use MFA
// (AADSTS50076/50079) and for federated accounts.
//
// MSAL first asks {login}/common/UserRealm/{username} whether the account is
// managed or federated, then posts grant_type=password to the tenant's token
// endpoint.
func NewPasswordSource(cfg AuthConfig, username, password string) (TokenSource, error) {
	authority, err := cfg.authority()
	if err != nil {
		return nil, err
	}
	if username == "" || password == "" {
		return nil, errors.New("graph: username and password are required")
	}
	client, err := public.New(cfg.ClientID,
		public.WithAuthority(authority),
		public.WithInstanceDiscovery(false),
		public.WithHTTPClient(cfg.httpClient()))
	if err != nil {
		return nil, fmt.Errorf("graph: MSAL public client: %w", err)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &passwordSource{client: client, scope: cfg.scope(), username: username, password: password, now: now}, nil
}

// Token returns the cached token or signs in again.
func (s *passwordSource) Token(ctx context.Context) (AccessToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok.Value != "" && s.now().Add(tokenRefreshMargin).Before(s.tok.ExpiresOn) {
		return s.tok, nil
	}
	//lint:ignore SA1019 the password grant is deprecated by Microsoft, and is what the legacy Microsoft Online mode is.
	res, err := s.client.AcquireTokenByUsernamePassword(ctx, []string{s.scope}, s.username, s.password)
	if err != nil {
		return AccessToken{}, newTokenError(err)
	}
	s.tok = AccessToken{Value: res.AccessToken, ExpiresOn: res.ExpiresOn}
	return s.tok, nil
}

// staticSource hands out a fixed token.
type staticSource string

// Token returns the fixed token.
func (s staticSource) Token(context.Context) (AccessToken, error) {
	return AccessToken{Value: string(s)}, nil
}

// StaticToken returns a TokenSource that always answers tok (a token from
// elsewhere, e.g. m365sim's IssueAppToken in a test).
func StaticToken(tok string) TokenSource { return staticSource(tok) }

// TokenError is a failure to obtain a token. When Entra answered, it carries
// the token endpoint's error body: {"error","error_description",
// "error_codes","timestamp","trace_id","correlation_id","suberror"}
// (https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
type TokenError struct {
	// Status is the token endpoint's HTTP status; 0 when no answer came.
	Status int
	// ErrorCode is the OAuth error, e.g. invalid_client, invalid_grant.
	ErrorCode string
	// Code is the AADSTS number (the first of error_codes), 0 when unknown.
	Code int
	// Codes are all of error_codes.
	Codes []int
	// Description is error_description without its "AADSTSnnnn: " prefix
	// and its "Trace ID: …" trailer.
	Description string
	// SubError is e.g. basic_action for MFA.
	SubError      string
	TraceID       string
	CorrelationID string
	Timestamp     string
	// Err is MSAL's error.
	Err error
}

// Error renders "token: AADSTS700027 (invalid_client): description".
func (e *TokenError) Error() string {
	var b strings.Builder
	b.WriteString("token request failed")
	if e.Code != 0 {
		fmt.Fprintf(&b, ": AADSTS%d", e.Code)
	}
	if e.ErrorCode != "" {
		fmt.Fprintf(&b, " (%s)", e.ErrorCode)
	}
	switch {
	case e.Description != "":
		fmt.Fprintf(&b, ": %s", e.Description)
	case e.Err != nil:
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.TraceID != "" {
		fmt.Fprintf(&b, " (trace id %s, correlation id %s)", e.TraceID, e.CorrelationID)
	}
	return b.String()
}

// Unwrap returns MSAL's error.
func (e *TokenError) Unwrap() error { return e.Err }

// Reason says in a few words what a known AADSTS code means for Portico,
// e.g. "certificate not registered (AADSTS700027)"; "" for other codes.
// Codes: https://learn.microsoft.com/entra/identity-platform/reference-error-codes
// and contract §1.
func (e *TokenError) Reason() string {
	r := map[int]string{
		700027:  "certificate not registered on the app registration, or the signature is invalid",
		700016:  "application (client) id not found in the tenant",
		90002:   "tenant not found",
		900023:  "tenant id is not valid",
		7000218: "no client credential was sent",
		7000215: "invalid client secret",
		700024:  "client assertion expired or not yet valid (check the clock)",
		50126:   "wrong username or password",
		50034:   "user account does not exist in the tenant",
		50057:   "user account is disabled",
		50053:   "account is locked",
		50055:   "password expired",
		50076:   "the account must use multi-factor authentication; the password grant cannot be used",
		50079:   "the account must register for multi-factor authentication; the password grant cannot be used",
		7000112: "application is disabled",
		65001:   "admin consent has not been granted",
	}[e.Code]
	if r == "" {
		return ""
	}
	return fmt.Sprintf("%s (AADSTS%d)", r, e.Code)
}

// AADSTS returns the AADSTS code of a token failure in err's chain.
func AADSTS(err error) (int, bool) {
	var te *TokenError
	if errors.As(err, &te) && te.Code != 0 {
		return te.Code, true
	}
	return 0, false
}

var (
	aadstsPrefix = regexp.MustCompile(`^AADSTS(\d+):\s*`)
	aadstsAny    = regexp.MustCompile(`AADSTS(\d+)`)
)

// newTokenError turns MSAL's error into a *TokenError, reading the token
// endpoint's JSON body from MSAL's CallErr (MSAL keeps the body readable).
func newTokenError(err error) *TokenError {
	te := &TokenError{Err: err}
	var ce msalerrors.CallErr
	if errors.As(err, &ce) && ce.Resp != nil {
		te.Status = ce.Resp.StatusCode
		var body []byte
		if ce.Resp.Body != nil {
			body, _ = io.ReadAll(io.LimitReader(ce.Resp.Body, 64<<10))
		}
		var eb struct {
			Error         string `json:"error"`
			Description   string `json:"error_description"`
			Codes         []int  `json:"error_codes"`
			Timestamp     string `json:"timestamp"`
			TraceID       string `json:"trace_id"`
			CorrelationID string `json:"correlation_id"`
			SubError      string `json:"suberror"`
		}
		if json.Unmarshal(body, &eb) == nil && (eb.Error != "" || len(eb.Codes) > 0) {
			te.ErrorCode, te.Codes, te.Timestamp = eb.Error, eb.Codes, eb.Timestamp
			te.TraceID, te.CorrelationID, te.SubError = eb.TraceID, eb.CorrelationID, eb.SubError
			te.Description = cleanDescription(eb.Description)
			if len(eb.Codes) > 0 {
				te.Code = eb.Codes[0]
			} else if m := aadstsPrefix.FindStringSubmatch(eb.Description); m != nil {
				te.Code, _ = strconv.Atoi(m[1])
			}
			return te
		}
		if ce.Req != nil {
			te.Description = fmt.Sprintf("%s %s answered %d", ce.Req.Method, redactURL(ce.Req.URL), ce.Resp.StatusCode)
		}
	}
	if m := aadstsAny.FindStringSubmatch(err.Error()); m != nil {
		te.Code, _ = strconv.Atoi(m[1])
	}
	return te
}

// cleanDescription drops "AADSTSnnnn: " and Entra's "Trace ID: … Correlation
// ID: … Timestamp: …" trailer (separated by CR LF on the real service).
func cleanDescription(d string) string {
	d = aadstsPrefix.ReplaceAllString(strings.TrimSpace(d), "")
	if i := strings.Index(d, "Trace ID:"); i >= 0 {
		d = d[:i]
	}
	return strings.TrimSpace(d)
}

// redactURL keeps scheme, host and path: queries of token calls may carry
// user names.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// transientTokenError reports a token failure worth retrying: Entra's 429
// and 5xx, and network failures before any answer.
func transientTokenError(ctx context.Context, err error) bool {
	var te *TokenError
	if !errors.As(err, &te) {
		return false
	}
	if te.Status == http.StatusTooManyRequests || te.Status >= 500 {
		return true
	}
	return te.Status == 0 && transientNetError(ctx, te.Err)
}
