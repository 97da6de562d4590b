package assertion

import (
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/portico-idp/portico/internal/xmlsafe"
)

// WS-Trust 1.3 usernamemixed (M365-CONTRACT.md §6): what MSAL Go
// (apps/internal/oauth/ops/wstrust) and other active clients send and
// expect. The request is SOAP 1.2 with WS-Addressing 1.0 headers and a
// WS-Security UsernameToken (WSS UsernameToken Profile 1.0 §4.1, plain-text
// password, protected by TLS: "mixed" = transport security + message
// credential).

// WSTrustRequest is a parsed usernamemixed RequestSecurityToken.
type WSTrustRequest struct {
	// MessageID is wsa:MessageID (MSAL writes it as wsa:messageID); the
	// response's RelatesTo echoes it and a replay cache can key on it.
	MessageID string
	// To is wsa:To, the endpoint address the client used.
	To string
	// Username and Password come from wsse:UsernameToken.
	Username string
	// Password is the plain-text password (TLS protects it); never log it.
	Password string
	// AppliesTo is the wsp:AppliesTo endpoint address
	// (urn:federation:MicrosoftOnline for Entra).
	AppliesTo string
	// Created and Expires are the wsu:Timestamp, zero if absent.
	Created, Expires time.Time
	// KeyType is the requested key type (Bearer).
	KeyType string
}

// WSTrustParseOptions configure ParseWSTrustRequest.
type WSTrustParseOptions struct {
	// Now is the clock for the timestamp check; nil means time.Now.
	Now func() time.Time
	// MaxSkew tolerates clock differences on wsu:Timestamp; zero means 5 min.
	MaxSkew time.Duration
	// RequireTimestamp refuses requests without wsu:Timestamp. MSAL always
	// sends one.
	RequireTimestamp bool
	// Limits bound the document (xmlsafe defaults if zero; a MSAL request is
	// about 2 KiB, so 64 KiB is plenty).
	Limits xmlsafe.Limits
}

// WSTrustFault is a parse or policy error that maps to a SOAP fault
// (WS-Trust 1.3 §11 fault codes, SOAP 1.2 part 1 §5.4.6 Sender/Receiver).
type WSTrustFault struct {
	// Sender is true when the client is at fault (env:Sender), false for
	// env:Receiver.
	Sender bool
	// Subcode is a WS-Trust 1.3 §11 code such as "InvalidRequest",
	// "FailedAuthentication", "RequestFailed", "ExpiredData".
	Subcode string
	// Reason is the human-readable text sent to the client.
	Reason string
	// Err is the underlying cause, never sent on the wire.
	Err error
}

// Error describes the fault with its cause, for logs (not for the wire).
func (f *WSTrustFault) Error() string {
	if f.Err != nil {
		return fmt.Sprintf("ws-trust %s: %s: %v", f.Subcode, f.Reason, f.Err)
	}
	return fmt.Sprintf("ws-trust %s: %s", f.Subcode, f.Reason)
}

// HTTPStatus is the status to send the fault with: SOAP 1.2 part 2 §7.5.1.2
// maps env:Sender to 400 and env:Receiver to 500 (AD FS sends 500 for both;
// MSAL reads the fault body either way, TestMSALWrongPasswordGetsFault).
func (f *WSTrustFault) HTTPStatus() int {
	if f.Sender {
		return 400
	}
	return 500
}

// Unwrap returns the underlying cause.
func (f *WSTrustFault) Unwrap() error { return f.Err }

func badRequest(reason string, err error) *WSTrustFault {
	return &WSTrustFault{Sender: true, Subcode: "InvalidRequest", Reason: reason, Err: err}
}

// child returns the only child of el with namespace ns and local name tag;
// it fails on none or several (several is a wrapping attempt).
func child(el *etree.Element, ns, tag string) (*etree.Element, error) {
	var found *etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			if found != nil {
				return nil, fmt.Errorf("more than one %s in %s", tag, el.Tag)
			}
			found = c
		}
	}
	if found == nil {
		return nil, fmt.Errorf("no %s in %s", tag, el.Tag)
	}
	return found, nil
}

