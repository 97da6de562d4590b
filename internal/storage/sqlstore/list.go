package sqlstore

import (
	"encoding/base64"
	"strings"

	"github.com/portico-idp/portico/internal/storage"
)

var errNotFound = storage.ErrNotFound

// builder assembles the list queries whose filters are optional. Only
// values go through bind parameters; every identifier is a constant.
type builder struct {
	sb    strings.Builder
	args  []any
	place func(int) string
}

func (b *builder) w(s string) *builder { b.sb.WriteString(s); return b }

// p appends a bind parameter holding v.
func (b *builder) p(v any) *builder {
	b.args = append(b.args, v)
	b.sb.WriteString(b.place(len(b.args)))
	return b
}

// prefix adds "AND col >= p AND col < p+max" — a range the index can scan,
// unlike LIKE, whose index use depends on collation settings. U+10FFFF
// sorts after every other code point in byte (UTF-8) order.
func (b *builder) prefix(col, p string) {
	if p == "" {
		return
	}
	b.w(" AND ").w(col).w(" >= ").p(p).w(" AND ").w(col).w(" < ").p(p + "\U0010FFFF")
}

// keyset adds the range of a list on its sort column: the name prefix
// filter and the position after the previous page, as a single lower bound.
// Two lower bounds on one column (">= prefix AND > cursor") make SQLite's
// planner use only one of them for the index seek — with an empty cursor it
// chose the empty cursor and scanned the tenant's whole index up to the prefix.
func (b *builder) keyset(col, prefix, after string) {
	switch {
	case after != "" && after >= prefix:
		b.w(" AND ").w(col).w(" > ").p(after)
	case prefix != "":
		b.w(" AND ").w(col).w(" >= ").p(prefix)
	}
	if prefix != "" {
		b.w(" AND ").w(col).w(" < ").p(prefix + "\U0010FFFF")
	}
}

// limit asks for one row more than the page so that the presence of a next
// page is known without a count.
func (b *builder) limit(n int) { b.w(" LIMIT ").p(n + 1) }

// Cursors are opaque to clients: a version tag and the last sort key.
const cursorTag = "1:"

func encodeCursor(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorTag + key))
}

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), cursorTag) {
		return "", storage.ErrInvalidCursor
	}
	return strings.TrimPrefix(string(b), cursorTag), nil
}

// page trims the extra row and returns the next cursor.
func page[T any](items []T, limit int, key func(T) string) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, encodeCursor(key(items[limit-1]))
}
