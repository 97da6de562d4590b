package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
)

// mergePatch applies an RFC 7396 JSON merge patch to the JSON form of cur
// and decodes the result into a new value of cur's type, refusing unknown
// members and changes to readOnly members (named in the error).
func mergePatch[T any](cur T, patch map[string]json.RawMessage, readOnly ...string) (T, error) {
	var out T
	for _, f := range readOnly {
		if _, ok := patch[f]; ok {
			return out, fieldProblem(http.StatusUnprocessableEntity, "validation", "Invalid input", f, "is read-only")
		}
	}
	b, err := json.Marshal(cur)
	if err != nil {
		return out, err
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return out, err
	}
	known := map[string]bool{}
	for k := range doc {
		known[k] = true
	}
	// Fields omitted when empty are still fields: find them from the type.
	for _, name := range jsonNames(reflect.TypeOf(cur)) {
		known[name] = true
	}
	for k, raw := range patch {
		if !known[k] {
			return out, fieldProblem(http.StatusBadRequest, "unknown-field", "Unknown field", k, "is not a field of this resource")
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return out, decodeError(err)
		}
		doc[k] = merge(doc[k], v)
	}
	b, _ = json.Marshal(doc)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return out, decodeError(err)
	}
	return out, nil
}

// merge is RFC 7396 §2 MergePatch.
func merge(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
		} else {
			t[k] = merge(t[k], v)
		}
	}
	return t
}

// jsonNames lists the JSON member names of a struct type.
func jsonNames(t reflect.Type) []string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := bytes.Cut([]byte(tag), []byte(","))
		switch {
		case string(name) == "-" || !f.IsExported():
		case len(name) > 0:
			out = append(out, string(name))
		default:
			out = append(out, f.Name)
		}
	}
	return out
}

// decodeStrict decodes a JSON object body into v, naming unknown fields.
func decodeStrict(b []byte, v any) error {
	if err := checkSyntax(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if name, ok := unknownField(err); ok {
			return fieldProblem(http.StatusBadRequest, "unknown-field", "Unknown field", name, "is not a field of this resource")
		}
		return decodeError(err)
	}
	return nil
}

// unknownField extracts the name from encoding/json's "unknown field" error.
func unknownField(err error) (string, bool) {
	const prefix = `json: unknown field "`
	s := err.Error()
	if len(s) > len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix) : len(s)-1], true
	}
	return "", false
}
