package assertion

import (
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzParseWSTrustRequest: any input either parses into a request with a
// username and the Microsoft audience fields filled, or fails with a
// *WSTrustFault; it never panics.
func FuzzParseWSTrustRequest(f *testing.F) {
	base, err := os.ReadFile("testdata/msal_wstrust_request.xml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(base)
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>`))
	f.Add([]byte(strings.Replace(string(base), "</s:Body>", "</s:Body><s:Body/>", 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseWSTrustRequest(data, WSTrustParseOptions{Now: clock})
		if err != nil {
			var fault *WSTrustFault
			if !errors.As(err, &fault) {
				t.Fatalf("error %v is not a fault", err)
			}
			return
		}
		if r.Username == "" || (r.KeyType != "" && r.KeyType != KeyTypeBearer13) {
			t.Fatalf("accepted an incomplete request: %+v", r)
		}
	})
}

// FuzzParseAuthnRequestPOST: any input accepted yields the expected issuer,
// an id, a fresh IssueInstant and an allowed ACS.
func FuzzParseAuthnRequestPOST(f *testing.F) {
	f.Add(base64.StdEncoding.EncodeToString([]byte(entraRequest("_r", fixedNow, ""))))
	f.Add(base64.StdEncoding.EncodeToString([]byte(entraRequest("_r", fixedNow, ` AssertionConsumerServiceURL="`+MicrosoftLoginACS+`"`))))
	f.Add("PD94bWwgdmVyc2lvbj0iMS4wIj8+")
	f.Fuzz(func(t *testing.T, in string) {
		r, err := ParseAuthnRequestPOST(in, "", AuthnRequestPolicy{Now: clock})
		if err != nil {
			return
		}
		if r.Issuer != MicrosoftOnlineRealm || r.ID == "" || (r.ACSURL != "" && r.ACSURL != MicrosoftLoginACS) ||
			r.IssueInstant.After(fixedNow.Add(2*time.Minute)) || fixedNow.Sub(r.IssueInstant) > 7*time.Minute {
			t.Fatalf("accepted %+v", r)
		}
	})
}
