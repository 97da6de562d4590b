package wstrust_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/idp/idptest"
	"github.com/portico-idp/portico/internal/signin"
)

// callFrom posts a username/password request from the local address ip
// and returns the status and body.
func callFrom(t *testing.T, e *idptest.Env, ip, username, password string) (int, string) {
	t.Helper()
	msgs++
	url := usernameMixedURL(e)
	r := idptest.WSTrustRequest{Username: username, Password: password, To: url,
		MessageID: fmt.Sprintf("urn:uuid:00000000-0000-4000-8000-%012d", msgs), Created: e.Clock.Now().Add(-2 * time.Second)}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(r.Body(t)))
	req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
	resp, err := (&http.Client{Transport: e.TransportFrom(ip)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestLockoutOverWSTrust: WS-Trust shares the sign-in lockout. Failures
// under the username and under the UPN add up to one budget (on the
// original code each had its own, 20 guesses instead of 10), an unknown
// name is throttled the same way, and an attacker who exhausts the
// budget from elsewhere does not lock the user out of an address where
// they signed in before.
func TestLockoutOverWSTrust(t *testing.T) {
	e := idptest.New(t, idptest.Options{})
	e.UpdateApp(func(a *apps.Application) { a.PolicyID = e.PasswordOnly.ID })
	u := e.AddUser(idptest.UserSpec{Username: "john.smith", NoTOTP: true})
	const office, attacker, prober = "127.0.0.2", "127.0.0.3", "127.0.0.4"
	limit := int(signin.DefaultLimits.Unfamiliar)

	ok := func(ip, name string) {
		t.Helper()
		if st, body := callFrom(t, e, ip, name, u.Password); st != http.StatusOK || !strings.Contains(body, "Assertion") {
			t.Fatalf("sign-in as %s from %s: %d\n%s", name, ip, st, body)
		}
	}
	refused := func(ip, name, password, words string) {
		t.Helper()
		st, body := callFrom(t, e, ip, name, password)
		if st != http.StatusBadRequest || !strings.Contains(body, ">t:FailedAuthentication<") || !strings.Contains(body, words) {
			t.Fatalf("as %s from %s: want a FailedAuthentication fault saying %q, got %d\n%s", name, ip, words, st, body)
		}
	}

	ok(office, u.UPN)
	for i := range limit {
		refused(attacker, []string{"john.smith", u.UPN}[i%2], "wrong", "ID3242")
	}
	refused(attacker, u.UPN, u.Password, "Too many attempts")
	refused(attacker, "JOHN.SMITH", u.Password, "Too many attempts")
	ok(office, "John.Smith")

	for i := range limit {
		refused(prober, []string{"ghost", "ghost@contoso.com"}[i%2], "wrong", "ID3242")
	}
	refused(prober, "Ghost@Contoso.com", "wrong", "Too many attempts")
}
