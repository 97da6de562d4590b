// Package xmlsafe parses XML that comes from outside (SAML AuthnRequests,
// WS-Trust SOAP requests, signed requests) into an *etree.Document, refusing
// the inputs that XML attacks are built from:
//
//   - more than a size limit of bytes, or nesting deeper than a depth limit
//     (memory exhaustion);
//   - any DOCTYPE, DTD, ENTITY or other <!...> declaration (XXE, billion
//     laughs; SAML core §3 and the SAML security considerations forbid DTDs in
//     protocol messages, and WS-I Basic Profile 1.1 R1008 forbids DTDs in SOAP);
//   - processing instructions other than the XML declaration at the very
//     start;
//   - an encoding other than UTF-8, more than one root element, or text
//     outside the root;
//   - documents that do not survive a round trip: the encoding/xml token
//     stream must re-encode to the same tokens (mattermost/xml-roundtrip-
//     validator, which guards against the Go namespace-confusion bugs
//     CVE-2020-29509/29510/29511), and the tree etree builds must describe
//     the same elements, namespaces, attributes and text as the token stream.
//     Signature verification and the code reading the message use the tree;
//     if the two parsers could disagree, an attacker could have one thing
//     verified and another acted on (signature wrapping).
package xmlsafe

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/beevik/etree"
	rtv "github.com/mattermost/xml-roundtrip-validator"
)

// Default limits. A SAML AuthnRequest from Entra is about 1 KiB and a MSAL
// WS-Trust request about 2 KiB; 256 KiB leaves room for signed requests with
// certificate chains.
const (
	DefaultMaxBytes = 256 << 10
	DefaultMaxDepth = 32
)

// Errors returned by Parse; test with errors.Is.
var (
	ErrTooLarge  = errors.New("xmlsafe: document exceeds the size limit")
	ErrTooDeep   = errors.New("xmlsafe: document nests too deeply")
	ErrDTD       = errors.New("xmlsafe: DTD, DOCTYPE or entity declarations are not allowed")
	ErrProcInst  = errors.New("xmlsafe: processing instructions are not allowed")
	ErrMalformed = errors.New("xmlsafe: malformed XML")
	ErrRoundTrip = errors.New("xmlsafe: document does not survive a parser round trip")
)

// Limits bound the resources a document may use. Zero fields take the
// defaults.
type Limits struct {
	// MaxBytes is the largest accepted document, in bytes.
	MaxBytes int64
	// MaxDepth is the deepest accepted element nesting (root = 1).
	MaxDepth int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	return l
}

// Parse reads at most lim.MaxBytes+1 bytes from r and parses them with
// ParseBytes.
func Parse(r io.Reader, lim Limits) (*etree.Document, error) {
	lim = lim.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, lim.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("xmlsafe: reading document: %w", err)
	}
	return ParseBytes(data, lim)
}

// ParseBytes checks data as the package comment describes and returns the
// etree document.
func ParseBytes(data []byte, lim Limits) (*etree.Document, error) {
	lim = lim.withDefaults()
	if int64(len(data)) > lim.MaxBytes {
		return nil, fmt.Errorf("%w (%d bytes max)", ErrTooLarge, lim.MaxBytes)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrMalformed)
	}
	stdEvents, err := tokenEvents(data, lim)
	if err != nil {
		return nil, err
	}
	if err := rtv.Validate(bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRoundTrip, err)
	}
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{
		// Reject any encoding declaration other than UTF-8 ourselves (in
		// tokenEvents); etree's default would pass bytes through unconverted.
		CharsetReader: func(label string, _ io.Reader) (io.Reader, error) {
			return nil, fmt.Errorf("encoding %q not supported", label)
		},
		PreserveDuplicateAttrs: true, // so a duplicate is seen and refused below
		MaxDepth:               lim.MaxDepth + 1,
	}
	if err := doc.ReadFromBytes(data); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	treeEvents, err := etreeEvents(doc)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(stdEvents, treeEvents) {
		i := 0
		for i < len(stdEvents) && i < len(treeEvents) && stdEvents[i] == treeEvents[i] {
			i++
		}
		return nil, fmt.Errorf("%w: encoding/xml and etree disagree at event %d", ErrRoundTrip, i)
	}
	return doc, nil
}

// event is one normalised step of a document walk: "<{ns}local", "@{ns}name=value",
// ">" (end of element), or "#text".
type event string

