package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/portico-idp/portico/internal/admin"
)

// precondition is a request's If-Match header (RFC 9110 §13.1.1).
type precondition struct {
	given bool
	// any: "*", which matches any current representation.
	any bool
	// tags are the opaque parts of the strong entity tags listed. Weak tags
	// are dropped: If-Match uses the strong comparison (RFC 9110 §8.8.3.2),
	// under which a weak tag never matches.
	tags []string
}

// matches reports whether the object at version passes the precondition:
// no If-Match, "*", or any listed tag equal, character for character, to
// the object's ETag.
func (p precondition) matches(version int64) bool {
	if !p.given || p.any {
		return true
	}
	return slices.Contains(p.tags, strconv.FormatInt(version, 10))
}

// ifMatch parses the If-Match header, every field line of it:
//
//	If-Match = "*" / #entity-tag
//	entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE
//
// A malformed header is a 400 naming it, rather than a 412 the client
// would take for a changed object.
func ifMatch(r *http.Request) (precondition, error) {
	lines := r.Header.Values("If-Match")
	if len(lines) == 0 {
		return precondition{}, nil
	}
	p := precondition{given: true}
	n := 0
	for _, line := range lines {
		rest := line
		for {
			rest = strings.TrimLeft(rest, " \t")
			if rest == "" {
				break
			}
			switch {
			case rest[0] == ',': // an empty list element, which recipients accept (RFC 9110 §5.6.1.2)
				rest = rest[1:]
				continue
			case rest[0] == '*':
				p.any = true
				rest = rest[1:]
			default:
				opaque, weak, after, ok := entityTag(rest)
				if !ok {
					return p, badIfMatch(`is not a list of entity tags: quote each tag as sent in ETag, for example If-Match: "3"`)
				}
				if !weak {
					p.tags = append(p.tags, opaque)
				}
				rest = after
			}
			n++
			rest = strings.TrimLeft(rest, " \t")
			if rest != "" && rest[0] != ',' {
				return p, badIfMatch(`is not a list of entity tags: separate tags with commas, for example If-Match: "3", "4"`)
			}
		}
	}
	switch {
	case n == 0:
		return p, badIfMatch(`is empty: send "*" or the ETag of the version you read`)
	case p.any && n > 1:
		return p, badIfMatch(`is "*" or a list of entity tags, not both`)
	}
	return p, nil
}

// entityTag reads one entity tag at the start of s (RFC 9110 §8.8.3).
func entityTag(s string) (opaque string, weak bool, rest string, ok bool) {
	if strings.HasPrefix(s, "W/") {
		weak, s = true, s[2:]
	}
	if len(s) < 2 || s[0] != '"' {
		return "", false, s, false
	}
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return s[1:i], weak, s[i+1:], true
		case c == 0x21 || (c >= 0x23 && c <= 0x7E) || c >= 0x80: // etagc
		default:
			return "", false, s, false
		}
	}
	return "", false, s, false
}

func badIfMatch(detail string) error {
	return fieldProblem(http.StatusBadRequest, "bad-request", "Bad request", "If-Match", detail)
}

// checked makes change refuse (412) an object whose version the
// precondition does not match. The service runs change inside its
// compare-and-swap on the object it is about to replace, so the version
// checked is the version written over.
func checked[T any](p precondition, version func(*T) int64, change func(*T) error) func(*T) error {
	return func(v *T) error {
		if !p.matches(version(v)) {
			return admin.ErrPreconditionFailed
		}
		return change(v)
	}
}
