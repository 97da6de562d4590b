package m365sim

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // certificate thumbprint
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SeedFile is the JSON document that describes the sim's tenants; the same
// format is the state file and the answer of GET /_sim/state. See
// docs/m365sim.md and testdata/seed-example.json.
type SeedFile struct {
	Tenants []SeedTenant `json:"tenants"`
	// AuthnRequestSigning is the sim's own key for signing SAML
	// AuthnRequests (when a domain sets isSignedAuthenticationRequestRequired).
	// The sim generates it on first use; the state file keeps it so that an
	// identity provider configured with its certificate keeps working.
	AuthnRequestSigning *SeedSigningKey `json:"authnRequestSigning,omitempty"`
}

// SeedTenant describes one tenant.
type SeedTenant struct {
	// ID is the tenant id (a GUID); generated when empty.
	ID          string `json:"id,omitempty"`
	DisplayName string `json:"displayName"`
	// InitialDomain is the *.onmicrosoft.com domain, verified and initial.
	InitialDomain         string       `json:"initialDomain"`
	OnPremisesSyncEnabled bool         `json:"onPremisesSyncEnabled,omitempty"`
	CountryLetterCode     string       `json:"countryLetterCode,omitempty"`
	CreatedDateTime       *time.Time   `json:"createdDateTime,omitempty"`
	Domains               []SeedDomain `json:"domains,omitempty"`
	Apps                  []SeedApp    `json:"apps,omitempty"`
	SubscribedSkus        []SeedSKU    `json:"subscribedSkus,omitempty"`
	// Users are Graph user properties plus the sim's own keys "password",
	// "mfaRequired" and "directoryRoles"; a "deletedDateTime" puts the user
	// in deleted items. Admins are users with directoryRoles.
	Users []SeedObject `json:"users,omitempty"`
	// Groups are Graph group properties plus "members" (user UPNs or ids,
	// group ids); a "deletedDateTime" puts a Microsoft 365 group in deleted
	// items.
	Groups []SeedObject `json:"groups,omitempty"`
	// GenerateUsers adds many similar users, for benchmarks and demos.
	GenerateUsers *SeedGenerate `json:"generateUsers,omitempty"`
}

// SeedDomain describes a custom domain. A federated domain carries its
// internalDomainFederation properties in federationConfiguration.
type SeedDomain struct {
	ID                      string         `json:"id"`
	IsVerified              bool           `json:"isVerified"`
	IsDefault               bool           `json:"isDefault,omitempty"`
	FederationConfiguration map[string]any `json:"federationConfiguration,omitempty"`
}

// SeedApp describes an app registration.
type SeedApp struct {
	ClientID    string `json:"clientId"`
	DisplayName string `json:"displayName,omitempty"`
	// Certificates are PEM blocks or base64 DER certificates.
	Certificates           []string `json:"certificates,omitempty"`
	ApplicationPermissions []string `json:"applicationPermissions,omitempty"`
	DelegatedPermissions   []string `json:"delegatedPermissions,omitempty"`
	DirectoryRoles         []string `json:"directoryRoles,omitempty"`
}

// SeedSKU describes a subscribed SKU.
type SeedSKU struct {
	SkuID         string        `json:"skuId"`
	SkuPartNumber string        `json:"skuPartNumber"`
	PrepaidUnits  SeedUnits     `json:"prepaidUnits"`
	ServicePlans  []ServicePlan `json:"servicePlans,omitempty"`
}

// SeedUnits is licenseUnitsDetail: Enabled is the number of seats.
type SeedUnits struct {
	Enabled int `json:"enabled"`
}

// SeedObject is a user or group: Graph properties plus the sim's keys.
type SeedObject map[string]any

// SeedGenerate asks for Count users named {prefix}{n}@{domain}.
type SeedGenerate struct {
	Count  int    `json:"count"`
	Domain string `json:"domain"`
	Prefix string `json:"prefix,omitempty"`
	// UsageLocation, when set, is given to every generated user.
	UsageLocation string `json:"usageLocation,omitempty"`
}

// ParseSeed decodes a seed document.
func ParseSeed(r io.Reader) (SeedFile, error) {
	var f SeedFile
	dec := json.NewDecoder(r)
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, fmt.Errorf("m365sim: decoding seed: %w", err)
	}
	return f, nil
}

