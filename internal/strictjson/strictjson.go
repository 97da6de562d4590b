// Package strictjson checks JSON text for what encoding/json lets through
// silently: a member name given twice in one object (the last one wins),
// and strings that are not valid UTF-8 or hold an unpaired surrogate escape
// (both become U+FFFD). RFC 8259 §4 leaves duplicate names undefined and
// §8.1 requires UTF-8; I-JSON (RFC 7493 §2.1, §2.3) forbids both. A request
// that has either is ambiguous or corrupt, so it is refused, naming the
// member at fault by its path (users[3].email).
//
// Check does not report syntax errors in detail: it returns an *Error of
// kind Syntax and leaves the explanation to encoding/json.
package strictjson

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Options tune Check.
type Options struct {
	// Stream accepts a sequence of values (NDJSON, one a line); each
	// value's path starts with its index: [0], [1]...
	Stream bool
	// FoldCase also refuses names that differ only in case, as
	// encoding/json matches those to the same struct field.
	FoldCase bool
}

// Kind is what is wrong.
type Kind int

// The kinds of Error.
const (
	// Duplicate: a name given twice in one object.
	Duplicate Kind = iota + 1
	// InvalidText: a string (value or name) that is not valid Unicode.
	InvalidText
	// Syntax: not JSON; encoding/json explains it better.
	Syntax
)

// MaxDepth is the deepest nesting accepted, as in encoding/json.
const MaxDepth = 10000

// Error is a refused document.
type Error struct {
	Kind Kind
	// Path names the member at fault: "displayName", "users[3].email",
	// "[2].groupIds[0]"; empty for a top-level value.
	Path string
	// Offset is the byte offset of the string at fault.
	Offset int64
	// Reason says what is wrong, in words that follow the path.
	Reason string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("the JSON value %s (byte %d)", e.Reason, e.Offset)
	}
	return fmt.Sprintf("%s %s (byte %d)", e.Path, e.Reason, e.Offset)
}

// Check returns nil when b is one JSON value (or, with Stream, a sequence
// of them) with no repeated member name and only valid Unicode text;
// otherwise an *Error.
func Check(b []byte, o Options) error {
	s := &scanner{b: b, o: o}
	if !o.Stream {
		if err := s.value("", 0); err != nil {
			return err
		}
		s.ws()
		if s.i < len(s.b) {
			return s.syntax()
		}
		return nil
	}
	for n := 0; ; n++ {
		s.ws()
		if s.i >= len(s.b) {
			return nil
		}
		if err := s.value("["+strconv.Itoa(n)+"]", 0); err != nil {
			return err
		}
	}
}

type scanner struct {
	b []byte
	i int
	o Options
}

func (s *scanner) syntax() error {
	return &Error{Kind: Syntax, Offset: int64(s.i), Reason: "is not valid JSON"}
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) value(path string, depth int) error {
	s.ws()
	if s.i >= len(s.b) {
		return s.syntax()
	}
	switch c := s.b[s.i]; {
	case c == '{':
		if depth >= MaxDepth {
			return s.syntax()
		}
		return s.object(path, depth+1)
	case c == '[':
		if depth >= MaxDepth {
			return s.syntax()
		}
		return s.array(path, depth+1)
	case c == '"':
		start := s.i
		_, bad, err := s.str(false)
		if err != nil {
			return err
		}
		if bad != "" {
			return &Error{Kind: InvalidText, Path: path, Offset: int64(start), Reason: bad}
		}
		return nil
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	}
	return s.syntax()
}

func (s *scanner) literal(word string) error {
	if !strings.HasPrefix(string(s.b[s.i:min(len(s.b), s.i+len(word))]), word) {
		return s.syntax()
	}
	s.i += len(word)
	return nil
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// number is RFC 8259 §6.
func (s *scanner) number() error {
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.digits() == 0:
		return s.syntax()
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return s.syntax()
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return s.syntax()
		}
	}
	return nil
}

