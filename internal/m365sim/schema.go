package m365sim

import (
	"strings"
)

// propType is the JSON shape of a Graph property, which decides how a body
// value is checked on write and how the value is rendered on read.
type propType int

const (
	pString       propType = iota // Edm.String, nullable
	pBool                         // Edm.Boolean, nullable
	pInt32                        // Edm.Int32
	pDateTime                     // Edm.DateTimeOffset, rendered RFC 3339 UTC
	pStringColl                   // Collection(Edm.String), never null
	pLicenses                     // Collection(graph.assignedLicense), never null
	pPasswordProf                 // graph.passwordProfile: write-only, read back as null
	pRaw                          // any other complex value, kept as raw JSON
)

// edmName is the Edm type name used in OData error messages.
func (t propType) edmName() string {
	switch t {
	case pString:
		return "Edm.String"
	case pBool:
		return "Edm.Boolean"
	case pInt32:
		return "Edm.Int32"
	case pDateTime:
		return "Edm.DateTimeOffset"
	case pStringColl:
		return "Collection(Edm.String)"
	case pLicenses:
		return "Collection(microsoft.graph.assignedLicense)"
	case pPasswordProf:
		return "microsoft.graph.passwordProfile"
	default:
		return "Edm.Untyped"
	}
}

// Flags of a property definition.
const (
	fDefault  = 1 << iota // returned when no $select is given
	fWritable             // accepted in POST and PATCH bodies
	fFilter               // supports eq, startsWith and in without advanced query headers
	fSeedOnly             // read-only in Graph, but a seed file may set it
)

// propDef describes one property of an entity type as the sim serves it. The
// names and types come from the Graph v1.0 CSDL (graph-v1.0-Prod.csdl); the
// CSDL conformance test checks them.
type propDef struct {
	name  string
	typ   propType
	flags int
}

func (p *propDef) has(f int) bool { return p.flags&f != 0 }

// entitySchema is the set of properties the sim knows for one entity type.
type entitySchema struct {
	// typeName is the qualified OData type, for example "microsoft.graph.user".
	typeName string
	// resource is the name Graph uses in filter error messages ("User").
	resource string
	// open mirrors OpenType="true" in the CSDL: unknown names in $select are
	// reported by the directory (Request_UnsupportedQuery) rather than by the
	// OData parser (BadRequest).
	open     bool
	props    []*propDef
	byName   map[string]*propDef // lower-case name -> definition
	defaults []*propDef
}

func newSchema(typeName, resource string, open bool, props []*propDef) *entitySchema {
	s := &entitySchema{typeName: typeName, resource: resource, open: open, props: props, byName: map[string]*propDef{}}
	for _, p := range props {
		s.byName[strings.ToLower(p.name)] = p
		if p.has(fDefault) {
			s.defaults = append(s.defaults, p)
		}
	}
	return s
}

// lookup finds a property by name, case-insensitively as Graph does for
// $select and $filter.
func (s *entitySchema) lookup(name string) *propDef { return s.byName[strings.ToLower(name)] }

// schemas bundles the entity schemas; one instance per Server keeps the
// package free of mutable globals.
type schemas struct {
	user, group, domain, federation, organization, sku *entitySchema
}

