package cloud

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// metadataAddrs are the instance metadata services of the large clouds,
// which hand out credentials to whoever on the machine asks: AWS, Azure,
// Google Cloud and Oracle use 169.254.169.254 (inside the link-local range,
// refused as a whole), AWS's IPv6 endpoint is fd00:ec2::254, Alibaba Cloud's
// is 100.100.100.200, and Azure's WireServer (the VM agent's platform
// endpoint) is 168.63.129.16.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("100.100.100.200"),
	netip.MustParseAddr("168.63.129.16"),
}

// thisNetwork is 0.0.0.0/8 (RFC 1122 §3.2.1.3): connecting to 0.0.0.0
// reaches the local host on Linux.
var thisNetwork = netip.MustParsePrefix("0.0.0.0/8")

// Forbidden says why Portico never connects to ip on a call to Microsoft
// ("" when it may): link-local addresses (169.254.0.0/16, fe80::/10),
// unspecified ones (0.0.0.0/8, ::) and the cloud metadata addresses.
// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry.
func Forbidden(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "not an address"
	case ip.IsUnspecified() || (ip.Is4() && thisNetwork.Contains(ip)):
		return "an unspecified address"
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return "a link-local address"
	case ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "a multicast or broadcast address"
	}
	for _, m := range metadataAddrs {
		if ip == m {
			return "a cloud metadata address"
		}
	}
	return ""
}

// ErrForbiddenAddress is returned (wrapped) by a guarded dial that a host
// name resolved to a refused address.
var ErrForbiddenAddress = errors.New("refused address")

// dialControl runs after name resolution, just before each connection
// attempt, with the address actually dialled: a host name that resolves (or
// re-resolves: DNS rebinding) to a refused address is stopped here.
func dialControl(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot read dialled address %q", ErrForbiddenAddress, address)
	}
	if why := Forbidden(ap.Addr()); why != "" {
		return fmt.Errorf("%w: %s is %s; Portico does not connect there on calls to Microsoft", ErrForbiddenAddress, ap.Addr(), why)
	}
	return nil
}

// Dialer returns the dialer of calls to Microsoft: Go's default timeouts
// and the address guard.
func Dialer() *net.Dialer {
	return &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: dialControl}
}

// GuardClient returns a copy of c whose connections go through the address
// guard and which follows a redirect only to the host the request was sent
// to. c's transport must be an *http.Transport (nil means
// http.DefaultTransport); it is cloned, never changed.
//
// With an HTTP proxy (HTTPS_PROXY), the dial goes to the proxy and the
// proxy resolves Microsoft's host names: the settings check still holds,
// the dial-time guard then applies to the proxy's address only.
func GuardClient(c *http.Client) (*http.Client, error) {
	if c == nil {
		c = &http.Client{}
	}
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	tr, ok := rt.(*http.Transport)
	if !ok {
		return nil, fmt.Errorf("cloud: cannot guard a %T; give an *http.Transport", rt)
	}
	tr = tr.Clone()
	tr.DialContext = Dialer().DialContext
	tr.DialTLSContext = nil
	out := *c
	out.Transport = tr
	out.CheckRedirect = sameHostRedirects
	return &out, nil
}

// sameHostRedirects lets Graph or Entra redirect within their own host,
// never elsewhere: a redirect is another way to make Portico call an
// address nobody configured.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.URL.Scheme != "https" || req.URL.Host != via[0].URL.Host {
		return fmt.Errorf("%w: redirect from %s to %s://%s refused", ErrForbiddenAddress, via[0].URL.Host, req.URL.Scheme, req.URL.Host)
	}
	return nil
}
