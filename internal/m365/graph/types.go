package graph

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Graph resource types, with the property names of Graph v1.0. Only the
// properties Portico uses are here. Writes send the non-zero fields only
// (omitempty); to set a property to null, name it in the null list of the
// update methods.

// Organization is https://learn.microsoft.com/graph/api/resources/organization.
type Organization struct {
	ID                string `json:"id,omitempty"`
	DisplayName       string `json:"displayName,omitempty"`
	CountryLetterCode string `json:"countryLetterCode,omitempty"`
	TenantType        string `json:"tenantType,omitempty"`
	// OnPremisesSyncEnabled is true when the tenant is synced from
	// on-premises Active Directory (hybrid); null when it never was.
	OnPremisesSyncEnabled *bool            `json:"onPremisesSyncEnabled,omitempty"`
	VerifiedDomains       []VerifiedDomain `json:"verifiedDomains,omitempty"`
	CreatedDateTime       *time.Time       `json:"createdDateTime,omitempty"`
}

// VerifiedDomain is https://learn.microsoft.com/graph/api/resources/verifieddomain.
type VerifiedDomain struct {
	Name         string `json:"name"`
	Type         string `json:"type,omitempty"` // Managed or Federated
	IsDefault    bool   `json:"isDefault"`
	IsInitial    bool   `json:"isInitial"`
	Capabilities string `json:"capabilities,omitempty"`
}

// Domain is https://learn.microsoft.com/graph/api/resources/domain.
type Domain struct {
	// ID is the domain name.
	ID string `json:"id"`
	// AuthenticationType is Managed or Federated; a subdomain shows its
	// root's.
	AuthenticationType string   `json:"authenticationType"`
	IsVerified         bool     `json:"isVerified"`
	IsDefault          bool     `json:"isDefault"`
	IsInitial          bool     `json:"isInitial"`
	IsRoot             bool     `json:"isRoot"`
	IsAdminManaged     bool     `json:"isAdminManaged"`
	SupportedServices  []string `json:"supportedServices,omitempty"`
}

// Federated reports authenticationType Federated.
func (d Domain) Federated() bool { return strings.EqualFold(d.AuthenticationType, "Federated") }

// DomainUpdate is the body of PATCH /domains/{id}: make a domain the
// default, or defederate it with AuthenticationType "Managed" (contract §3).
type DomainUpdate struct {
	AuthenticationType string `json:"authenticationType,omitempty"`
	IsDefault          *bool  `json:"isDefault,omitempty"`
}

// Values of InternalDomainFederation's enumerations
// (https://learn.microsoft.com/graph/api/resources/internaldomainfederation).
const (
	ProtocolWSFed = "wsFed"
	ProtocolSAML  = "saml"

	PromptLoginTranslate = "translateToFreshPasswordAuthentication"
	PromptLoginNative    = "nativeSupport"
	PromptLoginDisabled  = "disabled"

	MfaAcceptIfDoneByIdp = "acceptIfMfaDoneByFederatedIdp"
	MfaEnforceByIdp      = "enforceMfaByFederatedIdp"
	MfaRejectByIdp       = "rejectMfaByFederatedIdp"
)

// InternalDomainFederation is a domain's federation configuration
// (#microsoft.graph.internalDomainFederation). Certificates are base64 of
// the DER bytes on one line, no PEM armour (signing.Certificate.Base64).
type InternalDomainFederation struct {
	ID                                    string                          `json:"id,omitempty"`
	DisplayName                           string                          `json:"displayName,omitempty"`
	IssuerURI                             string                          `json:"issuerUri,omitempty"`
	PassiveSignInURI                      string                          `json:"passiveSignInUri,omitempty"`
	ActiveSignInURI                       string                          `json:"activeSignInUri,omitempty"`
	MetadataExchangeURI                   string                          `json:"metadataExchangeUri,omitempty"`
	SignOutURI                            string                          `json:"signOutUri,omitempty"`
	SigningCertificate                    string                          `json:"signingCertificate,omitempty"`
	NextSigningCertificate                string                          `json:"nextSigningCertificate,omitempty"`
	PreferredAuthenticationProtocol       string                          `json:"preferredAuthenticationProtocol,omitempty"`
	PromptLoginBehavior                   string                          `json:"promptLoginBehavior,omitempty"`
	FederatedIdpMfaBehavior               string                          `json:"federatedIdpMfaBehavior,omitempty"`
	IsSignedAuthenticationRequestRequired *bool                           `json:"isSignedAuthenticationRequestRequired,omitempty"`
	SigningCertificateUpdateStatus        *SigningCertificateUpdateStatus `json:"signingCertificateUpdateStatus,omitempty"`
}