// LoadSeedFile reads and decodes a seed file.
func LoadSeedFile(path string) (SeedFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return SeedFile{}, fmt.Errorf("m365sim: opening seed: %w", err)
	}
	defer fh.Close()
	f, err := ParseSeed(fh)
	if err != nil {
		return f, fmt.Errorf("%w (file %s)", err, path)
	}
	return f, nil
}

// Seed adds the tenants of f, replacing tenants with the same id. f is
// read as the JSON document it stands for, so a SeedFile built in Go — a
// Dump fed back, with its []string and json.RawMessage values — is checked
// exactly like a seed file.
func (s *Server) Seed(f SeedFile) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("m365sim: encoding seed: %w", err)
	}
	if f, err = ParseSeed(bytes.NewReader(b)); err != nil {
		return err
	}
	return s.seedDecoded(f)
}

// seedDecoded is Seed for a SeedFile decoded from JSON (ParseSeed).
func (s *Server) seedDecoded(f SeedFile) error {
	if f.AuthnRequestSigning != nil {
		if err := s.loadSAMLSigner(f.AuthnRequestSigning); err != nil {
			return err
		}
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	for i := range f.Tenants {
		if err := s.seedTenant(&f.Tenants[i]); err != nil {
			return fmt.Errorf("m365sim: seeding tenant %d (%s): %w", i, f.Tenants[i].DisplayName, err)
		}
	}
	s.markDirty()
	return nil
}

// Reset removes every tenant.
func (s *Server) Reset() {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	s.store.tenants = map[string]*Tenant{}
	s.store.byDomain = map[string]*Tenant{}
	s.store.usedJTI = map[string]time.Time{}
	s.store.signIns = nil
	s.markDirty()
}

func (s *Server) removeTenant(id string) {
	st := s.store
	if old := st.tenants[id]; old != nil {
		for _, d := range old.Domains {
			delete(st.byDomain, strings.ToLower(d.Name))
		}
		delete(st.tenants, id)
	}
}

func (s *Server) seedTenant(st *SeedTenant) error {
	id := strings.ToLower(st.ID)
	if id == "" {
		id = s.newID()
	} else if !isGUID(id) {
		return fmt.Errorf("tenant id %q is not a GUID", st.ID)
	}
	if st.InitialDomain == "" || !strings.HasSuffix(strings.ToLower(st.InitialDomain), ".onmicrosoft.com") {
		return fmt.Errorf("initialDomain %q must be a *.onmicrosoft.com name", st.InitialDomain)
	}
	s.removeTenant(id)
	created := s.now().UTC().Truncate(time.Second)
	if st.CreatedDateTime != nil {
		created = st.CreatedDateTime.UTC()
	}
	t := &Tenant{ID: id, DisplayName: st.DisplayName, OnPremisesSyncEnabled: st.OnPremisesSyncEnabled,
		CreatedDateTime: created, CountryLetterCode: st.CountryLetterCode, Apps: map[string]*App{},
		deleted: map[string]deletedItem{}, logMaxSize: 1 << 20,
		idx: &tenantIndexes{users: userIndex{byUPN: map[string]*User{}, byImmutable: map[string]*User{}}}}
	initial := &Domain{Name: strings.ToLower(st.InitialDomain), IsVerified: true, IsInitial: true, IsDefault: true}
	t.Domains = append(t.Domains, initial)
	for _, sd := range st.Domains {
		name := strings.ToLower(sd.ID)
		if name == "" || strings.ContainsAny(name, " /@") {
			return fmt.Errorf("domain %q is not a domain name", sd.ID)
		}
		if name == initial.Name {
			continue
		}
		if t.domain(name) != nil {
			return fmt.Errorf("domain %q listed twice", name)
		}
		if s.store.byDomain[name] != nil {
			return fmt.Errorf("domain %q already belongs to another tenant", name)
		}
		d := &Domain{Name: name, IsVerified: sd.IsVerified}
		if sd.IsDefault {
			if !sd.IsVerified {
				return fmt.Errorf("domain %q: an unverified domain cannot be the default", name)
			}
			for _, o := range t.Domains {
				o.IsDefault = false
			}
			d.IsDefault = true
		}
		t.Domains = append(t.Domains, d)
	}
	for _, sa := range st.Apps {
		if !isGUID(sa.ClientID) {
			return fmt.Errorf("app clientId %q is not a GUID", sa.ClientID)
		}
		app := &App{ClientID: strings.ToLower(sa.ClientID), DisplayName: sa.DisplayName,
			ApplicationPermissions: sa.ApplicationPermissions, DelegatedPermissions: sa.DelegatedPermissions, DirectoryRoles: sa.DirectoryRoles}
		for i, c := range sa.Certificates {
			cert, err := ParseCertificate([]byte(c))
			if err != nil {
				return fmt.Errorf("app %s certificate %d: %w", sa.ClientID, i, err)
			}
			app.Certificates = append(app.Certificates, cert)
		}
		t.Apps[app.ClientID] = app
	}
	for _, sk := range st.SubscribedSkus {
		if !isGUID(sk.SkuID) {
			return fmt.Errorf("SKU id %q is not a GUID", sk.SkuID)
		}
		t.SKUs = append(t.SKUs, &SKU{SkuID: strings.ToLower(sk.SkuID), SkuPartNumber: sk.SkuPartNumber, PrepaidEnabled: sk.PrepaidUnits.Enabled, ServicePlans: sk.ServicePlans})
	}
	// Register the tenant before users so that lookups work.
	s.store.tenants[id] = t
	for _, d := range t.Domains {
		s.store.byDomain[d.Name] = t
	}
	type pendingDelete struct {
		u  *User
		at time.Time
	}
	var deletes []pendingDelete
	for i, so := range st.Users {
		u, at, err := s.seedUser(t, so)
		if err != nil {
			s.removeTenant(id)
			return fmt.Errorf("user %d: %w", i, err)
		}
		if !at.IsZero() {
			deletes = append(deletes, pendingDelete{u, at})
		}
	}
	// Federation after the users: a state file may hold users created while
	// their domain was still managed, which Entra keeps when it is federated.
	c := &gctx{s: s, t: t}
	for _, sd := range st.Domains {
		if sd.FederationConfiguration == nil {
			continue
		}
		d := t.domain(sd.ID)
		fc := map[string]any{}
		for k, v := range sd.FederationConfiguration {
			fc[k] = v
		}
		fid, _ := fc["id"].(string)
		delete(fc, "id")
		props, ge := parseProps(s.schemas.federation, fc, modeWrite)
		if ge != nil {
			s.removeTenant(id)
			return fmt.Errorf("domain %q federationConfiguration: %s", d.Name, ge.message)
		}
		if d.IsInitial || d.IsDefault || !d.IsVerified || t.rootOf(d) != d {
			s.removeTenant(id)
			return fmt.Errorf("domain %q cannot be federated: it must be a verified root domain that is neither initial nor default", d.Name)
		}
		for _, req := range []string{"issuerUri", "signingCertificate", "preferredAuthenticationProtocol"} {
			if v, _ := props[req].(string); v == "" {
				s.removeTenant(id)
				return fmt.Errorf("domain %q federationConfiguration: %s is required", d.Name, req)
			}
		}
		if ge := c.checkFederationProps(props, nil); ge != nil {
			s.removeTenant(id)
			return fmt.Errorf("domain %q federationConfiguration: %s", d.Name, ge.message)
		}
		for k, v := range map[string]any{"promptLoginBehavior": "translateToFreshPasswordAuthentication", "federatedIdpMfaBehavior": "acceptIfMfaDoneByFederatedIdp", "isSignedAuthenticationRequestRequired": false} {
			if _, ok := props[k]; !ok {
				props[k] = v
			}
		}
		if _, ok := props["signingCertificateUpdateStatus"]; !ok {
			props["signingCertificateUpdateStatus"] = s.certUpdateStatus()
		}
		if fid == "" {
			fid = s.newID()
		}
		d.Federation = &Federation{ID: fid, Props: props}
	}
	if g := st.GenerateUsers; g != nil && g.Count > 0 {
		if err := s.generateUsers(t, g); err != nil {
			s.removeTenant(id)
			return err
		}
	}
	var groupDeletes []pendingDelete
	var groupsAt []*Group
	for i, so := range st.Groups {
		g, at, err := s.seedGroup(t, so)
		if err != nil {
			s.removeTenant(id)
			return fmt.Errorf("group %d: %w", i, err)
		}
		if !at.IsZero() {
			groupsAt = append(groupsAt, g)
			groupDeletes = append(groupDeletes, pendingDelete{at: at})
		}
	}
	for _, d := range deletes {
		s.softDeleteUser(t, d.u)
		d.u.deletedAt = d.at
	}
	for i, g := range groupsAt {
		if !g.isUnified() {
			s.removeTenant(id)
			return fmt.Errorf("group %s: only Microsoft 365 groups can be in deleted items", g.id)
		}
		t.groups.remove(g)
		g.deletedAt = groupDeletes[i].at
		t.deleted[g.id] = deletedItem{group: g}
	}
	t.recountSKUs()
	// Seeding is the starting point of change tracking.
	t.userLog, t.groupLog, t.memberLog = nil, nil, nil
	t.logStart = t.changeSeq
	return nil
}

func takeString(o map[string]any, k string) string { s, _ := o[k].(string); delete(o, k); return s }

func takeStrings(o map[string]any, k string) ([]string, error) {
	v, ok := o[k]
	delete(o, k)
	if !ok || v == nil {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s must be an array of strings", k)
	}
	var out []string
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%s must be an array of strings", k)
		}
		out = append(out, s)
	}
	return out, nil
}

