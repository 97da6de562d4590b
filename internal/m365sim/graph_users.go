package m365sim

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Users. Sources: https://learn.microsoft.com/graph/api/user-list,
// user-get, user-post-users, user-update, user-delete, user-assignlicense,
// https://learn.microsoft.com/graph/api/resources/user and the contract §7.

var (
	permUserRead = perm{
		app:       []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
		delegated: []string{"User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All"},
	}
	permUserWrite = perm{
		app:       []string{"User.ReadWrite.All", "Directory.ReadWrite.All"},
		delegated: []string{"User.ReadWrite.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All"},
		roles:     []string{"User Administrator"},
	}
	permLicense = perm{
		app:       []string{"LicenseAssignment.ReadWrite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"},
		delegated: []string{"LicenseAssignment.ReadWrite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"},
		roles:     []string{"User Administrator", "License Administrator"},
	}
)

func (c *gctx) routeUsers(m string, segs []string) *graphError {
	switch {
	case len(segs) == 0:
		switch m {
		case http.MethodGet:
			return c.listUsers()
		case http.MethodPost:
			return c.createUser()
		}
		return errMethod()
	case len(segs) == 1 && segs[0] == "$count":
		if m != http.MethodGet {
			return errMethod()
		}
		if e := c.allow(permUserRead); e != nil {
			return e
		}
		return c.count(len(c.t.users.items))
	case len(segs) == 1 && isDelta(segs[0]):
		if m != http.MethodGet {
			return errMethod()
		}
		return c.usersDelta()
	case len(segs) == 1:
		switch m {
		case http.MethodGet:
			return c.getUser(segs[0])
		case http.MethodPatch:
			return c.updateUser(segs[0])
		case http.MethodDelete:
			return c.deleteUser(segs[0])
		}
		return errMethod()
	case len(segs) == 2 && (segs[1] == "assignLicense" || segs[1] == "microsoft.graph.assignLicense"):
		if m != http.MethodPost {
			return errMethod()
		}
		return c.assignLicense(segs[0])
	}
	return errODataBadRequest("Resource not found for the segment '%s'.", segs[len(segs)-1])
}

// count answers a /$count request: text/plain, only with ConsistencyLevel:
// eventual (https://learn.microsoft.com/graph/aad-advanced-queries).
func (c *gctx) count(n int) *graphError {
	if !c.eventual() {
		return errBadRequest("$count is not currently supported.")
	}
	c.w.Header().Set("Content-Type", "text/plain")
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write([]byte(strconv.Itoa(n)))
	return nil
}

// listQuery holds the checked query options of a collection request.
type listQuery struct {
	props   []*propDef
	top     int
	filter  *compiledFilter
	count   bool
	orderBy string
	desc    bool
	token   pageToken
}

func (c *gctx) parseListQuery(s *entitySchema) (*listQuery, *graphError) {
	if e := c.checkQueryOptions("$select", "$filter", "$top", "$count", "$orderby", "$skiptoken"); e != nil {
		return nil, e
	}
	lq := &listQuery{}
	var e *graphError
	if lq.props, e = c.selectProps(s); e != nil {
		return nil, e
	}
	if lq.top, e = c.pageSize(100); e != nil {
		return nil, e
	}
	switch strings.ToLower(c.q.Get("$count")) {
	case "":
	case "true":
		lq.count = true
	case "false":
	default:
		return nil, errODataBadRequest("'%s' is not a valid count option.", c.q.Get("$count"))
	}
	if lq.count && !c.eventual() {
		return nil, errBadRequest("$count is not currently supported.")
	}
	advanced := lq.count && c.eventual()
	if f := c.q.Get("$filter"); f != "" {
		if lq.filter, e = compileFilter(s, f, advanced); e != nil {
			return nil, e
		}
	}
	if ob := strings.TrimSpace(c.q.Get("$orderby")); ob != "" {
		fields := strings.Fields(ob)
		if len(fields) > 2 || (len(fields) == 2 && !strings.EqualFold(fields[1], "asc") && !strings.EqualFold(fields[1], "desc")) {
			return nil, errODataBadRequest("Syntax error at position %d in '%s'.", len(fields[0]), ob)
		}
		p := s.lookup(fields[0])
		if p == nil || (p.name != "displayName" && p.name != "userPrincipalName") {
			return nil, errUnsupportedQuery("Sorting not supported for '%s'.", fields[0])
		}
		if lq.filter != nil && !advanced {
			return nil, errUnsupportedQuery("Sorting not supported for current query.")
		}
		lq.orderBy = p.name
		lq.desc = len(fields) == 2 && strings.EqualFold(fields[1], "desc")
	}
	if tok := c.q.Get("$skiptoken"); tok != "" {
		if lq.token, e = decodePageToken(tok); e != nil {
			return nil, e
		}
	}
	return lq, nil
}

