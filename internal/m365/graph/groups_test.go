package graph

import (
	"context"
	"fmt"
	"slices"
	"testing"
)

// TestGroups runs every group call against the sim.
func TestGroups(t *testing.T) {
	e := newEnv(t)
	c, _, _ := e.client(t)
	ctx := context.Background()

	var users []string
	for i := range 4 {
		u, err := c.CreateUser(ctx, newUser(fmt.Sprintf("member%d@contoso.com", i)))
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, u.ID)
	}

	tests := []struct {
		name    string
		g       Group
		unified bool
	}{
		{"security", Group{DisplayName: "Sales", MailNickname: "sales", MailEnabled: boolp(false), SecurityEnabled: boolp(true)}, false},
		{"microsoft 365", Group{DisplayName: "Marketing", MailNickname: "marketing", MailEnabled: boolp(true), SecurityEnabled: boolp(false),
			GroupTypes: []string{GroupTypeUnified}, Visibility: "Private"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.g
			g.MembersBind = []string{c.MemberRef(users[0])}
			created, err := c.CreateGroup(ctx, g)
			if err != nil {
				t.Fatal(err)
			}
			if created.ID == "" || created.Unified() != tt.unified || (tt.unified && created.Mail == "") {
				t.Fatalf("created %+v", created)
			}
			if err := c.UpdateGroup(ctx, created.ID, Group{Description: "synced by Portico"}); err != nil {
				t.Fatal(err)
			}
			got, err := c.GetGroup(ctx, created.ID, "id", "description", "groupTypes")
			if err != nil || got.Description != "synced by Portico" {
				t.Fatalf("get: %+v (%v)", got, err)
			}
			if err := c.UpdateGroup(ctx, created.ID, Group{}, "description"); err != nil {
				t.Fatal(err)
			}
			if got, _ := c.GetGroup(ctx, created.ID); got == nil || got.Description != "" {
				t.Errorf("description not cleared: %+v", got)
			}

			if err := c.AddGroupMember(ctx, created.ID, users[1]); err != nil {
				t.Fatal(err)
			}
			if err := c.AddGroupMember(ctx, created.ID, users[1]); !IsReferenceExists(err) || !IsBadRequest(err) {
				t.Errorf("second add: %v", err)
			}
			if err := c.AddGroupMembers(ctx, created.ID, users[2:]); err != nil {
				t.Fatal(err)
			}
			members := listMembers(t, c, created.ID)
			if len(members) != 4 || !slices.Equal(members, sorted(users)) {
				t.Errorf("members %v, want %v", members, users)
			}
			if err := c.RemoveGroupMember(ctx, created.ID, users[0]); err != nil {
				t.Fatal(err)
			}
			if err := c.RemoveGroupMember(ctx, created.ID, users[0]); !IsNotFound(err) {
				t.Errorf("second remove: %v", err)
			}
			if err := c.AddGroupMembers(ctx, created.ID, make([]string, 21)); err == nil {
				t.Error("21 references accepted")
			}

			var names []string
			err = c.ListGroups(ctx, Query{Filter: fmt.Sprintf("displayName eq '%s'", tt.g.DisplayName), Select: []string{"id", "displayName"}},
				func(p []Group) error {
					for _, g := range p {
						names = append(names, g.ID)
					}
					return nil
				})
			if err != nil || len(names) != 1 || names[0] != created.ID {
				t.Errorf("list: %v (%v)", names, err)
			}
			if err := c.DeleteGroup(ctx, created.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := c.GetGroup(ctx, created.ID); !IsNotFound(err) {
				t.Errorf("deleted group: %v", err)
			}
			// Microsoft 365 groups can be restored; security groups are gone.
			_, err = c.RestoreDeletedItem(ctx, created.ID)
			if tt.unified != (err == nil) {
				t.Errorf("restore: %v", err)
			}
		})
	}
}

// TestGroupsDelta sees membership changes as members@delta.
func TestGroupsDelta(t *testing.T) {
	e := newEnv(t)
	c, _, _ := e.client(t)
	ctx := context.Background()
	var groups []Group
	link, err := c.GroupsDelta(ctx, DeltaQuery{Select: []string{"displayName", "members"}}, func(p []Group) error { groups = append(groups, p...); return nil })
	if err != nil || len(groups) != 1 || link == "" {
		t.Fatalf("first round: %+v %q (%v)", groups, link, err)
	}
	g := groups[0]
	if len(g.MembersDelta) != 1 || !g.MembersDelta[0].IsUser() {
		t.Errorf("initial members@delta: %+v", g.MembersDelta)
	}
	adele := g.MembersDelta[0].ID
	u, err := c.CreateUser(ctx, newUser("joiner@contoso.com"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddGroupMember(ctx, g.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveGroupMember(ctx, g.ID, adele); err != nil {
		t.Fatal(err)
	}
	groups = nil
	if _, err := c.GroupsDelta(ctx, DeltaQuery{Link: link}, func(p []Group) error { groups = append(groups, p...); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 {
		t.Fatalf("second round: %+v", groups)
	}
	added, removed := false, false
	for _, m := range groups[0].MembersDelta {
		switch {
		case m.ID == u.ID && m.Removed == nil:
			added = true
		case m.ID == adele && m.Removed != nil:
			removed = true
		}
	}
	if !added || !removed {
		t.Errorf("members@delta %+v", groups[0].MembersDelta)
	}
}

func listMembers(t *testing.T, c *Client, id string) []string {
	t.Helper()
	var out []string
	err := c.ListGroupMembers(context.Background(), id, Query{Select: []string{"id"}, Top: 2}, func(p []DirectoryObject) error {
		for _, m := range p {
			if !m.IsUser() {
				t.Errorf("member %+v is not a user", m)
			}
			out = append(out, m.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sorted(out)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
