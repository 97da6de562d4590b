package graph

import (
	"context"
	"fmt"
	"net/http"
)

// MaxMembersPerPatch is the most members@odata.bind references one request
// may add (https://learn.microsoft.com/graph/api/group-post-members,
// contract §7).
const MaxMembersPerPatch = 20

// MemberRef returns the reference URL of a directory object,
// {graph}/directoryObjects/{id}, for @odata.id and members@odata.bind.
func (c *Client) MemberRef(id string) string { return c.base + "/directoryObjects/" + seg(id) }

// ListGroups reads groups page by page: GET /groups with q
// (https://learn.microsoft.com/graph/api/group-list). Display names are not
// unique.
func (c *Client) ListGroups(ctx context.Context, q Query, fn func([]Group) error) error {
	r, err := listRequest("/groups", q)
	if err != nil {
		return fmt.Errorf("list groups: %w", err)
	}
	if _, err := eachPage(ctx, c, r, fn); err != nil {
		return fmt.Errorf("list groups: %w", err)
	}
	return nil
}

// GetGroup reads one group: GET /groups/{id}
// (https://learn.microsoft.com/graph/api/group-get).
func (c *Client) GetGroup(ctx context.Context, id string, sel ...string) (*Group, error) {
	r, err := listRequest("/groups/"+seg(id), Query{Select: sel})
	if err != nil {
		return nil, fmt.Errorf("get group %s: %w", id, err)
	}
	var g Group
	r.out = &g
	if _, err := c.do(ctx, r); err != nil {
		return nil, fmt.Errorf("get group %s: %w", id, err)
	}
	return &g, nil
}

// CreateGroup creates a Microsoft 365 group (GroupTypes ["Unified"],
// mailEnabled true) or a security group (no group types, mailEnabled false,
// securityEnabled true): POST /groups → 201
// (https://learn.microsoft.com/graph/api/group-post-groups). Mail-enabled
// security and distribution groups cannot be created through Graph.
//
// The request is not repeated after a 5xx other than 503 or a lost answer:
// display names are not unique, so a repeat could create a second group.
// The caller checks (by mailNickname, say) before creating again.
func (c *Client) CreateGroup(ctx context.Context, g Group) (*Group, error) {
	if g.DisplayName == "" || g.MailNickname == "" || g.MailEnabled == nil || g.SecurityEnabled == nil {
		return nil, fmt.Errorf("create group %s: displayName, mailNickname, mailEnabled and securityEnabled are required", g.DisplayName)
	}
	if len(g.MembersBind) > MaxMembersPerPatch {
		return nil, fmt.Errorf("create group %s: %d members, at most %d per request", g.DisplayName, len(g.MembersBind), MaxMembersPerPatch)
	}
	var out Group
	if _, err := c.do(ctx, &request{method: http.MethodPost, path: "/groups", body: g, out: &out}); err != nil {
		return nil, fmt.Errorf("create group %s: %w", g.DisplayName, err)
	}
	c.MarkWritten(out.ID)
	return &out, nil
}

// UpdateGroup patches a group: PATCH /groups/{id} → 204
// (https://learn.microsoft.com/graph/api/group-update). Only g's non-empty
// fields are sent; properties named in null are cleared.
func (c *Client) UpdateGroup(ctx context.Context, id string, g Group, null ...string) error {
	if len(g.MembersBind) > MaxMembersPerPatch {
		return fmt.Errorf("update group %s: %d members, at most %d per request", id, len(g.MembersBind), MaxMembersPerPatch)
	}
	body, err := withNulls(g, null)
	if err != nil {
		return fmt.Errorf("update group %s: %w", id, err)
	}
	if _, err := c.do(ctx, &request{method: http.MethodPatch, path: "/groups/" + seg(id), body: body}); err != nil {
		return fmt.Errorf("update group %s: %w", id, err)
	}
	return nil
}