// pageOf selects one page from items (in seq order): O(page) when the filter
// matches densely, and O(log n) to find the cursor.
func pageOf[T interface {
	objID() string
	objSeq() uint64
	get(string) any
}](l *objList[T], lq *listQuery, extra func(T) bool) (page []T, next *pageToken, total int) {
	keep := func(v T) bool {
		if extra != nil && !extra(v) {
			return false
		}
		return lq.filter == nil || lq.filter.match(v.get)
	}
	if lq.orderBy != "" {
		var all []T
		for _, v := range l.items {
			if keep(v) {
				all = append(all, v)
			}
		}
		key := lq.orderBy
		sort.SliceStable(all, func(i, j int) bool {
			a, _ := all[i].get(key).(string)
			b, _ := all[j].get(key).(string)
			if lq.desc {
				return strings.ToLower(a) > strings.ToLower(b)
			}
			return strings.ToLower(a) < strings.ToLower(b)
		})
		start := min(lq.token.Offset, len(all))
		end := min(start+lq.top, len(all))
		if end < len(all) {
			next = &pageToken{Offset: end}
		}
		return all[start:end], next, len(all)
	}
	if lq.count {
		for _, v := range l.items {
			if keep(v) {
				total++
			}
		}
	}
	for i := l.after(lq.token.Seq); i < len(l.items); i++ {
		v := l.items[i]
		if !keep(v) {
			continue
		}
		if len(page) == lq.top {
			next = &pageToken{Seq: page[len(page)-1].objSeq()}
			break
		}
		page = append(page, v)
	}
	return page, next, total
}

// writeCollection renders a collection page.
func (c *gctx) writeCollection(ctx string, count int, withCount bool, next *pageToken, n int, item func(b []byte, i int) []byte) {
	b := make([]byte, 0, 256+n*400)
	b = append(b, `{"@odata.context":`...)
	b = appendJSONString(b, ctx)
	if withCount {
		b = append(b, `,"@odata.count":`...)
		b = strconv.AppendInt(b, int64(count), 10)
	}
	if next != nil {
		b = append(b, `,"@odata.nextLink":`...)
		b = appendJSONString(b, c.nextLink(encodePageToken(*next)))
	}
	b = append(b, `,"value":[`...)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = item(b, i)
	}
	b = append(b, "]}"...)
	c.write(http.StatusOK, b)
}

func (c *gctx) listUsers() *graphError {
	if e := c.allow(permUserRead); e != nil {
		return e
	}
	lq, e := c.parseListQuery(c.s.schemas.user)
	if e != nil {
		return e
	}
	var page []*User
	var next *pageToken
	total := 0
	if f := lq.filter; f != nil && lq.orderBy == "" && lq.token.Seq == 0 &&
		(f.eqProp == "userPrincipalName" || f.eqProp == "id" || f.eqProp == "onPremisesImmutableId") {
		// Index lookup: these properties are unique in a tenant.
		seen := map[*User]bool{}
		for _, v := range f.eqValues {
			var u *User
			switch f.eqProp {
			case "userPrincipalName":
				u = c.t.usersIdx().byUPN[strings.ToLower(v)]
			case "id":
				u, _ = c.t.users.get(v)
			default:
				u = c.t.usersIdx().byImmutable[v]
			}
			if u != nil && !seen[u] && f.match(u.get) {
				seen[u] = true
				page = append(page, u)
			}
		}
		sort.Slice(page, func(i, j int) bool { return page[i].seq < page[j].seq })
		if len(page) > lq.top {
			next = &pageToken{Seq: page[lq.top-1].seq}
			page = page[:lq.top]
		}
		total = len(seen)
	} else {
		page, next, total = pageOf(&c.t.users, lq, nil)
	}
	ctx := c.contextFor("users", lq.props, false)
	c.writeCollection(ctx, total, lq.count, next, len(page), func(b []byte, i int) []byte {
		return appendObject(b, lq.props, page[i].get, nil)
	})
	return nil
}

