package apps

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/portico-idp/portico/internal/directory"
)

// Username mapping rules: how a Portico user is matched to a Microsoft 365
// user that exists already, when no sync link maps them yet (the seed
// guide's "Username Mapping: Select criteria for user mapping if no id is
// mapped").
const (
	// MapUPN matches userPrincipalName to the user's UPN (the default).
	MapUPN = "upn"
	// MapEmail matches the user's e-mail address to mail or one of
	// proxyAddresses ("smtp:" addresses).
	MapEmail = "email"
	// MapImmutableID matches onPremisesImmutableId to the user's immutable id.
	MapImmutableID = "immutableId"
	// MapNone never matches: every user without a link is created.
	MapNone = "none"
)

// Deprovisioning actions: what happens in Microsoft 365 to a user who
// leaves the application's permission groups or is suspended.
const (
	// DeprovisionDisable sets accountEnabled=false (the default).
	DeprovisionDisable = "disable"
	// DeprovisionDelete deletes the user, but only a user Portico created;
	// a user Portico only linked to is disabled instead.
	DeprovisionDelete = "delete"
)

// Defaults of the Synchronization tab.
const (
	DefaultSyncIntervalMinutes = 30
	DefaultDeleteThreshold     = 500
	// MaxSyncIntervalMinutes is one week.
	MaxSyncIntervalMinutes = 7 * 24 * 60
)

// Sync holds the Synchronization tab's export settings of an Office 365
// application ("Configure Export" in the seed guide). The zero value is a
// disabled export with the defaults.
type Sync struct {
	// ExportEnabled turns the export of users to Microsoft 365 on.
	ExportEnabled bool `json:"exportEnabled"`
	// UsernameMapping is upn (default), email, immutableId or none.
	UsernameMapping string `json:"usernameMapping,omitempty"`
	// DefaultLicense is the skuPartNumber of the licence given to every
	// exported user (e.g. ENTERPRISEPACK); empty gives none. It is checked
	// against the tenant's subscribedSkus when a run plans.
	DefaultLicense string `json:"defaultLicense,omitempty"`
	// UsageLocation is the ISO 3166-1 alpha-2 country set on exported
	// users whose own usage location is empty (a user's own value wins).
	UsageLocation string `json:"usageLocation,omitempty"`
	// DeprovisionAction is disable (default) or delete.
	DeprovisionAction string `json:"deprovisionAction,omitempty"`
	// IntervalMinutes is the schedule: a run every N minutes; 0 runs only
	// when started by hand. Unset means 30.
	IntervalMinutes *int `json:"intervalMinutes,omitempty"`
	// DeleteThreshold stops a run that would disable or delete more users
	// than this before it touches any. Unset means 500; 0 stops any run
	// that would disable or delete one.
	DeleteThreshold *int `json:"deleteThreshold,omitempty"`
	// Staging plans every run but never applies it.
	Staging bool `json:"staging"`
}

// EffectiveMapping is the username mapping, upn when unset.
func (s Sync) EffectiveMapping() string {
	if s.UsernameMapping == "" {
		return MapUPN
	}
	return s.UsernameMapping
}

// EffectiveDeprovision is the deprovisioning action, disable when unset.
func (s Sync) EffectiveDeprovision() string {
	if s.DeprovisionAction == "" {
		return DeprovisionDisable
	}
	return s.DeprovisionAction
}

// Interval is the schedule in minutes (30 when unset, 0 = manual only).
func (s Sync) Interval() int {
	if s.IntervalMinutes == nil {
		return DefaultSyncIntervalMinutes
	}
	return *s.IntervalMinutes
}

// Threshold is the delete threshold (500 when unset).
func (s Sync) Threshold() int {
	if s.DeleteThreshold == nil {
		return DefaultDeleteThreshold
	}
	return *s.DeleteThreshold
}

// skuPartNumberRE is the shape of Microsoft's SKU part numbers
// (ENTERPRISEPACK, SPE_E3, O365_BUSINESS_PREMIUM, Microsoft_365_E5).
var skuPartNumberRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$`)

// validateSync checks the Synchronization tab; every message names its
// field under office365.sync.
func (o *Office365Settings) validateSync(add func(field, msg string)) {
	s := o.Sync
	switch s.UsernameMapping {
	case "", MapUPN, MapEmail, MapImmutableID, MapNone:
	default:
		add("office365.sync.usernameMapping", "must be one of upn, email, immutableId, none")
	}
	if s.DefaultLicense != "" && !skuPartNumberRE.MatchString(s.DefaultLicense) {
		add("office365.sync.defaultLicense", "must be a SKU part number of the tenant's subscriptions, such as ENTERPRISEPACK")
	}
	if s.UsageLocation != "" && !directory.ValidCountry(s.UsageLocation) {
		add("office365.sync.usageLocation", fmt.Sprintf("%q is not an ISO 3166-1 alpha-2 country code (two capital letters, such as US or DE)", s.UsageLocation))
	}
	switch s.DeprovisionAction {
	case "", DeprovisionDisable, DeprovisionDelete:
	default:
		add("office365.sync.deprovisionAction", "must be disable or delete")
	}
	if s.IntervalMinutes != nil && (*s.IntervalMinutes < 0 || *s.IntervalMinutes > MaxSyncIntervalMinutes) {
		add("office365.sync.intervalMinutes", fmt.Sprintf("must be between 0 (manual only) and %d minutes (one week)", MaxSyncIntervalMinutes))
	}
	if s.DeleteThreshold != nil && *s.DeleteThreshold < 0 {
		add("office365.sync.deleteThreshold", "must be 0 or more")
	}
}

// NormalizeSync trims the Synchronization settings and puts the usage
// location in upper case, as Graph stores it ("us" is taken as "US").
func (a *Application) NormalizeSync() {
	if a.Office365 != nil {
		a.Office365.Sync.normalize()
	}
}

func (s *Sync) normalize() {
	s.UsernameMapping = strings.TrimSpace(s.UsernameMapping)
	s.DefaultLicense = strings.TrimSpace(s.DefaultLicense)
	s.UsageLocation = strings.ToUpper(strings.TrimSpace(s.UsageLocation))
	s.DeprovisionAction = strings.TrimSpace(s.DeprovisionAction)
}
