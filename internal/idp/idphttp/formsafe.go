package idphttp

import "unicode/utf8"

// FormSafe reports whether s comes back unchanged from a hidden field of an
// auto-submitted HTML form: valid UTF-8 without control characters (tab
// excepted). A browser turns NUL and invalid UTF-8 into U+FFFD and rewrites
// CR and LF (HTML input-stream preprocessing; form submission normalizes
// line breaks to CRLF), so a wctx or RelayState holding them would reach
// Microsoft altered. Entra's values are printable ASCII.
func FormSafe(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' {
			return false
		}
	}
	return true
}
