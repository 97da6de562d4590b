package xmldsig

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// The document model: a small, prefix-preserving DOM built from
// encoding/xml's raw tokens. Canonical XML needs the prefixes exactly as
// written and the namespace declarations as separate nodes, which is what
// this model keeps; encoding/xml's own namespace translation and etree are
// deliberately not used (Portico's signer builds on etree and goxmldsig).

// Namespace URIs used by the verifier and its callers.
const (
	NSDSig = "http://www.w3.org/2000/09/xmldsig#"
	NSExcC = "http://www.w3.org/2001/10/xml-exc-c14n#"
	NSXML  = "http://www.w3.org/XML/1998/namespace"
)

// Node is an Element, a Text, a Comment or a ProcInst.
type Node interface{ node() }

// Element is an XML element with its prefix, namespace declarations,
// ordinary attributes and children.
type Element struct {
	Prefix   string // "" for an unprefixed element (default namespace)
	Local    string
	NS       []NSDecl // namespace declarations written on this element
	Attrs    []Attr   // other attributes, in document order
	Children []Node
	Parent   *Element
	// nsIndex indexes NS when there are many declarations.
	nsIndex map[string]string
}

// NSDecl is a namespace declaration: xmlns:Prefix="URI", or xmlns="URI"
// when Prefix is empty.
type NSDecl struct{ Prefix, URI string }

// Attr is an attribute that is not a namespace declaration.
type Attr struct{ Prefix, Local, Value string }

// Text is character data (CDATA sections included), entities expanded.
type Text struct{ Data string }

// Comment is an XML comment.
type Comment struct{ Data string }

// ProcInst is a processing instruction.
type ProcInst struct{ Target, Inst string }

func (*Element) node()  {}
func (*Text) node()     {}
func (*Comment) node()  {}
func (*ProcInst) node() {}

// Limits bound what Parse accepts.
type Limits struct {
	MaxBytes int // input size; default 256 KiB
	MaxDepth int // element nesting; default 64
	MaxNodes int // elements, texts, comments and PIs together; default 20,000
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 256 << 10
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 64
	}
	if l.MaxNodes <= 0 {
		l.MaxNodes = 20000
	}
	return l
}

// Errors of Parse. Every parse failure wraps ErrMalformed; the more specific
// ones also wrap their own sentinel.
var (
	ErrMalformed = errors.New("xmldsig: malformed XML")
	ErrTooLarge  = errors.New("xmldsig: document too large")
	ErrDTD       = errors.New("xmldsig: DTDs and entity declarations are not allowed")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// Parse reads one XML document (UTF-8, no DTD, one root element) within the
// limits. It refuses anything that could make the model ambiguous: DOCTYPE
// and other directives, undeclared prefixes, names with more than one colon,
// duplicate attributes, mismatched end tags, content outside the root.
func Parse(data []byte, lim Limits) (*Element, error) {
	lim = lim.withDefaults()
	if len(data) > lim.MaxBytes {
		return nil, fmt.Errorf("%w (%w: %d bytes, at most %d)", ErrMalformed, ErrTooLarge, len(data), lim.MaxBytes)
	}
	if !utf8.Valid(data) {
		return nil, malformed("not UTF-8")
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	// No CharsetReader: a declared encoding other than UTF-8 is an error.
	var (
		root  *Element
		stack []*Element
		nodes int
	)
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, malformed("%v", err)
		}
		nodes++
		if nodes > lim.MaxNodes {
			return nil, fmt.Errorf("%w (%w: more than %d nodes)", ErrMalformed, ErrTooLarge, lim.MaxNodes)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if root != nil && len(stack) == 0 {
				return nil, malformed("more than one root element")
			}
			if len(stack) >= lim.MaxDepth {
				return nil, fmt.Errorf("%w (%w: nesting deeper than %d)", ErrMalformed, ErrTooLarge, lim.MaxDepth)
			}
			e, err := newElement(t)
			if err != nil {
				return nil, err
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				e.Parent = p
				p.Children = append(p.Children, e)
			} else {
				root = e
			}
			stack = append(stack, e)
		case xml.EndElement:
			if len(stack) == 0 {
				return nil, malformed("unexpected end tag </%s>", rawName(t.Name))
			}
			top := stack[len(stack)-1]
			if top.Prefix != t.Name.Space || top.Local != t.Name.Local {
				return nil, malformed("end tag </%s> does not match <%s>", rawName(t.Name), top.qname())
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimLeft(t, " \t\r\n")) != 0 {
					return nil, malformed("text outside the root element")
				}
				continue
			}
			p := stack[len(stack)-1]
			if n := len(p.Children); n > 0 {
				if prev, ok := p.Children[n-1].(*Text); ok {
					prev.Data += string(t)
					continue
				}
			}
			p.Children = append(p.Children, &Text{Data: string(t)})
		case xml.Comment:
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, &Comment{Data: string(t)})
			}
		case xml.ProcInst:
			if strings.EqualFold(t.Target, "xml") {
				if root != nil || len(stack) > 0 {
					return nil, malformed("XML declaration not at the start")
				}
				continue
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, &ProcInst{Target: t.Target, Inst: string(t.Inst)})
			}
		case xml.Directive:
			return nil, fmt.Errorf("%w (%w)", ErrMalformed, ErrDTD)
		}
	}
	if root == nil {
		return nil, malformed("no root element")
	}
	if len(stack) > 0 {
		return nil, malformed("unexpected end of document inside <%s>", stack[len(stack)-1].qname())
	}
	if err := checkNamespaces(root); err != nil {
		return nil, err
	}
	return root, nil
}

