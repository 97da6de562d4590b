package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portico-idp/portico/internal/signin"
)

// TestEnrolmentWrongCodes: on the enrolment page a wrong code is answered
// without mentioning a recovery code (there is no such field there), and
// once the lockout's limit of wrong codes is passed the page says the
// attempts are throttled, even for the right code (issue 10, item 9).
func TestEnrolmentWrongCodes(t *testing.T) {
	e := startE2E(t)
	ann := e.user("ann.lee")
	b := e.browser()
	p := b.Get(e.sim.URL() + "/common/login?" + url.Values{"username": {ann.UPN}}.Encode())
	for range 3 {
		if p.Step() != "password" {
			break
		}
		f := p.Forms()[0]
		f.Values.Set("password", ann.Password)
		p = b.Post(f.Action, f.Values)
	}
	if p.Step() != "enrol" {
		t.Fatalf("ann.lee is not asked to enrol:\n%s", p)
	}
	form := p.Forms()[0]
	secret := p.EnrolmentSecret()
	// The limit is the lockout's: 10 wrong codes from an unfamiliar
	// address, 20 from a familiar one (signin.DefaultLimits).
	limit, throttled := int(signin.DefaultLimits.Familiar), 0
	for i := 1; i <= limit+1 && throttled == 0; i++ {
		v := url.Values{}
		for k, vs := range form.Values {
			v[k] = vs
		}
		v.Set("code", "000000")
		p = b.Post(form.Action, v)
		if p.Status == http.StatusTooManyRequests {
			throttled = i
			break
		}
		if p.Status != http.StatusUnauthorized || p.Step() != "enrol" {
			t.Fatalf("wrong code %d: %d, step %q:\n%s", i, p.Status, p.Step(), p)
		}
		if txt := p.Text(); strings.Contains(strings.ToLower(txt), "recovery code") || !strings.Contains(txt, "That code is not valid") {
			t.Fatalf("wrong code %d answered:\n%s", i, txt)
		}
		form = p.Forms()[0]
	}
	if throttled <= int(signin.DefaultLimits.Unfamiliar) || !strings.Contains(p.Text(), "Too many attempts") {
		t.Fatalf("wrong codes were not throttled after the limit (throttled at attempt %d):\n%s", throttled, p.Text())
	}
	ann.TOTPSecret = secret
	v := form.Values
	v.Set("code", e.code(ann))
	p = b.Post(form.Action, v)
	if p.Status != http.StatusTooManyRequests || !strings.Contains(p.Text(), "Too many attempts") {
		t.Fatalf("after %d wrong codes, the right one: %d\n%s", throttled, p.Status, p.Text())
	}
}
