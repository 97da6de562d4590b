package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestErrorsFromSim checks the typed errors built from the sim's real
// answers, the client-request-id sent on every request, and that every
// failure's request-id is logged (and the token never is).
func TestErrorsFromSim(t *testing.T) {
	e := newEnv(t)
	n := 0
	c, _, logs := e.client(t, WithRequestIDs(func() string { n++; return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }))
	readTok, err := e.sim.IssueAppToken(tenantID, appRead)
	if err != nil {
		t.Fatal(err)
	}
	reader, _, readerLogs := e.client(t, resetCredential, WithTokenSource(StaticToken(readTok)))
	bad, _, badLogs := e.client(t, resetCredential, WithTokenSource(StaticToken("not-a-token")))
	ctx := context.Background()

	tests := []struct {
		name   string
		call   func() error
		is     func(error) bool
		status int
		code   string
		detail string
	}{
		{"duplicate UPN", func() error { _, err := c.CreateUser(ctx, newUser("AdeleV@contoso.com")); return err },
			IsObjectConflict, 400, "Request_BadRequest", "userPrincipalName"},
		{"not found", func() error { _, err := c.GetUser(ctx, "nobody@contoso.com"); return err },
			IsNotFound, 404, "Request_ResourceNotFound", ""},
		{"missing permission", func() error { _, err := reader.CreateUser(ctx, newUser("denied@contoso.com")); return err },
			IsAuthorizationDenied, 403, "Authorization_RequestDenied", ""},
		{"missing permission on domains", func() error { _, err := reader.ListDomains(ctx); return err },
			IsAuthorizationDenied, 403, "Authorization_RequestDenied", ""},
		{"bad filter", func() error {
			return c.ListUsers(ctx, Query{Filter: "userPrincipalName eq"}, func([]User) error { return nil })
		}, IsBadRequest, 400, "BadRequest", ""},
		{"unverified domain user", func() error { _, err := c.CreateUser(ctx, newUser("x@unverified.example")); return err },
			IsBadRequest, 400, "", ""},
		{"invalid token", func() error { _, err := bad.Organization(ctx); return err },
			IsUnauthorized, 401, "InvalidAuthenticationToken", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !tt.is(err) {
				t.Fatalf("error %v", err)
			}
			ge, ok := AsError(err)
			if !ok || ge.Status != tt.status || (tt.code != "" && ge.Code != tt.code) || ge.Message == "" ||
				ge.RequestID == "" || ge.ClientRequestID == "" || ge.Date.IsZero() || ge.Method == "" || ge.Path == "" || ge.Attempts != 1 {
				t.Fatalf("graph error %#v", ge)
			}
			if tt.detail != "" && (len(ge.Details) == 0 || ge.Details[0].Target != tt.detail) {
				t.Errorf("details %+v", ge.Details)
			}
			if time.Since(ge.Date) > time.Hour || time.Since(ge.Date) < -time.Hour {
				t.Errorf("date %v", ge.Date)
			}
			all := logs.String() + readerLogs.String() + badLogs.String()
			if !strings.Contains(all, "request_id="+ge.RequestID) || !strings.Contains(all, "client_request_id="+ge.ClientRequestID) {
				t.Errorf("request-id %s not logged", ge.RequestID)
			}
			if !strings.Contains(err.Error(), ge.RequestID) {
				t.Errorf("error text lacks the request-id: %v", err)
			}
		})
	}
	// IsConflict covers ObjectConflict; the sim echoes our client-request-id.
	_, err = c.CreateUser(ctx, newUser("AdeleV@contoso.com"))
	if ge, _ := AsError(err); !IsConflict(err) || !strings.HasPrefix(ge.ClientRequestID, "00000000-0000-4000-8000-") {
		t.Errorf("conflict %#v", ge)
	}
	for _, l := range []string{logs.String(), readerLogs.String()} {
		if strings.Contains(l, "Bearer") || strings.Contains(l, readTok) || strings.Contains(l, userPass) {
			t.Error("a token or password reached the log")
		}
	}
	// Errors keep their type through the callers' wrapping.
	wrapped := fmt.Errorf("verify: %w", err)
	if !IsObjectConflict(wrapped) || !errors.Is(wrapped, err) {
		t.Error("wrapping lost the type")
	}
}

// TestClientRequestID sends a fresh GUID on every call.
func TestClientRequestID(t *testing.T) {
	e := newEnv(t)
	var ids []string
	e.fault.set(func(w http.ResponseWriter, r *http.Request) bool {
		ids = append(ids, r.Header.Get("client-request-id"))
		return false
	})
	c, _, _ := e.client(t, WithRequestIDs(newUUID))
	for range 3 {
		if _, err := c.Organization(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if len(ids) != 3 || ids[0] == ids[1] || ids[1] == ids[2] || len(ids[0]) != 36 || ids[0][14] != '4' {
		t.Errorf("client-request-ids %v", ids)
	}
}

// TestErrorParsing covers envelopes the sim does not produce.
func TestErrorParsing(t *testing.T) {
	h := http.Header{}
	h.Set("request-id", "hdr-id")
	h.Set("Date", "Sun, 01 Mar 2026 10:00:00 GMT")
	tests := []struct {
		name string
		body string
		want Error
	}{
		{"envelope", `{"error":{"code":"Request_ResourceNotFound","message":"gone","innerError":{"date":"2026-03-01T09:59:58","request-id":"inner-id","client-request-id":"c"}}}`,
			Error{Status: 404, Code: "Request_ResourceNotFound", Message: "gone", RequestID: "inner-id", ClientRequestID: "c", Date: time.Date(2026, 3, 1, 9, 59, 58, 0, time.UTC)}},
		{"html from a proxy", `<html>Bad Gateway</html>`,
			Error{Status: 404, Message: "<html>Bad Gateway</html>", RequestID: "hdr-id", Date: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}},
		{"empty", ``, Error{Status: 404, Message: "Not Found", RequestID: "hdr-id", Date: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseError(404, h, []byte(tt.body))
			if got.Status != tt.want.Status || got.Code != tt.want.Code || got.Message != tt.want.Message ||
				got.RequestID != tt.want.RequestID || got.ClientRequestID != tt.want.ClientRequestID || !got.Date.Equal(tt.want.Date) {
				t.Errorf("got %#v", got)
			}
		})
	}
	ref := &Error{Status: 400, Code: "Request_BadRequest", Message: "One or more added object references already exist for the following modified properties: 'members'."}
	if !IsReferenceExists(ref) || IsNotFound(ref) || IsConflict(ref) {
		t.Error("reference exists")
	}
	if IsNotFound(errors.New("x")) || IsThrottled(nil) {
		t.Error("plain errors")
	}
}
