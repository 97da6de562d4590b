package signing

import (
	"errors"
	"time"
)

// Set is an application's certificates for rollover (M365-CONTRACT.md §3,
// "Certificate rollover"): Current signs tokens; Next, when present, has
// been (or is being) published to Microsoft Entra as nextSigningCertificate
// so that tokens signed with it are accepted once it is promoted.
type Set struct {
	// Current signs tokens now.
	Current *Certificate
	// Next is the rollover certificate, nil when none is staged.
	Next *Certificate
}

// ErrNoNext is returned by Promote when the set has no next certificate.
var ErrNoNext = errors.New("signing: no next certificate to promote")

// Promote returns the set with Next as Current and no Next; the old current
// certificate is returned so the caller can keep it for audit or retire it.
// Callers publish Next to every federated domain before promoting
// (M365-CONTRACT.md §3), then update signingCertificate after.
func (s Set) Promote() (promoted Set, retired *Certificate, err error) {
	if s.Next == nil {
		return s, nil, ErrNoNext
	}
	return Set{Current: s.Next}, s.Current, nil
}

// Published returns the certificates a relying party should trust now:
// Current, then Next if any. Metadata documents list both (AD FS publishes
// the secondary signing certificate the same way).
func (s Set) Published() []*Certificate {
	out := make([]*Certificate, 0, 2)
	if s.Current != nil {
		out = append(out, s.Current)
	}
	if s.Next != nil {
		out = append(out, s.Next)
	}
	return out
}

// ExpiresWithin reports whether Current expires within d of now, the
// trigger for making a Next certificate.
func (s Set) ExpiresWithin(now time.Time, d time.Duration) bool {
	return s.Current == nil || !now.Add(d).Before(s.Current.Cert.NotAfter)
}