// DeleteGroup deletes a group: DELETE /groups/{id} → 204
// (https://learn.microsoft.com/graph/api/group-delete). Microsoft 365
// groups go to deleted items; security groups are gone at once.
func (c *Client) DeleteGroup(ctx context.Context, id string) error {
	if _, err := c.do(ctx, &request{method: http.MethodDelete, path: "/groups/" + seg(id)}); err != nil {
		return fmt.Errorf("delete group %s: %w", id, err)
	}
	return nil
}

// ListGroupMembers reads a group's direct members page by page: GET
// /groups/{id}/members (https://learn.microsoft.com/graph/api/group-list-members).
func (c *Client) ListGroupMembers(ctx context.Context, id string, q Query, fn func([]DirectoryObject) error) error {
	r, err := listRequest("/groups/"+seg(id)+"/members", q)
	if err != nil {
		return fmt.Errorf("list members of group %s: %w", id, err)
	}
	if _, err := eachPage(ctx, c, r, fn); err != nil {
		return fmt.Errorf("list members of group %s: %w", id, err)
	}
	return nil
}

// AddGroupMember adds one member: POST /groups/{id}/members/$ref → 204
// (https://learn.microsoft.com/graph/api/group-post-members). Adding a
// member twice is an error with IsReferenceExists.
func (c *Client) AddGroupMember(ctx context.Context, groupID, memberID string) error {
	body := map[string]string{"@odata.id": c.MemberRef(memberID)}
	if _, err := c.do(ctx, &request{method: http.MethodPost, path: "/groups/" + seg(groupID) + "/members/$ref", body: body,
		safe: true, done: IsReferenceExists}); err != nil {
		return fmt.Errorf("add member %s to group %s: %w", memberID, groupID, err)
	}
	return nil
}

// AddGroupMembers adds up to 20 members at once: PATCH /groups/{id} with
// members@odata.bind → 204 (group-post-members, example 2). All or
// nothing: one bad or existing reference fails the whole request.
func (c *Client) AddGroupMembers(ctx context.Context, groupID string, memberIDs []string) error {
	if len(memberIDs) == 0 {
		return nil
	}
	if len(memberIDs) > MaxMembersPerPatch {
		return fmt.Errorf("add members to group %s: %d members, at most %d per request", groupID, len(memberIDs), MaxMembersPerPatch)
	}
	refs := make([]string, len(memberIDs))
	for i, id := range memberIDs {
		refs[i] = c.MemberRef(id)
	}
	if _, err := c.do(ctx, &request{method: http.MethodPatch, path: "/groups/" + seg(groupID), body: Group{MembersBind: refs},
		done: IsReferenceExists}); err != nil {
		return fmt.Errorf("add %d members to group %s: %w", len(memberIDs), groupID, err)
	}
	return nil
}

// RemoveGroupMember removes one member: DELETE
// /groups/{id}/members/{memberId}/$ref → 204
// (https://learn.microsoft.com/graph/api/group-delete-members).
func (c *Client) RemoveGroupMember(ctx context.Context, groupID, memberID string) error {
	if _, err := c.do(ctx, &request{method: http.MethodDelete, path: "/groups/" + seg(groupID) + "/members/" + seg(memberID) + "/$ref"}); err != nil {
		return fmt.Errorf("remove member %s from group %s: %w", memberID, groupID, err)
	}
	return nil
}

// GroupsDelta runs a delta round on groups: GET /groups/delta, or q.Link
// (https://learn.microsoft.com/graph/api/group-delta). Groups carry
// membership changes in MembersDelta; deleted groups have Removed set. It
// returns the @odata.deltaLink for the next round.
func (c *Client) GroupsDelta(ctx context.Context, q DeltaQuery, fn func([]Group) error) (string, error) {
	link, err := eachPage(ctx, c, deltaRequest("/groups/delta", q), fn)
	if err != nil {
		return "", fmt.Errorf("groups delta: %w", err)
	}
	return link, nil
}
