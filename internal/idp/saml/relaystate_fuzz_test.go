package saml_test

import (
	"net/http"
	"testing"

	"github.com/portico-idp/portico/internal/idp/idptest"
)

// TestRelayStateABrowserWouldAlter: RelayState is echoed in a hidden form
// field, so one holding NUL, CR, LF or invalid UTF-8 would reach Microsoft
// altered (a browser posts U+FFFD for NUL). It is refused at the request,
// not silently changed. The WS-Fed twin (wctx) was found by
// FuzzWSFedRequest.
func TestRelayStateABrowserWouldAlter(t *testing.T) {
	e := idptest.New(t, idptest.Options{})
	for _, rs := range []string{"a\x00b", "a\r\nb", "a\xffb"} {
		p := e.Browser().Get(ssoURL(e) + "?" + idptest.RedirectQuery(t, request(e).XML(), rs, nil))
		if p.Status != http.StatusBadRequest || p.Step() != "" {
			t.Errorf("RelayState %q: status %d, step %q; want 400 and no login page", rs, p.Status, p.Step())
		}
	}
	// Printable RelayState, as Microsoft sends, still starts the sign-in.
	if p := e.Browser().Get(ssoURL(e) + "?" + idptest.RedirectQuery(t, request(e).XML(), "https://portal.office.com/?a=1&b=é", nil)); p.Step() != "username" {
		t.Fatalf("printable RelayState: status %d, step %q", p.Status, p.Step())
	}
}