func (s *scanner) object(path string, depth int) error {
	s.i++ // {
	seen := map[string]string{}
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.syntax()
		}
		start := s.i
		name, bad, err := s.str(true)
		if err != nil {
			return err
		}
		if bad != "" {
			name += "\uFFFD" // where the bad text starts
		}
		member := join(path, name)
		if bad != "" {
			return &Error{Kind: InvalidText, Path: member, Offset: int64(start), Reason: "has a name that " + bad}
		}
		key := name
		if s.o.FoldCase {
			key = fold(name)
		}
		if prev, dup := seen[key]; dup {
			reason := "is given twice in the same object"
			if prev != name {
				reason = fmt.Sprintf("is given twice in the same object (as %q and %q: names are matched without regard to case)", prev, name)
			}
			return &Error{Kind: Duplicate, Path: member, Offset: int64(start), Reason: reason}
		}
		seen[key] = name
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.syntax()
		}
		s.i++
		if err := s.value(member, depth); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.syntax()
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.syntax()
		}
	}
}

func (s *scanner) array(path string, depth int) error {
	s.i++ // [
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for n := 0; ; n++ {
		if err := s.value(path+"["+strconv.Itoa(n)+"]", depth); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.syntax()
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.syntax()
		}
	}
}

// str scans the string at s.i (RFC 8259 §7). It returns the decoded text
// when decode is set (names, which are compared), and bad, a reason, when
// the text is not valid Unicode (text is then what precedes the fault).
func (s *scanner) str(decode bool) (text, bad string, err error) {
	s.i++ // opening quote
	var out []byte
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return string(out), "", nil
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return "", "", s.syntax()
			}
			e := s.b[s.i+1]
			s.i += 2
			switch e {
			case '"', '\\', '/':
				out = appendIf(decode, out, e)
			case 'b':
				out = appendIf(decode, out, '\b')
			case 'f':
				out = appendIf(decode, out, '\f')
			case 'n':
				out = appendIf(decode, out, '\n')
			case 'r':
				out = appendIf(decode, out, '\r')
			case 't':
				out = appendIf(decode, out, '\t')
			case 'u':
				r, ok := s.hex4()
				if !ok {
					return "", "", s.syntax()
				}
				if utf16.IsSurrogate(r) {
					// A high surrogate must be followed by a low one.
					var lo rune = -1
					if r < 0xDC00 && s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
						s.i += 2
						if lo, ok = s.hex4(); !ok {
							return "", "", s.syntax()
						}
					}
					pair := utf16.DecodeRune(r, lo)
					if pair == unicode.ReplacementChar {
						return string(out), fmt.Sprintf("is not valid Unicode text (an unpaired surrogate \\u%04x)", r), nil
					}
					r = pair
				}
				if decode {
					out = utf8.AppendRune(out, r)
				}
			default:
				return "", "", s.syntax()
			}
		case c < 0x20:
			return "", "", s.syntax()
		case c < utf8.RuneSelf:
			out = appendIf(decode, out, c)
			s.i++
		default:
			r, size := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && size <= 1 {
				return string(out), "is not valid UTF-8 text", nil
			}
			if decode {
				out = append(out, s.b[s.i:s.i+size]...)
			}
			s.i += size
		}
	}
	return "", "", s.syntax()
}

func appendIf(ok bool, out []byte, c byte) []byte {
	if ok {
		return append(out, c)
	}
	return out
}

func (s *scanner) hex4() (rune, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	s.i += 4
	return rune(n), true
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// fold maps s to one representative of the names equal to it under
// Unicode simple case folding (what bytes.EqualFold and encoding/json's
// field matching use): each rune becomes the smallest of its fold orbit.
func fold(s string) string {
	var b strings.Builder
	for _, r := range s {
		f := r
		for x := unicode.SimpleFold(r); x != r; x = unicode.SimpleFold(x) {
			f = min(f, x)
		}
		b.WriteRune(f)
	}
	return b.String()
}