func (c *gctx) getUser(key string) *graphError {
	if e := c.allow(permUserRead); e != nil {
		return e
	}
	if e := c.checkQueryOptions("$select"); e != nil {
		return e
	}
	props, e := c.selectProps(c.s.schemas.user)
	if e != nil {
		return e
	}
	u := c.t.userByKey(key)
	if u == nil {
		return errNotFound(key)
	}
	b := appendObject(nil, props, u.get, func(b []byte) []byte {
		b = append(b, `"@odata.context":`...)
		return appendJSONString(b, c.contextFor("users", props, true))
	})
	c.write(http.StatusOK, b)
	return nil
}

// upnAllowed are the characters Graph allows in the local part of a UPN
// ("A - Z, a - z, 0 - 9, ' . - _ ! # ^ ~", user-post-users).
func upnValid(upn string) (local, domain string, ok bool) {
	local, domain, found := strings.Cut(upn, "@")
	if !found || local == "" || domain == "" || strings.Contains(domain, "@") || len(upn) > 113 || len(local) > 64 {
		return "", "", false
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") {
		return "", "", false
	}
	for _, r := range local {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("'.-_!#^~", r)) {
			continue
		}
		return "", "", false
	}
	return local, domain, true
}

// passwordComplex applies Microsoft Entra's cloud password policy: 8 to 256
// characters and three of lower case, upper case, digits and symbols
// (https://learn.microsoft.com/entra/identity/authentication/concept-sspr-policy).
func passwordComplex(p string) bool {
	if len(p) < 8 || len(p) > 256 {
		return false
	}
	var lower, upper, digit, other int
	for _, r := range p {
		switch {
		case unicode.IsLower(r):
			lower = 1
		case unicode.IsUpper(r):
			upper = 1
		case unicode.IsDigit(r):
			digit = 1
		default:
			other = 1
		}
	}
	return lower+upper+digit+other >= 3
}

// errPasswordComplexity is Entra's answer to a password that breaks the policy.
func errPasswordComplexity() *graphError {
	return errBadRequest("The specified password does not comply with password complexity requirements. Please provide a different password.")
}

// checkUserDomainRules applies the managed/federated rules of contract §7:
// a UPN in a federated domain needs onPremisesImmutableId and takes no
// password; a managed one needs a password.
func (c *gctx) checkUPNDomain(upn string) (*Domain, *graphError) {
	_, domain, ok := upnValid(upn)
	if !ok {
		return nil, errInvalidValue("userPrincipalName", "User")
	}
	d := c.t.domain(domain)
	if d == nil || !d.IsVerified {
		e := errBadRequest("The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.")
		e.details = []errorDetail{{Code: "InvalidValue", Target: "userPrincipalName", Message: e.message}}
		return nil, e
	}
	return d, nil
}

func immutableIDValid(v string) bool {
	// "The $ and _ characters can't be used when specifying this property."
	// (resources/user, onPremisesImmutableId)
	return v != "" && len(v) <= 256 && !strings.ContainsAny(v, "$_")
}

