package idphttp

import "testing"

func TestFormSafe(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", true},
		{"LoginOptions=3&estsredirect=2&estsrequest=rQQIARAAjZE9b", true},
		{"é<x>\"q\"'&amp;\ttab", true},
		{"a\x00b", false}, // a browser posts U+FFFD instead (found by FuzzWSFedRequest)
		{"a\rb", false},
		{"a\nb", false},
		{"a\x1fb", false},
		{"a\xffb", false}, // invalid UTF-8
	} {
		if got := FormSafe(tc.in); got != tc.want {
			t.Errorf("FormSafe(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
