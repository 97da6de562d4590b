package assertion

import (
	"errors"
	"strings"
)

// MEXParams describe the WS-Trust endpoint a MEX document advertises.
type MEXParams struct {
	// UsernameMixedURL is the usernamemixed endpoint (the domain's
	// activeSignInUri). It must be https: the policy is transport security.
	UsernameMixedURL string
}

// Namespaces of the MEX/WSDL document.
const (
	nsWSDL   = "http://schemas.xmlsoap.org/wsdl/"
	nsSOAP12 = "http://schemas.xmlsoap.org/wsdl/soap12/"
	nsSP     = "http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702"
	nsWSAW   = "http://www.w3.org/2006/05/addressing/wsdl"
	nsWSA10  = "http://www.w3.org/2005/08/addressing"
	nsTNS    = "http://schemas.microsoft.com/ws/2008/06/identity/securitytokenservice"
	nsXSD    = "http://www.w3.org/2001/XMLSchema"
	nsWSAM   = "http://www.w3.org/2007/05/addressing/metadata"

	mexPolicyID  = "UserNameWSTrustBinding_IWSTrust13Async_policy"
	mexBinding   = "UserNameWSTrustBinding_IWSTrust13Async"
	soapHTTP     = "http://schemas.xmlsoap.org/soap/http"
	includeToken = "http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702/IncludeToken/AlwaysToRecipient"
)