func (c *gctx) createUser() *graphError {
	if e := c.allow(permUserWrite); e != nil {
		return e
	}
	body, e := c.readBody()
	if e != nil {
		return e
	}
	props, e := parseProps(c.s.schemas.user, body, modeWrite)
	if e != nil {
		return e
	}
	u, e := c.s.newUser(c.t, props, "")
	if e != nil {
		return e
	}
	b := appendObject(nil, c.s.schemas.user.defaults, u.get, func(b []byte) []byte {
		b = append(b, `"@odata.context":`...)
		return appendJSONString(b, c.context("users/$entity"))
	})
	c.w.Header().Set("Location", c.base+"/users/"+u.id)
	c.write(http.StatusCreated, b)
	return nil
}

// newUser validates props for a new user and adds it to t. password, when
// not empty, is a seeded cloud password (seeds skip the complexity rule).
func (s *Server) newUser(t *Tenant, props map[string]any, seedPassword string) (*User, *graphError) {
	for _, req := range []string{"accountEnabled", "displayName", "mailNickname", "userPrincipalName"} {
		if v, ok := props[req]; !ok || v == nil || v == "" {
			return nil, errRequired(req)
		}
	}
	c := &gctx{s: s, t: t}
	upn := props["userPrincipalName"].(string)
	d, e := c.checkUPNDomain(upn)
	if e != nil {
		return nil, e
	}
	if !mailNicknameValid(props["mailNickname"].(string)) {
		return nil, errInvalidValue("mailNickname", "User")
	}
	pp, hasPP := props["passwordProfile"].(passwordProfile)
	immutable, _ := props["onPremisesImmutableId"].(string)
	if _, set := props["onPremisesImmutableId"]; set && !immutableIDValid(immutable) {
		return nil, errInvalidValue("onPremisesImmutableId", "User")
	}
	password := seedPassword
	if t.effectiveFederation(d) != nil {
		if immutable == "" {
			e := errBadRequest("Property onPremisesImmutableId is required when creating a user in a federated domain.")
			e.details = []errorDetail{{Code: "PropertyRequired", Target: "onPremisesImmutableId", Message: e.message}}
			return nil, e
		}
		if hasPP {
			e := errBadRequest("Property passwordProfile cannot be set for a user in a federated domain.")
			e.details = []errorDetail{{Code: "InvalidValue", Target: "passwordProfile", Message: e.message}}
			return nil, e
		}
	} else if seedPassword == "" {
		if !hasPP || pp.Password == "" {
			return nil, errRequired("passwordProfile")
		}
		if !passwordComplex(pp.Password) {
			return nil, errPasswordComplexity()
		}
		password = pp.Password
	}
	if t.usersIdx().byUPN[strings.ToLower(upn)] != nil {
		return nil, errConflict("userPrincipalName")
	}
	if immutable != "" && t.usersIdx().byImmutable[immutable] != nil {
		return nil, errConflict("onPremisesImmutableId")
	}
	id, _ := props["id"].(string)
	if id == "" {
		id = s.newID()
	} else if _, taken := t.users.get(id); taken || t.deleted[strings.ToLower(id)].user != nil {
		return nil, errConflict("id")
	}
	delete(props, "passwordProfile")
	delete(props, "id")
	if _, ok := props["userType"]; !ok {
		props["userType"] = "Member"
	}
	if _, ok := props["createdDateTime"]; !ok {
		props["createdDateTime"] = s.now().UTC().Truncate(1e9)
	}
	if _, ok := props["assignedLicenses"]; !ok {
		props["assignedLicenses"] = []assignedLicense{}
	}
	u := &User{dirObject: dirObject{id: strings.ToLower(id), seq: t.nextSeq(), props: props}, Password: password}
	t.users.add(u)
	t.indexUser(u)
	t.recordUser(u.id)
	t.countLicenses(u, +1)
	s.markDirty()
	return u, nil
}

// mailNicknameValid applies the alias rules of resources/user and
// resources/group: ASCII 0-127 without @ () \ [] " ; : <> , and space, at
// most 64 characters.
func mailNicknameValid(v string) bool {
	if v == "" || len(v) > 64 {
		return false
	}
	for _, r := range v {
		if r > 127 || r <= ' ' || strings.ContainsRune(`@()\[]";:<>,`, r) {
			return false
		}
	}
	return true
}

