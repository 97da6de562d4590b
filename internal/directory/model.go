package directory

import "time"

// Tenant is the isolation unit: one customer of a Portico installation.
// Every other object carries its tenant's ID and no query crosses tenants.
type Tenant struct {
	ID        string    `json:"id"`
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	Version   int64     `json:"-"`
}

// Organization is a unit of the directory inside a tenant. Its principal
// name suffix ("@contoso.com") turns a plain username such as "john.smith"
// into a user principal name Microsoft 365 accepts.
type Organization struct {
	ID                  string    `json:"id"`
	TenantID            string    `json:"-"`
	Name                string    `json:"name"`
	PrincipalNameSuffix string    `json:"principalNameSuffix"`
	CreatedAt           time.Time `json:"createdAt"`
	UpdatedAt           time.Time `json:"updatedAt"`
	Version             int64     `json:"-"`
}

// UserStatus is the life-cycle state of a user.
type UserStatus string

// The user states. Pending users were imported (for example from Microsoft
// 365) and have not onboarded yet: they have no password.
const (
	StatusActive    UserStatus = "active"
	StatusSuspended UserStatus = "suspended"
	StatusPending   UserStatus = "pending"
)

// Valid reports whether s is one of the known states.
func (s UserStatus) Valid() bool {
	return s == StatusActive || s == StatusSuspended || s == StatusPending
}

// User is a person in the directory.
type User struct {
	ID             string `json:"id"`
	TenantID       string `json:"-"`
	OrganizationID string `json:"organizationId"`
	// Username is either e-mail shaped (john@contoso.com) or plain
	// (john.smith). It is stored lower-case: sign-in names are not case
	// sensitive in Portico, as in Microsoft Entra ID.
	Username string `json:"username"`
	// UPN is derived by the UPN rule (see FormUPN) and kept in step by
	// storage when the organization's suffix changes.
	UPN         string     `json:"userPrincipalName"`
	Email       string     `json:"email"`
	GivenName   string     `json:"givenName"`
	FamilyName  string     `json:"familyName"`
	DisplayName string     `json:"displayName"`
	Status      UserStatus `json:"status"`
	// ImmutableID is the value Microsoft 365 stores as onPremisesImmutableId
	// and matches federated sign-ins on: base64 of 16 random bytes, set at
	// creation and never changed or reused.
	ImmutableID   string    `json:"immutableId"`
	JobTitle      string    `json:"jobTitle"`
	Department    string    `json:"department"`
	MobilePhone   string    `json:"mobilePhone"`
	OfficePhone   string    `json:"officePhone"`
	UsageLocation string    `json:"usageLocation"`
	CreatedAt     time.Time `json:"createdAt"`
	UpdatedAt     time.Time `json:"updatedAt"`
	Version       int64     `json:"-"`
}

// GroupType is the kind of a group; it mirrors the group kinds of
// Microsoft 365 so that a group can be exported as what it is.
type GroupType string

// The group types.
const (
	GroupSecurity            GroupType = "security"
	GroupMicrosoft365        GroupType = "microsoft365"
	GroupDistribution        GroupType = "distribution"
	GroupMailEnabledSecurity GroupType = "mailEnabledSecurity"
)

// Valid reports whether t is one of the known group types.
func (t GroupType) Valid() bool {
	switch t {
	case GroupSecurity, GroupMicrosoft365, GroupDistribution, GroupMailEnabledSecurity:
		return true
	}
	return false
}

// MailEnabled reports whether groups of this type need an e-mail address.
func (t GroupType) MailEnabled() bool {
	return t == GroupMicrosoft365 || t == GroupDistribution || t == GroupMailEnabledSecurity
}

// Group is a set of users.
type Group struct {
	ID          string    `json:"id"`
	TenantID    string    `json:"-"`
	Name        string    `json:"name"`
	Type        GroupType `json:"type"`
	Email       string    `json:"email"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	Version     int64     `json:"-"`
}