func optChild(el *etree.Element, ns, tag string) (*etree.Element, error) {
	c, err := child(el, ns, tag)
	if err != nil && strings.HasPrefix(err.Error(), "no ") {
		return nil, nil
	}
	return c, err
}

// ParseWSTrustRequest parses and checks a usernamemixed WS-Trust 1.3 Issue
// request. Every failure is a *WSTrustFault ready for BuildSOAPFault.
func ParseWSTrustRequest(body []byte, po WSTrustParseOptions) (*WSTrustRequest, error) {
	lim := po.Limits
	if lim.MaxBytes == 0 {
		lim.MaxBytes = 64 << 10
	}
	doc, err := xmlsafe.ParseBytes(body, lim)
	if err != nil {
		return nil, badRequest("The request is not acceptable XML.", err)
	}
	env := doc.Root()
	if env.Tag != "Envelope" || env.NamespaceURI() != NSSOAP12 {
		return nil, badRequest("Expected a SOAP 1.2 envelope.", fmt.Errorf("root {%s}%s", env.NamespaceURI(), env.Tag))
	}
	hdr, err := child(env, NSSOAP12, "Header")
	if err != nil {
		return nil, badRequest("Missing SOAP header.", err)
	}
	bodyEl, err := child(env, NSSOAP12, "Body")
	if err != nil {
		return nil, badRequest("Missing SOAP body.", err)
	}
	r := &WSTrustRequest{}

	action, err := child(hdr, NSAddr, "Action")
	if err != nil {
		return nil, badRequest("Missing wsa:Action.", err)
	}
	if a := strings.TrimSpace(action.Text()); a != ActionIssue13 {
		return nil, &WSTrustFault{Sender: true, Subcode: "InvalidRequest", Reason: "Only WS-Trust 1.3 Issue is supported.", Err: fmt.Errorf("action %q", a)}
	}
	// WS-Addressing 1.0 spells it MessageID; MSAL Go writes messageID.
	for _, name := range []string{"MessageID", "messageID"} {
		if m, err := optChild(hdr, NSAddr, name); err != nil {
			return nil, badRequest("Bad wsa:MessageID.", err)
		} else if m != nil {
			r.MessageID = strings.TrimSpace(m.Text())
		}
	}
	if to, err := optChild(hdr, NSAddr, "To"); err != nil {
		return nil, badRequest("Bad wsa:To.", err)
	} else if to != nil {
		r.To = strings.TrimSpace(to.Text())
	}

	sec, err := child(hdr, NSWSSE, "Security")
	if err != nil {
		return nil, &WSTrustFault{Sender: true, Subcode: "FailedAuthentication", Reason: "Missing wsse:Security header.", Err: err}
	}
	if err := parseTimestamp(sec, r, po); err != nil {
		return nil, err
	}
	ut, err := child(sec, NSWSSE, "UsernameToken")
	if err != nil {
		return nil, &WSTrustFault{Sender: true, Subcode: "FailedAuthentication", Reason: "Exactly one wsse:UsernameToken is required.", Err: err}
	}
	user, err := child(ut, NSWSSE, "Username")
	if err != nil {
		return nil, &WSTrustFault{Sender: true, Subcode: "FailedAuthentication", Reason: "Missing username.", Err: err}
	}
	pass, err := child(ut, NSWSSE, "Password")
	if err != nil {
		return nil, &WSTrustFault{Sender: true, Subcode: "FailedAuthentication", Reason: "Missing password.", Err: err}
	}
	// UsernameToken Profile 1.0 §4.1: Type defaults to PasswordText; a
	// digest cannot be checked against an argon2id hash.
	if typ := pass.SelectAttrValue("Type", ""); typ != "" && !strings.HasSuffix(typ, "#PasswordText") {
		return nil, &WSTrustFault{Sender: true, Subcode: "FailedAuthentication", Reason: "Only plain-text passwords over TLS are supported.", Err: fmt.Errorf("password type %q", typ)}
	}
	r.Username = strings.TrimSpace(user.Text())
	r.Password = pass.Text()
	if r.Username == "" {
		return nil, &WSTrustFault{Sender: true, Subcode: "FailedAuthentication", Reason: "Empty username."}
	}

	rst, err := child(bodyEl, NSTrust13, "RequestSecurityToken")
	if err != nil {
		return nil, badRequest("Expected a WS-Trust 1.3 RequestSecurityToken.", err)
	}
	rt, err := child(rst, NSTrust13, "RequestType")
	if err != nil || strings.TrimSpace(rt.Text()) != RequestTypeIssue13 {
		return nil, badRequest("Only the Issue request type is supported.", err)
	}
	if kt, err := optChild(rst, NSTrust13, "KeyType"); err != nil {
		return nil, badRequest("Bad KeyType.", err)
	} else if kt != nil {
		r.KeyType = strings.TrimSpace(kt.Text())
		if r.KeyType != KeyTypeBearer13 {
			return nil, badRequest("Only bearer tokens are issued.", fmt.Errorf("key type %q", r.KeyType))
		}
	}
	at, err := child(rst, NSPolicy, "AppliesTo")
	if err != nil {
		return nil, &WSTrustFault{Sender: true, Subcode: "InvalidScope", Reason: "Missing AppliesTo.", Err: err}
	}
	epr, err := child(at, NSAddr, "EndpointReference")
	if err != nil {
		return nil, &WSTrustFault{Sender: true, Subcode: "InvalidScope", Reason: "Missing AppliesTo endpoint reference.", Err: err}
	}
	addr, err := child(epr, NSAddr, "Address")
	if err != nil {
		return nil, &WSTrustFault{Sender: true, Subcode: "InvalidScope", Reason: "Missing AppliesTo address.", Err: err}
	}
	r.AppliesTo = strings.TrimSpace(addr.Text())
	return r, nil
}

