// Package odata parses the subset of OData v4 system query options that
// Microsoft Graph accepts on directory objects: $filter expressions with
// comparison operators (eq, ne, ge, le, gt, lt), the functions startsWith and
// endsWith, the in operator and the logical operators and, or and not.
//
// Sources: https://learn.microsoft.com/graph/filter-query-parameter and
// https://learn.microsoft.com/graph/aad-advanced-queries, and the OData v4.01
// URL conventions (part 2, section 5.1.1) for the grammar of literals.
//
// The parser never panics: every malformed input yields a *SyntaxError that
// carries the position of the problem, mirroring the "Syntax error at position
// N" messages the OData library behind Graph produces.
package odata

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxFilterLength bounds the $filter text that Parse accepts; longer input is
// rejected before parsing so that hostile input cannot exhaust memory.
const MaxFilterLength = 16 << 10

// maxDepth bounds nesting (parentheses, not) to keep recursion shallow.
const maxDepth = 64

// Expr is a node of a parsed $filter expression.
type Expr interface {
	// String renders the expression in a canonical OData form.
	String() string
	isExpr()
}

// LiteralKind tells which OData primitive a Literal holds.
type LiteralKind int

// The literal kinds the parser recognises.
const (
	KindString LiteralKind = iota
	KindBool
	KindNull
	KindNumber
	KindGUID
)

// Literal is a constant in a filter expression.
type Literal struct {
	Kind LiteralKind
	// Str holds the unescaped text of a string, the digits of a number or the
	// text of a GUID.
	Str string
	// Bool holds the value of a boolean literal.
	Bool bool
}

// EdmType names the Edm type of the literal, as the OData library does in its
// messages (for example "Edm.String").
func (l Literal) EdmType() string {
	switch l.Kind {
	case KindString:
		return "Edm.String"
	case KindBool:
		return "Edm.Boolean"
	case KindNumber:
		return "Edm.Int32"
	case KindGUID:
		return "Edm.Guid"
	default:
		return "<null>"
	}
}

// String renders the literal in OData syntax.
func (l Literal) String() string {
	switch l.Kind {
	case KindString:
		return "'" + strings.ReplaceAll(l.Str, "'", "''") + "'"
	case KindBool:
		return strconv.FormatBool(l.Bool)
	case KindNull:
		return "null"
	default:
		return l.Str
	}
}

// Compare is "property op literal", with Op one of eq, ne, gt, ge, lt, le.
type Compare struct {
	Property string
	Op       string
	Value    Literal
}

// Func is a call of startsWith or endsWith: Name(Property, Value).
type Func struct {
	Name     string
	Property string
	Value    Literal
}

// In is "property in (v1, v2, ...)".
type In struct {
	Property string
	Values   []Literal
}

// Logical is "Left op Right" with Op "and" or "or".
type Logical struct {
	Op          string
	Left, Right Expr
}

// Not is "not X".
type Not struct{ X Expr }

func (Compare) isExpr() {}
func (Func) isExpr()    {}
func (In) isExpr()      {}
func (Logical) isExpr() {}
func (Not) isExpr()     {}

// String renders the comparison.
func (c Compare) String() string { return c.Property + " " + c.Op + " " + c.Value.String() }

// String renders the function call.
func (f Func) String() string { return f.Name + "(" + f.Property + "," + f.Value.String() + ")" }

// String renders the in expression.
func (i In) String() string {
	parts := make([]string, len(i.Values))
	for k, v := range i.Values {
		parts[k] = v.String()
	}
	return i.Property + " in (" + strings.Join(parts, ",") + ")"
}

// String renders the logical expression, with parentheses only where the
// tree needs them (an "or" below an "and", or a right operand of the same
// operator), so that the text parses back to the same tree and never nests
// deeper than the text it came from.
func (l Logical) String() string {
	return wrapOperand(l.Left, l.Op, true) + " " + l.Op + " " + wrapOperand(l.Right, l.Op, false)
}

func wrapOperand(e Expr, parent string, left bool) string {
	x, ok := e.(Logical)
	if !ok {
		return e.String()
	}
	switch {
	case parent == "or" && x.Op == "and":
		return x.String()
	case left && x.Op == parent:
		return x.String()
	}
	return "(" + x.String() + ")"
}

// String renders the negation.
func (n Not) String() string {
	if _, ok := n.X.(Logical); ok {
		return "not (" + n.X.String() + ")"
	}
	return "not " + n.X.String()
}

