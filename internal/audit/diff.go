package audit

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
)

// Redacted stands for the value of a secret field.
const Redacted = "[redacted]"

// secretWords mark a field whose value never enters the log: passwords
// and their hashes, TOTP secrets, recovery codes, sealed private keys, the
// Microsoft Online password, token hashes.
var secretWords = []string{"password", "secret", "sealed", "privatekey", "hash", "recovery", "key"}

// notSecret are fields that contain a secret word but hold none.
var notSecret = map[string]bool{"msonlineusername": true, "passwordchangedat": true, "totpenrolledat": true}

// IsSecret reports whether a field (a dotted path such as
// "office365.msOnlinePassword") holds a secret.
func IsSecret(field string) bool {
	last := field
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		last = field[i+1:]
	}
	last = strings.ToLower(last)
	if notSecret[last] {
		return false
	}
	for _, w := range secretWords {
		if strings.Contains(last, w) {
			return true
		}
	}
	return false
}

// noise are fields every change touches or that the event states anyway.
var noise = map[string]bool{"id": true, "createdAt": true, "updatedAt": true, "version": true}

// Diff returns the fields that differ between before and after (either
// may be nil: a creation or a deletion), by their JSON names, nested
// objects flattened with dots ("office365.clientId"), secrets redacted.
// Values are compared as JSON, so what the API shows is what the log shows.
func Diff(before, after any) map[string]Change {
	b, a := flatten(before), flatten(after)
	out := map[string]Change{}
	keys := map[string]bool{}
	for k := range b {
		keys[k] = true
	}
	for k := range a {
		keys[k] = true
	}
	for k := range keys {
		if noise[k] {
			continue
		}
		bv, bok := b[k]
		av, aok := a[k]
		if bok == aok && reflect.DeepEqual(bv, av) {
			continue
		}
		if isEmpty(bv) && isEmpty(av) {
			continue // absent and empty are the same to a reader
		}
		if IsSecret(k) {
			bv, av = redact(bv), redact(av)
		}
		out[k] = Change{Before: bv, After: av}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Set records that a field was given a value (before: unknown or unset).
// Secret values are redacted.
func Set(field string, before, after any) map[string]Change {
	if IsSecret(field) {
		before, after = redact(before), redact(after)
	}
	return map[string]Change{field: {Before: before, After: after}}
}

func redact(v any) any {
	if isEmpty(v) {
		return nil
	}
	return Redacted
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// flatten encodes v as JSON and returns its leaves by dotted path. Arrays
// are leaves (compared as a whole).
func flatten(v any) map[string]any {
	out := map[string]any{}
	if v == nil {
		return out
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return out
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return out
	}
	var m any
	if err := json.Unmarshal(raw, &m); err != nil {
		return out
	}
	var walk func(prefix string, x any)
	walk = func(prefix string, x any) {
		obj, ok := x.(map[string]any)
		if !ok || (len(obj) == 0 && prefix != "") {
			out[prefix] = x
			return
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			walk(p, obj[k])
		}
	}
	walk("", m)
	return out
}
