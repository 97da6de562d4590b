package m365sim

import (
	"crypto/sha1" //nolint:gosec // x5t is a SHA-1 thumbprint by definition (RFC 7515 §4.1.7)
	"crypto/sha256"
	"crypto/x509"
	"sort"
	"strings"
	"sync"
	"time"
)

// The state model. One Store holds every tenant behind one RWMutex; every
// handler takes the lock for the whole of its work, so a request sees and
// leaves a consistent tenant. Objects are plain structs owned by the store:
// handlers never keep pointers to them after they release the lock.

// Store is the sim's in-memory directory: tenants with their domains,
// organization settings, app registrations, users (admins are users with
// directory roles and a password), groups, subscribed SKUs and deleted items.
type Store struct {
	mu      sync.RWMutex
	now     func() time.Time
	tenants map[string]*Tenant // by tenant id (lower-case GUID)
	// byDomain finds a tenant by any of its domain names (lower case), so a
	// token request may name the tenant as "contoso.onmicrosoft.com".
	byDomain map[string]*Tenant
	// usedJTI remembers client-assertion ids until they expire, to refuse a
	// replayed assertion.
	usedJTI map[string]time.Time
	// dirty is set by every mutation; the state-file writer clears it.
	dirty bool
	// signIns is the sign-in log, oldest first (signin.go).
	signIns []SignIn
}

// newStore returns an empty store using the given clock.
func newStore(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{now: now, tenants: map[string]*Tenant{}, byDomain: map[string]*Tenant{}, usedJTI: map[string]time.Time{}}
}

// Tenant is one Microsoft Entra tenant (one Microsoft 365 organization).
type Tenant struct {
	ID          string
	DisplayName string
	// OnPremisesSyncEnabled is organization.onPremisesSyncEnabled: true for a
	// tenant synchronized from on-premises Active Directory (hybrid).
	OnPremisesSyncEnabled bool
	CreatedDateTime       time.Time
	CountryLetterCode     string

	Domains []*Domain // in creation order; the initial domain first
	Apps    map[string]*App
	SKUs    []*SKU

	users  objList[*User]
	groups objList[*Group]
	// deleted holds soft-deleted users and Microsoft 365 groups by id.
	deleted map[string]deletedItem

	seq uint64 // creation-order counter for paging cursors
	// Change tracking for delta queries: every change to a user or group
	// appends an event; memberships have their own log.
	changeSeq  uint64
	userLog    []changeEvent
	groupLog   []changeEvent
	memberLog  []memberEvent
	logStart   uint64 // events at or below this sequence were discarded
	logMaxSize int

	idx *tenantIndexes
}

type changeEvent struct {
	seq uint64
	id  string
}

type memberEvent struct {
	seq     uint64
	groupID string
	member  string
	added   bool
}

type deletedItem struct {
	user  *User
	group *Group
}

// Domain is a domain of a tenant.
type Domain struct {
	Name       string // the domain's id
	IsVerified bool
	IsDefault  bool
	IsInitial  bool
	// Federation is the domain's internalDomainFederation; nil means managed.
	// A subdomain never holds its own: it inherits its root's.
	Federation *Federation
}

// Federation is an internalDomainFederation object
// (https://learn.microsoft.com/graph/api/resources/internaldomainfederation).
// Props holds the Graph properties by name (strings, bools, raw JSON).
type Federation struct {
	ID    string
	Props map[string]any
}

// App is an app registration with its service principal in the tenant.
type App struct {
	ClientID    string
	DisplayName string
	// Certificates are the uploaded public certificates ("Certificates &
	// secrets" in the Azure portal).
	Certificates []*x509.Certificate
	// ApplicationPermissions are the granted (admin-consented) Microsoft Graph
	// application permissions, carried in the token's roles claim.
	ApplicationPermissions []string
	// DelegatedPermissions are the consented delegated permissions, carried in
	// the scp claim of tokens from the password grant.
	DelegatedPermissions []string
	// DirectoryRoles are Microsoft Entra roles assigned to the service
	// principal, for example "Global Administrator".
	DirectoryRoles []string
}

// certByThumbprint finds an uploaded certificate by SHA-1 or SHA-256
// thumbprint (raw digest bytes).
func (a *App) certByThumbprint(sha1Print, sha256Print []byte) *x509.Certificate {
	for _, c := range a.Certificates {
		if sha1Print != nil {
			d := sha1.Sum(c.Raw) //nolint:gosec // thumbprint, not a security hash
			if string(d[:]) == string(sha1Print) {
				return c
			}
		}
		if sha256Print != nil {
			d := sha256.Sum256(c.Raw)
			if string(d[:]) == string(sha256Print) {
				return c
			}
		}
	}
	return nil
}

// SKU is a subscribed SKU (https://learn.microsoft.com/graph/api/resources/subscribedsku).
type SKU struct {
	SkuID         string
	SkuPartNumber string
	// PrepaidEnabled is prepaidUnits.enabled: the number of seats bought.
	PrepaidEnabled int
	ServicePlans   []ServicePlan
	// consumed is derived from the users' assignedLicenses.
	consumed int
}