func startEvent(space, local string) event { return event("<{" + space + "}" + local) }
func attrEvent(space, local, value string) event {
	return event("@{" + space + "}" + local + "=" + value)
}

// isNSDecl reports whether an attribute is a namespace declaration; those are
// compared through the resolved names they produce, not as attributes.
func isNSDecl(space, local string) bool {
	return space == "xmlns" || (space == "" && local == "xmlns")
}

func tokenEvents(data []byte, lim Limits) ([]event, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	// No CharsetReader: encoding/xml then refuses any declared encoding
	// other than UTF-8. No Entity map: only the five predefined entities.
	var (
		events   []event
		depth    int
		roots    int
		text     strings.Builder
		first    = true
		stdAttrs []event
	)
	flush := func() {
		if depth > 0 && text.Len() > 0 {
			events = append(events, event("#"+text.String()))
		}
		text.Reset()
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			flush()
			if depth == 0 {
				roots++
				if roots > 1 {
					return nil, fmt.Errorf("%w: more than one root element", ErrMalformed)
				}
			}
			depth++
			if depth > lim.MaxDepth {
				return nil, fmt.Errorf("%w (%d levels max)", ErrTooDeep, lim.MaxDepth)
			}
			events = append(events, startEvent(t.Name.Space, t.Name.Local))
			stdAttrs = stdAttrs[:0]
			for _, a := range t.Attr {
				if !isNSDecl(a.Name.Space, a.Name.Local) {
					stdAttrs = append(stdAttrs, attrEvent(a.Name.Space, a.Name.Local, a.Value))
				}
			}
			slices.Sort(stdAttrs)
			events = append(events, stdAttrs...)
		case xml.EndElement:
			flush()
			depth--
			events = append(events, ">")
		case xml.CharData:
			if depth == 0 {
				if len(bytes.TrimSpace(t)) != 0 {
					return nil, fmt.Errorf("%w: text outside the root element", ErrMalformed)
				}
				break
			}
			text.Write(t)
		case xml.Directive:
			return nil, ErrDTD
		case xml.ProcInst:
			if !(first && t.Target == "xml") {
				return nil, fmt.Errorf("%w: <?%s?>", ErrProcInst, t.Target)
			}
		case xml.Comment:
			// Comments are dropped by both parsers' consumers and by exclusive
			// c14n without comments; they neither split text here nor count.
		}
		first = false
	}
	if roots == 0 {
		return nil, fmt.Errorf("%w: no root element", ErrMalformed)
	}
	return events, nil
}

func etreeEvents(doc *etree.Document) ([]event, error) {
	root := doc.Root()
	if root == nil {
		return nil, fmt.Errorf("%w: no root element", ErrMalformed)
	}
	var events []event
	var walk func(el *etree.Element) error
	walk = func(el *etree.Element) error {
		events = append(events, startEvent(el.NamespaceURI(), el.Tag))
		var attrs []event
		seen := map[string]bool{}
		for i := range el.Attr {
			a := &el.Attr[i]
			if isNSDecl(a.Space, a.Key) {
				continue
			}
			space := ""
			if a.Space != "" {
				space = a.NamespaceURI()
				if space == "" && a.Space != "xml" {
					return fmt.Errorf("%w: undeclared prefix %q", ErrMalformed, a.Space)
				}
				if a.Space == "xml" {
					space = "http://www.w3.org/XML/1998/namespace"
				}
			}
			k := "{" + space + "}" + a.Key
			if seen[k] {
				return fmt.Errorf("%w: duplicate attribute %s", ErrMalformed, k)
			}
			seen[k] = true
			attrs = append(attrs, attrEvent(space, a.Key, a.Value))
		}
		slices.Sort(attrs)
		events = append(events, attrs...)
		var text strings.Builder
		for _, tok := range el.Child {
			switch c := tok.(type) {
			case *etree.CharData:
				text.WriteString(c.Data)
			case *etree.Element:
				if text.Len() > 0 {
					events = append(events, event("#"+text.String()))
					text.Reset()
				}
				if err := walk(c); err != nil {
					return err
				}
			case *etree.Directive:
				return ErrDTD
			case *etree.ProcInst:
				return fmt.Errorf("%w: <?%s?>", ErrProcInst, c.Target)
			}
		}
		if text.Len() > 0 {
			events = append(events, event("#"+text.String()))
		}
		events = append(events, ">")
		return nil
	}
	if err := walk(root); err != nil {
		return nil, err
	}
	return events, nil
}