func takeTime(o map[string]any, k string) (time.Time, error) {
	s := takeString(o, k)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, fmt.Errorf("%s: %w", k, err)
	}
	return t.UTC(), nil
}

func (s *Server) seedUser(t *Tenant, so SeedObject) (*User, time.Time, error) {
	o := map[string]any{}
	for k, v := range so {
		o[k] = v
	}
	password := takeString(o, "password")
	mfa, _ := o["mfaRequired"].(bool)
	delete(o, "mfaRequired")
	roles, err := takeStrings(o, "directoryRoles")
	if err != nil {
		return nil, time.Time{}, err
	}
	deletedAt, err := takeTime(o, "deletedDateTime")
	if err != nil {
		return nil, time.Time{}, err
	}
	if _, ok := o["accountEnabled"]; !ok {
		o["accountEnabled"] = true
	}
	if _, ok := o["mailNickname"]; !ok {
		if upn, _ := o["userPrincipalName"].(string); upn != "" {
			o["mailNickname"], _, _ = strings.Cut(upn, "@")
		}
	}
	props, ge := parseProps(s.schemas.user, o, modeSeed)
	if ge != nil {
		return nil, time.Time{}, errors.New(ge.message)
	}
	u, ge := s.newUserSeeded(t, props, password)
	if ge != nil {
		return nil, time.Time{}, fmt.Errorf("%s (%s)", ge.message, detailsText(ge))
	}
	u.MFARequired = mfa
	u.DirectoryRoles = roles
	return u, deletedAt, nil
}