// SyntaxError reports malformed $filter text. Pos is the zero-based byte
// offset at which the parser gave up.
type SyntaxError struct {
	Pos  int
	Text string
	Msg  string
}

// Error renders the message the way the OData library does ("Syntax error at
// position N in 'text'.") with the detail appended.
func (e *SyntaxError) Error() string {
	if e.Msg != "" {
		return fmt.Sprintf("Syntax error at position %d in '%s'. %s", e.Pos, e.Text, e.Msg)
	}
	return fmt.Sprintf("Syntax error at position %d in '%s'.", e.Pos, e.Text)
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tGUID
	tLParen
	tRParen
	tComma
	tSlash
	tColon
)

type token struct {
	kind tokKind
	text string // identifier text, unescaped string, number or guid
	pos  int
}

type parser struct {
	src   string
	toks  []token
	i     int
	depth int
}

// Parse parses a $filter expression.
func Parse(s string) (Expr, error) {
	if len(s) > MaxFilterLength {
		return nil, &SyntaxError{Pos: MaxFilterLength, Text: s[:64] + "...", Msg: "The filter is too long."}
	}
	if !utf8.ValidString(s) {
		return nil, &SyntaxError{Pos: 0, Text: strings.ToValidUTF8(s, "?"), Msg: "The filter is not valid UTF-8."}
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{src: s, toks: toks}
	if p.peek().kind == tEOF {
		return nil, p.errAt(0, "The filter is empty.")
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.errAt(t.pos, "")
	}
	return e, nil
}

func (p *parser) errAt(pos int, msg string) error {
	return &SyntaxError{Pos: pos, Text: p.src, Msg: msg}
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isKeyword(t token, kw string) bool {
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) parseOr() (Expr, error) {
	left, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.isKeyword(p.peek(), "or") {
		p.next()
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		left = Logical{Op: "or", Left: left, Right: right}
	}
	return left, nil
}

func (p *parser) parseAnd() (Expr, error) {
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for p.isKeyword(p.peek(), "and") {
		p.next()
		right, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		left = Logical{Op: "and", Left: left, Right: right}
	}
	return left, nil
}

func (p *parser) parseUnary() (Expr, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, p.errAt(p.peek().pos, "The filter is nested too deeply.")
	}
	t := p.peek()
	if p.isKeyword(t, "not") {
		p.next()
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return Not{X: x}, nil
	}
	if t.kind == tLParen {
		p.next()
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, p.errAt(c.pos, "')' or operator expected.")
		}
		return x, nil
	}
	return p.parsePrimary()
}

// parsePrimary parses a comparison, a function call or an in expression.
func (p *parser) parsePrimary() (Expr, error) {
	t := p.next()
	if t.kind != tIdent {
		return nil, p.errAt(t.pos, "Property name or function expected.")
	}
	if p.peek().kind == tLParen {
		name := t.text
		if !strings.EqualFold(name, "startswith") && !strings.EqualFold(name, "endswith") {
			return nil, p.errAt(t.pos, fmt.Sprintf("Unknown function '%s'.", name))
		}
		p.next()
		prop, err := p.parsePropertyPath()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tComma {
			return nil, p.errAt(c.pos, "',' expected.")
		}
		lit, err := p.parseLiteral()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tRParen {
			return nil, p.errAt(c.pos, "')' expected.")
		}
		canon := "startsWith"
		if strings.EqualFold(name, "endswith") {
			canon = "endsWith"
		}
		return Func{Name: canon, Property: prop, Value: lit}, nil
	}
	p.i-- // re-read the identifier as a property path
	prop, err := p.parsePropertyPath()
	if err != nil {
		return nil, err
	}
	op := p.next()
	if op.kind != tIdent {
		return nil, p.errAt(op.pos, "Operator expected.")
	}
	switch strings.ToLower(op.text) {
	case "eq", "ne", "gt", "ge", "lt", "le":
		lit, err := p.parseLiteral()
		if err != nil {
			return nil, err
		}
		return Compare{Property: prop, Op: strings.ToLower(op.text), Value: lit}, nil
	case "in":
		if c := p.next(); c.kind != tLParen {
			return nil, p.errAt(c.pos, "'(' expected.")
		}
		var vals []Literal
		for {
			lit, err := p.parseLiteral()
			if err != nil {
				return nil, err
			}
			vals = append(vals, lit)
			c := p.next()
			if c.kind == tRParen {
				break
			}
			if c.kind != tComma {
				return nil, p.errAt(c.pos, "',' or ')' expected.")
			}
		}
		return In{Property: prop, Values: vals}, nil
	default:
		return nil, p.errAt(op.pos, fmt.Sprintf("Unknown operator '%s'.", op.text))
	}
}

