package m365sim

import (
	"errors"
	"strconv"
	"strings"

	"github.com/portico-idp/portico/internal/m365sim/odata"
)

// $filter evaluation against the property tables.
// Sources: https://learn.microsoft.com/graph/filter-query-parameter,
// https://learn.microsoft.com/graph/aad-advanced-queries: eq, startsWith and
// in work on the indexed properties of users and groups; ne, not, endsWith
// and comparisons on other properties need "ConsistencyLevel: eventual" and
// $count=true.

type predicate func(get func(string) any) bool

// compiledFilter is a checked $filter with an optional index hint.
type compiledFilter struct {
	match predicate
	// eqProp/eqValues are set when the whole filter is "prop eq 'v'" or
	// "prop in (...)" so that an index can answer it.
	eqProp   string
	eqValues []string
}

// compileFilter parses and checks a $filter for schema s. advanced says
// whether the request carries ConsistencyLevel: eventual and $count=true.
func compileFilter(s *entitySchema, text string, advanced bool) (*compiledFilter, *graphError) {
	expr, err := odata.Parse(text)
	if err != nil {
		var se *odata.SyntaxError
		if errors.As(err, &se) {
			return nil, errODataBadRequest("Invalid filter clause: %s", se.Error())
		}
		return nil, errODataBadRequest("Invalid filter clause: %v", err)
	}
	cf := &compiledFilter{}
	m, ge := compileExpr(s, expr, advanced)
	if ge != nil {
		return nil, ge
	}
	cf.match = m
	switch x := expr.(type) {
	case odata.Compare:
		if x.Op == "eq" && x.Value.Kind == odata.KindString {
			cf.eqProp, cf.eqValues = s.lookup(x.Property).name, []string{x.Value.Str}
		}
	case odata.In:
		p := s.lookup(x.Property)
		vals := make([]string, 0, len(x.Values))
		for _, v := range x.Values {
			if v.Kind != odata.KindString {
				vals = nil
				break
			}
			vals = append(vals, v.Str)
		}
		if vals != nil {
			cf.eqProp, cf.eqValues = p.name, vals
		}
	}
	return cf, nil
}

func errAdvanced(op string) *graphError {
	return errUnsupportedQuery("Operator '%s' is not supported because the required parameters might be missing. Try adding $count with a value of true and ConsistencyLevel header with a value of eventual.", op)
}

func errFilterProp(s *entitySchema, prop string) *graphError {
	return errUnsupportedQuery("Unsupported or invalid query filter clause specified for property '%s' of resource '%s'.", prop, s.resource)
}

func compileExpr(s *entitySchema, e odata.Expr, adv bool) (predicate, *graphError) {
	switch x := e.(type) {
	case odata.Logical:
		l, ge := compileExpr(s, x.Left, adv)
		if ge != nil {
			return nil, ge
		}
		r, ge := compileExpr(s, x.Right, adv)
		if ge != nil {
			return nil, ge
		}
		if x.Op == "and" {
			return func(g func(string) any) bool { return l(g) && r(g) }, nil
		}
		return func(g func(string) any) bool { return l(g) || r(g) }, nil
	case odata.Not:
		if !adv {
			return nil, errAdvanced("not")
		}
		in, ge := compileExpr(s, x.X, adv)
		if ge != nil {
			return nil, ge
		}
		return func(g func(string) any) bool { return !in(g) }, nil
	case odata.Compare:
		p, ge := filterProp(s, x.Property, adv)
		if ge != nil {
			return nil, ge
		}
		switch x.Op {
		case "eq":
		case "ne":
			if !adv {
				return nil, errAdvanced("ne")
			}
		default:
			if !adv {
				return nil, errAdvanced(x.Op)
			}
		}
		return comparePredicate(p, x.Op, x.Value)
	case odata.Func:
		p, ge := filterProp(s, x.Property, adv)
		if ge != nil {
			return nil, ge
		}
		if x.Name == "endsWith" && !adv {
			return nil, errAdvanced("endsWith")
		}
		if x.Value.Kind != odata.KindString {
			return nil, errODataBadRequest("No function signature for the function with name '%s' matches the specified arguments. The function signatures considered are: %s(Edm.String Nullable=true, Edm.String Nullable=true).", x.Name, x.Name)
		}
		want := strings.ToLower(x.Value.Str)
		name := p.name
		starts := x.Name == "startsWith"
		if p.typ == pStringColl {
			return func(g func(string) any) bool {
				for _, v := range asStrings(g(name)) {
					if matchAffix(strings.ToLower(v), want, starts) {
						return true
					}
				}
				return false
			}, nil
		}
		if p.typ != pString {
			return nil, errODataBadRequest("No function signature for the function with name '%s' matches the specified arguments. The function signatures considered are: %s(Edm.String Nullable=true, Edm.String Nullable=true).", x.Name, x.Name)
		}
		return func(g func(string) any) bool {
			v, _ := g(name).(string)
			return matchAffix(strings.ToLower(v), want, starts)
		}, nil
	case odata.In:
		p, ge := filterProp(s, x.Property, adv)
		if ge != nil {
			return nil, ge
		}
		var preds []predicate
		for _, v := range x.Values {
			pr, ge := comparePredicate(p, "eq", v)
			if ge != nil {
				return nil, ge
			}
			preds = append(preds, pr)
		}
		if len(preds) > 15 {
			return nil, errUnsupportedQuery("Too many child clauses specified in search filter expression containing 'OR' operators: %d. Max allowed: 15.", len(preds))
		}
		return func(g func(string) any) bool {
			for _, pr := range preds {
				if pr(g) {
					return true
				}
			}
			return false
		}, nil
	}
	return nil, errODataBadRequest("Invalid filter clause")
}