func detailsText(e *graphError) string {
	var parts []string
	for _, d := range e.details {
		parts = append(parts, d.Target)
	}
	return strings.Join(parts, ",")
}

// newUserSeeded creates a seeded user: the Graph rules apply except that a
// managed user may have no cloud password (it then cannot sign in).
func (s *Server) newUserSeeded(t *Tenant, props map[string]any, password string) (*User, *graphError) {
	if pp, ok := props["passwordProfile"].(passwordProfile); ok && password == "" {
		password = pp.Password
	}
	if password == "" {
		password = "\x00no-password"
	}
	u, e := s.newUser(t, props, password)
	if e != nil {
		return nil, e
	}
	if u.Password == "\x00no-password" {
		u.Password = ""
	}
	return u, nil
}

func (s *Server) seedGroup(t *Tenant, so SeedObject) (*Group, time.Time, error) {
	o := map[string]any{}
	for k, v := range so {
		o[k] = v
	}
	members, err := takeStrings(o, "members")
	if err != nil {
		return nil, time.Time{}, err
	}
	deletedAt, err := takeTime(o, "deletedDateTime")
	if err != nil {
		return nil, time.Time{}, err
	}
	props, ge := parseProps(s.schemas.group, o, modeSeed)
	if ge != nil {
		return nil, time.Time{}, errors.New(ge.message)
	}
	g, ge := s.newGroup(t, props)
	if ge != nil {
		return nil, time.Time{}, errors.New(ge.message)
	}
	for _, m := range members {
		if u := t.userByKey(m); u != nil {
			g.addMember(u.id)
			continue
		}
		if o, ok := t.groups.get(m); ok && !g.isUnified() {
			g.addMember(o.id)
			continue
		}
		return nil, time.Time{}, fmt.Errorf("group %q: member %q is not a user or security group of the tenant", g.str("displayName"), m)
	}
	return g, deletedAt, nil
}