// SigningCertificateUpdateStatus is read-only: the result of the last
// certificate update.
type SigningCertificateUpdateStatus struct {
	CertificateUpdateResult string     `json:"certificateUpdateResult,omitempty"`
	LastRunDateTime         *time.Time `json:"lastRunDateTime,omitempty"`
}

// User is https://learn.microsoft.com/graph/api/resources/user.
// usageLocation and onPremisesImmutableId come back only with $select
// (contract §7).
type User struct {
	ID                    string   `json:"id,omitempty"`
	UserPrincipalName     string   `json:"userPrincipalName,omitempty"`
	DisplayName           string   `json:"displayName,omitempty"`
	GivenName             string   `json:"givenName,omitempty"`
	Surname               string   `json:"surname,omitempty"`
	Mail                  string   `json:"mail,omitempty"`
	MailNickname          string   `json:"mailNickname,omitempty"`
	AccountEnabled        *bool    `json:"accountEnabled,omitempty"`
	UsageLocation         string   `json:"usageLocation,omitempty"`
	OnPremisesImmutableID string   `json:"onPremisesImmutableId,omitempty"`
	JobTitle              string   `json:"jobTitle,omitempty"`
	Department            string   `json:"department,omitempty"`
	OfficeLocation        string   `json:"officeLocation,omitempty"`
	MobilePhone           string   `json:"mobilePhone,omitempty"`
	BusinessPhones        []string `json:"businessPhones,omitempty"`
	// ProxyAddresses is read-only: "SMTP:primary@…" and "smtp:alias@…".
	ProxyAddresses  []string         `json:"proxyAddresses,omitempty"`
	PasswordProfile *PasswordProfile `json:"passwordProfile,omitempty"`
	// AssignedLicenses is read-only (use AssignLicense).
	AssignedLicenses []AssignedLicense `json:"assignedLicenses,omitempty"`
	// Removed is set in delta results for deleted objects.
	Removed *Removed `json:"@removed,omitempty"`
}

// PasswordProfile is a managed-domain user's password.
type PasswordProfile struct {
	Password                             string `json:"password,omitempty"`
	ForceChangePasswordNextSignIn        bool   `json:"forceChangePasswordNextSignIn"`
	ForceChangePasswordNextSignInWithMfa bool   `json:"forceChangePasswordNextSignInWithMfa,omitempty"`
}

// AssignedLicense is a licence of a user, or one to add.
type AssignedLicense struct {
	SkuID         string   `json:"skuId"`
	DisabledPlans []string `json:"disabledPlans"`
}

// MarshalJSON always sends disabledPlans as an array (assignLicense needs it).
func (l AssignedLicense) MarshalJSON() ([]byte, error) {
	type plain AssignedLicense
	if l.DisabledPlans == nil {
		l.DisabledPlans = []string{}
	}
	return json.Marshal(plain(l))
}

// Removed is the @removed annotation of delta results: reason "changed"
// (soft-deleted, restorable) or "deleted" (gone for good).
type Removed struct {
	Reason string `json:"reason"`
}

// Group kinds Graph can create (contract §7).
const (
	GroupTypeUnified = "Unified"
)

// Group is https://learn.microsoft.com/graph/api/resources/group.
type Group struct {
	ID              string   `json:"id,omitempty"`
	DisplayName     string   `json:"displayName,omitempty"`
	Description     string   `json:"description,omitempty"`
	MailNickname    string   `json:"mailNickname,omitempty"`
	Mail            string   `json:"mail,omitempty"` // read-only
	MailEnabled     *bool    `json:"mailEnabled,omitempty"`
	SecurityEnabled *bool    `json:"securityEnabled,omitempty"`
	GroupTypes      []string `json:"groupTypes,omitempty"`
	Visibility      string   `json:"visibility,omitempty"`
	// MembersBind adds members on create or PATCH: directoryObject URLs, at
	// most 20, all or nothing (contract §7). Use Client.MemberRef.
	MembersBind []string `json:"members@odata.bind,omitempty"`
	// MembersDelta is set in delta results: members added, and removed ones
	// with Removed set.
	MembersDelta []DirectoryObject `json:"members@delta,omitempty"`
	// Removed is set in delta results for deleted groups.
	Removed *Removed `json:"@removed,omitempty"`
}

// Unified reports a Microsoft 365 group.
func (g Group) Unified() bool {
	for _, t := range g.GroupTypes {
		if strings.EqualFold(t, GroupTypeUnified) {
			return true
		}
	}
	return false
}

