package m365sim

import (
	"net/http"
	"net/url"
	"strings"
)

// Groups. Sources: https://learn.microsoft.com/graph/api/group-list,
// group-get, group-post-groups, group-update, group-delete,
// group-list-members, group-post-members, group-delete-members and the
// contract §7.

var (
	permGroupRead = perm{
		app:       []string{"GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
		delegated: []string{"GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All"},
	}
	permGroupCreate = perm{
		app:       []string{"Group.Create", "Group.ReadWrite.All", "Directory.ReadWrite.All"},
		delegated: []string{"Group.ReadWrite.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All"},
	}
	permGroupWrite = perm{
		app:       []string{"Group.ReadWrite.All", "Directory.ReadWrite.All"},
		delegated: []string{"Group.ReadWrite.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All"},
	}
	permMemberWrite = perm{
		app:       []string{"GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"},
		delegated: []string{"GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All"},
	}
)

const maxBindRefs = 20

func (c *gctx) routeGroups(m string, segs []string) *graphError {
	switch {
	case len(segs) == 0:
		switch m {
		case http.MethodGet:
			return c.listGroups()
		case http.MethodPost:
			return c.createGroup()
		}
		return errMethod()
	case len(segs) == 1 && segs[0] == "$count":
		if m != http.MethodGet {
			return errMethod()
		}
		if e := c.allow(permGroupRead); e != nil {
			return e
		}
		return c.count(len(c.t.groups.items))
	case len(segs) == 1 && isDelta(segs[0]):
		if m != http.MethodGet {
			return errMethod()
		}
		return c.groupsDelta()
	case len(segs) == 1:
		switch m {
		case http.MethodGet:
			return c.getGroup(segs[0])
		case http.MethodPatch:
			return c.updateGroup(segs[0])
		case http.MethodDelete:
			return c.deleteGroup(segs[0])
		}
		return errMethod()
	case len(segs) == 2 && segs[1] == "members":
		if m != http.MethodGet {
			return errMethod()
		}
		return c.listMembers(segs[0])
	case len(segs) == 3 && segs[1] == "members" && segs[2] == "$ref":
		switch m {
		case http.MethodPost:
			return c.addMemberRef(segs[0])
		case http.MethodGet:
			return c.listMembers(segs[0])
		}
		return errMethod()
	case len(segs) == 4 && segs[1] == "members" && segs[3] == "$ref":
		if m != http.MethodDelete {
			return errMethod()
		}
		return c.removeMemberRef(segs[0], segs[2])
	}
	return errODataBadRequest("Resource not found for the segment '%s'.", segs[len(segs)-1])
}

func (c *gctx) listGroups() *graphError {
	if e := c.allow(permGroupRead); e != nil {
		return e
	}
	lq, e := c.parseListQuery(c.s.schemas.group)
	if e != nil {
		return e
	}
	page, next, total := pageOf(&c.t.groups, lq, nil)
	ctx := c.contextFor("groups", lq.props, false)
	c.writeCollection(ctx, total, lq.count, next, len(page), func(b []byte, i int) []byte {
		return appendObject(b, lq.props, page[i].get, nil)
	})
	return nil
}

func (c *gctx) getGroup(id string) *graphError {
	if e := c.allow(permGroupRead); e != nil {
		return e
	}
	if e := c.checkQueryOptions("$select"); e != nil {
		return e
	}
	props, e := c.selectProps(c.s.schemas.group)
	if e != nil {
		return e
	}
	g, ok := c.t.groups.get(id)
	if !ok {
		return errNotFound(id)
	}
	c.write(http.StatusOK, appendObject(nil, props, g.get, func(b []byte) []byte {
		b = append(b, `"@odata.context":`...)
		return appendJSONString(b, c.contextFor("groups", props, true))
	}))
	return nil
}

// refID extracts the object id from an @odata.id or @odata.bind URL such as
// https://graph.microsoft.com/v1.0/directoryObjects/{id}.
func refID(v any) (string, *graphError) {
	s, ok := v.(string)
	if !ok {
		return "", errPrimitive("Edm.String")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", errBadRequest("Invalid object identifier '%s'.", s)
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 {
		return "", errBadRequest("Invalid object identifier '%s'.", s)
	}
	coll, id := parts[len(parts)-2], parts[len(parts)-1]
	switch coll {
	case "directoryObjects", "users", "groups":
	default:
		return "", errBadRequest("Invalid object identifier '%s'.", s)
	}
	// Graph also accepts the function form directoryObjects('{id}').
	id = strings.TrimSuffix(strings.TrimPrefix(id, "('"), "')")
	if !isGUID(id) {
		return "", errBadRequest("Invalid object identifier '%s'.", id)
	}
	return strings.ToLower(id), nil
}

// resolveMembers checks the references of members@odata.bind: at most 20,
// all existing, none already a member, users only for Microsoft 365 groups.
func (c *gctx) resolveMembers(g *Group, unified bool, v any) ([]string, *graphError) {
	arr, ok := v.([]any)
	if !ok {
		return nil, errNode(jsonKind(v), "StartArray")
	}
	if len(arr) > maxBindRefs {
		return nil, errTooManyRefs()
	}
	var ids []string
	seen := map[string]bool{}
	for _, e := range arr {
		id, ge := refID(e)
		if ge != nil {
			return nil, ge
		}
		if _, isUser := c.t.users.get(id); !isUser {
			if _, isGroup := c.t.groups.get(id); !isGroup || unified {
				if isGroup {
					return nil, errBadRequest("Microsoft 365 groups can only have users as members.")
				}
				return nil, errNotFound(id)
			}
		}
		if seen[id] || (g != nil && g.isMember(id)) || (g != nil && id == g.id) {
			return nil, errBadRequest("One or more added object references already exist for the following modified properties: 'members'.")
		}
		seen[id] = true
		ids = append(ids, id)
	}
	return ids, nil
}

// createGroup creates a Microsoft 365 or a security group. Mail-enabled
// security groups and distribution groups cannot be created through Graph
// (group-post-groups, contract §7).
func (c *gctx) createGroup() *graphError {
	if e := c.allow(permGroupCreate); e != nil {
		return e
	}
	body, e := c.readBody()
	if e != nil {
		return e
	}
	props, e := parseProps(c.s.schemas.group, body, modeWrite, "members@odata.bind", "owners@odata.bind")
	if e != nil {
		return e
	}
	g, e := c.s.newGroup(c.t, props)
	if e != nil {
		return e
	}
	for _, k := range []string{"members@odata.bind", "owners@odata.bind"} {
		if v, ok := body[k]; ok {
			ids, e := c.resolveMembers(nil, g.isUnified(), v)
			if e != nil {
				c.s.dropGroup(c.t, g)
				return e
			}
			if k == "members@odata.bind" {
				for _, id := range ids {
					g.addMember(id)
					c.t.recordMember(g.id, id, true)
				}
			}
		}
	}
	c.w.Header().Set("Location", c.base+"/groups/"+g.id)
	c.write(http.StatusCreated, appendObject(nil, c.s.schemas.group.defaults, g.get, func(b []byte) []byte {
		b = append(b, `"@odata.context":`...)
		return appendJSONString(b, c.context("groups/$entity"))
	}))
	return nil
}

// newGroup validates props and adds the group to t.
func (s *Server) newGroup(t *Tenant, props map[string]any) (*Group, *graphError) {
	for _, req := range []string{"displayName", "mailEnabled", "mailNickname", "securityEnabled"} {
		if v, ok := props[req]; !ok || v == nil || v == "" {
			return nil, errRequired(req)
		}
	}
	nick := props["mailNickname"].(string)
	if !mailNicknameValid(nick) {
		return nil, errInvalidValue("mailNickname", "Group")
	}
	unified := hasFold(asStrings(props["groupTypes"]), "Unified")
	mailEnabled, _ := props["mailEnabled"].(bool)
	securityEnabled, _ := props["securityEnabled"].(bool)
	for _, gt := range asStrings(props["groupTypes"]) {
		if !strings.EqualFold(gt, "Unified") && !strings.EqualFold(gt, "DynamicMembership") {
			return nil, errInvalidValue("groupTypes", "Group")
		}
	}
	switch {
	case unified && mailEnabled:
	case !unified && !mailEnabled && securityEnabled:
	default:
		return nil, errBadRequest("Cannot create a mail-enabled security groups and or distribution list.")
	}
	if _, ok := props["groupTypes"]; !ok {
		props["groupTypes"] = []string{}
	}
	if unified {
		// mail is set by the service from mailNickname on the default domain.
		d := t.defaultDomain()
		mail := nick + "@" + d.Name
		for _, o := range t.groups.items {
			if strings.EqualFold(o.str("mail"), mail) {
				return nil, errConflict("proxyAddresses")
			}
		}
		if _, ok := props["mail"]; !ok {
			props["mail"] = mail
			props["proxyAddresses"] = []string{"SMTP:" + mail}
		}
		if _, ok := props["visibility"]; !ok {
			props["visibility"] = "Public"
		}
		now := s.now().UTC().Truncate(1e9)
		props["renewedDateTime"] = now
	}
	if _, ok := props["proxyAddresses"]; !ok {
		props["proxyAddresses"] = []string{}
	}
	for _, k := range []string{"resourceBehaviorOptions", "resourceProvisioningOptions"} {
		if _, ok := props[k]; !ok {
			props[k] = []string{}
		}
	}
	if _, ok := props["createdDateTime"]; !ok {
		props["createdDateTime"] = s.now().UTC().Truncate(1e9)
	}
	if _, ok := props["securityIdentifier"]; !ok {
		props["securityIdentifier"] = "S-1-12-1-" + strings.ReplaceAll(s.newID()[:13], "-", "")
	}
	id, _ := props["id"].(string)
	delete(props, "id")
	if id == "" {
		id = s.newID()
	} else if _, taken := t.groups.get(id); taken {
		return nil, errConflict("id")
	}
	g := &Group{dirObject: dirObject{id: strings.ToLower(id), seq: t.nextSeq(), props: props}}
	t.groups.add(g)
	t.recordGroup(g.id)
	s.markDirty()
	return g, nil
}

func (s *Server) dropGroup(t *Tenant, g *Group) {
	t.groups.remove(g)
	t.recordGroup(g.id)
}

func (c *gctx) updateGroup(id string) *graphError {
	if e := c.allow(permGroupWrite); e != nil {
		return e
	}
	g, ok := c.t.groups.get(id)
	if !ok {
		return errNotFound(id)
	}
	body, e := c.readBody()
	if e != nil {
		return e
	}
	props, e := parseProps(c.s.schemas.group, body, modeWrite, "members@odata.bind", "owners@odata.bind")
	if e != nil {
		return e
	}
	if v, ok := props["mailNickname"]; ok {
		s, _ := v.(string)
		if !mailNicknameValid(s) {
			return errInvalidValue("mailNickname", "Group")
		}
	}
	if v, ok := props["displayName"]; ok && (v == nil || v == "") {
		return errInvalidValue("displayName", "Group")
	}
	for _, k := range []string{"mailEnabled", "securityEnabled", "groupTypes"} {
		if _, ok := props[k]; ok && k != "securityEnabled" {
			return errBadRequest("Property '%s' cannot be changed after the group is created.", k)
		}
	}
	var add []string
	if v, ok := body["members@odata.bind"]; ok {
		// All or nothing: every reference is checked before any is added.
		if add, e = c.resolveMembers(g, g.isUnified(), v); e != nil {
			return e
		}
	}
	for k, v := range props {
		if v == nil {
			delete(g.props, k)
		} else {
			g.props[k] = v
		}
	}
	for _, m := range add {
		g.addMember(m)
		c.t.recordMember(g.id, m, true)
	}
	c.t.recordGroup(g.id)
	c.s.markDirty()
	c.noContent()
	return nil
}

// deleteGroup: Microsoft 365 groups go to deleted items, security groups are
// deleted at once (https://learn.microsoft.com/graph/api/group-delete).
func (c *gctx) deleteGroup(id string) *graphError {
	if e := c.allow(permGroupWrite); e != nil {
		return e
	}
	g, ok := c.t.groups.get(id)
	if !ok {
		return errNotFound(id)
	}
	c.t.groups.remove(g)
	// A deleted group disappears from the groups it was nested in.
	for _, o := range c.t.groups.items {
		if o.removeMember(g.id) {
			c.t.recordMember(o.id, g.id, false)
		}
	}
	if g.isUnified() {
		g.deletedAt = c.s.now().UTC().Truncate(1e9)
		if c.t.deleted == nil {
			c.t.deleted = map[string]deletedItem{}
		}
		c.t.deleted[g.id] = deletedItem{group: g}
	}
	c.t.recordGroup(g.id)
	c.s.markDirty()
	c.noContent()
	return nil
}

// listMembers pages through a group's direct members; each carries its
// @odata.type (https://learn.microsoft.com/graph/api/group-list-members).
func (c *gctx) listMembers(id string) *graphError {
	if e := c.allow(permGroupRead); e != nil {
		return e
	}
	g, ok := c.t.groups.get(id)
	if !ok {
		return errNotFound(id)
	}
	lq, e := c.parseListQuery(c.s.schemas.user)
	if e != nil {
		return e
	}
	if lq.filter != nil || lq.orderBy != "" {
		return errUnsupportedQuery("Unsupported Query.")
	}
	start := min(lq.token.Offset, len(g.members))
	end := min(start+lq.top, len(g.members))
	var next *pageToken
	if end < len(g.members) {
		next = &pageToken{Offset: end}
	}
	members := g.members[start:end]
	c.writeCollection(c.context("directoryObjects"), len(g.members), lq.count, next, len(members), func(b []byte, i int) []byte {
		mid := members[i]
		if u, ok := c.t.users.get(mid); ok {
			return appendObject(b, lq.props, u.get, typeAnnotation("#microsoft.graph.user"))
		}
		if o, ok := c.t.groups.get(mid); ok {
			props := c.s.schemas.group.defaults
			if c.q.Get("$select") != "" {
				props, _ = c.selectProps(c.s.schemas.group)
				if props == nil {
					props = []*propDef{c.s.schemas.group.lookup("id")}
				}
			}
			return appendObject(b, props, o.get, typeAnnotation("#microsoft.graph.group"))
		}
		return appendObject(b, []*propDef{c.s.schemas.user.lookup("id")}, func(string) any { return mid }, typeAnnotation("#microsoft.graph.directoryObject"))
	})
	return nil
}

func typeAnnotation(t string) func(b []byte) []byte {
	return func(b []byte) []byte {
		b = append(b, `"@odata.type":`...)
		return appendJSONString(b, t)
	}
}

// addMemberRef implements POST /groups/{id}/members/$ref.
func (c *gctx) addMemberRef(id string) *graphError {
	if e := c.allow(permMemberWrite); e != nil {
		return e
	}
	g, ok := c.t.groups.get(id)
	if !ok {
		return errNotFound(id)
	}
	body, e := c.readBody()
	if e != nil {
		return e
	}
	for k := range body {
		if k != "@odata.id" {
			return errODataBadRequest("The property '%s' does not exist on type 'microsoft.graph.directoryObject'. Make sure to only use property names that are defined by the type or mark the type as open type.", k)
		}
	}
	ref, ok := body["@odata.id"]
	if !ok {
		return errBadRequest("The request body must contain an @odata.id reference.")
	}
	ids, e := c.resolveMembers(g, g.isUnified(), []any{ref})
	if e != nil {
		return e
	}
	g.addMember(ids[0])
	c.t.recordMember(g.id, ids[0], true)
	c.s.markDirty()
	c.noContent()
	return nil
}

// removeMemberRef implements DELETE /groups/{id}/members/{id}/$ref.
func (c *gctx) removeMemberRef(id, member string) *graphError {
	if e := c.allow(permMemberWrite); e != nil {
		return e
	}
	g, ok := c.t.groups.get(id)
	if !ok {
		return errNotFound(id)
	}
	if !g.removeMember(strings.ToLower(member)) {
		return gerr(http.StatusNotFound, "Request_ResourceNotFound",
			"One or more removed object references do not exist for the following modified properties: 'members'.")
	}
	c.t.recordMember(g.id, strings.ToLower(member), false)
	c.s.markDirty()
	c.noContent()
	return nil
}