func (s *Server) generateUsers(t *Tenant, g *SeedGenerate) error {
	d := t.domain(g.Domain)
	if d == nil || !d.IsVerified {
		return fmt.Errorf("generateUsers: %q is not a verified domain of the tenant", g.Domain)
	}
	prefix := g.Prefix
	if prefix == "" {
		prefix = "user"
	}
	federated := t.effectiveFederation(d) != nil
	created := s.now().UTC().Truncate(time.Second)
	for i := 1; i <= g.Count; i++ {
		n := strconv.Itoa(i)
		upn := prefix + n + "@" + d.Name
		if t.usersIdx().byUPN[upn] != nil {
			continue
		}
		props := map[string]any{
			"accountEnabled": true, "displayName": "User " + n, "givenName": "User", "surname": n,
			"mailNickname": prefix + n, "userPrincipalName": upn, "userType": "Member",
			"createdDateTime": created, "assignedLicenses": []assignedLicense{}, "businessPhones": []string{},
		}
		if g.UsageLocation != "" {
			props["usageLocation"] = g.UsageLocation
		}
		if federated {
			sum := sha256.Sum256([]byte(t.ID + upn))
			props["onPremisesImmutableId"] = base64.StdEncoding.EncodeToString(sum[:16])
		}
		u := &User{dirObject: dirObject{id: s.newID(), seq: t.nextSeq(), props: props}}
		t.users.add(u)
		t.indexUser(u)
	}
	return nil
}

// ParseCertificate reads a certificate given as PEM or as base64 DER.
func ParseCertificate(b []byte) (*x509.Certificate, error) {
	b = bytes.TrimSpace(b)
	if blk, _ := pem.Decode(b); blk != nil {
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing PEM certificate: %w", err)
		}
		return c, nil
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
	if err != nil {
		return nil, fmt.Errorf("certificate is neither PEM nor base64 DER: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate: %w", err)
	}
	return c, nil
}

func rsaPublicKey(c *x509.Certificate) (*rsa.PublicKey, bool) {
	k, ok := c.PublicKey.(*rsa.PublicKey)
	return k, ok
}

// RegisterAppCertificate uploads a certificate to an app registration, the
// equivalent of "Certificates & secrets > Upload certificate" in the Azure
// portal. The app is created (with no permissions) when it does not exist.
func (s *Server) RegisterAppCertificate(tenant, clientID string, cert *x509.Certificate) error {
	if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
		return errors.New("m365sim: app certificates must hold an RSA key")
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	t := s.store.tenantFor(tenant)
	if t == nil {
		return fmt.Errorf("m365sim: tenant %q not found", tenant)
	}
	if !isGUID(clientID) {
		return fmt.Errorf("m365sim: client id %q is not a GUID", clientID)
	}
	app := t.Apps[strings.ToLower(clientID)]
	if app == nil {
		app = &App{ClientID: strings.ToLower(clientID)}
		t.Apps[app.ClientID] = app
	}
	for _, c := range app.Certificates {
		if bytes.Equal(c.Raw, cert.Raw) {
			return nil
		}
	}
	app.Certificates = append(app.Certificates, cert)
	s.markDirty()
	return nil
}

// Dump returns the whole state in seed format.
func (s *Server) Dump() SeedFile {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	return s.dumpLocked()
}