// ServicePlan is a servicePlanInfo of a SKU.
type ServicePlan struct {
	ServicePlanID   string `json:"servicePlanId"`
	ServicePlanName string `json:"servicePlanName"`
}

// dirObject is what users and groups share: the id, their place in the
// listing order and their Graph properties.
type dirObject struct {
	id        string
	seq       uint64
	deletedAt time.Time
	// props holds Graph property values by canonical name: string, bool,
	// int64, time.Time, []string, []assignedLicense or rawJSON.
	props map[string]any
}

func (o *dirObject) objID() string  { return o.id }
func (o *dirObject) objSeq() uint64 { return o.seq }
func (o *dirObject) str(k string) string {
	s, _ := o.props[k].(string)
	return s
}

// User is a user of the directory. Admins are users with DirectoryRoles.
type User struct {
	dirObject
	// Password is the cloud password (from passwordProfile or the seed); the
	// password grant checks it.
	Password string
	// MFARequired marks an account for which Entra enforces multifactor
	// authentication: the password grant refuses it with AADSTS50076.
	MFARequired bool
	// DirectoryRoles are Microsoft Entra roles held by the user.
	DirectoryRoles []string
	// groupsAtDeletion remembers memberships removed by a soft delete, so a
	// restore puts them back.
	groupsAtDeletion []string
}

// Group is a group of the directory.
type Group struct {
	dirObject
	members   []string // member object ids in the order they were added
	memberSet map[string]struct{}
}

func (g *Group) isMember(id string) bool { _, ok := g.memberSet[id]; return ok }

func (g *Group) addMember(id string) {
	if g.memberSet == nil {
		g.memberSet = map[string]struct{}{}
	}
	if _, ok := g.memberSet[id]; ok {
		return
	}
	g.memberSet[id] = struct{}{}
	g.members = append(g.members, id)
}

func (g *Group) removeMember(id string) bool {
	if _, ok := g.memberSet[id]; !ok {
		return false
	}
	delete(g.memberSet, id)
	for i, m := range g.members {
		if m == id {
			g.members = append(g.members[:i], g.members[i+1:]...)
			break
		}
	}
	return true
}

// isUnified reports whether the group is a Microsoft 365 group.
func (g *Group) isUnified() bool {
	for _, t := range asStrings(g.props["groupTypes"]) {
		if strings.EqualFold(t, "Unified") {
			return true
		}
	}
	return false
}

// assignedLicense is a graph.assignedLicense value.
type assignedLicense struct {
	SkuID         string   `json:"skuId"`
	DisabledPlans []string `json:"disabledPlans"`
}

// rawJSON is a complex property value kept as JSON text.
type rawJSON []byte

// objList keeps directory objects in creation (seq) order with an id index,
// so that paging by cursor costs O(log n + page).
type objList[T interface {
	objID() string
	objSeq() uint64
}] struct {
	items []T
	byID  map[string]T
}

func (l *objList[T]) get(id string) (T, bool) {
	v, ok := l.byID[strings.ToLower(id)]
	return v, ok
}

func (l *objList[T]) add(v T) {
	if l.byID == nil {
		l.byID = map[string]T{}
	}
	l.byID[strings.ToLower(v.objID())] = v
	// Restored objects keep their old seq: insert in order.
	i := sort.Search(len(l.items), func(i int) bool { return l.items[i].objSeq() >= v.objSeq() })
	l.items = append(l.items, v)
	copy(l.items[i+1:], l.items[i:])
	l.items[i] = v
}

func (l *objList[T]) remove(v T) {
	delete(l.byID, strings.ToLower(v.objID()))
	i := sort.Search(len(l.items), func(i int) bool { return l.items[i].objSeq() >= v.objSeq() })
	if i < len(l.items) && l.items[i].objID() == v.objID() {
		l.items = append(l.items[:i], l.items[i+1:]...)
	}
}

// after returns the index of the first item whose seq is greater than seq.
func (l *objList[T]) after(seq uint64) int {
	return sort.Search(len(l.items), func(i int) bool { return l.items[i].objSeq() > seq })
}

// userIndex adds lookups by userPrincipalName and onPremisesImmutableId to the
// user list; both are unique within a tenant.
type userIndex struct {
	byUPN       map[string]*User
	byImmutable map[string]*User
}

// tenant-level helpers

func (t *Tenant) nextSeq() uint64 { t.seq++; return t.seq }

func (t *Tenant) domain(name string) *Domain {
	for _, d := range t.Domains {
		if strings.EqualFold(d.Name, name) {
			return d
		}
	}
	return nil
}

// rootOf returns the root domain of d: the shortest other domain of the
// tenant of which d is a subdomain, or d itself.
// Source: https://learn.microsoft.com/graph/api/resources/domain (isRoot).
func (t *Tenant) rootOf(d *Domain) *Domain {
	root := d
	for _, o := range t.Domains {
		if o != d && strings.HasSuffix(strings.ToLower(d.Name), "."+strings.ToLower(o.Name)) && len(o.Name) < len(root.Name) {
			root = o
		}
	}
	return root
}

