package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"

	"github.com/portico-idp/portico/internal/admin"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/requestid"
	"github.com/portico-idp/portico/internal/signing"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/web/bodylimit"
)

// Problem is an RFC 9457 problem detail. Errors names the fields at fault
// so that a client can show each message next to its input.
type Problem struct {
	Type   string                 `json:"type"`
	Title  string                 `json:"title"`
	Status int                    `json:"status"`
	Detail string                 `json:"detail,omitempty"`
	Errors []directory.FieldError `json:"errors,omitempty"`
	Offset *int64                 `json:"offset,omitempty"`
	// RequiredRoles and Role explain a 403: the roles that may do what
	// was asked, and the caller's.
	RequiredRoles []authz.Role `json:"requiredRoles,omitempty"`
	Role          authz.Role   `json:"role,omitempty"`
	RequestID     string       `json:"requestId,omitempty"`
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }

const problemBase = "urn:portico:problem:"

func newProblem(status int, kind, title, detail string) *Problem {
	return &Problem{Type: problemBase + kind, Title: title, Status: status, Detail: detail}
}

func fieldProblem(status int, kind, title, field, detail string) *Problem {
	if field == "" {
		// A JSON member with an empty name: say so rather than name nothing.
		return newProblem(status, kind, title, "a member with an empty name "+detail)
	}
	p := newProblem(status, kind, title, field+" "+detail)
	p.Errors = []directory.FieldError{{Field: field, Message: detail}}
	return p
}

// toProblem maps service and storage errors to what goes on the wire.
func toProblem(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	if ve, ok := directory.AsValidation(err); ok {
		pr := newProblem(http.StatusUnprocessableEntity, "validation", "Invalid input", ve.Error())
		pr.Errors = ve.Errors
		return pr
	}
	var de *storage.DuplicateError
	if errors.As(err, &de) {
		field := de.Field
		if field == "" {
			field = "id"
		}
		return fieldProblem(http.StatusConflict, "conflict", "Already exists", field, "is already taken")
	}
	var re *storage.ReferenceError
	if errors.As(err, &re) {
		return fieldProblem(http.StatusUnprocessableEntity, "validation", "Invalid input", re.Field, "refers to nothing in this tenant")
	}
	var denied *authz.DeniedError
	if errors.As(err, &denied) {
		p := newProblem(http.StatusForbidden, "forbidden", "Forbidden", denied.Error())
		p.RequiredRoles, p.Role = denied.Needed, denied.Role
		return p
	}
	switch {
	case errors.Is(err, authz.ErrOutOfScope):
		return newProblem(http.StatusNotFound, "not-found", "Not found", "no such object in this tenant")
	case errors.Is(err, authz.ErrGlobalNeedsAllTenants):
		return fieldProblem(http.StatusUnprocessableEntity, "validation", "Invalid input", "role", authz.ErrGlobalNeedsAllTenants.Error())
	case errors.Is(err, admin.ErrPreconditionFailed):
		return newProblem(http.StatusPreconditionFailed, "precondition-failed", "Precondition failed",
			"the object has changed since the version given in If-Match; read it again")
	case errors.Is(err, storage.ErrConflict):
		return newProblem(http.StatusConflict, "edit-conflict", "Edit conflict", "the object was changed concurrently; retry")
	case errors.Is(err, storage.ErrNotFound):
		return newProblem(http.StatusNotFound, "not-found", "Not found", "no such object in this tenant")
	case errors.Is(err, storage.ErrInUse):
		return newProblem(http.StatusConflict, "in-use", "In use", err.Error())
	case errors.Is(err, signing.ErrNoNext):
		return newProblem(http.StatusConflict, "no-next-certificate", "No next certificate",
			"create the next certificate (POST .../certificates/next) before promoting it")
	case errors.Is(err, storage.ErrInvalidCursor):
		return fieldProblem(http.StatusBadRequest, "bad-request", "Bad request", "cursor", "is not a cursor this server issued")
	}
	return newProblem(http.StatusInternalServerError, "internal", "Internal error", "")
}

// writeProblem writes err as application/problem+json, logging server
// errors with their cause (which never reaches the client).
func writeProblem(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	p := toProblem(err)
	p.RequestID = requestid.From(r.Context())
	if p.Status >= 500 {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

// decodeError explains a JSON decoding failure: where, and which field.
func decodeError(err error) *Problem {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var big *http.MaxBytesError
	var slow *bodylimit.TimeoutError
	switch {
	case errors.As(err, &slow):
		return newProblem(http.StatusRequestTimeout, "request-timeout", "Request timeout", slow.Error())
	case errors.As(err, &big):
		return newProblem(http.StatusRequestEntityTooLarge, "too-large", "Request body too large",
			fmt.Sprintf("the body must be at most %d bytes", big.Limit))
	case errors.As(err, &syn):
		p := newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON",
			fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, err))
		p.Offset = &syn.Offset
		return p
	case errors.As(err, &typ):
		want := jsonKind(typ.Type.Kind())
		var p *Problem
		if typ.Field == "" {
			// The body itself has the wrong type: there is no field to name.
			p = newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON",
				fmt.Sprintf("the body must be a JSON %s, not %s (byte %d)", want, typ.Value, typ.Offset))
		} else {
			p = fieldProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON", typ.Field,
				fmt.Sprintf("must be a JSON %s, not %s (byte %d)", want, typ.Value, typ.Offset))
		}
		p.Offset = &typ.Offset
		return p
	case errors.Is(err, io.EOF):
		return newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON", "the body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON", "the body ends in the middle of a JSON value")
	}
	return newProblem(http.StatusBadRequest, "malformed-json", "Malformed JSON", err.Error())
}

func isOutOfScope(err error) bool { return errors.Is(err, authz.ErrOutOfScope) }

// isRefusal reports whether err is a refusal of the caller (role, scope),
// which is always answered as such (403, 404), whatever the operation
// would otherwise say about its errors.
func isRefusal(err error) bool {
	var denied *authz.DeniedError
	return errors.As(err, &denied) || errors.Is(err, authz.ErrOutOfScope) || errors.Is(err, authz.ErrNoPrincipal)
}

// jsonKind names a Go kind the way JSON does (a map or struct is an
// object), for messages clients read.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	}
	return k.String()
}