func rawName(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

func validName(n xml.Name) bool {
	return n.Local != "" && !strings.Contains(n.Local, ":") && !strings.Contains(n.Space, ":")
}

func newElement(t xml.StartElement) (*Element, error) {
	if !validName(t.Name) || t.Name.Space == "xmlns" {
		return nil, malformed("invalid element name %q", rawName(t.Name))
	}
	e := &Element{Prefix: t.Name.Space, Local: t.Name.Local}
	for _, a := range t.Attr {
		if !validName(a.Name) {
			return nil, malformed("invalid attribute name %q", rawName(a.Name))
		}
		switch {
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			if a.Value == NSXML {
				return nil, malformed("the XML namespace cannot be the default namespace")
			}
			e.NS = append(e.NS, NSDecl{Prefix: "", URI: a.Value})
		case a.Name.Space == "xmlns":
			switch {
			case a.Name.Local == "xmlns":
				return nil, malformed("the xmlns prefix cannot be declared")
			case a.Name.Local == "xml" && a.Value != NSXML, a.Name.Local != "xml" && a.Value == NSXML:
				return nil, malformed("invalid declaration of the xml prefix")
			case a.Value == "":
				return nil, malformed("prefix %q undeclared with an empty namespace", a.Name.Local)
			}
			e.NS = append(e.NS, NSDecl{Prefix: a.Name.Local, URI: a.Value})
		default:
			e.Attrs = append(e.Attrs, Attr{Prefix: a.Name.Space, Local: a.Name.Local, Value: a.Value})
		}
	}
	if len(e.NS) > 1 {
		idx := make(map[string]string, len(e.NS))
		for _, d := range e.NS {
			if _, dup := idx[d.Prefix]; dup {
				return nil, malformed("namespace prefix %q declared twice on <%s>", d.Prefix, e.qname())
			}
			idx[d.Prefix] = d.URI
		}
		if len(e.NS) > 8 {
			e.nsIndex = idx
		}
	}
	return e, nil
}

// checkNamespaces makes sure every prefix in use is declared and that no
// element carries two attributes with the same expanded name.
func checkNamespaces(e *Element) error {
	if _, ok := e.LookupPrefix(e.Prefix); !ok && e.Prefix != "" {
		return malformed("undeclared prefix %q on <%s>", e.Prefix, e.qname())
	}
	seen := make(map[[2]string]bool, len(e.Attrs))
	for _, a := range e.Attrs {
		uri := ""
		if a.Prefix != "" {
			u, ok := e.LookupPrefix(a.Prefix)
			if !ok {
				return malformed("undeclared prefix %q on attribute %s:%s", a.Prefix, a.Prefix, a.Local)
			}
			uri = u
		}
		k := [2]string{uri, a.Local}
		if seen[k] {
			return malformed("duplicate attribute %s on <%s>", a.Local, e.qname())
		}
		seen[k] = true
	}
	for _, c := range e.Children {
		if ce, ok := c.(*Element); ok {
			if err := checkNamespaces(ce); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *Element) qname() string {
	if e.Prefix == "" {
		return e.Local
	}
	return e.Prefix + ":" + e.Local
}

// LookupPrefix resolves a prefix ("" for the default namespace) in the scope
// of e. The xml prefix is always bound. For the default namespace, ok is
// false when no ancestor declares one (the URI is then "").
func (e *Element) LookupPrefix(prefix string) (uri string, ok bool) {
	if prefix == "xml" {
		return NSXML, true
	}
	for el := e; el != nil; el = el.Parent {
		if el.nsIndex != nil {
			if u, ok := el.nsIndex[prefix]; ok {
				return u, true
			}
			continue
		}
		for _, d := range el.NS {
			if d.Prefix == prefix {
				return d.URI, true
			}
		}
	}
	return "", false
}

// Space is the namespace URI of e.
func (e *Element) Space() string {
	u, _ := e.LookupPrefix(e.Prefix)
	return u
}

// Is reports whether e is the element {space}local.
func (e *Element) Is(space, local string) bool { return e.Local == local && e.Space() == space }

// AttrValue returns the value of the attribute {space}local (space "" for
// an unqualified attribute).
func (e *Element) AttrValue(space, local string) (string, bool) {
	for _, a := range e.Attrs {
		if a.Local != local {
			continue
		}
		if a.Prefix == "" {
			if space == "" {
				return a.Value, true
			}
			continue
		}
		if u, _ := e.LookupPrefix(a.Prefix); u == space {
			return a.Value, true
		}
	}
	return "", false
}

// ChildElements returns the element children of e.
func (e *Element) ChildElements() []*Element {
	var out []*Element
	for _, c := range e.Children {
		if ce, ok := c.(*Element); ok {
			out = append(out, ce)
		}
	}
	return out
}

// Find returns the element children {space}local of e.
func (e *Element) Find(space, local string) []*Element {
	var out []*Element
	for _, c := range e.Children {
		if ce, ok := c.(*Element); ok && ce.Is(space, local) {
			out = append(out, ce)
		}
	}
	return out
}

// FindOne returns the only child {space}local of e, or nil when there is
// none or more than one.
func (e *Element) FindOne(space, local string) *Element {
	f := e.Find(space, local)
	if len(f) != 1 {
		return nil
	}
	return f[0]
}

// Text returns the concatenated character data of e's direct text children
// (comments and processing instructions between them are skipped).
func (e *Element) Text() string {
	var b strings.Builder
	for _, c := range e.Children {
		if t, ok := c.(*Text); ok {
			b.WriteString(t.Data)
		}
	}
	return b.String()
}

// Walk calls fn for e and every descendant element in document order until
// fn returns false.
func (e *Element) Walk(fn func(*Element) bool) bool {
	if !fn(e) {
		return false
	}
	for _, c := range e.Children {
		if ce, ok := c.(*Element); ok && !ce.Walk(fn) {
			return false
		}
	}
	return true
}
