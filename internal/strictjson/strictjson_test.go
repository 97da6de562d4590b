package strictjson

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     string
		opts   Options
		kind   Kind // 0: accepted
		path   string
		reason string // part of the reason
	}{
		{name: "plain object", in: `{"displayName":"Ann","n":-1.5e3,"a":[true,false,null,{}],"o":{"x":"\u00e9\"\\\/"}}`},
		{name: "same name in sibling objects", in: `{"a":{"x":1},"b":{"x":2},"c":[{"x":1},{"x":2}]}`},
		{name: "valid multibyte text and escapes", in: `{"name":"Zoë 日本 😀 \ud83d\ude00 \ufffd �"}`},
		{name: "top-level scalar", in: `"hello"`},

		{name: "duplicate at top level", in: `{"displayName":"a","displayName":"b"}`, kind: Duplicate, path: "displayName", reason: "given twice"},
		{name: "duplicate nested", in: `{"office365":{"issuerUri":"a","x":1,"issuerUri":"b"}}`, kind: Duplicate, path: "office365.issuerUri"},
		{name: "duplicate in an array element", in: `{"users":[{},{},{},{"email":"a","email":"b"}]}`, kind: Duplicate, path: "users[3].email"},
		{name: "duplicate in a root array", in: `[{"a":1},{"email":"a","email":"b"}]`, kind: Duplicate, path: "[1].email"},
		{name: "duplicate spelt with an escape", in: `{"ab":1,"\u0061b":2}`, kind: Duplicate, path: "ab"},
		{name: "case variants without FoldCase", in: `{"displayName":"a","DisplayName":"b"}`},
		{name: "case variants with FoldCase", in: `{"displayName":"a","DisplayName":"b"}`, opts: Options{FoldCase: true}, kind: Duplicate, path: "DisplayName", reason: "without regard to case"},
		{name: "Kelvin sign folds to k", in: `{"kind":1,"\u212aind":2}`, opts: Options{FoldCase: true}, kind: Duplicate, path: "\u212aind"},

		{name: "invalid UTF-8 in a value", in: "{\"displayName\":\"Ann\xff\"}", kind: InvalidText, path: "displayName", reason: "not valid UTF-8"},
		{name: "invalid UTF-8 deep", in: "{\"users\":[{\"email\":\"ok\"},{\"email\":\"a\xc3\"}]}", kind: InvalidText, path: "users[1].email"},
		{name: "UTF-8 encoded surrogate", in: "{\"n\":\"\xed\xa0\x80\"}", kind: InvalidText, path: "n"},
		{name: "overlong UTF-8", in: "{\"n\":\"\xc0\xaf\"}", kind: InvalidText, path: "n"},
		{name: "invalid UTF-8 in a name", in: "{\"ok\":1,\"na\xffme\":2}", kind: InvalidText, path: "na\uFFFD", reason: "has a name that"},
		{name: "lone high surrogate", in: `{"n":"\ud800"}`, kind: InvalidText, path: "n", reason: `unpaired surrogate \ud800`},
		{name: "high surrogate then a letter", in: `{"n":"\ud800\u0041"}`, kind: InvalidText, path: "n"},
		{name: "lone low surrogate", in: `{"n":"x\udc00"}`, kind: InvalidText, path: "n", reason: `\udc00`},
		{name: "invalid text in an array of strings", in: "{\"groupIds\":[\"a\",\"b\xfe\"]}", kind: InvalidText, path: "groupIds[1]"},

		{name: "stream of values", in: "{\"a\":1}\n{\"a\":2}\n", opts: Options{Stream: true}},
		{name: "duplicate in a stream", in: "{\"a\":1}\n{\"u\":1}\n{\"u\":1,\"u\":2}\n", opts: Options{Stream: true}, kind: Duplicate, path: "[2].u"},
		{name: "two values without Stream", in: `{} {}`, kind: Syntax},

		{name: "empty", in: ``, kind: Syntax},
		{name: "unterminated", in: `{"a":"b`, kind: Syntax},
		{name: "bad number", in: `{"a":01}`, kind: Syntax},
		{name: "bad escape", in: `{"a":"\x"}`, kind: Syntax},
		{name: "control character", in: "{\"a\":\"\n\"}", kind: Syntax},
		{name: "too deep", in: strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), kind: Syntax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check([]byte(tc.in), tc.opts)
			if tc.kind == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want an *Error of kind %d", err, tc.kind)
			}
			if e.Kind != tc.kind || (tc.kind != Syntax && e.Path != tc.path) || !strings.Contains(e.Reason, tc.reason) {
				t.Fatalf("got kind %d path %q reason %q, want kind %d path %q reason containing %q", e.Kind, e.Path, e.Reason, tc.kind, tc.path, tc.reason)
			}
		})
	}
}

// TestAgreesWithEncodingJSON checks that what Check calls a syntax error
// encoding/json refuses too, and the reverse, on a set of samples.
func TestAgreesWithEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`{}`, `[]`, `0`, `-0`, `1.5`, `1e5`, `1E+5`, `-1.0e-5`, `"\u0041"`, `{"a":[1,2,{"b":null}]}`, ` true `,
		`01`, `1.`, `.5`, `-`, `1e`, `+1`, `[1,]`, `{"a":1,}`, `{"a"}`, `{a:1}`, `"abc`, `tru`, `nul`, `[`, `{"a":1}}`, `"\u12"`, `"\u12G4"`,
	} {
		valid := json.Valid([]byte(in))
		err := Check([]byte(in), Options{})
		if valid != (err == nil) {
			t.Errorf("%q: encoding/json valid %v, Check %v", in, valid, err)
		}
	}
}
