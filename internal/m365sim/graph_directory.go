package m365sim

import (
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Domains, federation configuration, organization, subscribed SKUs and
// deleted items. Sources: https://learn.microsoft.com/graph/api/resources/domain,
// domain-get, domain-update, domain-post-federationconfiguration,
// domain-list-federationconfiguration, internaldomainfederation-get/update/
// delete, organization-list, subscribedsku-list,
// directory-deleteditems-list/get/restore/delete, and the contract §3 and §7.

var (
	permDomainRead = perm{
		app:       []string{"Domain.Read.All", "Domain.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
		delegated: []string{"Domain.Read.All", "Domain.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All"},
	}
	permDomainWrite = perm{
		app:       []string{"Domain.ReadWrite.All"},
		delegated: []string{"Domain.ReadWrite.All", "Directory.AccessAsUser.All"},
		roles:     []string{"Domain Name Administrator"},
	}
	permFedRead = perm{
		app:       []string{"Domain-InternalFederation.Read.All", "Domain-InternalFederation.ReadWrite.All", "Domain.Read.All", "Domain.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
		delegated: []string{"Domain-InternalFederation.Read.All", "Domain-InternalFederation.ReadWrite.All", "Domain.Read.All", "Domain.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All"},
	}
	permFedWrite = perm{
		app:       []string{"Domain-InternalFederation.ReadWrite.All", "Domain.ReadWrite.All"},
		delegated: []string{"Domain-InternalFederation.ReadWrite.All", "Domain.ReadWrite.All", "Directory.AccessAsUser.All"},
		roles:     []string{"Domain Name Administrator", "External Identity Provider Administrator", "Hybrid Identity Administrator", "Security Administrator"},
	}
	permOrgRead = perm{
		app:       []string{"Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
		delegated: []string{"User.Read", "Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All"},
	}
	permSKURead = perm{
		app:       []string{"LicenseAssignment.Read.All", "Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
		delegated: []string{"LicenseAssignment.Read.All", "Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
	}
	permDeletedRead = perm{
		app:       []string{"User.Read.All", "User.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
		delegated: []string{"User.Read.All", "User.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
	}
	permDeletedWrite = perm{
		app:       []string{"User.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"},
		delegated: []string{"User.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All", "Directory.AccessAsUser.All"},
		roles:     []string{"User Administrator", "Groups Administrator"},
	}
)

// fedEnums lists the enumerations of internalDomainFederation (graph-v1.0
// CSDL: authenticationProtocol, promptLoginBehavior, federatedIdpMfaBehavior).
func fedEnums() map[string][]string {
	return map[string][]string{
		"preferredAuthenticationProtocol": {"wsFed", "saml"},
		"promptLoginBehavior":             {"translateToFreshPasswordAuthentication", "nativeSupport", "disabled"},
		"federatedIdpMfaBehavior":         {"acceptIfMfaDoneByFederatedIdp", "enforceMfaByFederatedIdp", "rejectMfaByFederatedIdp"},
	}
}

func (c *gctx) routeDomains(m string, segs []string) *graphError {
	switch len(segs) {
	case 0:
		if m != http.MethodGet {
			return errMethod()
		}
		return c.listDomains()
	case 1:
		switch m {
		case http.MethodGet:
			return c.getDomain(segs[0])
		case http.MethodPatch:
			return c.updateDomain(segs[0])
		}
		return errMethod()
	}
	if segs[1] != "federationConfiguration" || len(segs) > 3 {
		return errODataBadRequest("Resource not found for the segment '%s'.", segs[len(segs)-1])
	}
	if len(segs) == 2 {
		switch m {
		case http.MethodGet:
			return c.listFederation(segs[0])
		case http.MethodPost:
			return c.createFederation(segs[0])
		}
		return errMethod()
	}
	switch m {
	case http.MethodGet:
		return c.getFederation(segs[0], segs[2])
	case http.MethodPatch:
		return c.updateFederation(segs[0], segs[2])
	case http.MethodDelete:
		return c.deleteFederation(segs[0], segs[2])
	}
	return errMethod()
}

// domainGetter exposes a domain's Graph properties. authenticationType and
// the federation of a subdomain come from its root.
func (c *gctx) domainGetter(d *Domain) func(string) any {
	return func(name string) any {
		switch name {
		case "id":
			return d.Name
		case "authenticationType":
			if c.t.effectiveFederation(d) != nil {
				return "Federated"
			}
			return "Managed"
		case "isAdminManaged":
			return true
		case "isDefault":
			return d.IsDefault
		case "isInitial":
			return d.IsInitial
		case "isRoot":
			return c.t.rootOf(d) == d
		case "isVerified":
			return d.IsVerified
		case "passwordNotificationWindowInDays":
			return int64(14)
		case "passwordValidityPeriodInDays":
			return int64(2147483647)
		case "supportedServices":
			if !d.IsVerified {
				return []string{}
			}
			if d.IsInitial {
				return []string{"Email", "OfficeCommunicationsOnline"}
			}
			return []string{"Email", "OfficeCommunicationsOnline", "Intune"}
		}
		return nil
	}
}

func (c *gctx) listDomains() *graphError {
	if e := c.allow(permDomainRead); e != nil {
		return e
	}
	if e := c.checkQueryOptions("$select"); e != nil {
		return e
	}
	props, e := c.selectProps(c.s.schemas.domain)
	if e != nil {
		return e
	}
	ds := c.t.Domains
	c.writeCollection(c.contextFor("domains", props, false), 0, false, nil, len(ds), func(b []byte, i int) []byte {
		return appendObject(b, props, c.domainGetter(ds[i]), nil)
	})
	return nil
}

func (c *gctx) getDomain(name string) *graphError {
	if e := c.allow(permDomainRead); e != nil {
		return e
	}
	if e := c.checkQueryOptions("$select"); e != nil {
		return e
	}
	props, e := c.selectProps(c.s.schemas.domain)
	if e != nil {
		return e
	}
	d := c.t.domain(name)
	if d == nil {
		return errNotFound(name)
	}
	c.write(http.StatusOK, appendObject(nil, props, c.domainGetter(d), func(b []byte) []byte {
		b = append(b, `"@odata.context":`...)
		return appendJSONString(b, c.contextFor("domains", props, true))
	}))
	return nil
}

// updateDomain implements PATCH /domains/{id}: isDefault, and
// authenticationType "Managed" to defederate (contract §3).
func (c *gctx) updateDomain(name string) *graphError {
	if e := c.allow(permDomainWrite); e != nil {
		return e
	}
	d := c.t.domain(name)
	if d == nil {
		return errNotFound(name)
	}
	body, e := c.readBody()
	if e != nil {
		return e
	}
	var makeDefault, defederate bool
	for k, v := range body {
		switch k {
		case "@odata.type":
		case "isDefault":
			b, ok := v.(bool)
			if !ok {
				return errPrimitive("Edm.Boolean")
			}
			if b {
				if !d.IsVerified {
					return errBadRequest("Unverified domains cannot be set as the default domain.")
				}
				makeDefault = true
			}
		case "authenticationType":
			s, ok := v.(string)
			if !ok {
				return errPrimitive("Edm.String")
			}
			switch {
			case strings.EqualFold(s, "Managed"):
				defederate = true
			case strings.EqualFold(s, "Federated"):
				if c.t.effectiveFederation(d) == nil {
					return errBadRequest("A domain is federated by creating its federationConfiguration.")
				}
			default:
				return errInvalidValue("authenticationType", "Domain")
			}
		default:
			if p := c.s.schemas.domain.lookup(k); p != nil && p.name == k {
				return errBadRequest("Property '%s' is read-only and cannot be set.", k)
			}
			return errODataBadRequest("The property '%s' does not exist on type 'microsoft.graph.domain'. Make sure to only use property names that are defined by the type or mark the type as open type.", k)
		}
	}
	if defederate {
		root := c.t.rootOf(d)
		if root != d && root.Federation != nil {
			return errBadRequest("The authentication type of a subdomain is inherited from its root domain '%s'.", root.Name)
		}
		d.Federation = nil
	}
	if makeDefault {
		if c.t.effectiveFederation(d) != nil {
			return errBadRequest("A federated domain cannot be set as the default domain.")
		}
		for _, o := range c.t.Domains {
			o.IsDefault = false
		}
		d.IsDefault = true
	}
	c.s.markDirty()
	c.noContent()
	return nil
}

func (c *gctx) fedGetter(f *Federation) func(string) any {
	return func(name string) any {
		if name == "id" {
			return f.ID
		}
		return f.Props[name]
	}
}

func (c *gctx) writeFederation(status int, d *Domain, f *Federation, entity bool) {
	ctx := c.context("domains('" + d.Name + "')/federationConfiguration")
	annot := func(b []byte) []byte {
		b = append(b, `"@odata.context":`...)
		if entity {
			b = appendJSONString(b, ctx+"/$entity")
		} else {
			b = appendJSONString(b, ctx)
		}
		b = append(b, `,"@odata.type":"#microsoft.graph.internalDomainFederation"`...)
		return b
	}
	c.write(status, appendObject(nil, c.s.schemas.federation.defaults, c.fedGetter(f), annot))
}

func (c *gctx) listFederation(name string) *graphError {
	if e := c.allow(permFedRead); e != nil {
		return e
	}
	d := c.t.domain(name)
	if d == nil {
		return errNotFound(name)
	}
	f := c.t.effectiveFederation(d)
	if f == nil {
		// Contract §3: 404 when the domain has no federation configuration.
		return errNotFound(name)
	}
	b := []byte(`{"@odata.context":`)
	b = appendJSONString(b, c.context("domains('"+d.Name+"')/federationConfiguration"))
	b = append(b, `,"value":[`...)
	b = appendObject(b, c.s.schemas.federation.defaults, c.fedGetter(f), typeAnnotation("#microsoft.graph.internalDomainFederation"))
	b = append(b, "]}"...)
	c.write(http.StatusOK, b)
	return nil
}

func (c *gctx) findFederation(name, id string) (*Domain, *Federation, *graphError) {
	d := c.t.domain(name)
	if d == nil {
		return nil, nil, errNotFound(name)
	}
	f := c.t.effectiveFederation(d)
	if f == nil || !strings.EqualFold(f.ID, id) {
		return nil, nil, errNotFound(id)
	}
	return d, f, nil
}

func (c *gctx) getFederation(name, id string) *graphError {
	if e := c.allow(permFedRead); e != nil {
		return e
	}
	d, f, e := c.findFederation(name, id)
	if e != nil {
		return e
	}
	c.writeFederation(http.StatusOK, d, f, true)
	return nil
}

// checkFederationProps validates enum values, certificates and issuer
// uniqueness of a federation body; self is the object being updated.
func (c *gctx) checkFederationProps(props map[string]any, self *Federation) *graphError {
	for k, allowed := range fedEnums() {
		v, ok := props[k]
		if !ok || v == nil {
			continue
		}
		s, _ := v.(string)
		if !hasFold(allowed, s) {
			return errODataBadRequest("Requested value '%s' was not found.", s)
		}
		for _, a := range allowed {
			if strings.EqualFold(a, s) {
				props[k] = a
			}
		}
	}
	for _, k := range []string{"signingCertificate", "nextSigningCertificate"} {
		v, ok := props[k]
		if !ok || v == nil {
			continue
		}
		s, _ := v.(string)
		if !validCertificate(s) {
			return errInvalidValue(k, "InternalDomainFederation")
		}
	}
	if v, ok := props["issuerUri"]; ok {
		s, _ := v.(string)
		if s == "" {
			return errInvalidValue("issuerUri", "InternalDomainFederation")
		}
		for _, d := range c.t.Domains {
			if f := d.Federation; f != nil && f != self && strings.EqualFold(f.Props["issuerUri"].(string), s) {
				return errConflict("issuerUri")
			}
		}
	}
	return nil
}

// validCertificate accepts base64 of an X.509 certificate's DER bytes on one
// line, without PEM armour (contract §3).
func validCertificate(s string) bool {
	if strings.ContainsAny(s, "\r\n -") {
		return false
	}
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return false
	}
	_, err = x509.ParseCertificate(der)
	return err == nil
}

// createFederation implements POST /domains/{id}/federationConfiguration.
// The domain must be verified, not initial, not the default, and managed;
// signingCertificate, issuerUri and preferredAuthenticationProtocol must be
// sent (contract §3).
func (c *gctx) createFederation(name string) *graphError {
	if e := c.allow(permFedWrite); e != nil {
		return e
	}
	d := c.t.domain(name)
	if d == nil {
		return errNotFound(name)
	}
	body, e := c.readBody()
	if e != nil {
		return e
	}
	props, e := parseProps(c.s.schemas.federation, body, modeWrite)
	if e != nil {
		return e
	}
	switch {
	case !d.IsVerified:
		return errBadRequest("Domain '%s' is not verified. Only verified domains can be federated.", d.Name)
	case d.IsInitial:
		return errBadRequest("The initial domain '%s' cannot be federated.", d.Name)
	case d.IsDefault:
		return errBadRequest("The default domain '%s' cannot be federated. Set another domain as default first.", d.Name)
	case c.t.rootOf(d) != d:
		return errBadRequest("Domain '%s' is a subdomain: it inherits the authentication of its root domain '%s'.", d.Name, c.t.rootOf(d).Name)
	case c.t.effectiveFederation(d) != nil:
		return errBadRequest("Domain '%s' is already federated.", d.Name)
	}
	for _, req := range []string{"issuerUri", "signingCertificate", "preferredAuthenticationProtocol"} {
		if v, ok := props[req]; !ok || v == nil || v == "" {
			return errRequired(req)
		}
	}
	if e := c.checkFederationProps(props, nil); e != nil {
		return e
	}
	if _, ok := props["promptLoginBehavior"]; !ok {
		props["promptLoginBehavior"] = "translateToFreshPasswordAuthentication"
	}
	if _, ok := props["federatedIdpMfaBehavior"]; !ok {
		props["federatedIdpMfaBehavior"] = "acceptIfMfaDoneByFederatedIdp"
	}
	if _, ok := props["isSignedAuthenticationRequestRequired"]; !ok {
		props["isSignedAuthenticationRequestRequired"] = false
	}
	props["signingCertificateUpdateStatus"] = c.s.certUpdateStatus()
	f := &Federation{ID: c.s.newID(), Props: props}
	d.Federation = f
	c.s.markDirty()
	c.writeFederation(http.StatusCreated, d, f, true)
	return nil
}

func (s *Server) certUpdateStatus() rawJSON {
	b := []byte(`{"certificateUpdateResult":"Success","lastRunDateTime":`)
	b = appendJSONString(b, s.now().UTC().Format("2006-01-02T15:04:05.0000000Z"))
	return append(b, '}')
}

func (c *gctx) updateFederation(name, id string) *graphError {
	if e := c.allow(permFedWrite); e != nil {
		return e
	}
	d, f, e := c.findFederation(name, id)
	if e != nil {
		return e
	}
	body, e := c.readBody()
	if e != nil {
		return e
	}
	props, e := parseProps(c.s.schemas.federation, body, modeWrite)
	if e != nil {
		return e
	}
	for _, k := range []string{"issuerUri", "signingCertificate", "preferredAuthenticationProtocol"} {
		if v, ok := props[k]; ok && (v == nil || v == "") {
			return errInvalidValue(k, "InternalDomainFederation")
		}
	}
	if e := c.checkFederationProps(props, f); e != nil {
		return e
	}
	for k, v := range props {
		f.Props[k] = v
	}
	if _, ok := props["signingCertificate"]; ok {
		f.Props["signingCertificateUpdateStatus"] = c.s.certUpdateStatus()
	}
	c.s.markDirty()
	c.writeFederation(http.StatusOK, d, f, true)
	return nil
}

func (c *gctx) deleteFederation(name, id string) *graphError {
	if e := c.allow(permFedWrite); e != nil {
		return e
	}
	d, _, e := c.findFederation(name, id)
	if e != nil {
		return e
	}
	c.t.rootOf(d).Federation = nil
	c.s.markDirty()
	c.noContent()
	return nil
}

// routeOrganization serves GET /organization (a one-element collection) and
// GET /organization/{id}.
func (c *gctx) routeOrganization(m string, segs []string) *graphError {
	if m != http.MethodGet {
		return errMethod()
	}
	if e := c.allow(permOrgRead); e != nil {
		return e
	}
	if e := c.checkQueryOptions("$select"); e != nil {
		return e
	}
	props, e := c.selectProps(c.s.schemas.organization)
	if e != nil {
		return e
	}
	get := c.orgGetter()
	switch len(segs) {
	case 0:
		c.writeCollection(c.contextFor("organization", props, false), 0, false, nil, 1, func(b []byte, _ int) []byte {
			return appendObject(b, props, get, nil)
		})
		return nil
	case 1:
		if !strings.EqualFold(segs[0], c.t.ID) {
			return errNotFound(segs[0])
		}
		c.write(http.StatusOK, appendObject(nil, props, get, func(b []byte) []byte {
			b = append(b, `"@odata.context":`...)
			return appendJSONString(b, c.contextFor("organization", props, true))
		}))
		return nil
	}
	return errODataBadRequest("Resource not found for the segment '%s'.", segs[1])
}

func (c *gctx) orgGetter() func(string) any {
	t := c.t
	return func(name string) any {
		switch name {
		case "id":
			return t.ID
		case "displayName":
			return t.DisplayName
		case "createdDateTime":
			return t.CreatedDateTime
		case "countryLetterCode":
			return nonEmpty(t.CountryLetterCode)
		case "onPremisesSyncEnabled":
			if t.OnPremisesSyncEnabled {
				return true
			}
			return nil
		case "tenantType":
			return "AAD"
		case "assignedPlans", "provisionedPlans":
			return rawJSON("[]")
		case "verifiedDomains":
			b := []byte{'['}
			n := 0
			for _, d := range t.Domains {
				if !d.IsVerified {
					continue
				}
				if n > 0 {
					b = append(b, ',')
				}
				n++
				typ := "Managed"
				if t.effectiveFederation(d) != nil {
					typ = "Federated"
				}
				caps := "Email, OfficeCommunicationsOnline"
				b = append(b, `{"capabilities":`...)
				b = appendJSONString(b, caps)
				b = append(b, `,"isDefault":`...)
				b = appendValue(b, pBool, d.IsDefault)
				b = append(b, `,"isInitial":`...)
				b = appendValue(b, pBool, d.IsInitial)
				b = append(b, `,"name":`...)
				b = appendJSONString(b, d.Name)
				b = append(b, `,"type":`...)
				b = appendJSONString(b, typ)
				b = append(b, '}')
			}
			return rawJSON(append(b, ']'))
		}
		return nil
	}
}

func nonEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// routeSKUs serves GET /subscribedSkus and GET /subscribedSkus/{id}.
func (c *gctx) routeSKUs(m string, segs []string) *graphError {
	if m != http.MethodGet {
		return errMethod()
	}
	if e := c.allow(permSKURead); e != nil {
		return e
	}
	if e := c.checkQueryOptions("$select"); e != nil {
		return e
	}
	props, e := c.selectProps(c.s.schemas.sku)
	if e != nil {
		return e
	}
	get := func(s *SKU) func(string) any {
		return func(name string) any {
			switch name {
			case "accountId":
				return c.t.ID
			case "accountName":
				return c.t.DisplayName
			case "appliesTo":
				return "User"
			case "capabilityStatus":
				return "Enabled"
			case "consumedUnits":
				return int64(s.consumed)
			case "id":
				return c.t.ID + "_" + s.SkuID
			case "prepaidUnits":
				b := []byte(`{"enabled":`)
				b = appendValue(b, pInt32, int64(s.PrepaidEnabled))
				return rawJSON(append(b, `,"lockedOut":0,"suspended":0,"warning":0}`...))
			case "servicePlans":
				b := []byte{'['}
				for i, p := range s.ServicePlans {
					if i > 0 {
						b = append(b, ',')
					}
					b = append(b, `{"servicePlanId":`...)
					b = appendJSONString(b, p.ServicePlanID)
					b = append(b, `,"servicePlanName":`...)
					b = appendJSONString(b, p.ServicePlanName)
					b = append(b, `,"provisioningStatus":"Success","appliesTo":"User"}`...)
				}
				return rawJSON(append(b, ']'))
			case "skuId":
				return s.SkuID
			case "skuPartNumber":
				return s.SkuPartNumber
			case "subscriptionIds":
				return []string{}
			}
			return nil
		}
	}
	switch len(segs) {
	case 0:
		skus := c.t.SKUs
		c.writeCollection(c.contextFor("subscribedSkus", props, false), 0, false, nil, len(skus), func(b []byte, i int) []byte {
			return appendObject(b, props, get(skus[i]), nil)
		})
		return nil
	case 1:
		for _, s := range c.t.SKUs {
			if strings.EqualFold(c.t.ID+"_"+s.SkuID, segs[0]) {
				c.write(http.StatusOK, appendObject(nil, props, get(s), func(b []byte) []byte {
					b = append(b, `"@odata.context":`...)
					return appendJSONString(b, c.contextFor("subscribedSkus", props, true))
				}))
				return nil
			}
		}
		return errNotFound(segs[0])
	}
	return errODataBadRequest("Resource not found for the segment '%s'.", segs[1])
}

// routeDeleted serves /directory/deletedItems: list by type cast, get,
// restore and permanent delete.
func (c *gctx) routeDeleted(m string, segs []string) *graphError {
	if len(segs) == 0 {
		return errBadRequest("Retrieving deleted items requires a type cast, for example /directory/deletedItems/microsoft.graph.user.")
	}
	cast := strings.TrimPrefix(segs[0], "microsoft.graph.")
	if len(segs) == 1 && (segs[0] == "microsoft.graph.user" || segs[0] == "microsoft.graph.group") {
		if m != http.MethodGet {
			return errMethod()
		}
		if e := c.allow(permDeletedRead); e != nil {
			return e
		}
		return c.listDeleted(cast)
	}
	id := strings.ToLower(segs[0])
	item, ok := c.t.deleted[id]
	switch {
	case len(segs) == 1 && m == http.MethodGet:
		if e := c.allow(permDeletedRead); e != nil {
			return e
		}
		if !ok {
			return errNotFound(segs[0])
		}
		c.write(http.StatusOK, c.renderDeleted(item, true))
		return nil
	case len(segs) == 1 && m == http.MethodDelete:
		if e := c.allow(permDeletedWrite); e != nil {
			return e
		}
		if !ok {
			return errNotFound(segs[0])
		}
		delete(c.t.deleted, id)
		if item.user != nil {
			c.t.recordUser(id)
		} else {
			c.t.recordGroup(id)
		}
		c.s.markDirty()
		c.noContent()
		return nil
	case len(segs) == 2 && (segs[1] == "restore" || segs[1] == "microsoft.graph.restore") && m == http.MethodPost:
		if e := c.allow(permDeletedWrite); e != nil {
			return e
		}
		if !ok {
			return errNotFound(segs[0])
		}
		if e := c.s.restore(c.t, item); e != nil {
			return e
		}
		c.write(http.StatusOK, c.renderDeleted(item, true))
		return nil
	case len(segs) <= 2:
		return errMethod()
	}
	return errODataBadRequest("Resource not found for the segment '%s'.", segs[len(segs)-1])
}

func (c *gctx) listDeleted(cast string) *graphError {
	if e := c.checkQueryOptions("$select", "$top", "$skiptoken"); e != nil {
		return e
	}
	var items []deletedItem
	for _, it := range c.t.deleted {
		if (cast == "user") == (it.user != nil) {
			items = append(items, it)
		}
	}
	seqOf := func(it deletedItem) uint64 {
		if it.user != nil {
			return it.user.seq
		}
		return it.group.seq
	}
	sort.Slice(items, func(i, j int) bool { return seqOf(items[i]) < seqOf(items[j]) })
	c.writeCollection(c.context("directory/deletedItems/microsoft.graph."+cast), 0, false, nil, len(items), func(b []byte, i int) []byte {
		return c.appendDeleted(b, items[i])
	})
	return nil
}

func (c *gctx) appendDeleted(b []byte, it deletedItem) []byte {
	if it.user != nil {
		props := append([]*propDef{c.s.schemas.user.lookup("deletedDateTime")}, c.s.schemas.user.defaults...)
		return appendObject(b, props, it.user.get, typeAnnotation("#microsoft.graph.user"))
	}
	return appendObject(b, c.s.schemas.group.defaults, it.group.get, typeAnnotation("#microsoft.graph.group"))
}

func (c *gctx) renderDeleted(it deletedItem, entity bool) []byte {
	b := c.appendDeleted(nil, it)
	ctx := []byte(`{"@odata.context":`)
	ctx = appendJSONString(ctx, c.context("directory/deletedItems/$entity"))
	ctx = append(ctx, ',')
	return append(ctx, b[1:]...)
}

// restore brings a deleted user or group back; a user whose UPN was taken in
// the meantime cannot be restored.
func (s *Server) restore(t *Tenant, it deletedItem) *graphError {
	if u := it.user; u != nil {
		if o := t.usersIdx().byUPN[strings.ToLower(u.str("userPrincipalName"))]; o != nil {
			return errConflict("userPrincipalName")
		}
		if im := u.str("onPremisesImmutableId"); im != "" && t.usersIdx().byImmutable[im] != nil {
			return errConflict("onPremisesImmutableId")
		}
		delete(t.deleted, u.id)
		u.deletedAt = time.Time{}
		t.users.add(u)
		t.indexUser(u)
		for _, gid := range u.groupsAtDeletion {
			if g, ok := t.groups.get(gid); ok && !g.isMember(u.id) {
				g.addMember(u.id)
				t.recordMember(g.id, u.id, true)
			}
		}
		u.groupsAtDeletion = nil
		t.recordUser(u.id)
		t.countLicenses(u, +1)
	} else {
		g := it.group
		delete(t.deleted, g.id)
		g.deletedAt = time.Time{}
		t.groups.add(g)
		t.recordGroup(g.id)
	}
	s.markDirty()
	return nil
}
