package odata

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// Examples from https://learn.microsoft.com/graph/filter-query-parameter.
		{"displayName eq 'Conf Room Adams'", "displayName eq 'Conf Room Adams'"},
		{"startswith(displayName,'a')", "startsWith(displayName,'a')"},
		{"startsWith(mail, 'a')", "startsWith(mail,'a')"},
		{"endswith(mail,'@outlook.com')", "endsWith(mail,'@outlook.com')"},
		{"userPrincipalName in ('a@b.com', 'c@d.com')", "userPrincipalName in ('a@b.com','c@d.com')"},
		{"accountEnabled eq true and userType eq 'Member'", "accountEnabled eq true and userType eq 'Member'"},
		{"NOT(displayName eq 'x') or city eq null", "not displayName eq 'x' or city eq null"},
		{"not (a eq 1 or b eq 2)", "not (a eq 1 or b eq 2)"},
		{"a eq 1 or (b eq 2 or c eq 3)", "a eq 1 or (b eq 2 or c eq 3)"},
		{"displayName eq 'O''Brien'", "displayName eq 'O''Brien'"},
		{"id eq 6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0", "id eq 6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0"},
		{"onPremisesExtensionAttributes/extensionAttribute1 eq 'x'", "onPremisesExtensionAttributes/extensionAttribute1 eq 'x'"},
		{"a eq 1 or b eq 2 and c eq 3", "a eq 1 or b eq 2 and c eq 3"},
		{"(a eq 1 or b eq 2) and c ge -3.5", "(a eq 1 or b eq 2) and c ge -3.5"},
	} {
		e, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := e.String(); got != tc.want {
			t.Errorf("Parse(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestParseLongChains(t *testing.T) {
	// 200 clauses and 60 negations: deeper than the nesting limit as a tree,
	// but flat as text, so they parse and render back.
	var parts []string
	for i := 0; i < 200; i++ {
		parts = append(parts, "a eq 'x'")
	}
	for _, in := range []string{strings.Join(parts, " or "), strings.Repeat("not ", 60) + "a eq 1"} {
		e, err := Parse(in)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		again, err := Parse(e.String())
		if err != nil || again.String() != e.String() {
			t.Fatalf("round trip: %v", err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		in  string
		pos int
	}{
		{"", 0},
		{"displayName eq", 14},
		{"displayName", 11},
		{"displayName xx 'a'", 12},
		{"displayName eq 'unterminated", 15},
		{"startswith(displayName 'a')", 23},
		{"foo(displayName,'a')", 0},
		{"(a eq 1", 7},
		{"a eq 1)", 6},
		{"a in ()", 6},
		{"a eq #", 5},
		{"eq eq 'a'", 0},
		{strings.Repeat("(", 100) + "a eq 1" + strings.Repeat(")", 100), 64},
	} {
		_, err := Parse(tc.in)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q): want a SyntaxError, got %v", tc.in, err)
			continue
		}
		if se.Pos != tc.pos {
			t.Errorf("Parse(%q): position %d, want %d (%v)", tc.in, se.Pos, tc.pos, err)
		}
		if !strings.HasPrefix(se.Error(), "Syntax error at position") {
			t.Errorf("message %q", se.Error())
		}
	}
}

// FuzzParse checks that the parser never panics and that what it accepts
// renders to text it parses again to the same tree.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"displayName eq 'x'", "startswith(displayName,'a') and accountEnabled eq true", "a in ('1','2')",
		"not(a ne null)", "((a eq 1))", "x eq 6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0", "a/b eq 'c'", "'", "(", "a eq -", "é eq 'ü'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("non-syntax error %T", err)
			}
			return
		}
		again, err := Parse(e.String())
		if err != nil {
			t.Fatalf("rendered %q does not parse: %v", e.String(), err)
		}
		if again.String() != e.String() {
			t.Fatalf("round trip %q -> %q", e.String(), again.String())
		}
	})
}
