package m365sim

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// JSON rendering. Graph bodies are written by hand into a byte buffer in the
// order of the property table: listing 100 users must stay cheap (see
// BenchmarkListUsers), and a fixed order makes responses easy to compare.

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaping like encoding/json
// (including <, > and & so that bodies are safe to embed in HTML views).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// formatTime renders a DateTimeOffset the way Graph does for directory
// objects: UTC, second precision, "Z".
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// appendValue appends one property value of type typ. A nil or absent value
// renders as null, except collections, which Graph never returns as null.
func appendValue(b []byte, typ propType, v any) []byte {
	switch typ {
	case pStringColl:
		list, _ := v.([]string)
		b = append(b, '[')
		for i, s := range list {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		return append(b, ']')
	case pLicenses:
		list, _ := v.([]assignedLicense)
		b = append(b, '[')
		for i, l := range list {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"disabledPlans":[`...)
			for j, p := range l.DisabledPlans {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, p)
			}
			b = append(b, `],"skuId":`...)
			b = appendJSONString(b, l.SkuID)
			b = append(b, '}')
		}
		return append(b, ']')
	case pPasswordProf:
		// passwordProfile is never read back: Graph returns null.
		return append(b, "null"...)
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendJSONString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case time.Time:
		if x.IsZero() {
			return append(b, "null"...)
		}
		return appendJSONString(b, formatTime(x))
	case rawJSON:
		if len(x) == 0 {
			return append(b, "null"...)
		}
		return append(b, x...)
	default:
		raw, err := json.Marshal(x)
		if err != nil {
			return append(b, "null"...)
		}
		return append(b, raw...)
	}
}

// appendObject appends {"prop":value,...} for the selected properties.
// extra, when not nil, appends further members (without a leading comma)
// before the closing brace.
func appendObject(b []byte, props []*propDef, get func(name string) any, annotations func(b []byte) []byte) []byte {
	b = append(b, '{')
	first := true
	if annotations != nil {
		n := len(b)
		b = annotations(b)
		first = len(b) == n
	}
	for _, p := range props {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, p.name)
		b = append(b, ':')
		b = appendValue(b, p.typ, get(p.name))
	}
	return append(b, '}')
}

// userGetter and groupGetter expose a directory object's properties by name.
func (o *dirObject) get(name string) any {
	switch name {
	case "id":
		return o.id
	case "deletedDateTime":
		if o.deletedAt.IsZero() {
			return nil
		}
		return o.deletedAt
	}
	return o.props[name]
}
