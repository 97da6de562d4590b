package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestDemoPrintedLinkSatisfiesMFA: the sign-in link the demo prints leads
// to a sign-in the emulator shows as "MFA: done by federatedIdp", as the
// printed steps say (issue 10, item 6): the link itself asks for MFA, as a
// Conditional Access policy would, without the "Require MFA" box.
func TestDemoPrintedLinkSatisfiesMFA(t *testing.T) {
	e := startE2E(t)
	link, err := url.Parse(e.info.SigninURL)
	if err != nil {
		t.Fatal(err)
	}
	john := e.user("john.smith")
	if link.Query().Get("username") != john.UPN {
		t.Fatalf("the printed link %s does not sign in %s", link, john.UPN)
	}
	opts := link.Query()
	opts.Del("username")
	a := e.signIn(e.browser(), john, opts)
	if a.Log == nil || a.Log.Status.ErrorCode != 0 {
		t.Fatalf("the printed link's sign-in failed:\n%s", a)
	}
	if !a.Log.MFARequired || a.Log.MFASatisfiedBy != "federatedIdp" || !strings.Contains(a.Page.Text(), "done by federatedIdp") {
		t.Fatalf("the printed link's sign-in is not MFA-satisfied by Portico (log: required %v, by %q):\n%s", a.Log.MFARequired, a.Log.MFASatisfiedBy, a)
	}
	// The root page links the same sign-in test.
	res, err := http.Get(e.s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(page), "/api/v1/openapi.json") {
		t.Fatalf("Portico's root page: %d\n%s", res.StatusCode, page)
	}
	var printed strings.Builder
	printDemo(&printed, e.info)
	if !strings.Contains(printed.String(), e.info.SigninURL) || !strings.Contains(printed.String(), "MFA: done by federatedIdp") {
		t.Fatalf("the printed steps do not show the link or say what the emulator shows:\n%s", printed.String())
	}
	if strings.Contains(printed.String(), "oathtool") || !strings.Contains(printed.String(), "portico totp code --secret "+john.TOTPSecret) {
		t.Fatalf("the printed steps need a tool a fresh machine lacks:\n%s", printed.String())
	}
}