func (c *gctx) updateUser(key string) *graphError {
	if e := c.allow(permUserWrite); e != nil {
		return e
	}
	u := c.t.userByKey(key)
	if u == nil {
		return errNotFound(key)
	}
	body, e := c.readBody()
	if e != nil {
		return e
	}
	props, e := parseProps(c.s.schemas.user, body, modeWrite)
	if e != nil {
		return e
	}
	// Validate everything before changing anything.
	upn := u.str("userPrincipalName")
	if v, ok := props["userPrincipalName"]; ok {
		s, _ := v.(string)
		if s == "" {
			return errInvalidValue("userPrincipalName", "User")
		}
		if _, e := c.checkUPNDomain(s); e != nil {
			return e
		}
		if o := c.t.usersIdx().byUPN[strings.ToLower(s)]; o != nil && o != u {
			return errConflict("userPrincipalName")
		}
		upn = s
	}
	immutable := u.str("onPremisesImmutableId")
	if v, ok := props["onPremisesImmutableId"]; ok {
		s, _ := v.(string)
		if v != nil && !immutableIDValid(s) {
			return errInvalidValue("onPremisesImmutableId", "User")
		}
		if o := c.t.usersIdx().byImmutable[s]; s != "" && o != nil && o != u {
			return errConflict("onPremisesImmutableId")
		}
		immutable = s
	}
	if v, ok := props["mailNickname"]; ok {
		s, _ := v.(string)
		if !mailNicknameValid(s) {
			return errInvalidValue("mailNickname", "User")
		}
	}
	for _, k := range []string{"accountEnabled", "displayName"} {
		if v, ok := props[k]; ok && (v == nil || v == "") {
			return errInvalidValue(k, "User")
		}
	}
	d, _ := c.checkUPNDomain(upn)
	federated := d != nil && c.t.effectiveFederation(d) != nil
	pp, hasPP := props["passwordProfile"].(passwordProfile)
	if federated && immutable == "" {
		e := errBadRequest("Property onPremisesImmutableId is required for a user in a federated domain.")
		e.details = []errorDetail{{Code: "PropertyRequired", Target: "onPremisesImmutableId", Message: e.message}}
		return e
	}
	if hasPP {
		if federated {
			e := errBadRequest("Property passwordProfile cannot be set for a user in a federated domain.")
			e.details = []errorDetail{{Code: "InvalidValue", Target: "passwordProfile", Message: e.message}}
			return e
		}
		if pp.Password != "" && !passwordComplex(pp.Password) {
			return errPasswordComplexity()
		}
	}
	c.t.unindexUser(u)
	for k, v := range props {
		if k == "passwordProfile" {
			continue
		}
		if v == nil {
			delete(u.props, k)
		} else {
			u.props[k] = v
		}
	}
	if hasPP && pp.Password != "" {
		u.Password = pp.Password
	}
	c.t.indexUser(u)
	c.t.recordUser(u.id)
	c.s.markDirty()
	c.noContent()
	return nil
}

// deleteUser moves the user to deleted items for 30 days
// (https://learn.microsoft.com/graph/api/user-delete); its memberships are
// removed and come back on restore.
func (c *gctx) deleteUser(key string) *graphError {
	if e := c.allow(permUserWrite); e != nil {
		return e
	}
	u := c.t.userByKey(key)
	if u == nil {
		return errNotFound(key)
	}
	c.s.softDeleteUser(c.t, u)
	c.noContent()
	return nil
}

func (s *Server) softDeleteUser(t *Tenant, u *User) {
	u.groupsAtDeletion = nil
	for _, g := range t.groups.items {
		if g.removeMember(u.id) {
			u.groupsAtDeletion = append(u.groupsAtDeletion, g.id)
			t.recordMember(g.id, u.id, false)
		}
	}
	t.users.remove(u)
	t.unindexUser(u)
	u.deletedAt = s.now().UTC().Truncate(1e9)
	if t.deleted == nil {
		t.deleted = map[string]deletedItem{}
	}
	t.deleted[u.id] = deletedItem{user: u}
	t.recordUser(u.id)
	t.countLicenses(u, -1)
	s.markDirty()
}

