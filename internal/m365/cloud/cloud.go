// Package cloud keeps Portico's server-side calls to Microsoft on
// Microsoft's clouds. An administrator sets office365.authorityUrl and
// graphUrl, and Portico then sends a bearer token (or an administrator's
// password) there from inside the network: left open, those two settings
// are a blind server-side request forgery. So:
//
//   - the settings accept only the documented hosts of Microsoft's cloud
//     instances (public, US Government, China), plus the hosts an operator
//     allows explicitly when starting the server (an emulator, tests):
//     [AllowList.CheckAuthority], [AllowList.CheckGraph];
//   - the HTTP client that carries the calls refuses, at dial time, the
//     link-local, unspecified and cloud metadata addresses whatever a host
//     name resolves to (DNS rebinding), and follows no redirect to another
//     host: [GuardClient].
package cloud

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Microsoft Entra ID's authentication hosts, one per cloud instance
// ("Microsoft Entra authentication endpoints",
// https://learn.microsoft.com/entra/identity-platform/authentication-national-cloud,
// and "App registration and token service root endpoints",
// https://learn.microsoft.com/graph/deployments). Azure Germany closed on
// 29 October 2021 and is not listed.
var authorityHosts = []string{
	"login.microsoftonline.com",        // global service
	"login.microsoftonline.us",         // Azure US Government
	"login.chinacloudapi.cn",           // Azure China, operated by 21Vianet (Graph deployments page)
	"login.partner.microsoftonline.cn", // the same (authentication-national-cloud page)
}

// Microsoft Graph's service root hosts ("Microsoft Graph and Graph Explorer
// service root endpoints", https://learn.microsoft.com/graph/deployments).
var graphHosts = []string{
	"graph.microsoft.com",             // global service
	"graph.microsoft.us",              // US Government L4 (GCC High)
	"dod-graph.microsoft.us",          // US Government L5 (DOD)
	"microsoftgraph.chinacloudapi.cn", // China, operated by 21Vianet
}

// AuthorityHosts lists Microsoft Entra ID's documented login hosts.
func AuthorityHosts() []string { return slices.Clone(authorityHosts) }

// GraphHosts lists Microsoft Graph's documented service hosts.
func GraphHosts() []string { return slices.Clone(graphHosts) }

// GraphScope is the ".default" scope of the Graph service at graphURL. A
// national cloud's tokens must name its own Graph host ("Access national
// cloud deployments with the Microsoft Graph SDKs": any scope that contains
// the Graph domain must use the national cloud's); any other host (an
// emulator) gets the global service's scope, which is what m365sim expects.
func GraphScope(graphURL string) string {
	if u, err := url.Parse(graphURL); err == nil && u.Scheme == "https" && slices.Contains(graphHosts, strings.ToLower(u.Hostname())) {
		return "https://" + strings.ToLower(u.Hostname()) + "/.default"
	}
	return "https://graph.microsoft.com/.default"
}

// AllowList is the set of extra endpoints (host and port) the operator
// allows besides Microsoft's clouds: the --m365-allow-endpoint flag of the
// server. The zero value allows Microsoft's clouds only.
type AllowList struct {
	hostports []string // "host:port", lower case, IPv6 in brackets
}

// ParseAllowList reads HOST[:PORT] entries (each may itself be a
// comma-separated list; the port defaults to 443). Link-local, unspecified
// and metadata addresses are refused even here.
func ParseAllowList(entries ...string) (AllowList, error) {
	var a AllowList
	for _, e := range entries {
		for _, item := range strings.Split(e, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			hp, err := normalizeHostPort(item)
			if err != nil {
				return AllowList{}, fmt.Errorf("allowed Microsoft 365 endpoint %q: %w", item, err)
			}
			if !slices.Contains(a.hostports, hp) {
				a.hostports = append(a.hostports, hp)
			}
		}
	}
	return a, nil
}

// Entries returns the allowed host:port pairs.
func (a AllowList) Entries() []string { return slices.Clone(a.hostports) }

// normalizeHostPort turns "Host", "host:8443" or "[::1]:8443" into
// "host:port" with the default port 443, refusing addresses no endpoint
// may have.
func normalizeHostPort(s string) (string, error) {
	host, port := s, "443"
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	} else if strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "[") {
		// A bare IPv6 address without a port.
		host = s
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "" || strings.ContainsAny(host, "/@?#") {
		return "", errors.New("give a host name or address, optionally with :PORT")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q is not a port number", port)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if why := Forbidden(ip); why != "" {
			return "", fmt.Errorf("%s is %s: never allowed", host, why)
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

// allows reports whether host:port was allowed by the operator.
func (a AllowList) allows(hostport string) bool { return slices.Contains(a.hostports, hostport) }

// CheckAuthority checks an office365.authorityUrl value: an https URL of a
// Microsoft Entra login host, or of an allowed endpoint. The error says
// what is accepted, in words for an administrator.
func (a AllowList) CheckAuthority(raw string) error {
	return a.check(raw, authorityHosts, "a Microsoft Entra login host")
}

// CheckGraph checks an office365.graphUrl value: an https URL of a
// Microsoft Graph host, or of an allowed endpoint.
func (a AllowList) CheckGraph(raw string) error {
	return a.check(raw, graphHosts, "a Microsoft Graph host")
}

func (a AllowList) check(raw string, microsoft []string, what string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Opaque != "" {
		return errors.New("must be an https URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("must be an https URL without user name, query or fragment")
	}
	hp, err := normalizeHostPort(u.Host)
	if err != nil {
		return fmt.Errorf("must be %s: %w", what, err)
	}
	if a.allows(hp) {
		return nil
	}
	host, port, _ := net.SplitHostPort(hp)
	if port == "443" && slices.Contains(microsoft, host) {
		return nil
	}
	msg := fmt.Sprintf("must be %s of Microsoft's clouds (%s)", what, strings.Join(microsoft, ", "))
	if len(a.hostports) > 0 {
		msg += " or an endpoint the server allows (" + strings.Join(a.hostports, ", ") + ")"
	} else {
		msg += "; other endpoints, such as an emulator, need the server to be started with --m365-allow-endpoint " + hp
	}
	return errors.New(msg)
}
