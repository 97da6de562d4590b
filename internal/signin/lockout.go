package signin

// Smart lockout. Failed sign-in attempts are counted per user — not per
// name typed, so that a username and its UPN share one budget — and, as
// Microsoft Entra smart lockout and AD FS Extranet Smart Lockout do, in
// two separate buckets: attempts from addresses where the user has
// recently completed a sign-in ("familiar") and attempts from anywhere
// else ("unfamiliar"). A password spray or a deliberate lockout from the
// Internet fills only the unfamiliar bucket, and the user still signs in
// from the office.
//
// What is followed, and from where:
//   - Familiar and unfamiliar locations keep independent failure counters
//     (Entra smart lockout, "Protect user accounts from attacks with
//     Microsoft Entra smart lockout", learn.microsoft.com).
//   - Each has its own threshold, the familiar one higher ("users in known
//     good locations can have more room for error"), and a location is
//     familiar after a successful sign-in from it (AD FS 2019 Extranet Smart
//     Lockout: ExtranetLockoutThreshold and
//     ExtranetLockoutThresholdFamiliarLocation, ExtranetObservationWindow;
//     "AD FS Extranet Lockout and Extranet Smart Lockout", learn.microsoft.com).
//   - A threshold of 10 (Entra's default) for unfamiliar addresses.
//
// What is not followed: Entra does not count a repeat of one of the last
// three wrong passwords. That needs a stored value derived from each wrong
// password, and wrong passwords are often one typo away from the right
// one: a keyed hash of them, taken with the key from the same server, can
// be searched far faster than the argon2id hash Portico keeps. A mistyped
// password retried from the office falls in the familiar bucket, which has
// room for it.

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/storage"
)

// Limits bound failed attempts. Counters live in the database, so they
// hold across nodes. A zero field takes its value from DefaultLimits.
type Limits struct {
	// Unfamiliar is how many failed attempts a user may have, in Window,
	// from addresses where the user has not recently signed in; further
	// attempts from such addresses are refused without being checked until
	// the window ends. Passwords and second-factor codes are counted apart,
	// each against this number. A name that matches no user is counted
	// exactly like a user at an unfamiliar address, so that throttling
	// never tells whether a user exists.
	Unfamiliar int64
	// Familiar is the same for addresses where the user has recently
	// completed a sign-in (see FamiliarFor).
	Familiar int64
	// PerClient is how many failed attempts, for any names, one client
	// address may make in Window before all its attempts are refused.
	PerClient int64
	// Window is the fixed window failures are counted in. A bucket's
	// window opens with its first counted attempt, so a lockout ends at
	// most Window after the failure that started the count. At most 24
	// hours: housekeeping deletes counters a day after their window opens.
	Window time.Duration
	// FamiliarFor is how long an address stays familiar after the user's
	// last completed sign-in from it.
	FamiliarFor time.Duration
	// FamiliarKeep is how many familiar addresses (prefixes) are kept per
	// user; the least recently used are forgotten first.
	FamiliarKeep int
	// IPv4Prefix and IPv6Prefix are the prefix lengths that group client
	// addresses into one familiar "location".
	IPv4Prefix, IPv6Prefix int
}

// DefaultLimits are the limits unless configured otherwise. See
// docs/security.md ("Lockout and throttling") for why these numbers.
//
// IPv4 addresses are compared whole (/32): an office or a home shows the
// Internet one address (or a few) behind its NAT, while the /24 around it
// may belong to a hosting provider or a mobile carrier, and an attacker's
// rented machine there must not count as the user's office. IPv6 addresses
// are compared by their /64: that is one network (RFC 4291 interface
// identifiers are 64 bits), inside which devices change their address
// every day or so (RFC 8981 temporary addresses), so /128 would forget the
// user's home overnight.
var DefaultLimits = Limits{
	Unfamiliar:   10,
	Familiar:     20,
	PerClient:    200,
	Window:       15 * time.Minute,
	FamiliarFor:  30 * 24 * time.Hour,
	FamiliarKeep: 20,
	IPv4Prefix:   32,
	IPv6Prefix:   64,
}