func matchAffix(v, want string, starts bool) bool {
	if starts {
		return strings.HasPrefix(v, want)
	}
	return strings.HasSuffix(v, want)
}

func filterProp(s *entitySchema, name string, adv bool) (*propDef, *graphError) {
	p := s.lookup(name)
	if p == nil {
		if s.open {
			return nil, errUnsupportedQuery("Property '%s' does not exist as a declared property or extension property.", name)
		}
		return nil, errODataBadRequest("Could not find a property named '%s' on type '%s'.", name, s.typeName)
	}
	if !p.has(fFilter) && !adv {
		return nil, errFilterProp(s, p.name)
	}
	switch p.typ {
	case pString, pBool, pStringColl, pDateTime, pInt32:
		return p, nil
	}
	return nil, errFilterProp(s, p.name)
}

func comparePredicate(p *propDef, op string, lit odata.Literal) (predicate, *graphError) {
	name := p.name
	mismatch := func() *graphError {
		return errODataBadRequest("A binary operator with incompatible types was detected. Found operand types '%s' and '%s' for operator kind '%s'.", p.typ.edmName(), lit.EdmType(), opKind(op))
	}
	if lit.Kind == odata.KindNull {
		if op != "eq" && op != "ne" {
			return nil, mismatch()
		}
		isNull := func(g func(string) any) bool {
			v := g(name)
			if s, ok := v.(string); ok {
				return s == ""
			}
			return v == nil
		}
		if op == "eq" {
			return isNull, nil
		}
		return func(g func(string) any) bool { return !isNull(g) }, nil
	}
	switch p.typ {
	case pBool:
		if lit.Kind != odata.KindBool || (op != "eq" && op != "ne") {
			return nil, mismatch()
		}
		want := lit.Bool
		return func(g func(string) any) bool {
			b, ok := g(name).(bool)
			return (ok && b == want) == (op == "eq")
		}, nil
	case pInt32:
		if lit.Kind != odata.KindNumber {
			return nil, mismatch()
		}
		want, err := strconv.ParseInt(lit.Str, 10, 64)
		if err != nil {
			return nil, mismatch()
		}
		return func(g func(string) any) bool {
			n, ok := g(name).(int64)
			return ok && cmpInt(n, want, op)
		}, nil
	case pStringColl:
		if lit.Kind != odata.KindString {
			return nil, mismatch()
		}
		// Collections need the any() lambda in OData; a bare comparison
		// is refused like Graph does.
		return nil, errODataBadRequest("The left operand of a binary operator must be a single value; use any() with the collection-valued property '%s'.", name)
	case pDateTime:
		if lit.Kind != odata.KindString && lit.Kind != odata.KindNumber {
			return nil, mismatch()
		}
		return nil, errFilterProp(&entitySchema{resource: "DirectoryObject"}, name)
	default: // pString
		if lit.Kind != odata.KindString && lit.Kind != odata.KindGUID {
			return nil, mismatch()
		}
		want := strings.ToLower(lit.Str)
		return func(g func(string) any) bool {
			v, _ := g(name).(string)
			return cmpString(strings.ToLower(v), want, op)
		}, nil
	}
}

func opKind(op string) string {
	switch op {
	case "eq":
		return "Equal"
	case "ne":
		return "NotEqual"
	case "gt":
		return "GreaterThan"
	case "ge":
		return "GreaterThanOrEqual"
	case "lt":
		return "LessThan"
	default:
		return "LessThanOrEqual"
	}
}

func cmpString(a, b, op string) bool {
	c := strings.Compare(a, b)
	return cmpResult(c, op)
}

func cmpInt(a, b int64, op string) bool {
	c := 0
	if a < b {
		c = -1
	} else if a > b {
		c = 1
	}
	return cmpResult(c, op)
}

func cmpResult(c int, op string) bool {
	switch op {
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	default:
		return c <= 0
	}
}