// BuildMEX returns the metadata-exchange document for the domain's
// metadataExchangeUri: a WSDL 1.1 definitions document (the root element
// MSAL Go unmarshals, apps/internal/oauth/ops/wstrust/defs
// mex_document_definitions.go) with one WS-SecurityPolicy 1.2 policy for
// usernamemixed — TransportBinding (HTTPS) plus a UsernameToken 1.0 in
// SignedEncryptedSupportingTokens — a SOAP 1.2 binding whose operation's
// soapAction is the WS-Trust 1.3 Issue action, and a port at the endpoint.
//
// MSAL's decision logic (wstrust_mex_document.go) needs, in this exact
// shape: wsp:Policy with wsu:Id; inside ExactlyOne/All a TransportBinding
// element that itself carries an xmlns:sp attribute (MSAL reads the "sp"
// attribute as proof of the namespace); SignedEncryptedSupportingTokens/
// Policy/UsernameToken/Policy/WssUsernameToken10; a binding with
// PolicyReference URI "#<Id>", soap12:binding transport
// http://schemas.xmlsoap.org/soap/http and operation soapAction
// .../200512/RST/Issue; a service port whose binding names it (prefix
// stripped) with wsa10:EndpointReference/Address.
func BuildMEX(p MEXParams) ([]byte, error) {
	if !strings.HasPrefix(p.UsernameMixedURL, "https://") {
		return nil, errors.New("assertion: the usernamemixed endpoint must be https")
	}
	if err := checkXMLText("endpoint", p.UsernameMixedURL); err != nil {
		return nil, err
	}
	w := xmlWriter{b: make([]byte, 0, 4096)}
	w.raw([]byte(`<?xml version="1.0" encoding="utf-8"?>`))
	w.start("wsdl:definitions",
		"xmlns:soap12", nsSOAP12, "xmlns:tns", nsTNS, "xmlns:trust", NSTrust13,
		"xmlns:wsa10", nsWSA10, "xmlns:wsam", nsWSAM, "xmlns:wsaw", nsWSAW,
		"xmlns:wsdl", nsWSDL, "xmlns:wsp", NSPolicy, "xmlns:wsu", NSWSU, "xmlns:xsd", nsXSD,
		"name", "SecurityTokenService", "targetNamespace", nsTNS)

	// WS-SecurityPolicy 1.2 §7.3 TransportBinding and §8.4 signed encrypted
	// supporting tokens: the UsernameToken is protected by TLS.
	w.start("wsp:Policy", "wsu:Id", mexPolicyID)
	w.start("wsp:ExactlyOne")
	w.start("wsp:All")
	w.start("sp:TransportBinding", "xmlns:sp", nsSP)
	w.start("wsp:Policy")
	w.start("sp:TransportToken")
	w.start("wsp:Policy")
	w.leaf("sp:HttpsToken", "")
	w.end("wsp:Policy")
	w.end("sp:TransportToken")
	w.start("sp:AlgorithmSuite")
	w.start("wsp:Policy")
	w.leaf("sp:Basic256", "")
	w.end("wsp:Policy")
	w.end("sp:AlgorithmSuite")
	w.start("sp:Layout")
	w.start("wsp:Policy")
	w.leaf("sp:Strict", "")
	w.end("wsp:Policy")
	w.end("sp:Layout")
	w.leaf("sp:IncludeTimestamp", "")
	w.end("wsp:Policy")
	w.end("sp:TransportBinding")
	w.start("sp:SignedEncryptedSupportingTokens", "xmlns:sp", nsSP)
	w.start("wsp:Policy")
	w.start("sp:UsernameToken", "sp:IncludeToken", includeToken)
	w.start("wsp:Policy")
	w.leaf("sp:WssUsernameToken10", "")
	w.end("wsp:Policy")
	w.end("sp:UsernameToken")
	w.end("wsp:Policy")
	w.end("sp:SignedEncryptedSupportingTokens")
	w.start("sp:Wss11", "xmlns:sp", nsSP)
	w.start("wsp:Policy")
	w.leaf("sp:MustSupportRefThumbprint", "")
	w.end("wsp:Policy")
	w.end("sp:Wss11")
	w.start("sp:Trust13", "xmlns:sp", nsSP)
	w.start("wsp:Policy")
	w.leaf("sp:MustSupportIssuedTokens", "")
	w.leaf("sp:RequireClientEntropy", "")
	w.leaf("sp:RequireServerEntropy", "")
	w.end("wsp:Policy")
	w.end("sp:Trust13")
	w.leaf("wsaw:UsingAddressing", "")
	w.end("wsp:All")
	w.end("wsp:ExactlyOne")
	w.end("wsp:Policy")

	// WSDL 1.1 §2.3–2.5: messages and port type of the WS-Trust 1.3 Issue
	// operation (WS-Trust 1.3 §3.1 message shapes).
	w.start("wsdl:types")
	w.start("xsd:schema", "targetNamespace", nsTNS+"/Imports")
	w.end("xsd:schema")
	w.end("wsdl:types")
	w.start("wsdl:message", "name", "IWSTrust13Async_Trust13IssueAsync_InputMessage")
	w.leaf("wsdl:part", "", "element", "trust:RequestSecurityToken", "name", "request")
	w.end("wsdl:message")
	w.start("wsdl:message", "name", "IWSTrust13Async_Trust13IssueAsync_OutputMessage")
	w.leaf("wsdl:part", "", "element", "trust:RequestSecurityTokenResponseCollection", "name", "Trust13IssueAsyncResult")
	w.end("wsdl:message")
	w.start("wsdl:portType", "name", "IWSTrust13Async")
	w.start("wsdl:operation", "name", "Trust13IssueAsync")
	w.leaf("wsdl:input", "", "message", "tns:IWSTrust13Async_Trust13IssueAsync_InputMessage", "wsaw:Action", ActionIssue13)
	w.leaf("wsdl:output", "", "message", "tns:IWSTrust13Async_Trust13IssueAsync_OutputMessage", "wsaw:Action", ActionIssueFinal13)
	w.end("wsdl:operation")
	w.end("wsdl:portType")

	w.start("wsdl:binding", "name", mexBinding, "type", "tns:IWSTrust13Async")
	w.leaf("wsp:PolicyReference", "", "URI", "#"+mexPolicyID)
	w.leaf("soap12:binding", "", "transport", soapHTTP)
	w.start("wsdl:operation", "name", "Trust13IssueAsync")
	w.leaf("soap12:operation", "", "soapAction", ActionIssue13, "style", "document")
	w.start("wsdl:input")
	w.leaf("soap12:body", "", "use", "literal")
	w.end("wsdl:input")
	w.start("wsdl:output")
	w.leaf("soap12:body", "", "use", "literal")
	w.end("wsdl:output")
	w.end("wsdl:operation")
	w.end("wsdl:binding")

	w.start("wsdl:service", "name", "SecurityTokenService")
	w.start("wsdl:port", "binding", "tns:"+mexBinding, "name", mexBinding)
	w.leaf("soap12:address", "", "location", p.UsernameMixedURL)
	w.start("wsa10:EndpointReference")
	w.leaf("wsa10:Address", p.UsernameMixedURL)
	w.end("wsa10:EndpointReference")
	w.end("wsdl:port")
	w.end("wsdl:service")
	w.end("wsdl:definitions")
	return w.b, nil
}