// withDefaults fills zero (and out-of-range) fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.Unfamiliar <= 0 {
		l.Unfamiliar = d.Unfamiliar
	}
	if l.Familiar <= 0 {
		l.Familiar = d.Familiar
	}
	if l.PerClient <= 0 {
		l.PerClient = d.PerClient
	}
	if l.Window <= 0 {
		l.Window = d.Window
	}
	if l.Window > 24*time.Hour {
		l.Window = 24 * time.Hour
	}
	if l.FamiliarFor <= 0 {
		l.FamiliarFor = d.FamiliarFor
	}
	if l.FamiliarKeep <= 0 {
		l.FamiliarKeep = d.FamiliarKeep
	}
	if l.IPv4Prefix <= 0 || l.IPv4Prefix > 32 {
		l.IPv4Prefix = d.IPv4Prefix
	}
	if l.IPv6Prefix <= 0 || l.IPv6Prefix > 128 {
		l.IPv6Prefix = d.IPv6Prefix
	}
	return l
}

// The steps counted apart: a correct password must not refill the budget
// for guessing codes, or someone who has the password could guess codes
// without end by starting over.
const (
	stepPassword = "pw"
	stepCode     = "code"
)

// rememberEvery limits writes: a familiar address is refreshed at most
// once an hour, not at every sign-in.
const rememberEvery = time.Hour

// attempt is one counted sign-in step.
type attempt struct {
	tenantID  string
	userID    string // "" for a name that matches no user
	prefix    string // the client address's familiar-location prefix
	familiar  bool
	seen      time.Time // when the prefix was last remembered
	key       string    // the counter this attempt was counted in
	clientKey string
}

// begin counts an attempt of a step for subject (see passwordSubject)
// before it is checked, so that concurrent guesses cannot go past a limit,
// and refuses it with ErrThrottled when the bucket it falls in, or the
// client address, is over its limit. userID, when not empty, is the user
// whose familiar addresses decide the bucket.
func (s *Service) begin(ctx context.Context, tenantID, subject, userID, step, client string) (attempt, error) {
	l, now := s.limits, s.stamp()
	a := attempt{tenantID: tenantID, userID: userID, prefix: addressPrefix(client, l), clientKey: clientKey(tenantID, client)}
	if userID != "" {
		seen, err := s.store.FamiliarAddress(ctx, tenantID, userID, a.prefix, now)
		switch {
		case err == nil:
			a.familiar, a.seen = true, seen
		case !errors.Is(err, storage.ErrNotFound):
			return a, err
		}
	}
	bucket, limit := "unfamiliar", l.Unfamiliar
	if a.familiar {
		bucket, limit = "familiar", l.Familiar
	}
	a.key = "lockout:" + step + ":" + bucket + ":" + tenantID + ":" + subject
	// An address over its own limit is refused first, without spending
	// the budget of the user it names: it tries nothing.
	c, err := s.store.Hits(ctx, a.clientKey, l.Window, now)
	if err != nil {
		return a, err
	}
	if c >= l.PerClient {
		return a, ErrThrottled
	}
	n, err := s.store.Hit(ctx, a.key, l.Window, now)
	if err != nil {
		return a, err
	}
	if n > limit {
		if n == limit+1 {
			// Once per window and bucket, not at every refused attempt. The
			// name typed is not logged: people type passwords into it.
			s.log.WarnContext(ctx, "sign-in attempts refused: too many failures", "tenant", tenantID, "user", userID,
				"step", step, "bucket", bucket, "limit", limit, "client", client)
		}
		return a, ErrThrottled
	}
	return a, nil
}

// failed counts a failed attempt against the client address (the user's
// bucket already counted it in begin).
func (s *Service) failed(ctx context.Context, a attempt) {
	if _, err := s.store.Hit(ctx, a.clientKey, s.limits.Window, s.stamp()); err != nil {
		s.log.WarnContext(ctx, "count failed attempt", "err", err)
	}
}

