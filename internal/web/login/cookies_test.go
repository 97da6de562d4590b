package login

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/portico-idp/portico/internal/directory"
)

// TestCookieNames: the __Host- prefix only over https (a browser refuses
// it without Secure), Path=/ and a name per tenant either way.
func TestCookieNames(t *testing.T) {
	tn := directory.Tenant{ID: "01a241b1-eb96-7f22-a766-63f3d4157247", Slug: "contoso"}
	for _, c := range []struct {
		secure bool
		want   string
	}{
		{true, "__Host-portico_session_" + tn.ID},
		{false, "portico_session_" + tn.ID},
	} {
		h := New(nil, nil, slog.New(slog.DiscardHandler), c.secure)
		w := httptest.NewRecorder()
		h.setCookie(w, tn, sessionCookie, "v", 60)
		got := w.Result().Cookies()
		if len(got) != 1 {
			t.Fatalf("secure=%v: %d cookies", c.secure, len(got))
		}
		ck := got[0]
		if ck.Name != c.want || ck.Path != "/" || ck.Domain != "" || ck.Secure != c.secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
			t.Errorf("secure=%v: %+v, want name %s, Path=/, no Domain, HttpOnly, Lax", c.secure, ck, c.want)
		}
		if err := ck.Valid(); err != nil {
			t.Errorf("secure=%v: invalid cookie: %v", c.secure, err)
		}
	}
}
