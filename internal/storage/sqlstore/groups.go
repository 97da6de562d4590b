package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/storage"
)

const groupCols = "g.tenant_id, g.id, g.name, g.type, g.email, g.description, g.created_at, g.updated_at, g.version"

func scanGroup(r interface{ Scan(...any) error }) (directory.Group, error) {
	var g directory.Group
	var typ string
	err := r.Scan(&g.TenantID, &g.ID, &g.Name, &typ, &g.Email, &g.Description, timeCol{&g.CreatedAt}, timeCol{&g.UpdatedAt}, &g.Version)
	g.Type = directory.GroupType(typ)
	return g, err
}

// CreateGroup stores a new group.
func (s *Store) CreateGroup(ctx context.Context, g directory.Group) (err error) {
	defer s.track("CreateGroup", time.Now(), &err)
	_, err = s.exec(ctx, s.q["InsertGroup"], g.TenantID, g.ID, g.Name, directory.NameKey(g.Name), string(g.Type),
		g.Email, g.Description, s.t(g.CreatedAt), s.t(g.UpdatedAt), 1)
	if err != nil {
		return fmt.Errorf("create group %q: %w", g.Name, s.classify(err))
	}
	return nil
}

// GetGroup reads a group by id.
func (s *Store) GetGroup(ctx context.Context, tenantID, id string) (g directory.Group, err error) {
	defer s.track("GetGroup", time.Now(), &err)
	g, err = scanGroup(s.queryRow(ctx, s.q["GetGroup"], tenantID, id))
	if err != nil {
		return g, fmt.Errorf("get group %s: %w", id, s.classify(err))
	}
	return g, nil
}

// ListGroups lists groups by name with optional filters.
func (s *Store) ListGroups(ctx context.Context, tenantID string, f storage.GroupFilter, p storage.Page) (out []directory.Group, next string, err error) {
	defer s.track("ListGroups", time.Now(), &err)
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	b := &builder{place: s.d.Placeholder}
	b.w("SELECT " + groupCols + " FROM groups g")
	if f.MemberID != "" {
		b.w(" JOIN group_members m ON m.tenant_id = g.tenant_id AND m.group_id = g.id AND m.user_id = ").p(f.MemberID)
	}
	b.w(" WHERE g.tenant_id = ").p(tenantID)
	b.keyset("g.name_key", strings.ToLower(f.NamePrefix), after)
	b.prefix("g.email", strings.ToLower(f.EmailPrefix))
	if f.Type != "" {
		b.w(" AND g.type = ").p(string(f.Type))
	}
	b.w(" ORDER BY g.name_key")
	b.limit(p.Clamp())
	out, err = collect(ctx, s, b, scanGroup)
	if err != nil {
		return nil, "", fmt.Errorf("list groups: %w", err)
	}
	out, next = page(out, p.Clamp(), func(g directory.Group) string { return directory.NameKey(g.Name) })
	return out, next, nil
}

// UpdateGroup changes a group by compare-and-swap.
func (s *Store) UpdateGroup(ctx context.Context, tenantID, id string, fn func(directory.Group) (directory.Group, error)) (ng directory.Group, err error) {
	defer s.track("UpdateGroup", time.Now(), &err)
	old, err := s.GetGroup(ctx, tenantID, id)
	if err != nil {
		return ng, err
	}
	if ng, err = fn(old); err != nil {
		return ng, err
	}
	ng.TenantID, ng.ID, ng.CreatedAt = old.TenantID, old.ID, old.CreatedAt
	res, err := s.exec(ctx, s.q["UpdateGroup"], ng.Name, directory.NameKey(ng.Name), string(ng.Type), ng.Email,
		ng.Description, s.t(ng.UpdatedAt), tenantID, id, old.Version)
	if err = s.resolveMiss(s.casResult(res, err), func() error { _, e := s.GetGroup(ctx, tenantID, id); return e }); err != nil {
		return ng, fmt.Errorf("update group %s: %w", id, err)
	}
	ng.Version = old.Version + 1
	return ng, nil
}

// DeleteGroup removes a group and its memberships.
func (s *Store) DeleteGroup(ctx context.Context, tenantID, id string) (err error) {
	defer s.track("DeleteGroup", time.Now(), &err)
	return s.deleteOne(ctx, "delete group "+id, "DeleteGroup", tenantID, id)
}

// addMember checks both ends inside the tenant (so that the error names the
// missing one, which a foreign key error does not) and inserts.
func (s *Store) addMember(ctx context.Context, q queryer, tenantID, groupID, userID string, at time.Time, groupField string) error {
	if ok, err := s.exists(ctx, q, "GroupExists", tenantID, groupID); err != nil {
		return err
	} else if !ok {
		return &storage.ReferenceError{Field: groupField}
	}
	if ok, err := s.exists(ctx, q, "UserExists", tenantID, userID); err != nil {
		return err
	} else if !ok {
		return &storage.ReferenceError{Field: "userId"}
	}
	if _, err := q.ExecContext(ctx, s.q["InsertMember"], tenantID, groupID, userID, s.t(at)); err != nil {
		if c := s.classify(err); errors.Is(c, storage.ErrAlreadyExists) {
			return &storage.DuplicateError{Field: "userId"}
		} else {
			return c
		}
	}
	return nil
}

// AddGroupMember makes a user a member of a group.
func (s *Store) AddGroupMember(ctx context.Context, tenantID, groupID, userID string) (err error) {
	defer s.track("AddGroupMember", time.Now(), &err)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		return s.addMember(ctx, tx, tenantID, groupID, userID, time.Now(), "groupId")
	})
	if err != nil {
		return fmt.Errorf("add user %s to group %s: %w", userID, groupID, err)
	}
	return nil
}

// RemoveGroupMember ends a membership.
func (s *Store) RemoveGroupMember(ctx context.Context, tenantID, groupID, userID string) (err error) {
	defer s.track("RemoveGroupMember", time.Now(), &err)
	return s.deleteOne(ctx, "remove user "+userID+" from group "+groupID, "DeleteMember", tenantID, groupID, userID)
}

// IsGroupMember reports whether a user is a member of a group.
func (s *Store) IsGroupMember(ctx context.Context, tenantID, groupID, userID string) (ok bool, err error) {
	defer s.track("IsGroupMember", time.Now(), &err)
	ok, err = s.exists(ctx, s.conn(ctx), "IsMember", tenantID, groupID, userID)
	if err != nil {
		return false, fmt.Errorf("is user %s in group %s: %w", userID, groupID, err)
	}
	return ok, nil
}