// parsePropertyPath reads "name" or "name/sub" (complex property access).
func (p *parser) parsePropertyPath() (string, error) {
	t := p.next()
	if t.kind != tIdent || isReserved(t.text) {
		return "", p.errAt(t.pos, "Property name expected.")
	}
	path := t.text
	for p.peek().kind == tSlash {
		p.next()
		s := p.next()
		if s.kind != tIdent {
			return "", p.errAt(s.pos, "Property name expected.")
		}
		path += "/" + s.text
	}
	return path, nil
}

func isReserved(s string) bool {
	switch strings.ToLower(s) {
	case "and", "or", "not", "eq", "ne", "gt", "ge", "lt", "le", "in", "true", "false", "null":
		return true
	}
	return false
}

func (p *parser) parseLiteral() (Literal, error) {
	t := p.next()
	switch t.kind {
	case tString:
		return Literal{Kind: KindString, Str: t.text}, nil
	case tNumber:
		return Literal{Kind: KindNumber, Str: t.text}, nil
	case tGUID:
		return Literal{Kind: KindGUID, Str: t.text}, nil
	case tIdent:
		switch strings.ToLower(t.text) {
		case "true":
			return Literal{Kind: KindBool, Bool: true}, nil
		case "false":
			return Literal{Kind: KindBool}, nil
		case "null":
			return Literal{Kind: KindNull}, nil
		}
	}
	return Literal{}, p.errAt(t.pos, "Literal expected.")
}

func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
		case c == '(':
			toks = append(toks, token{kind: tLParen, pos: i})
			i++
		case c == ')':
			toks = append(toks, token{kind: tRParen, pos: i})
			i++
		case c == ',':
			toks = append(toks, token{kind: tComma, pos: i})
			i++
		case c == '/':
			toks = append(toks, token{kind: tSlash, pos: i})
			i++
		case c == ':':
			toks = append(toks, token{kind: tColon, pos: i})
			i++
		case c == '\'':
			start := i
			i++
			var b strings.Builder
			closed := false
			for i < len(s) {
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, &SyntaxError{Pos: start, Text: s, Msg: "Unterminated string literal."}
			}
			toks = append(toks, token{kind: tString, text: b.String(), pos: start})
		case c == '-' || (c >= '0' && c <= '9'):
			start := i
			// A GUID literal is 8-4-4-4-12 hex digits; try it first.
			if g, ok := scanGUID(s[i:]); ok {
				toks = append(toks, token{kind: tGUID, text: g, pos: start})
				i += len(g)
				continue
			}
			i++
			for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
				i++
			}
			num := s[start:i]
			if num == "-" || strings.Count(num, ".") > 1 || strings.HasSuffix(num, ".") {
				return nil, &SyntaxError{Pos: start, Text: s, Msg: "Invalid number."}
			}
			toks = append(toks, token{kind: tNumber, text: num, pos: start})
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if !unicode.IsLetter(r) && r != '_' && r != '@' && r != '$' {
				return nil, &SyntaxError{Pos: i, Text: s, Msg: fmt.Sprintf("Unexpected character '%c'.", r)}
			}
			if g, ok := scanGUID(s[i:]); ok {
				toks = append(toks, token{kind: tGUID, text: g, pos: i})
				i += len(g)
				continue
			}
			start := i
			i += size
			for i < len(s) {
				r, size = utf8.DecodeRuneInString(s[i:])
				if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' && r != '.' && r != '@' && r != '$' {
					break
				}
				i += size
			}
			toks = append(toks, token{kind: tIdent, text: s[start:i], pos: start})
		}
	}
	toks = append(toks, token{kind: tEOF, pos: len(s)})
	return toks, nil
}

// scanGUID reports whether s starts with a GUID literal (8-4-4-4-12 hex digits)
// not followed by an identifier character.
func scanGUID(s string) (string, bool) {
	const n = 36
	if len(s) < n {
		return "", false
	}
	for k := 0; k < n; k++ {
		c := s[k]
		if k == 8 || k == 13 || k == 18 || k == 23 {
			if c != '-' {
				return "", false
			}
			continue
		}
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return "", false
		}
	}
	if len(s) > n {
		c := s[n]
		if c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			return "", false
		}
	}
	return s[:n], true
}
