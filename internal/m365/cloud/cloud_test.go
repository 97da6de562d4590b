package cloud

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func TestCheckEndpoints(t *testing.T) {
	none := AllowList{}
	for _, h := range AuthorityHosts() {
		if err := none.CheckAuthority("https://" + h); err != nil {
			t.Errorf("%s: %v", h, err)
		}
		if err := none.CheckGraph("https://" + h + "/v1.0"); err == nil {
			t.Errorf("login host %s accepted as Graph", h)
		}
	}
	for _, h := range GraphHosts() {
		if err := none.CheckGraph("https://" + h + "/v1.0"); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	emu, err := ParseAllowList("127.0.0.1:8443, localhost:9443", "[::1]:8443")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(emu.Entries(), " "); got != "127.0.0.1:8443 localhost:9443 [::1]:8443" {
		t.Fatalf("entries %s", got)
	}
	for _, c := range []struct {
		allow AllowList
		url   string
		ok    bool
	}{
		{none, "https://127.0.0.1:8443", false},
		{emu, "https://127.0.0.1:8443", true},
		{emu, "https://127.0.0.1:8444", false},
		{emu, "https://127.0.0.1", false}, // port 443 was not allowed
		{emu, "https://LOCALHOST:9443/", true},
		{emu, "https://[::1]:8443", true},
		{emu, "https://login.microsoftonline.com", true}, // Microsoft stays allowed
		{none, "https://169.254.169.254", false},
		{none, "https://[fe80::1]", false},
		{none, "https://login.microsoftonline.com?x=1", false},
		{none, "https://login.microsoftonline.com#x", false},
		{none, "login.microsoftonline.com", false},
	} {
		if err := c.allow.CheckAuthority(c.url); (err == nil) != c.ok {
			t.Errorf("CheckAuthority(%s) with %v = %v, want ok=%v", c.url, c.allow.Entries(), err, c.ok)
		}
	}
	for _, bad := range []string{"169.254.169.254", "169.254.169.254:80", "[fd00:ec2::254]:443", "100.100.100.200", "0.0.0.0:8443",
		"[fe80::1]:443", "host:99999", "host:x", "https://host"} {
		if _, err := ParseAllowList(bad); err == nil {
			t.Errorf("ParseAllowList(%q) accepted", bad)
		}
	}
	if err := none.CheckAuthority("https://127.0.0.1:8443"); err == nil || !strings.Contains(err.Error(), "--m365-allow-endpoint 127.0.0.1:8443") {
		t.Errorf("the error does not say how to allow the endpoint: %v", err)
	}
}

func TestGraphScope(t *testing.T) {
	for url, want := range map[string]string{
		"https://graph.microsoft.com/v1.0":             "https://graph.microsoft.com/.default",
		"https://graph.microsoft.us/v1.0":              "https://graph.microsoft.us/.default",
		"https://dod-graph.microsoft.us/beta":          "https://dod-graph.microsoft.us/.default",
		"https://microsoftgraph.chinacloudapi.cn/v1.0": "https://microsoftgraph.chinacloudapi.cn/.default",
		"https://127.0.0.1:8443/v1.0":                  "https://graph.microsoft.com/.default",
	} {
		if got := GraphScope(url); got != want {
			t.Errorf("GraphScope(%s) = %s, want %s", url, got, want)
		}
	}
}

func TestForbidden(t *testing.T) {
	for _, a := range []string{"169.254.169.254", "169.254.0.1", "fe80::1", "fd00:ec2::254", "100.100.100.200", "168.63.129.16",
		"0.0.0.0", "0.1.2.3", "::", "::ffff:169.254.169.254", "224.0.0.1", "255.255.255.255"} {
		if Forbidden(netip.MustParseAddr(a)) == "" {
			t.Errorf("%s allowed", a)
		}
	}
	for _, a := range []string{"127.0.0.1", "::1", "10.0.0.1", "20.190.151.68", "2603:1006::1"} {
		if why := Forbidden(netip.MustParseAddr(a)); why != "" {
			t.Errorf("%s refused: %s", a, why)
		}
	}
}

// fakeDNS answers every A query with addr: a name that "resolves" to a
// metadata address, as DNS rebinding would make it.
func fakeDNS(t *testing.T, addr [4]byte) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			b.EnableCompression()
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			if q.Type == dnsmessage.TypeA {
				_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: addr})
			}
			out, err := b.Finish()
			if err == nil {
				pc.WriteTo(out, from)
			}
		}
	}()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}

// TestDialRefusesRebinding: a Microsoft-looking host name that resolves to
// the metadata address is refused at dial time, after resolution.
func TestDialRefusesRebinding(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := Dialer()
	d.Resolver = fakeDNS(t, [4]byte{169, 254, 169, 254})
	addrs, err := d.Resolver.LookupHost(ctx, "login.microsoftonline.com")
	if err != nil || len(addrs) != 1 || addrs[0] != "169.254.169.254" {
		t.Fatalf("fake DNS: %v %v", addrs, err)
	}
	_, err = d.DialContext(ctx, "tcp4", "login.microsoftonline.com:443")
	if !errors.Is(err, ErrForbiddenAddress) || !strings.Contains(err.Error(), "169.254.169.254") {
		t.Fatalf("dial to a name resolving to the metadata address: %v", err)
	}
	// The same name resolving to an ordinary address is dialled (and here
	// refused by nobody listening, not by the guard).
	d.Resolver = fakeDNS(t, [4]byte{127, 0, 0, 1})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	c, err := d.DialContext(ctx, "tcp4", "login.microsoftonline.com:"+port)
	if err != nil {
		t.Fatalf("dial to an ordinary address: %v", err)
	}
	c.Close()
}

// TestGuardClient: the guarded client refuses an unspecified address (on
// Linux 0.0.0.0 reaches the local host, which the unguarded client shows)
// and redirects to another host.
func TestGuardClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/away" {
			http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	zero := "http://0.0.0.0:" + port + "/"

	plain := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 5 * time.Second}
	guarded, err := GuardClient(plain)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := plain.Get(zero); err == nil {
		resp.Body.Close() // reachable without the guard: the test is meaningful
	} else {
		t.Logf("0.0.0.0 is not reachable here without the guard either: %v", err)
	}
	if _, err := guarded.Get(zero); !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("guarded client to 0.0.0.0: %v", err)
	}
	resp, err := guarded.Get(srv.URL + "/")
	if err != nil {
		t.Fatalf("guarded client to loopback: %v", err)
	}
	resp.Body.Close()
	if _, err := guarded.Get(srv.URL + "/away"); !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("redirect to another host: %v", err)
	}
	if plain.CheckRedirect != nil || guarded.Transport == plain.Transport {
		t.Fatal("GuardClient changed the client it was given")
	}
	if _, err := GuardClient(&http.Client{Transport: roundTripFunc(nil)}); err == nil {
		t.Fatal("a transport that cannot be guarded was accepted")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