// DirectoryObject is a member, a restored object or a delta member entry;
// ODataType says which (#microsoft.graph.user, .group).
type DirectoryObject struct {
	ODataType         string   `json:"@odata.type,omitempty"`
	ID                string   `json:"id"`
	DisplayName       string   `json:"displayName,omitempty"`
	UserPrincipalName string   `json:"userPrincipalName,omitempty"`
	MailNickname      string   `json:"mailNickname,omitempty"`
	Removed           *Removed `json:"@removed,omitempty"`
}

// IsUser reports a #microsoft.graph.user.
func (o DirectoryObject) IsUser() bool {
	return strings.EqualFold(o.ODataType, "#microsoft.graph.user")
}

// IsGroup reports a #microsoft.graph.group.
func (o DirectoryObject) IsGroup() bool {
	return strings.EqualFold(o.ODataType, "#microsoft.graph.group")
}

// SubscribedSku is https://learn.microsoft.com/graph/api/resources/subscribedsku.
type SubscribedSku struct {
	ID               string             `json:"id,omitempty"`
	SkuID            string             `json:"skuId"`
	SkuPartNumber    string             `json:"skuPartNumber"`
	CapabilityStatus string             `json:"capabilityStatus,omitempty"`
	AppliesTo        string             `json:"appliesTo,omitempty"`
	ConsumedUnits    int                `json:"consumedUnits"`
	PrepaidUnits     LicenseUnitsDetail `json:"prepaidUnits"`
	ServicePlans     []ServicePlanInfo  `json:"servicePlans,omitempty"`
}

// Available is the number of seats left: prepaidUnits.enabled - consumedUnits.
func (s SubscribedSku) Available() int { return s.PrepaidUnits.Enabled - s.ConsumedUnits }

// LicenseUnitsDetail counts seats by state.
type LicenseUnitsDetail struct {
	Enabled   int `json:"enabled"`
	Suspended int `json:"suspended"`
	Warning   int `json:"warning"`
	LockedOut int `json:"lockedOut"`
}

// ServicePlanInfo is a service plan inside a SKU.
type ServicePlanInfo struct {
	ServicePlanID      string `json:"servicePlanId"`
	ServicePlanName    string `json:"servicePlanName"`
	ProvisioningStatus string `json:"provisioningStatus,omitempty"`
	AppliesTo          string `json:"appliesTo,omitempty"`
}

// Query is the query options of a list call.
type Query struct {
	// Select lists the properties to return ($select); fewer properties
	// cost fewer resource units (contract §2).
	Select []string
	// Filter is an OData $filter, e.g. "startsWith(userPrincipalName,'a')".
	Filter string
	// Top is the page size, 1–999 for users and groups (default 100).
	Top int
	// OrderBy is $orderby; Search is $search (needs Advanced).
	OrderBy string
	Search  string
	// Advanced sends ConsistencyLevel: eventual and $count=true, which
	// ne, not, endsWith, $search and $filter with $orderby need
	// (https://learn.microsoft.com/graph/aad-advanced-queries).
	Advanced bool
}

func (q Query) encode() (query, map[string]string, error) {
	var out query
	if len(q.Select) > 0 {
		out = append(out, [2]string{"$select", strings.Join(q.Select, ",")})
	}
	if q.Filter != "" {
		out = append(out, [2]string{"$filter", q.Filter})
	}
	if q.Top != 0 {
		if q.Top < 1 || q.Top > 999 {
			return nil, nil, fmt.Errorf("graph: $top %d outside 1..999", q.Top)
		}
		out = append(out, [2]string{"$top", fmt.Sprint(q.Top)})
	}
	if q.OrderBy != "" {
		out = append(out, [2]string{"$orderby", q.OrderBy})
	}
	if q.Search != "" {
		out = append(out, [2]string{"$search", q.Search})
	}
	var hdr map[string]string
	if q.Advanced {
		out = append(out, [2]string{"$count", "true"})
		hdr = map[string]string{"ConsistencyLevel": "eventual"}
	}
	return out, hdr, nil
}

// DeltaQuery starts or continues a delta round
// (https://learn.microsoft.com/graph/delta-query-overview).
type DeltaQuery struct {
	// Link is the @odata.deltaLink of the previous round; empty starts a
	// full round.
	Link string
	// Select lists the properties to track (first round only; the links
	// carry it afterwards).
	Select []string
	// Latest starts from now ($deltatoken=latest): no objects, just a link.
	Latest bool
	// MaxPageSize asks for pages of at most N objects
	// (Prefer: odata.maxpagesize=N).
	MaxPageSize int
}

// withNulls marshals v and adds "name": null for each of nulls.
func withNulls(v any, nulls []string) (json.RawMessage, error) {
	raw, err := json.Marshal(v)
	if err != nil || len(nulls) == 0 {
		return raw, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	for _, n := range nulls {
		m[n] = json.RawMessage("null")
	}
	return json.Marshal(m)
}
