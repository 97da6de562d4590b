package assertion

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/portico-idp/portico/internal/xmlsafe"
)

// msalRequest is a WS-Trust 1.3 usernamemixed request exactly as MSAL Go
// v1.10.1 sent it to TestMSALFederatedUsernamePassword (captured, then the
// timestamps moved next to fixedNow and wsa:To set to a Portico URL).
func msalRequest(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/msal_wstrust_request.xml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMEX(t *testing.T) {
	mex, err := BuildMEX(MEXParams{UsernameMixedURL: "https://portico.example/t/contoso/apps/office365/wstrust/13/usernamemixed"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "wstrust_mex", mex)
	// The document must be one we would accept ourselves too.
	if _, err := xmlsafe.ParseBytes(mex, xmlsafe.Limits{}); err != nil {
		t.Fatalf("MEX does not pass xmlsafe: %v", err)
	}
	if _, err := BuildMEX(MEXParams{UsernameMixedURL: "http://insecure.example/x"}); err == nil {
		t.Error("accepted a non-https endpoint")
	}
}

func TestParseWSTrustRequest(t *testing.T) {
	base := msalRequest(t)
	at := func(d time.Duration) WSTrustParseOptions {
		return WSTrustParseOptions{Now: func() time.Time { return fixedNow.Add(d) }, RequireTimestamp: true}
	}
	req, err := ParseWSTrustRequest([]byte(base), at(0))
	if err != nil {
		t.Fatalf("MSAL request rejected: %v", err)
	}
	want := WSTrustRequest{
		MessageID: "urn:uuid:c0f89a62-c40a-447f-b70b-c023ebb291c9",
		To:        "https://portico.example/t/contoso/apps/office365/wstrust/13/usernamemixed",
		Username:  "john.smith@contoso.com", Password: "correct horse", AppliesTo: MicrosoftOnlineRealm,
		Created: time.Date(2026, 3, 1, 11, 59, 58, 925e6, time.UTC), Expires: time.Date(2026, 3, 1, 12, 9, 58, 925e6, time.UTC),
		KeyType: KeyTypeBearer13,
	}
	if *req != want {
		t.Fatalf("parsed\n%+v\nwant\n%+v", *req, want)
	}

	rep := func(old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("fixture lacks %q", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	usernameToken := "<wsse:UsernameToken wsu:Id=\"UnPwSecTok13-423258a0-ff4c-4a02-b088-87630e5a6750\"><wsse:Username>john.smith@contoso.com</wsse:Username><wsse:Password>correct horse</wsse:Password></wsse:UsernameToken>"
	cases := []struct {
		name    string
		body    string
		opts    WSTrustParseOptions
		subcode string
	}{
		{"empty", "", at(0), "InvalidRequest"},
		{"not xml", "username=john&password=x", at(0), "InvalidRequest"},
		{"truncated", base[:len(base)/2], at(0), "InvalidRequest"},
		{"doctype", `<!DOCTYPE s:Envelope>` + base, at(0), "InvalidRequest"},
		{"external entity", `<!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + rep("correct horse", "&x;"), at(0), "InvalidRequest"},
		{"entity expansion", `<!DOCTYPE s [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>` + rep("correct horse", "&b;"), at(0), "InvalidRequest"},
		{"processing instruction", rep("<s:Header>", "<s:Header><?evil x?>"), at(0), "InvalidRequest"},
		{"oversized", rep("correct horse", strings.Repeat("x", 70<<10)), at(0), "InvalidRequest"},
		{"soap 1.1 envelope", strings.ReplaceAll(base, "http://www.w3.org/2003/05/soap-envelope", "http://schemas.xmlsoap.org/soap/envelope/"), at(0), "InvalidRequest"},
		{"ws-trust 2005 action", rep(ActionIssue13, "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue"), at(0), "InvalidRequest"},
		{"renew request", rep(RequestTypeIssue13, "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Renew"), at(0), "InvalidRequest"},
		{"symmetric key", rep(KeyTypeBearer13, "http://docs.oasis-open.org/ws-sx/ws-trust/200512/SymmetricKey"), at(0), "InvalidRequest"},
		{"no security header", strings.ReplaceAll(base, "wsse:Security", "wsse:Other"), at(0), "FailedAuthentication"},
		{"two username tokens", rep(usernameToken, usernameToken+strings.Replace(usernameToken, "john.smith", "admin", 1)), at(0), "FailedAuthentication"},
		{"password digest", rep("<wsse:Password>", `<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">`), at(0), "FailedAuthentication"},
		{"empty username", rep(">john.smith@contoso.com<", "><"), at(0), "FailedAuthentication"},
		{"no applies to", rep("<wsa:Address>urn:federation:MicrosoftOnline</wsa:Address>", ""), at(0), "InvalidScope"},
		{"two bodies", rep("</s:Body>", "</s:Body><s:Body></s:Body>"), at(0), "InvalidRequest"},
		{"replayed after expiry", base, at(time.Hour), "ExpiredData"},
		{"dated in the future", base, at(-time.Hour), "InvalidTimeRange"},
		{"expires before created", rep("2026-03-01T12:09:58.925Z", "2026-03-01T11:00:00.000Z"), at(0), "InvalidTimeRange"},
		{"bad timestamp", rep("2026-03-01T11:59:58.925Z", "yesterday"), at(0), "InvalidRequest"},
		{"no timestamp but required", rep(`<wsu:Timestamp wsu:Id="MSATimeStamp"><wsu:Created>2026-03-01T11:59:58.925Z</wsu:Created><wsu:Expires>2026-03-01T12:09:58.925Z</wsu:Expires></wsu:Timestamp>`, ""), at(0), "InvalidRequest"},
		{"undeclared prefix", strings.ReplaceAll(base, "wst:KeyType>", "zz:KeyType>"), at(0), "InvalidRequest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseWSTrustRequest([]byte(tc.body), tc.opts)
			if err == nil {
				t.Fatalf("accepted: %+v", r)
			}
			t.Log(err)
			var f *WSTrustFault
			if !errors.As(err, &f) {
				t.Fatalf("error %v is not a *WSTrustFault", err)
			}
			if f.Subcode != tc.subcode || !f.Sender {
				t.Fatalf("fault %s (sender %v), want %s: %v", f.Subcode, f.Sender, tc.subcode, err)
			}
			// The fault is what goes on the wire; it must not echo the password.
			if bytes.Contains(BuildSOAPFault(f, ""), []byte("correct horse")) {
				t.Fatal("fault leaks the password")
			}
		})
	}
	// Without RequireTimestamp, a request with no timestamp passes.
	noTS := rep(`<wsu:Timestamp wsu:Id="MSATimeStamp"><wsu:Created>2026-03-01T11:59:58.925Z</wsu:Created><wsu:Expires>2026-03-01T12:09:58.925Z</wsu:Expires></wsu:Timestamp>`, "")
	if _, err := ParseWSTrustRequest([]byte(noTS), WSTrustParseOptions{Now: clock}); err != nil {
		t.Fatalf("timestamp-less request rejected though not required: %v", err)
	}
}

// --- SAML 2.0 AuthnRequest ---

const ssoURL = "https://portico.example/t/contoso/apps/office365/saml/sso"

// entraRequest is shaped like the sample in Microsoft's
// how-to-connect-fed-saml-idp page, with an optional Destination/ACS.
func entraRequest(id string, issued time.Time, extra string) string {
	return fmt.Sprintf(`<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="%s" IssueInstant="%s" Version="2.0" AssertionConsumerServiceIndex="0"%s><saml:Issuer>urn:federation:MicrosoftOnline</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/></samlp:AuthnRequest>`,
		id, issued.UTC().Format(time.RFC3339), extra)
}

func deflateB64(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	w.Write([]byte(s))
	w.Close()
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// redirectQuery builds an HTTP-Redirect query string, signed with sp if
// non-nil (bindings §3.4.4.1).
func redirectQuery(t *testing.T, xml, relay string, sp *Signer, sigAlg string) string {
	t.Helper()
	q := "SAMLRequest=" + url.QueryEscape(deflateB64(t, xml))
	if relay != "" {
		q += "&RelayState=" + url.QueryEscape(relay)
	}
	if sp == nil {
		return q
	}
	q += "&SigAlg=" + url.QueryEscape(sigAlg)
	d := sha256.Sum256([]byte(q))
	sig, err := sp.key.Sign(nil, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return q + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
}

// signedPOST signs the request's root enveloped (signature after Issuer)
// and base64-encodes it, as an SP does for HTTP-POST.
func signedPOST(t *testing.T, xml string, sp *Signer) string {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromString(xml); err != nil {
		t.Fatal(err)
	}
	if err := sp.signEnveloped(doc.Root(), "ID", 1, false); err != nil {
		t.Fatal(err)
	}
	b, _ := doc.WriteToBytes()
	return base64.StdEncoding.EncodeToString(b)
}

type seenIDs map[string]bool

func (s seenIDs) replay(id string, _ time.Time) error {
	if s[id] {
		return fmt.Errorf("%w: %s", ErrReplay, id)
	}
	s[id] = true
	return nil
}

func TestParseAuthnRequest(t *testing.T) {
	sp, _ := otherSigner(t) // plays Entra's request-signing key
	mallory, _ := otherSigner(t)
	spCerts := []*x509.Certificate{sp.Certificate()}
	pol := func(mod func(*AuthnRequestPolicy)) AuthnRequestPolicy {
		p := AuthnRequestPolicy{Now: clock, SSOURL: ssoURL}
		if mod != nil {
			mod(&p)
		}
		return p
	}
	requireSigned := func(p *AuthnRequestPolicy) { p.RequireSigned = true; p.SPCerts = spCerts }
	fresh := fixedNow.Add(-10 * time.Second)
	good := entraRequest("_req1", fresh, "")

	// Accepted forms.
	r, err := ParseAuthnRequestRedirect(redirectQuery(t, good, "rs&x=1", nil, ""), pol(nil))
	if err != nil {
		t.Fatalf("unsigned redirect: %v", err)
	}
	if r.ID != "_req1" || r.Issuer != MicrosoftOnlineRealm || r.RelayState != "rs&x=1" || r.Signed || r.NameIDFormat != NameIDFormatPersistent {
		t.Fatalf("parsed %+v", r)
	}
	if _, err := ParseAuthnRequestRedirect(redirectQuery(t, good, "", nil, "")+"&SAMLEncoding=urn:oasis:names:tc:SAML:2.0:bindings:URL-Encoding:DEFLATE", pol(nil)); err != nil {
		t.Fatalf("explicit DEFLATE encoding: %v", err)
	}
	r, err = ParseAuthnRequestRedirect(redirectQuery(t, good, "rs", sp, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"), pol(requireSigned))
	if err != nil || !r.Signed {
		t.Fatalf("signed redirect: %+v %v", r, err)
	}
	r, err = ParseAuthnRequestPOST(base64.StdEncoding.EncodeToString([]byte(good)), "rs", pol(nil))
	if err != nil || r.Signed || r.RelayState != "rs" {
		t.Fatalf("unsigned POST: %+v %v", r, err)
	}
	r, err = ParseAuthnRequestPOST(signedPOST(t, good, sp), "", pol(requireSigned))
	if err != nil || !r.Signed || r.ID != "_req1" {
		t.Fatalf("signed POST: %+v %v", r, err)
	}
	// A signature nobody asked for and we cannot check counts as absent.
	r, err = ParseAuthnRequestPOST(signedPOST(t, good, sp), "", pol(nil))
	if err != nil || r.Signed {
		t.Fatalf("signed POST without configured certs: %+v %v", r, err)
	}
	mfa := entraRequest("_req2", fresh, ` ForceAuthn="true" Destination="`+ssoURL+`" AssertionConsumerServiceURL="`+MicrosoftLoginACS+`" ProtocolBinding="`+BindingHTTPPost+`"`)
	mfa = strings.Replace(mfa, "</samlp:AuthnRequest>", `<samlp:RequestedAuthnContext><saml:AuthnContextClassRef>`+MultipleAuthn+`</saml:AuthnContextClassRef></samlp:RequestedAuthnContext></samlp:AuthnRequest>`, 1)
	r, err = ParseAuthnRequestPOST(base64.StdEncoding.EncodeToString([]byte(mfa)), "", pol(nil))
	if err != nil || !r.ForceAuthn || !r.RequiresMFA() || r.ACSURL != MicrosoftLoginACS || r.Destination != ssoURL {
		t.Fatalf("MFA request: %+v %v", r, err)
	}

	// Signed POST whose signed content is then tampered, and a wrapping
	// attempt: an unsigned evil request around a signed genuine one.
	signedGood := signedPOST(t, good, sp)
	raw, _ := base64.StdEncoding.DecodeString(signedGood)
	tampered := base64.StdEncoding.EncodeToString(bytes.Replace(raw, []byte(`ID="_req1"`), []byte(`ID="_req9"`), 1))
	doc := etree.NewDocument()
	doc.ReadFromBytes(raw)
	evil := etree.NewDocument()
	evil.ReadFromString(entraRequest("_req1", fresh, ` AssertionConsumerServiceURL="https://evil.example/acs"`))
	evil.Root().InsertChildAt(1, doc.Root().FindElement("./ds:Signature").Copy())
	evil.Root().AddChild(doc.Root().Copy())
	evilB, _ := evil.WriteToBytes()
	wrapped := base64.StdEncoding.EncodeToString(evilB)

	seen := seenIDs{}
	replayPol := pol(func(p *AuthnRequestPolicy) { p.Replay = seen.replay })
	if _, err := ParseAuthnRequestPOST(base64.StdEncoding.EncodeToString([]byte(good)), "", replayPol); err != nil {
		t.Fatalf("first use: %v", err)
	}

	dtd := `<!DOCTYPE samlp:AuthnRequest [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + strings.Replace(good, "urn:federation:MicrosoftOnline<", "&x;<", 1)
	huge := strings.Replace(good, "</samlp:AuthnRequest>", "<samlp:Extensions>"+strings.Repeat("A", 100<<10)+"</samlp:Extensions></samlp:AuthnRequest>", 1)
	unsignedQuery := redirectQuery(t, good, "rs", nil, "")
	signedQuery := redirectQuery(t, good, "rs", sp, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	cases := []struct {
		name     string
		redirect bool
		in       string
		policy   AuthnRequestPolicy
		want     error
	}{
		{"post: not base64", false, "!!!", pol(nil), ErrInvalidRequest},
		{"post: not xml", false, b64("hello"), pol(nil), ErrInvalidRequest},
		{"post: doctype with external entity", false, b64(dtd), pol(nil), xmlsafe.ErrDTD},
		{"post: oversized", false, b64(huge), pol(nil), xmlsafe.ErrTooLarge},
		{"post: wrong root", false, b64(strings.ReplaceAll(good, "AuthnRequest", "LogoutRequest")), pol(nil), ErrInvalidRequest},
		{"post: wrong issuer", false, b64(strings.Replace(good, "urn:federation:MicrosoftOnline", "https://evil.example", 1)), pol(nil), ErrInvalidRequest},
		{"post: foreign ACS", false, b64(entraRequest("_r", fresh, ` AssertionConsumerServiceURL="https://evil.example/acs"`)), pol(nil), ErrInvalidRequest},
		{"post: foreign destination", false, b64(entraRequest("_r", fresh, ` Destination="https://other.example/sso"`)), pol(nil), ErrInvalidRequest},
		{"post: artifact binding", false, b64(entraRequest("_r", fresh, ` ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact"`)), pol(nil), ErrInvalidRequest},
		{"post: version 1.1", false, b64(strings.Replace(good, `Version="2.0"`, `Version="1.1"`, 1)), pol(nil), ErrInvalidRequest},
		{"post: no ID", false, b64(strings.Replace(good, `ID="_req1" `, "", 1)), pol(nil), ErrInvalidRequest},
		{"post: stale (replayed capture)", false, b64(entraRequest("_old", fixedNow.Add(-time.Hour), "")), pol(nil), ErrInvalidRequest},
		{"post: future", false, b64(entraRequest("_fut", fixedNow.Add(time.Hour), "")), pol(nil), ErrInvalidRequest},
		{"post: replayed id", false, b64(good), replayPol, ErrReplay},
		{"post: unsigned but required", false, b64(good), pol(requireSigned), ErrSignature},
		{"post: signed by another key", false, signedPOST(t, good, mallory), pol(requireSigned), ErrSignature},
		{"post: signed, required, no certs configured", false, signedGood, pol(func(p *AuthnRequestPolicy) { p.RequireSigned = true }), ErrSignature},
		{"post: signed, not required, bad signature", false, tampered, pol(func(p *AuthnRequestPolicy) { p.SPCerts = spCerts }), ErrSignature},
		{"redirect: signed, not required, bad signature", true, strings.Replace(signedQuery, "RelayState=rs", "RelayState=evil", 1), pol(func(p *AuthnRequestPolicy) { p.SPCerts = spCerts }), ErrSignature},
		{"post: tampered after signing", false, tampered, pol(requireSigned), ErrSignature},
		{"post: signature wrapping", false, wrapped, pol(requireSigned), ErrSignature},
		{"redirect: no SAMLRequest", true, "RelayState=x", pol(nil), ErrInvalidRequest},
		{"redirect: unknown encoding", true, unsignedQuery + "&SAMLEncoding=urn%3Aexample%3Agzip", pol(nil), ErrInvalidRequest},
		{"redirect: not deflate", true, "SAMLRequest=" + url.QueryEscape(b64(good)), pol(nil), ErrInvalidRequest},
		{"redirect: duplicate parameter", true, unsignedQuery + "&SAMLRequest=x", pol(nil), ErrInvalidRequest},
		{"redirect: doctype", true, redirectQuery(t, dtd, "", nil, ""), pol(nil), xmlsafe.ErrDTD},
		{"redirect: inflates past limit", true, redirectQuery(t, strings.Replace(good, "</samlp:AuthnRequest>", "<samlp:Extensions>"+strings.Repeat("A", 10<<20)+"</samlp:Extensions></samlp:AuthnRequest>", 1), "", nil, ""), pol(nil), xmlsafe.ErrTooLarge},
		{"redirect: unsigned but required", true, unsignedQuery, pol(requireSigned), ErrSignature},
		{"redirect: signed by another key", true, redirectQuery(t, good, "rs", mallory, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"), pol(requireSigned), ErrSignature},
		{"redirect: relay state changed", true, strings.Replace(signedQuery, "RelayState=rs", "RelayState=evil", 1), pol(requireSigned), ErrSignature},
		{"redirect: sha1", true, redirectQuery(t, good, "rs", sp, "http://www.w3.org/2000/09/xmldsig#rsa-sha1"), pol(requireSigned), ErrSignature},
		{"redirect: signature dropped, SigAlg kept", true, signedQuery[:strings.Index(signedQuery, "&Signature=")], pol(requireSigned), ErrSignature},
		{"redirect: stale", true, redirectQuery(t, entraRequest("_old", fixedNow.Add(-time.Hour), ""), "", nil, ""), pol(nil), ErrInvalidRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r *AuthnRequest
			var err error
			if tc.redirect {
				r, err = ParseAuthnRequestRedirect(tc.in, tc.policy)
			} else {
				r, err = ParseAuthnRequestPOST(tc.in, "", tc.policy)
			}
			if err == nil {
				t.Fatalf("accepted: %+v", r)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			t.Log(err)
		})
	}
}