// newSchemas builds the property tables.
//
// user: default set from https://learn.microsoft.com/graph/api/user-list
// ("businessPhones, displayName, givenName, id, jobTitle, mail, mobilePhone,
// officeLocation, preferredLanguage, surname, userPrincipalName"); filter
// support from https://learn.microsoft.com/graph/api/resources/user.
// group: default set of https://learn.microsoft.com/graph/api/group-list,
// limited to the properties that exist in the v1.0 CSDL.
func newSchemas() *schemas {
	d, w, f, s := fDefault, fWritable, fFilter, fSeedOnly
	user := newSchema("microsoft.graph.user", "User", true, []*propDef{
		{"id", pString, d | f | s},
		{"deletedDateTime", pDateTime, s},
		{"accountEnabled", pBool, w | f},
		{"ageGroup", pString, w | f},
		{"assignedLicenses", pLicenses, s},
		{"businessPhones", pStringColl, d | w | f},
		{"city", pString, w | f},
		{"companyName", pString, w | f},
		{"country", pString, w | f},
		{"createdDateTime", pDateTime, f | s},
		{"creationType", pString, f | s},
		{"department", pString, w | f},
		{"displayName", pString, d | w | f},
		{"employeeId", pString, w | f},
		{"employeeType", pString, w | f},
		{"faxNumber", pString, w | f},
		{"givenName", pString, d | w | f},
		{"jobTitle", pString, d | w | f},
		{"mail", pString, d | w | f},
		{"mailNickname", pString, w | f},
		{"mobilePhone", pString, d | w | f},
		{"officeLocation", pString, d | w | f},
		{"onPremisesImmutableId", pString, w | f},
		{"onPremisesSyncEnabled", pBool, f | s},
		{"otherMails", pStringColl, w | f},
		{"passwordPolicies", pString, w},
		{"passwordProfile", pPasswordProf, w},
		{"postalCode", pString, w | f},
		{"preferredLanguage", pString, d | w | f},
		{"proxyAddresses", pStringColl, f | s},
		{"state", pString, w | f},
		{"streetAddress", pString, w | f},
		{"surname", pString, d | w | f},
		{"usageLocation", pString, w | f},
		{"userPrincipalName", pString, d | w | f},
		{"userType", pString, w | f},
	})
	group := newSchema("microsoft.graph.group", "Group", true, []*propDef{
		{"id", pString, d | f | s},
		{"deletedDateTime", pDateTime, d | s},
		{"classification", pString, d | w | f},
		{"createdDateTime", pDateTime, d | f | s},
		{"description", pString, d | w | f},
		{"displayName", pString, d | w | f},
		{"expirationDateTime", pDateTime, d | s},
		{"groupTypes", pStringColl, d | w | f},
		{"isAssignableToRole", pBool, d | w | f},
		{"mail", pString, d | f | s},
		{"mailEnabled", pBool, d | w | f},
		{"mailNickname", pString, d | w | f},
		{"membershipRule", pString, d | w | f},
		{"membershipRuleProcessingState", pString, d | w | f},
		{"onPremisesDomainName", pString, d | s},
		{"onPremisesLastSyncDateTime", pDateTime, d | f | s},
		{"onPremisesNetBiosName", pString, d | s},
		{"onPremisesSamAccountName", pString, d | s},
		{"onPremisesSecurityIdentifier", pString, d | f | s},
		{"onPremisesSyncEnabled", pBool, d | f | s},
		{"preferredDataLocation", pString, d | w},
		{"preferredLanguage", pString, d | w | f},
		{"proxyAddresses", pStringColl, d | f | s},
		{"renewedDateTime", pDateTime, d | f | s},
		{"resourceBehaviorOptions", pStringColl, d | w},
		{"resourceProvisioningOptions", pStringColl, d | f | s},
		{"securityEnabled", pBool, d | w | f},
		{"securityIdentifier", pString, d | f | s},
		{"theme", pString, d | w},
		{"visibility", pString, d | w},
	})
	// domain: https://learn.microsoft.com/graph/api/resources/domain (not an
	// open type). Only authenticationType is writable through PATCH here.
	domain := newSchema("microsoft.graph.domain", "Domain", false, []*propDef{
		{"authenticationType", pString, d | w},
		{"availabilityStatus", pString, d},
		{"id", pString, d},
		{"isAdminManaged", pBool, d},
		{"isDefault", pBool, d},
		{"isInitial", pBool, d},
		{"isRoot", pBool, d},
		{"isVerified", pBool, d},
		{"passwordNotificationWindowInDays", pInt32, d},
		{"passwordValidityPeriodInDays", pInt32, d},
		{"supportedServices", pStringColl, d},
	})
	// internalDomainFederation:
	// https://learn.microsoft.com/graph/api/resources/internaldomainfederation
	federation := newSchema("microsoft.graph.internalDomainFederation", "InternalDomainFederation", false, []*propDef{
		{"id", pString, d},
		{"displayName", pString, d | w},
		{"issuerUri", pString, d | w},
		{"metadataExchangeUri", pString, d | w},
		{"signingCertificate", pString, d | w},
		{"passiveSignInUri", pString, d | w},
		{"preferredAuthenticationProtocol", pString, d | w},
		{"activeSignInUri", pString, d | w},
		{"signOutUri", pString, d | w},
		{"promptLoginBehavior", pString, d | w},
		{"isSignedAuthenticationRequestRequired", pBool, d | w},
		{"nextSigningCertificate", pString, d | w},
		{"signingCertificateUpdateStatus", pRaw, d | w},
		{"federatedIdpMfaBehavior", pString, d | w},
		{"passwordResetUri", pString, d | w},
	})
	// organization: https://learn.microsoft.com/graph/api/organization-list
	organization := newSchema("microsoft.graph.organization", "Organization", true, []*propDef{
		{"id", pString, d},
		{"deletedDateTime", pDateTime, d},
		{"assignedPlans", pRaw, d},
		{"businessPhones", pStringColl, d},
		{"city", pString, d},
		{"country", pString, d},
		{"countryLetterCode", pString, d},
		{"createdDateTime", pDateTime, d},
		{"defaultUsageLocation", pString, d},
		{"displayName", pString, d},
		{"marketingNotificationEmails", pStringColl, d},
		{"onPremisesLastSyncDateTime", pDateTime, d},
		{"onPremisesSyncEnabled", pBool, d},
		{"postalCode", pString, d},
		{"preferredLanguage", pString, d},
		{"provisionedPlans", pRaw, d},
		{"securityComplianceNotificationMails", pStringColl, d},
		{"securityComplianceNotificationPhones", pStringColl, d},
		{"state", pString, d},
		{"street", pString, d},
		{"technicalNotificationMails", pStringColl, d},
		{"tenantType", pString, d},
		{"verifiedDomains", pRaw, d},
	})
	// subscribedSku: https://learn.microsoft.com/graph/api/subscribedsku-list
	sku := newSchema("microsoft.graph.subscribedSku", "SubscribedSku", false, []*propDef{
		{"accountId", pString, d},
		{"accountName", pString, d},
		{"appliesTo", pString, d},
		{"capabilityStatus", pString, d},
		{"consumedUnits", pInt32, d},
		{"id", pString, d},
		{"prepaidUnits", pRaw, d},
		{"servicePlans", pRaw, d},
		{"skuId", pString, d},
		{"skuPartNumber", pString, d},
		{"subscriptionIds", pStringColl, d},
	})
	return &schemas{user: user, group: group, domain: domain, federation: federation, organization: organization, sku: sku}
}