func (s *Server) dumpLocked() SeedFile {
	var f SeedFile
	f.AuthnRequestSigning = s.dumpSAMLSigner()
	ids := make([]string, 0, len(s.store.tenants))
	for id := range s.store.tenants {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t := s.store.tenants[id]
		created := t.CreatedDateTime
		st := SeedTenant{ID: t.ID, DisplayName: t.DisplayName, InitialDomain: t.initialDomain().Name,
			OnPremisesSyncEnabled: t.OnPremisesSyncEnabled, CountryLetterCode: t.CountryLetterCode, CreatedDateTime: &created}
		for _, d := range t.Domains {
			if d.IsInitial {
				continue
			}
			sd := SeedDomain{ID: d.Name, IsVerified: d.IsVerified, IsDefault: d.IsDefault}
			if d.Federation != nil {
				sd.FederationConfiguration = map[string]any{"id": d.Federation.ID}
				for k, v := range d.Federation.Props {
					if k == "signingCertificateUpdateStatus" {
						continue
					}
					sd.FederationConfiguration[k] = v
				}
			}
			st.Domains = append(st.Domains, sd)
		}
		appIDs := make([]string, 0, len(t.Apps))
		for k := range t.Apps {
			appIDs = append(appIDs, k)
		}
		sort.Strings(appIDs)
		for _, k := range appIDs {
			a := t.Apps[k]
			sa := SeedApp{ClientID: a.ClientID, DisplayName: a.DisplayName, ApplicationPermissions: a.ApplicationPermissions,
				DelegatedPermissions: a.DelegatedPermissions, DirectoryRoles: a.DirectoryRoles}
			for _, c := range a.Certificates {
				sa.Certificates = append(sa.Certificates, base64.StdEncoding.EncodeToString(c.Raw))
			}
			st.Apps = append(st.Apps, sa)
		}
		for _, sk := range t.SKUs {
			st.SubscribedSkus = append(st.SubscribedSkus, SeedSKU{SkuID: sk.SkuID, SkuPartNumber: sk.SkuPartNumber, PrepaidUnits: SeedUnits{Enabled: sk.PrepaidEnabled}, ServicePlans: sk.ServicePlans})
		}
		var delUsers []*User
		var delGroups []*Group
		for _, it := range t.deleted {
			if it.user != nil {
				delUsers = append(delUsers, it.user)
			} else {
				delGroups = append(delGroups, it.group)
			}
		}
		sort.Slice(delUsers, func(i, j int) bool { return delUsers[i].seq < delUsers[j].seq })
		sort.Slice(delGroups, func(i, j int) bool { return delGroups[i].seq < delGroups[j].seq })
		for _, u := range append(append([]*User{}, t.users.items...), delUsers...) {
			st.Users = append(st.Users, dumpUser(u))
		}
		for _, g := range append(append([]*Group{}, t.groups.items...), delGroups...) {
			so := dumpProps(&g.dirObject)
			members := []any{}
			for _, m := range g.members {
				members = append(members, m)
			}
			so["members"] = members
			st.Groups = append(st.Groups, so)
		}
		f.Tenants = append(f.Tenants, st)
	}
	return f
}

func dumpProps(o *dirObject) SeedObject {
	so := SeedObject{"id": o.id}
	for k, v := range o.props {
		switch x := v.(type) {
		case time.Time:
			so[k] = formatTime(x)
		case rawJSON:
			so[k] = json.RawMessage(x)
		default:
			so[k] = v
		}
	}
	if !o.deletedAt.IsZero() {
		so["deletedDateTime"] = formatTime(o.deletedAt)
	}
	return so
}

func dumpUser(u *User) SeedObject {
	so := dumpProps(&u.dirObject)
	if u.Password != "" {
		so["password"] = u.Password
	}
	if u.MFARequired {
		so["mfaRequired"] = true
	}
	if len(u.DirectoryRoles) > 0 {
		so["directoryRoles"] = u.DirectoryRoles
	}
	return so
}

// loadState loads the state file when it exists.
func (s *Server) loadState(path string) (bool, error) {
	f, err := LoadSeedFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := s.seedDecoded(f); err != nil {
		return false, fmt.Errorf("m365sim: loading state %s: %w", path, err)
	}
	s.store.dirty = false
	return true, nil
}

