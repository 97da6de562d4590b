package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// ListUsers reads users page by page: GET /users with q
// (https://learn.microsoft.com/graph/api/user-list), following
// @odata.nextLink; fn gets every page, possibly empty, and may stop the
// listing by returning an error.
func (c *Client) ListUsers(ctx context.Context, q Query, fn func([]User) error) error {
	r, err := listRequest("/users", q)
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	if _, err := eachPage(ctx, c, r, fn); err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	return nil
}

// GetUser reads one user by id or userPrincipalName: GET /users/{key}
// (https://learn.microsoft.com/graph/api/user-get). sel names the
// properties to return; usageLocation and onPremisesImmutableId come back
// only when selected (contract §7).
func (c *Client) GetUser(ctx context.Context, key string, sel ...string) (*User, error) {
	r, err := listRequest("/users/"+seg(key), Query{Select: sel})
	if err != nil {
		return nil, fmt.Errorf("get user %s: %w", key, err)
	}
	var u User
	r.out = &u
	if _, err := c.do(ctx, r); err != nil {
		return nil, fmt.Errorf("get user %s: %w", key, err)
	}
	return &u, nil
}

// CreateUser creates a user: POST /users → 201
// (https://learn.microsoft.com/graph/api/user-post-users). accountEnabled,
// displayName, mailNickname and userPrincipalName are required; a managed
// domain needs passwordProfile, a federated one onPremisesImmutableId and no
// password (contract §7). A duplicate UPN is an error with IsObjectConflict.
//
// The request is repeated after a lost answer: the UPN is unique, so a
// repeat cannot create a second user — it answers ObjectConflict, and the
// caller re-reads the user by UPN.
func (c *Client) CreateUser(ctx context.Context, u User) (*User, error) {
	if u.AccountEnabled == nil || u.DisplayName == "" || u.MailNickname == "" || u.UserPrincipalName == "" {
		return nil, fmt.Errorf("create user %s: accountEnabled, displayName, mailNickname and userPrincipalName are required", u.UserPrincipalName)
	}
	var out User
	if _, err := c.do(ctx, &request{method: http.MethodPost, path: "/users", body: u, out: &out, safe: true}); err != nil {
		if IsObjectConflict(err) {
			// The user exists, perhaps created a moment ago by an attempt
			// whose answer was lost: the caller's read by UPN may meet
			// replication lag.
			c.MarkWritten(u.UserPrincipalName)
		}
		return nil, fmt.Errorf("create user %s: %w", u.UserPrincipalName, err)
	}
	c.MarkWritten(out.ID, u.UserPrincipalName)
	return &out, nil
}

// UpdateUser patches a user: PATCH /users/{key} → 204
// (https://learn.microsoft.com/graph/api/user-update). Only u's non-empty
// fields are sent; properties named in null are cleared.
func (c *Client) UpdateUser(ctx context.Context, key string, u User, null ...string) error {
	body, err := withNulls(u, null)
	if err != nil {
		return fmt.Errorf("update user %s: %w", key, err)
	}
	if _, err := c.do(ctx, &request{method: http.MethodPatch, path: "/users/" + seg(key), body: body}); err != nil {
		return fmt.Errorf("update user %s: %w", key, err)
	}
	return nil
}

// DeleteUser deletes a user into deleted items (restorable for 30 days):
// DELETE /users/{key} → 204 (https://learn.microsoft.com/graph/api/user-delete).
func (c *Client) DeleteUser(ctx context.Context, key string) error {
	if _, err := c.do(ctx, &request{method: http.MethodDelete, path: "/users/" + seg(key)}); err != nil {
		return fmt.Errorf("delete user %s: %w", key, err)
	}
	return nil
}

// AssignLicense adds and removes licences: POST /users/{key}/assignLicense
// → 200 with the user (https://learn.microsoft.com/graph/api/user-assignlicense).
// Both arrays are always sent (Graph requires them). The user needs a
// usageLocation, and the SKU free seats.
func (c *Client) AssignLicense(ctx context.Context, key string, add []AssignedLicense, remove []string) (*User, error) {
	if len(add) == 0 && len(remove) == 0 {
		return nil, errors.New("assign license: nothing to add or remove")
	}
	if add == nil {
		add = []AssignedLicense{}
	}
	if remove == nil {
		remove = []string{}
	}
	body := struct {
		AddLicenses    []AssignedLicense `json:"addLicenses"`
		RemoveLicenses []string          `json:"removeLicenses"`
	}{add, remove}
	var out User
	// Assigning the same licences again changes nothing: safe to repeat.
	if _, err := c.do(ctx, &request{method: http.MethodPost, path: "/users/" + seg(key) + "/assignLicense", body: body, out: &out, safe: true}); err != nil {
		return nil, fmt.Errorf("assign license to %s: %w", key, err)
	}
	return &out, nil
}

// UsersDelta runs a delta round on users: GET /users/delta, or q.Link from
// the previous round (https://learn.microsoft.com/graph/api/user-delta).
// fn gets every page; deleted users have Removed set. It returns the
// @odata.deltaLink to keep for the next round. An expired link fails with
// IsSyncStateNotFound: start again with an empty Link.
func (c *Client) UsersDelta(ctx context.Context, q DeltaQuery, fn func([]User) error) (string, error) {
	link, err := eachPage(ctx, c, deltaRequest("/users/delta", q), fn)
	if err != nil {
		return "", fmt.Errorf("users delta: %w", err)
	}
	return link, nil
}
