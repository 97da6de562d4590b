package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/portico-idp/portico/internal/strictjson"
	"github.com/portico-idp/portico/internal/web/bodylimit"
)

// readBody reads a JSON request body of at most limit bytes, refusing
// repeated member names and invalid Unicode text. Every API body is read
// here, and only by operations that have authenticated their caller: the
// size cap (and the time allowed for the body) is raised from the
// server's default for unauthenticated requests to limit only then.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !isJSON(ct) {
		return nil, newProblem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
			"send application/json (or application/merge-patch+json for PATCH)")
	}
	bodylimit.Limit(w, r, limit)
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, decodeError(err)
	}
	mt, _, _ := mime.ParseMediaType(ct)
	if err := checkStrict(b, mt == "application/x-ndjson"); err != nil {
		return nil, err
	}
	return b, nil
}

// checkStrict refuses what encoding/json would accept silently: a member
// given twice (the last would win; names differing only in case count, as
// they fill the same field) and text that is not valid Unicode (it would
// become U+FFFD). Syntax errors are left to encoding/json, which explains
// them.
func checkStrict(b []byte, stream bool) error {
	err := strictjson.Check(b, strictjson.Options{Stream: stream, FoldCase: true})
	var se *strictjson.Error
	if !errors.As(err, &se) || se.Kind == strictjson.Syntax {
		return nil
	}
	kind, title := "duplicate-field", "Duplicate field"
	if se.Kind == strictjson.InvalidText {
		kind, title = "invalid-text", "Invalid text"
	}
	var p *Problem
	if se.Path == "" {
		p = newProblem(http.StatusBadRequest, kind, title, "the JSON value "+se.Reason)
	} else {
		p = fieldProblem(http.StatusBadRequest, kind, title, se.Path, se.Reason)
	}
	p.Offset = &se.Offset
	return p
}

func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(strings.ToLower(mt))
	return mt == "application/json" || mt == "application/merge-patch+json" || mt == "application/x-ndjson" || strings.HasSuffix(mt, "+json")
}

// fields parses a JSON object into its members, keeping each value raw so
// that every field can be checked on its own and named in errors.
func fields(b []byte) (map[string]json.RawMessage, error) {
	if err := checkSyntax(b); err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, decodeError(err)
	}
	if m == nil {
		return nil, newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON", "the body must be a JSON object")
	}
	return m, nil
}

// checkSyntax reports the byte offset of the first syntax error and
// refuses anything after the value.
func checkSyntax(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		off := dec.InputOffset()
		p := newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON", fmt.Sprintf("unexpected data after the JSON value at byte %d", off))
		p.Offset = &off
		return p
	}
	return nil
}

// stringField is one string member of a resource: its JSON name, where it
// lives, and whether a client may set it.
type stringField struct {
	name string
	ptr  *string
	// onCreate: settable only when creating (later read-only).
	onCreate bool
	readOnly bool
}

// applyFields copies members of m into the resource's fields. create says
// whether creation-only fields may be set. JSON null clears a field (RFC
// 7396 merge patch).
func applyFields(m map[string]json.RawMessage, fs []stringField, create bool) error {
	index := map[string]stringField{}
	for _, f := range fs {
		index[f.name] = f
	}
	var errs []error
	for name, raw := range m {
		f, ok := index[name]
		switch {
		case !ok:
			return fieldProblem(http.StatusBadRequest, "unknown-field", "Unknown field", name, "is not a field of this resource")
		case f.readOnly || (f.onCreate && !create):
			return fieldProblem(http.StatusUnprocessableEntity, "validation", "Invalid input", name, "is read-only")
		}
		if string(raw) == "null" {
			*f.ptr = ""
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			errs = append(errs, fieldProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON", name, "must be a string"))
			continue
		}
		*f.ptr = s
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// readFields reads a JSON object body into its members, or answers with
// the problem.
func (a *API) readFields(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, bool) {
	b, err := readBody(w, r, maxBody)
	if err == nil {
		var m map[string]json.RawMessage
		if m, err = fields(b); err == nil {
			return m, true
		}
	}
	writeProblem(w, r, a.log, err)
	return nil, false
}