// parseTimestamp reads wsu:Timestamp (WSS SOAP Message Security 1.1 §10)
// and refuses expired or future-dated requests: a replayed capture past its
// Expires is rejected here; within the window, replay is the caller's
// MessageID cache's job.
func parseTimestamp(sec *etree.Element, r *WSTrustRequest, po WSTrustParseOptions) error {
	ts, err := optChild(sec, NSWSU, "Timestamp")
	if err != nil {
		return badRequest("Bad wsu:Timestamp.", err)
	}
	if ts == nil {
		if po.RequireTimestamp {
			return &WSTrustFault{Sender: true, Subcode: "InvalidRequest", Reason: "Missing wsu:Timestamp."}
		}
		return nil
	}
	parse := func(tag string) (time.Time, error) {
		el, err := child(ts, NSWSU, tag)
		if err != nil {
			return time.Time{}, err
		}
		return time.Parse(time.RFC3339Nano, strings.TrimSpace(el.Text()))
	}
	if r.Created, err = parse("Created"); err != nil {
		return badRequest("Bad wsu:Created.", err)
	}
	if r.Expires, err = parse("Expires"); err != nil {
		return badRequest("Bad wsu:Expires.", err)
	}
	skew := po.MaxSkew
	if skew == 0 {
		skew = 5 * time.Minute
	}
	now := Options{Now: po.Now}.now()
	switch {
	case !r.Expires.After(r.Created):
		return &WSTrustFault{Sender: true, Subcode: "InvalidTimeRange", Reason: "The timestamp expires before it is created."}
	case r.Created.After(now.Add(skew)):
		return &WSTrustFault{Sender: true, Subcode: "InvalidTimeRange", Reason: "The request is dated in the future."}
	case !now.Add(-skew).Before(r.Expires):
		return &WSTrustFault{Sender: true, Subcode: "ExpiredData", Reason: "The request has expired."}
	}
	return nil
}

// WSTrustResponseParams are the per-request parts of a WS-Trust response.
type WSTrustResponseParams struct {
	// RelatesTo is the request's MessageID (WS-Addressing 1.0 §3.4).
	RelatesTo string
}