// assignLicense implements POST /users/{id}/assignLicense
// (https://learn.microsoft.com/graph/api/user-assignlicense): both arrays are
// required, a usage location is needed, and seats must be left.
func (c *gctx) assignLicense(key string) *graphError {
	if e := c.allow(permLicense); e != nil {
		return e
	}
	u := c.t.userByKey(key)
	if u == nil {
		return errNotFound(key)
	}
	body, e := c.readBody()
	if e != nil {
		return e
	}
	var missing []string
	for _, k := range []string{"addLicenses", "removeLicenses"} {
		if _, ok := body[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return errODataBadRequest("One or more parameters of the operation 'assignLicense' are missing from the request payload. The missing parameters are: %s.", strings.Join(missing, ", "))
	}
	for k := range body {
		if k != "addLicenses" && k != "removeLicenses" && !strings.HasPrefix(k, "@") {
			return errODataBadRequest("The parameter '%s' in the request payload is not a valid parameter for the operation 'assignLicense'.", k)
		}
	}
	addRaw, ok := body["addLicenses"].([]any)
	if !ok {
		return errNode(jsonKind(body["addLicenses"]), "StartArray")
	}
	remRaw, ok := body["removeLicenses"].([]any)
	if !ok {
		return errNode(jsonKind(body["removeLicenses"]), "StartArray")
	}
	var add []assignedLicense
	for _, v := range addRaw {
		l, e := parseAssignedLicense(v)
		if e != nil {
			return e
		}
		add = append(add, l)
	}
	var remove []string
	for _, v := range remRaw {
		s, ok := v.(string)
		if !ok || !isGUID(s) {
			return errODataBadRequest("Cannot convert the literal '%v' to the expected type 'Edm.Guid'.", v)
		}
		remove = append(remove, strings.ToLower(s))
	}
	if len(add) > 0 && u.str("usageLocation") == "" {
		return errBadRequest("License assignment cannot be done for user with invalid usage location.")
	}
	current := licensesOf(u)
	has := func(id string) bool {
		for _, l := range current {
			if l.SkuID == id {
				return true
			}
		}
		return false
	}
	for _, id := range remove {
		if c.t.sku(id) == nil || !has(id) {
			return errBadRequest("User does not have a corresponding license.")
		}
	}
	for _, l := range add {
		sku := c.t.sku(l.SkuID)
		if sku == nil {
			return errBadRequest("License %s does not correspond to a valid company License.", l.SkuID)
		}
		if !has(l.SkuID) && sku.consumed >= sku.PrepaidEnabled {
			return errBadRequest("Subscription with SKU %s does not have any available licenses.", l.SkuID)
		}
		planIDs := map[string]bool{}
		for _, p := range sku.ServicePlans {
			planIDs[strings.ToLower(p.ServicePlanID)] = true
		}
		for _, p := range l.DisabledPlans {
			if !planIDs[p] {
				return errBadRequest("Invalid disabled plan %s for license %s.", p, l.SkuID)
			}
		}
	}
	next := []assignedLicense{}
	for _, l := range current {
		if !hasFold(remove, l.SkuID) {
			next = append(next, l)
		}
	}
	for _, l := range add {
		replaced := false
		for i := range next {
			if next[i].SkuID == l.SkuID {
				next[i] = l
				replaced = true
			}
		}
		if !replaced {
			next = append(next, l)
		}
	}
	c.t.countLicenses(u, -1)
	u.props["assignedLicenses"] = next
	c.t.countLicenses(u, +1)
	c.t.recordUser(u.id)
	c.s.markDirty()
	b := appendObject(nil, c.s.schemas.user.defaults, u.get, func(b []byte) []byte {
		b = append(b, `"@odata.context":`...)
		return appendJSONString(b, c.context("users/$entity"))
	})
	c.write(http.StatusOK, b)
	return nil
}