// flush writes the state file when something changed.
func (s *Server) flush() error {
	if s.state == "" {
		return nil
	}
	s.store.mu.Lock()
	if !s.store.dirty {
		s.store.mu.Unlock()
		return nil
	}
	f := s.dumpLocked()
	s.store.dirty = false
	s.store.mu.Unlock()
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("m365sim: encoding state: %w", err)
	}
	if err := writeFileAtomic(s.state, b, 0o600); err != nil {
		return fmt.Errorf("m365sim: writing state: %w", err)
	}
	return nil
}

// flushLoop persists changes at most once a second until Close.
func (s *Server) flushLoop() {
	defer close(s.flushing)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
			if err := s.flush(); err != nil {
				s.log.Error("m365sim: persisting state", "err", err)
			}
		}
	}
}

// serveAdmin is the admin API under /_sim/ (no authentication: the sim is a
// local test tool):
//
//	GET  /_sim/state                                   dump the state (seed format)
//	POST /_sim/seed                                    add tenants from a seed document
//	POST /_sim/reset                                   remove every tenant
//	GET  /_sim/ca.pem                                  the CA certificate to trust
//	GET  /_sim/authnrequest-signing.pem                the certificate of the sim's signed SAML AuthnRequests
//	GET|DELETE /_sim/signins                           the sign-in log (newest first) / clear it
//	GET  /_sim/stats, POST /_sim/stats/reset           request statistics of the run / start a new run
//	GET|PUT /_sim/faults                               fault injection configuration
//	GET|PUT /_sim/throttle                             throttling configuration and buckets
//	POST /_sim/tenants/{tenant}/apps/{clientId}/certificates   upload an app certificate (PEM or base64 DER body)
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	p := strings.Trim(strings.TrimPrefix(r.URL.Path, "/_sim/"), "/")
	segs := strings.Split(p, "/")
	adminErr := func(status int, msg string) {
		writeJSON(w, status, map[string]any{"error": map[string]string{"message": msg}})
	}
	switch {
	case p == "state" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, s.Dump())
	case p == "seed" && r.Method == http.MethodPost:
		f, err := ParseSeed(io.LimitReader(r.Body, 256<<20))
		if err != nil {
			adminErr(http.StatusBadRequest, err.Error())
			return
		}
		if err := s.seedDecoded(f); err != nil {
			adminErr(http.StatusBadRequest, err.Error())
			return
		}
		s.log.Info("m365sim: seeded through the admin API", "tenants", len(f.Tenants))
		w.WriteHeader(http.StatusNoContent)
	case p == "reset" && r.Method == http.MethodPost:
		s.Reset()
		w.WriteHeader(http.StatusNoContent)
	case p == "ca.pem" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(s.CACertPEM())
	case p == "authnrequest-signing.pem" && r.Method == http.MethodGet:
		c, err := s.AuthnRequestSigningCertificate()
		if err != nil {
			adminErr(http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	case p == "signins":
		s.serveSignIns(w, r)
	case p == "stats":
		s.serveStats(w, r, false)
	case p == "stats/reset":
		s.serveStats(w, r, true)
	case p == "faults":
		s.serveFaults(w, r)
	case p == "throttle":
		s.serveThrottle(w, r)
	case len(segs) == 5 && segs[0] == "tenants" && segs[2] == "apps" && segs[4] == "certificates" && r.Method == http.MethodPost:
		raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			adminErr(http.StatusBadRequest, "reading body: "+err.Error())
			return
		}
		cert, err := ParseCertificate(raw)
		if err != nil {
			adminErr(http.StatusBadRequest, err.Error())
			return
		}
		if err := s.RegisterAppCertificate(segs[1], segs[3], cert); err != nil {
			adminErr(http.StatusBadRequest, err.Error())
			return
		}
		s1 := sha1.Sum(cert.Raw) //nolint:gosec // thumbprint
		s256 := sha256.Sum256(cert.Raw)
		writeJSON(w, http.StatusCreated, map[string]string{
			"thumbprint":          strings.ToUpper(hex.EncodeToString(s1[:])),
			"x5t":                 base64.RawURLEncoding.EncodeToString(s1[:]),
			"x5t#S256":            base64.RawURLEncoding.EncodeToString(s256[:]),
			"customKeyIdentifier": strings.ToUpper(hex.EncodeToString(s1[:])),
		})
	default:
		adminErr(http.StatusNotFound, "unknown admin endpoint "+r.Method+" "+r.URL.Path)
	}
}
