package api

import (
	"context"
	"net/http"

	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/storage"
)

var timeFields = []stringField{{name: "createdAt", readOnly: true}, {name: "updatedAt", readOnly: true}}

func userFields(u *directory.User) []stringField {
	return append([]stringField{
		{name: "id", readOnly: true},
		{name: "userPrincipalName", readOnly: true},
		{name: "organizationId", ptr: &u.OrganizationID},
		{name: "username", ptr: &u.Username},
		{name: "email", ptr: &u.Email},
		{name: "givenName", ptr: &u.GivenName},
		{name: "familyName", ptr: &u.FamilyName},
		{name: "displayName", ptr: &u.DisplayName},
		{name: "status", ptr: (*string)(&u.Status)},
		{name: "immutableId", ptr: &u.ImmutableID, onCreate: true},
		{name: "jobTitle", ptr: &u.JobTitle},
		{name: "department", ptr: &u.Department},
		{name: "mobilePhone", ptr: &u.MobilePhone},
		{name: "officePhone", ptr: &u.OfficePhone},
		{name: "usageLocation", ptr: &u.UsageLocation},
	}, timeFields...)
}

func groupFields(g *directory.Group) []stringField {
	return append([]stringField{
		{name: "id", readOnly: true},
		{name: "name", ptr: &g.Name},
		{name: "type", ptr: (*string)(&g.Type)},
		{name: "email", ptr: &g.Email},
		{name: "description", ptr: &g.Description},
	}, timeFields...)
}

func orgFields(o *directory.Organization) []stringField {
	return append([]stringField{
		{name: "id", readOnly: true},
		{name: "name", ptr: &o.Name},
		{name: "principalNameSuffix", ptr: &o.PrincipalNameSuffix},
	}, timeFields...)
}

func tenantFields(t *directory.Tenant, suffix *string) []stringField {
	return append([]stringField{
		{name: "id", readOnly: true},
		{name: "slug", ptr: &t.Slug},
		{name: "name", ptr: &t.Name},
		{name: "principalNameSuffix", ptr: suffix, onCreate: true},
	}, timeFields...)
}

// decodeInto reads a JSON object body and applies it to a resource's fields.
func decodeInto(w http.ResponseWriter, r *http.Request, fs []stringField, create bool) error {
	b, err := readBody(w, r, maxBody)
	if err != nil {
		return err
	}
	m, err := fields(b)
	if err != nil {
		return err
	}
	return applyFields(m, fs, create)
}

// patchWith returns the change function of a PATCH: the merge patch in the
// body applied to the current object's fields. The body is read before the
// compare-and-swap loop, so a retry re-applies the same patch.
func patchWith[T any](w http.ResponseWriter, r *http.Request, fieldsOf func(*T) []stringField) (func(*T) error, error) {
	b, err := readBody(w, r, maxBody)
	if err != nil {
		return nil, err
	}
	m, err := fields(b)
	if err != nil {
		return nil, err
	}
	return func(v *T) error { return applyFields(m, fieldsOf(v), false) }, nil
}

// deleteChecked deletes after checking If-Match: a listed tag must equal
// the current version, which is then handed to the service so that its
// compare-and-swap also refuses a change made in between.
func (a *API) deleteChecked(w http.ResponseWriter, r *http.Request, version func(ctx context.Context) (int64, error), del func(ctx context.Context, ifMatch int64) error) {
	ctx := r.Context()
	pre, err := ifMatch(r)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	var want int64
	if pre.given && !pre.any {
		cur, err := version(ctx)
		if err != nil {
			writeProblem(w, r, a.log, err)
			return
		}
		if !pre.matches(cur) {
			writeProblem(w, r, a.log, newProblem(http.StatusPreconditionFailed, "precondition-failed", "Precondition failed",
				"the object has changed since the version given in If-Match; read it again"))
			return
		}
		want = cur
	}
	a.deleted(w, r, del(ctx, want))
}

