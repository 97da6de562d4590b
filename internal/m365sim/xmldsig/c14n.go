package xmldsig

import (
	"bytes"
	"sort"
	"strings"
)

// Exclusive XML Canonicalization 1.0 without comments
// (https://www.w3.org/TR/xml-exc-c14n/), over the subtree of one element,
// with one element (an enveloped signature) optionally left out. What the
// algorithm does, in the terms of the specification:
//
//   - a namespace declaration is written on an element only when its prefix
//     is visibly utilized there (the element's own prefix, or an attribute's)
//     and the nearest output ancestor has not already written the same
//     binding (§3, "rendered" namespace nodes); prefixes of the
//     InclusiveNamespaces PrefixList are treated as in Canonical XML 1.0:
//     written wherever they are in scope and differ from what is rendered;
//   - xmlns="" is written only to undo a default namespace rendered above;
//   - namespace declarations are sorted by prefix (the default first),
//     attributes by namespace URI then local name (Canonical XML §2.2);
//   - character and attribute escaping per Canonical XML §2.3; empty
//     elements become start and end tag pairs; comments are dropped;
//     processing instructions are kept.
//
// The xml prefix is never declared; xml:* attributes are ordinary attributes
// in the exclusive algorithm (they are not inherited).

// Canonicalize returns the exclusive canonical form of the subtree rooted at
// e, leaving out the element skip (and its subtree) when not nil. prefixes
// is the InclusiveNamespaces PrefixList ("#default" names the default
// namespace).
func Canonicalize(e *Element, skip *Element, prefixes []string) []byte {
	var buf bytes.Buffer
	incl := map[string]bool{}
	for _, p := range prefixes {
		if p == "#default" {
			p = ""
		}
		incl[p] = true
	}
	c := canon{buf: &buf, skip: skip, incl: incl}
	c.element(e, map[string]string{})
	return buf.Bytes()
}

type canon struct {
	buf  *bytes.Buffer
	skip *Element
	incl map[string]bool
}

// element writes e given the bindings rendered by its output ancestors
// (prefix -> URI; the default namespace under "").
func (c *canon) element(e *Element, rendered map[string]string) {
	if e == c.skip {
		return
	}
	var decls []NSDecl
	want := func(prefix string) {
		if prefix == "xml" || prefix == "xmlns" {
			return
		}
		for _, d := range decls {
			if d.Prefix == prefix {
				return
			}
		}
		uri, declared := e.LookupPrefix(prefix)
		have, ok := rendered[prefix]
		if prefix == "" {
			// An absent default namespace is the empty one.
			if uri == have || (!ok && uri == "") {
				return
			}
			decls = append(decls, NSDecl{Prefix: "", URI: uri})
			return
		}
		if !declared || (ok && have == uri) {
			return
		}
		decls = append(decls, NSDecl{Prefix: prefix, URI: uri})
	}
	// Visibly utilized prefixes.
	want(e.Prefix)
	for _, a := range e.Attrs {
		if a.Prefix != "" {
			want(a.Prefix)
		}
	}
	// InclusiveNamespaces PrefixList: every in-scope binding of a listed
	// prefix, as Canonical XML would render it.
	if len(c.incl) > 0 {
		for p := range c.incl {
			if p == "" {
				want("")
				continue
			}
			if _, ok := e.LookupPrefix(p); ok {
				want(p)
			}
		}
	}
	sort.Slice(decls, func(i, j int) bool { return decls[i].Prefix < decls[j].Prefix })

	b := c.buf
	b.WriteByte('<')
	b.WriteString(e.qname())
	for _, d := range decls {
		if d.Prefix == "" {
			b.WriteString(` xmlns="`)
		} else {
			b.WriteString(" xmlns:")
			b.WriteString(d.Prefix)
			b.WriteString(`="`)
		}
		escapeAttr(b, d.URI)
		b.WriteByte('"')
	}
	type sattr struct {
		uri string
		a   Attr
	}
	attrs := make([]sattr, len(e.Attrs))
	for i, a := range e.Attrs {
		uri := ""
		if a.Prefix != "" {
			uri, _ = e.LookupPrefix(a.Prefix)
		}
		attrs[i] = sattr{uri, a}
	}
	sort.Slice(attrs, func(i, j int) bool {
		if attrs[i].uri != attrs[j].uri {
			return attrs[i].uri < attrs[j].uri
		}
		return attrs[i].a.Local < attrs[j].a.Local
	})
	for _, sa := range attrs {
		b.WriteByte(' ')
		if sa.a.Prefix != "" {
			b.WriteString(sa.a.Prefix)
			b.WriteByte(':')
		}
		b.WriteString(sa.a.Local)
		b.WriteString(`="`)
		escapeAttr(b, sa.a.Value)
		b.WriteByte('"')
	}
	b.WriteByte('>')

	inner := rendered
	if len(decls) > 0 {
		inner = make(map[string]string, len(rendered)+len(decls))
		for k, v := range rendered {
			inner[k] = v
		}
		for _, d := range decls {
			inner[d.Prefix] = d.URI
		}
	}
	for _, ch := range e.Children {
		switch n := ch.(type) {
		case *Element:
			c.element(n, inner)
		case *Text:
			escapeText(b, n.Data)
		case *ProcInst:
			b.WriteString("<?")
			b.WriteString(n.Target)
			if inst := strings.TrimLeft(n.Inst, " \t\r\n"); inst != "" {
				b.WriteByte(' ')
				b.WriteString(inst)
			}
			b.WriteString("?>")
		case *Comment:
			// Comments are not part of the "without comments" canonical form.
		}
	}
	b.WriteString("</")
	b.WriteString(e.qname())
	b.WriteByte('>')
}

// escapeText escapes character data (Canonical XML §2.3: &, <, > and #xD).
func escapeText(b *bytes.Buffer, s string) {
	start := 0
	for i := 0; i < len(s); i++ {
		var rep string
		switch s[i] {
		case '&':
			rep = "&amp;"
		case '<':
			rep = "&lt;"
		case '>':
			rep = "&gt;"
		case '\r':
			rep = "&#xD;"
		default:
			continue
		}
		b.WriteString(s[start:i])
		b.WriteString(rep)
		start = i + 1
	}
	b.WriteString(s[start:])
}

// escapeAttr escapes an attribute value (Canonical XML §2.3: &, <, ", #x9,
// #xA and #xD).
func escapeAttr(b *bytes.Buffer, s string) {
	start := 0
	for i := 0; i < len(s); i++ {
		var rep string
		switch s[i] {
		case '&':
			rep = "&amp;"
		case '<':
			rep = "&lt;"
		case '"':
			rep = "&quot;"
		case '\t':
			rep = "&#x9;"
		case '\n':
			rep = "&#xA;"
		case '\r':
			rep = "&#xD;"
		default:
			continue
		}
		b.WriteString(s[start:i])
		b.WriteString(rep)
		start = i + 1
	}
	b.WriteString(s[start:])
}