// BuildWSTrustResponse returns the SOAP 1.2 response to a usernamemixed
// Issue request: a RequestSecurityTokenResponseCollection (WS-Trust 1.3
// §4.3) with one RequestSecurityTokenResponse holding the signed SAML 1.1
// assertion (the same token as WS-Fed, M365-CONTRACT.md §6), shaped as AD FS
// answers and MSAL's defs.SAMLDefinitions reads.
func BuildWSTrustResponse(o Options, s *Signer, c Claims, p WSTrustResponseParams) ([]byte, error) {
	if err := checkXMLText("RelatesTo", p.RelatesTo); err != nil {
		return nil, err
	}
	a, err := signedSAML11(o, s, c)
	if err != nil {
		return nil, err
	}
	w := xmlWriter{b: make([]byte, 0, len(a.xml)+2048)}
	w.start("s:Envelope", "xmlns:s", NSSOAP12, "xmlns:a", NSAddr, "xmlns:u", NSWSU)
	w.start("s:Header")
	w.leaf("a:Action", ActionIssueFinal13, "s:mustUnderstand", "1")
	if p.RelatesTo != "" {
		w.leaf("a:RelatesTo", p.RelatesTo)
	}
	w.start("o:Security", "xmlns:o", NSWSSE, "s:mustUnderstand", "1")
	w.start("u:Timestamp", "u:Id", "_0")
	w.leaf("u:Created", xsTime(a.notBefore))
	w.leaf("u:Expires", xsTime(a.notBefore.Add(5*time.Minute)))
	w.end("u:Timestamp")
	w.end("o:Security")
	w.end("s:Header")
	w.start("s:Body")
	w.start("trust:RequestSecurityTokenResponseCollection", "xmlns:trust", NSTrust13)
	w.start("trust:RequestSecurityTokenResponse")
	writeRSTRBody(&w, "trust", a, c.audience(), TokenTypeSAML11, RequestTypeIssue13, KeyTypeBearer13)
	w.end("trust:RequestSecurityTokenResponse")
	w.end("trust:RequestSecurityTokenResponseCollection")
	w.end("s:Body")
	w.end("s:Envelope")
	return w.b, nil
}

// BuildSOAPFault returns a SOAP 1.2 fault (SOAP 1.2 part 1 §5.4) whose
// subcode is a WS-Trust 1.3 §11 fault code, as AD FS sends for a failed
// usernamemixed sign-in. Serve it with f.HTTPStatus() and Content-Type
// application/soap+xml.
func BuildSOAPFault(f *WSTrustFault, relatesTo string) []byte {
	code := "s:Receiver"
	if f.Sender {
		code = "s:Sender"
	}
	sub := f.Subcode
	if sub == "" {
		sub = "RequestFailed"
	}
	w := xmlWriter{b: make([]byte, 0, 1024)}
	w.start("s:Envelope", "xmlns:s", NSSOAP12, "xmlns:a", NSAddr)
	w.start("s:Header")
	w.leaf("a:Action", "http://www.w3.org/2005/08/addressing/soap/fault", "s:mustUnderstand", "1")
	if relatesTo != "" && checkXMLText("RelatesTo", relatesTo) == nil {
		w.leaf("a:RelatesTo", relatesTo)
	}
	w.end("s:Header")
	w.start("s:Body")
	w.start("s:Fault")
	w.start("s:Code")
	w.leaf("s:Value", code)
	w.start("s:Subcode")
	w.leaf("s:Value", "t:"+sub, "xmlns:t", NSTrust13)
	w.end("s:Subcode")
	w.end("s:Code")
	w.start("s:Reason")
	reason := f.Reason
	if checkXMLText("reason", reason) != nil {
		reason = "The request failed."
	}
	w.leaf("s:Text", reason, "xml:lang", "en")
	w.end("s:Reason")
	w.end("s:Fault")
	w.end("s:Body")
	w.end("s:Envelope")
	return w.b
}