// deleted answers a delete: 204, or the problem.
func (a *API) deleted(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- tenants ----

func (a *API) listTenants(w http.ResponseWriter, r *http.Request) {
	_, p, err := query(r)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	items, next, err := a.svc.ListTenants(r.Context(), p)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeList(w, items, next)
}

func (a *API) createTenant(w http.ResponseWriter, r *http.Request) {
	var t directory.Tenant
	var suffix string
	if err := decodeInto(w, r, tenantFields(&t, &suffix), true); err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	t, _, err := a.svc.CreateTenant(r.Context(), t.Slug, t.Name, suffix)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tenants/"+t.Slug)
	writeObject(w, http.StatusCreated, t, t.Version)
}

func (a *API) getTenant(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	t, err := a.svc.GetTenant(r.Context(), t.ID)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeObject(w, http.StatusOK, t, t.Version)
}

func (a *API) patchTenant(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	pre, err := ifMatch(r)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	change, err := patchWith(w, r, func(t *directory.Tenant) []stringField { return tenantFields(t, new(string)) })
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	t, err = a.svc.UpdateTenant(r.Context(), t.ID, 0, checked(pre, func(t *directory.Tenant) int64 { return t.Version }, change))
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeObject(w, http.StatusOK, t, t.Version)
}

func (a *API) deleteTenant(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	a.deleteChecked(w, r, func(ctx context.Context) (int64, error) {
		x, err := a.svc.GetTenant(ctx, t.ID)
		return x.Version, err
	}, func(ctx context.Context, v int64) error { return a.svc.DeleteTenant(ctx, t.ID, v) })
}

// ---- organizations ----

func (a *API) listOrganizations(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	q, p, err := query(r, "name")
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	items, next, err := a.svc.ListOrganizations(r.Context(), t.ID, storage.OrganizationFilter{NamePrefix: q["name"]}, p)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeList(w, items, next)
}

func (a *API) createOrganization(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	var o directory.Organization
	if err := decodeInto(w, r, orgFields(&o), true); err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	o, err := a.svc.CreateOrganization(r.Context(), t.ID, o)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tenants/"+t.Slug+"/organizations/"+o.ID)
	writeObject(w, http.StatusCreated, o, o.Version)
}

func (a *API) getOrganization(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	o, err := a.svc.GetOrganization(r.Context(), t.ID, r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeObject(w, http.StatusOK, o, o.Version)
}

func (a *API) patchOrganization(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	pre, err := ifMatch(r)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	change, err := patchWith(w, r, orgFields)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	o, err := a.svc.UpdateOrganization(r.Context(), t.ID, r.PathValue("id"), 0, checked(pre, func(o *directory.Organization) int64 { return o.Version }, change))
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeObject(w, http.StatusOK, o, o.Version)
}

func (a *API) deleteOrganization(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	a.deleteChecked(w, r, func(ctx context.Context) (int64, error) {
		x, err := a.svc.GetOrganization(ctx, t.ID, r.PathValue("id"))
		return x.Version, err
	}, func(ctx context.Context, v int64) error {
		return a.svc.DeleteOrganization(ctx, t.ID, r.PathValue("id"), v)
	})
}

// ---- users ----

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	q, p, err := query(r, "name", "email", "status", "group", "organization")
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	f := storage.UserFilter{UsernamePrefix: q["name"], EmailPrefix: q["email"], Status: directory.UserStatus(q["status"]),
		GroupID: q["group"], OrganizationID: q["organization"]}
	if f.Status != "" && !f.Status.Valid() {
		writeProblem(w, r, a.log, fieldProblem(http.StatusBadRequest, "bad-request", "Bad request", "status", "must be one of active, suspended, pending"))
		return
	}
	a.writeUsers(w, r, t, f, p)
}

func (a *API) writeUsers(w http.ResponseWriter, r *http.Request, t directory.Tenant, f storage.UserFilter, p storage.Page) {
	items, next, err := a.svc.ListUsers(r.Context(), t.ID, f, p)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeList(w, items, next)
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	var u directory.User
	if err := decodeInto(w, r, userFields(&u), true); err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	u, err := a.svc.CreateUser(r.Context(), t.ID, u)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tenants/"+t.Slug+"/users/"+u.ID)
	writeObject(w, http.StatusCreated, u, u.Version)
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	u, err := a.svc.GetUser(r.Context(), t.ID, r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeObject(w, http.StatusOK, u, u.Version)
}

func (a *API) patchUser(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	pre, err := ifMatch(r)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	change, err := patchWith(w, r, userFields)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	u, err := a.svc.UpdateUser(r.Context(), t.ID, r.PathValue("id"), 0, checked(pre, func(u *directory.User) int64 { return u.Version }, change))
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeObject(w, http.StatusOK, u, u.Version)
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	a.deleteChecked(w, r, func(ctx context.Context) (int64, error) {
		x, err := a.svc.GetUser(ctx, t.ID, r.PathValue("id"))
		return x.Version, err
	}, func(ctx context.Context, v int64) error { return a.svc.DeleteUser(ctx, t.ID, r.PathValue("id"), v) })
}

func (a *API) listUserGroups(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	_, p, err := query(r)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	items, next, err := a.svc.UserGroups(r.Context(), t.ID, r.PathValue("id"), p)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeList(w, items, next)
}

// ---- groups ----

func (a *API) listGroups(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	q, p, err := query(r, "name", "email", "type")
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	f := storage.GroupFilter{NamePrefix: q["name"], EmailPrefix: q["email"], Type: directory.GroupType(q["type"])}
	if f.Type != "" && !f.Type.Valid() {
		writeProblem(w, r, a.log, fieldProblem(http.StatusBadRequest, "bad-request", "Bad request", "type", "must be one of security, microsoft365, distribution, mailEnabledSecurity"))
		return
	}
	items, next, err := a.svc.ListGroups(r.Context(), t.ID, f, p)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeList(w, items, next)
}

func (a *API) createGroup(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	var g directory.Group
	if err := decodeInto(w, r, groupFields(&g), true); err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	g, err := a.svc.CreateGroup(r.Context(), t.ID, g)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tenants/"+t.Slug+"/groups/"+g.ID)
	writeObject(w, http.StatusCreated, g, g.Version)
}

func (a *API) getGroup(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	g, err := a.svc.GetGroup(r.Context(), t.ID, r.PathValue("id"))
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeObject(w, http.StatusOK, g, g.Version)
}

func (a *API) patchGroup(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	pre, err := ifMatch(r)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	change, err := patchWith(w, r, groupFields)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	g, err := a.svc.UpdateGroup(r.Context(), t.ID, r.PathValue("id"), 0, checked(pre, func(g *directory.Group) int64 { return g.Version }, change))
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeObject(w, http.StatusOK, g, g.Version)
}

func (a *API) deleteGroup(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	a.deleteChecked(w, r, func(ctx context.Context) (int64, error) {
		x, err := a.svc.GetGroup(ctx, t.ID, r.PathValue("id"))
		return x.Version, err
	}, func(ctx context.Context, v int64) error { return a.svc.DeleteGroup(ctx, t.ID, r.PathValue("id"), v) })
}

func (a *API) listMembers(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	_, p, err := query(r)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	items, next, err := a.svc.GroupMembers(r.Context(), t.ID, r.PathValue("id"), p)
	if err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	writeList(w, items, next)
}

func (a *API) addMember(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	var userID string
	if err := decodeInto(w, r, []stringField{{name: "userId", ptr: &userID}}, true); err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	if userID == "" {
		writeProblem(w, r, a.log, directory.Invalid("userId", "is required"))
		return
	}
	groupID := r.PathValue("id")
	if err := a.svc.AddGroupMember(r.Context(), t.ID, groupID, userID); err != nil {
		writeProblem(w, r, a.log, err)
		return
	}
	w.Header().Set("Location", "/api/v1/tenants/"+t.Slug+"/groups/"+groupID+"/members/"+userID)
	writeJSON(w, http.StatusCreated, map[string]string{"groupId": groupID, "userId": userID})
}

func (a *API) removeMember(w http.ResponseWriter, r *http.Request, t directory.Tenant) {
	a.deleted(w, r, a.svc.RemoveGroupMember(r.Context(), t.ID, r.PathValue("id"), r.PathValue("userId")))
}