// effectiveFederation is the federation that applies to d: its own, or, for
// a subdomain, its root's (subdomains inherit the root's authentication).
func (t *Tenant) effectiveFederation(d *Domain) *Federation {
	return t.rootOf(d).Federation
}

func (t *Tenant) initialDomain() *Domain {
	for _, d := range t.Domains {
		if d.IsInitial {
			return d
		}
	}
	return nil
}

func (t *Tenant) defaultDomain() *Domain {
	for _, d := range t.Domains {
		if d.IsDefault {
			return d
		}
	}
	return t.initialDomain()
}

func (t *Tenant) userByKey(key string) *User {
	if u, ok := t.users.get(key); ok {
		return u
	}
	return t.usersIdx().byUPN[strings.ToLower(key)]
}

// tenantIndexes are the lookups kept beside the object lists.
type tenantIndexes struct{ users userIndex }

// usersIdx returns the user indexes, which seeding creates with the tenant.
func (t *Tenant) usersIdx() *userIndex { return &t.idx.users }

func (t *Tenant) indexUser(u *User) {
	ix := t.usersIdx()
	if upn := u.str("userPrincipalName"); upn != "" {
		ix.byUPN[strings.ToLower(upn)] = u
	}
	if im := u.str("onPremisesImmutableId"); im != "" {
		ix.byImmutable[im] = u
	}
}

func (t *Tenant) unindexUser(u *User) {
	ix := t.usersIdx()
	if upn := u.str("userPrincipalName"); upn != "" && ix.byUPN[strings.ToLower(upn)] == u {
		delete(ix.byUPN, strings.ToLower(upn))
	}
	if im := u.str("onPremisesImmutableId"); im != "" && ix.byImmutable[im] == u {
		delete(ix.byImmutable, im)
	}
}

// recordUser and recordGroup append change events for delta queries.
func (t *Tenant) recordUser(id string) {
	t.changeSeq++
	t.userLog = append(t.userLog, changeEvent{seq: t.changeSeq, id: id})
	t.trimLogs()
}

func (t *Tenant) recordGroup(id string) {
	t.changeSeq++
	t.groupLog = append(t.groupLog, changeEvent{seq: t.changeSeq, id: id})
	t.trimLogs()
}

func (t *Tenant) recordMember(groupID, member string, added bool) {
	t.changeSeq++
	t.memberLog = append(t.memberLog, memberEvent{seq: t.changeSeq, groupID: groupID, member: member, added: added})
	t.changeSeq++
	t.groupLog = append(t.groupLog, changeEvent{seq: t.changeSeq, id: groupID})
	t.trimLogs()
}

// trimLogs bounds the change logs. A delta token older than the oldest kept
// event answers 410 syncStateNotFound, as Graph does for expired tokens
// (https://learn.microsoft.com/graph/delta-query-overview).
func (t *Tenant) trimLogs() {
	max := t.logMaxSize
	if max <= 0 {
		return
	}
	total := len(t.userLog) + len(t.groupLog) + len(t.memberLog)
	if total <= max {
		return
	}
	cut := t.changeSeq - uint64(max/2)
	t.userLog = dropUpTo(t.userLog, cut)
	t.groupLog = dropUpTo(t.groupLog, cut)
	kept := t.memberLog[:0]
	for _, e := range t.memberLog {
		if e.seq > cut {
			kept = append(kept, e)
		}
	}
	t.memberLog = kept
	t.logStart = cut
}

func dropUpTo(log []changeEvent, cut uint64) []changeEvent {
	i := sort.Search(len(log), func(i int) bool { return log[i].seq > cut })
	return append(log[:0], log[i:]...)
}

// countLicenses adds delta (+1 or -1) to consumedUnits for each of u's
// licences: a user who appears (created, restored) or disappears (deleted)
// changes the counts by its own licences only, so a create costs O(1)
// however many users the tenant holds, not a recount of all of them.
func (t *Tenant) countLicenses(u *User, delta int) {
	for _, l := range licensesOf(u) {
		if s := t.sku(l.SkuID); s != nil {
			s.consumed += delta
		}
	}
}

// recountSKUs derives consumedUnits from the live users' licences: once,
// after seeding. Every later change goes through countLicenses.
func (t *Tenant) recountSKUs() {
	for _, s := range t.SKUs {
		s.consumed = 0
	}
	for _, u := range t.users.items {
		for _, l := range licensesOf(u) {
			if s := t.sku(l.SkuID); s != nil {
				s.consumed++
			}
		}
	}
}

func (t *Tenant) sku(id string) *SKU {
	for _, s := range t.SKUs {
		if strings.EqualFold(s.SkuID, id) {
			return s
		}
	}
	return nil
}

func licensesOf(u *User) []assignedLicense {
	l, _ := u.props["assignedLicenses"].([]assignedLicense)
	return l
}

func asStrings(v any) []string {
	s, _ := v.([]string)
	return s
}

func hasFold(list []string, v string) bool {
	for _, s := range list {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}