// succeeded settles a successful attempt. From a familiar address the
// familiar count starts again (the user has proven the factor). From an
// unfamiliar one only this attempt's own count is taken back: the
// unfamiliar count is what an attacker builds up, and nothing the user does
// elsewhere shortens it; it ends with its window. complete says the user
// has now proven every factor they have: only then does the address become
// familiar (a correct password alone does not vouch for an address when a
// code is still to come, or whoever guessed the password would get the
// familiar budget for guessing codes).
func (s *Service) succeeded(ctx context.Context, a attempt, complete bool) error {
	var err error
	if a.familiar {
		err = s.store.ClearHits(ctx, a.key)
	} else {
		err = s.store.ReleaseHit(ctx, a.key)
	}
	if err != nil {
		return err
	}
	now := s.stamp()
	if complete && a.userID != "" && (!a.familiar || now.Sub(a.seen) >= rememberEvery) {
		if err := s.store.RememberAddress(ctx, a.tenantID, a.userID, a.prefix, now, now.Add(s.limits.FamiliarFor), s.limits.FamiliarKeep); err != nil {
			// The sign-in itself succeeded; the address stays unfamiliar.
			s.log.WarnContext(ctx, "remember familiar address", "user", a.userID, "err", err)
		}
	}
	return nil
}

// clientKey is the counter of failures from one client address.
func clientKey(tenantID, client string) string {
	return "client:" + tenantID + ":" + strings.ToLower(strings.TrimSpace(client))
}

// addressPrefix groups a client address into the "location" that becomes
// familiar: the IPv4 or IPv6 prefix of the configured length. Anything
// that is not an IP address (a test's client name) is its own location.
func addressPrefix(client string, l Limits) string {
	client = strings.ToLower(strings.TrimSpace(client))
	a, err := netip.ParseAddr(client)
	if err != nil {
		return client
	}
	a = a.Unmap().WithZone("")
	bits := l.IPv6Prefix
	if a.Is4() {
		bits = l.IPv4Prefix
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// passwordSubject is who a password attempt under the name typed counts
// against: the user the name resolves to (u, when found), so that the
// username, the UPN and any capitalization of them share one budget.
//
// A name that matches no user is counted under its canonical form, and
// that form is chosen so that the forms of one unknown name share a budget
// exactly as the forms of a known user do — otherwise whether failures
// under "ghost" also lock "ghost@contoso.com" would tell whether ghost
// exists. The canonical form drops a domain that is one of the tenant's
// principal name suffixes (a user's UPN is the username plus that suffix),
// and if a user goes by the canonical form (a user "ann" typed as
// "ann@fabrikam.com", or a user whose username is "ann@contoso.com" typed
// as "ann"), the name counts against that user, whose familiar addresses
// then apply as well. The returned userID is that user, or "" when none.
func (s *Service) passwordSubject(ctx context.Context, tenantID, name string, u directory.User, found bool) (subject, userID string, err error) {
	if found {
		return "user:" + u.ID, u.ID, nil
	}
	n := strings.ToLower(strings.TrimSpace(name))
	suffixes, err := s.suffixes(ctx, tenantID)
	if err != nil {
		return "", "", err
	}
	canon := n
	if local, domain, ok := strings.Cut(n, "@"); ok && local != "" {
		for _, sfx := range suffixes {
			if "@"+domain == sfx {
				canon = local
				break
			}
		}
	}
	var tries []func() (directory.User, error)
	if canon != n {
		tries = append(tries, func() (directory.User, error) { return s.store.GetUserByUsername(ctx, tenantID, canon) })
	}
	if !strings.Contains(canon, "@") {
		for _, sfx := range suffixes {
			if canon+sfx != n { // FindUser has tried the name itself
				tries = append(tries, func() (directory.User, error) { return s.store.GetUserByUPN(ctx, tenantID, canon+sfx) })
			}
		}
	}
	for _, try := range tries {
		v, err := try()
		if err == nil {
			return "user:" + v.ID, v.ID, nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return "", "", err
		}
	}
	return "name:" + canon, "", nil
}

// suffixes returns the tenant's principal name suffixes ("@contoso.com"),
// lower-cased.
func (s *Service) suffixes(ctx context.Context, tenantID string) ([]string, error) {
	var out []string
	p := storage.Page{Limit: storage.MaxLimit}
	for {
		orgs, next, err := s.store.ListOrganizations(ctx, tenantID, storage.OrganizationFilter{}, p)
		if err != nil {
			return nil, err
		}
		for _, o := range orgs {
			if o.PrincipalNameSuffix != "" {
				out = append(out, strings.ToLower(o.PrincipalNameSuffix))
			}
		}
		if next == "" {
			return out, nil
		}
		p.Cursor = next
	}
}
