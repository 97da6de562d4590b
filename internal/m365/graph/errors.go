package graph

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Error is a failed Graph request: the HTTP status and Graph's error
// envelope {"error":{"code","message","details","innerError":{"date",
// "request-id","client-request-id"}}} (https://learn.microsoft.com/graph/errors).
type Error struct {
	// Method and Path name the request ("POST", "/users"); Path has no query.
	Method string
	Path   string
	// BatchID is the id of the $batch item that failed, if any.
	BatchID string
	// Status is the HTTP status code.
	Status int
	// Code is Graph's error code, e.g. Request_ResourceNotFound.
	Code string
	// Message is Graph's message for developers; never branch on it
	// (https://learn.microsoft.com/graph/errors#code-property).
	Message string
	// RequestID is Graph's request-id (response header or innerError).
	RequestID string
	// ClientRequestID is the client-request-id that Portico sent.
	ClientRequestID string
	// Date is innerError.date (UTC) or the response's Date header.
	Date time.Time
	// Details are the error's details, e.g. {ObjectConflict, userPrincipalName}.
	Details []ErrorDetail
	// Diagnostic is the x-ms-ags-diagnostic response header, which Microsoft
	// support asks for with the request-id (best-practices-concept).
	Diagnostic string
	// ThrottleScope and ThrottleInformation are the x-ms-throttle-scope and
	// x-ms-throttle-information headers of a throttled answer (contract §2).
	ThrottleScope, ThrottleInformation string
	// RetryAfter is the server's Retry-After, when it sent one.
	RetryAfter time.Duration
	// Attempts is how many times the request was sent.
	Attempts int
}

// ErrorDetail is one entry of an error's details array.
type ErrorDetail struct {
	Code    string `json:"code"`
	Target  string `json:"target,omitempty"`
	Message string `json:"message"`
}

// Error renders "METHOD PATH: STATUS CODE: MESSAGE (request-id ...)".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Method != "" {
		fmt.Fprintf(&b, "%s %s", e.Method, e.Path)
		if e.BatchID != "" {
			fmt.Fprintf(&b, " (batch item %s)", e.BatchID)
		}
		b.WriteString(": ")
	}
	fmt.Fprintf(&b, "%d", e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	for _, d := range e.Details {
		fmt.Fprintf(&b, " [%s", d.Code)
		if d.Target != "" {
			fmt.Fprintf(&b, " %s", d.Target)
		}
		b.WriteString("]")
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request-id %s)", e.RequestID)
	}
	return b.String()
}

// HasDetail reports whether a detail has the given code (case-insensitive).
func (e *Error) HasDetail(code string) bool {
	for _, d := range e.Details {
		if strings.EqualFold(d.Code, code) {
			return true
		}
	}
	return false
}

// errorEnvelope is Graph's error body.
type errorEnvelope struct {
	Error struct {
		Code       string        `json:"code"`
		Message    string        `json:"message"`
		Details    []ErrorDetail `json:"details"`
		InnerError struct {
			Date            string `json:"date"`
			RequestID       string `json:"request-id"`
			ClientRequestID string `json:"client-request-id"`
		} `json:"innerError"`
	} `json:"error"`
}

// parseError builds an *Error from a status, headers and body. A body that
// is not Graph's envelope keeps its first 200 bytes as the message.
func parseError(status int, h http.Header, body []byte) *Error {
	e := &Error{Status: status, RequestID: h.Get("request-id"), ClientRequestID: h.Get("client-request-id"),
		Diagnostic: h.Get("x-ms-ags-diagnostic"), ThrottleScope: h.Get("x-ms-throttle-scope"),
		ThrottleInformation: h.Get("x-ms-throttle-information")}
	var env errorEnvelope
	if json.Unmarshal(body, &env) == nil && (env.Error.Code != "" || env.Error.Message != "") {
		e.Code, e.Message, e.Details = env.Error.Code, env.Error.Message, env.Error.Details
		in := env.Error.InnerError
		if in.RequestID != "" {
			e.RequestID = in.RequestID
		}
		if in.ClientRequestID != "" && e.ClientRequestID == "" {
			e.ClientRequestID = in.ClientRequestID
		}
		if t, err := time.Parse("2006-01-02T15:04:05", in.Date); err == nil {
			e.Date = t.UTC()
		}
	} else {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "…"
		}
		if e.Message == "" {
			e.Message = http.StatusText(status)
		}
	}
	if e.Date.IsZero() {
		if t, err := http.ParseTime(h.Get("Date")); err == nil {
			e.Date = t.UTC()
		}
	}
	return e
}

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

func statusIs(err error, status int) bool {
	e, ok := AsError(err)
	return ok && e.Status == status
}

// IsNotFound reports a 404 (Request_ResourceNotFound and friends).
func IsNotFound(err error) bool { return statusIs(err, http.StatusNotFound) }

// IsObjectConflict reports a write refused because another object holds a
// unique value: Graph answers 400 Request_BadRequest with a detail
// {code: ObjectConflict, target: property} (contract §7, duplicate UPN).
func IsObjectConflict(err error) bool {
	e, ok := AsError(err)
	return ok && e.HasDetail("ObjectConflict")
}

// IsConflict reports a conflict: HTTP 409, or an ObjectConflict detail.
func IsConflict(err error) bool {
	return statusIs(err, http.StatusConflict) || IsObjectConflict(err)
}

// IsThrottled reports a 429 Too Many Requests
// (https://learn.microsoft.com/graph/throttling).
func IsThrottled(err error) bool { return statusIs(err, http.StatusTooManyRequests) }

// IsAuthorizationDenied reports a 403, typically Authorization_RequestDenied
// "Insufficient privileges to complete the operation." — the token lacks the
// application permission or directory role (contract §1).
func IsAuthorizationDenied(err error) bool { return statusIs(err, http.StatusForbidden) }

// IsUnauthorized reports a 401 (InvalidAuthenticationToken): a missing,
// expired or foreign token.
func IsUnauthorized(err error) bool { return statusIs(err, http.StatusUnauthorized) }

// IsBadRequest reports a 400 of any code.
func IsBadRequest(err error) bool { return statusIs(err, http.StatusBadRequest) }

// IsSyncStateNotFound reports a delta token that expired (410 Gone,
// syncStateNotFound): the caller must start a full read (contract §2).
func IsSyncStateNotFound(err error) bool { return statusIs(err, http.StatusGone) }

// IsReferenceExists reports the 400 Graph answers when an added member is
// already a member: "One or more added object references already exist ..."
// (contract §7, group-post-members). Graph gives no specific code for it, so
// this is the one helper that reads the message.
func IsReferenceExists(err error) bool {
	e, ok := AsError(err)
	return ok && e.Status == http.StatusBadRequest &&
		strings.Contains(strings.ToLower(e.Message), "added object references already exist")
}
