package directory

import (
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

var (
	slugRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)
	// labelRE is one DNS label (RFC 1035 §2.3.1, letters digits hyphens).
	labelRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)
	tldRE   = regexp.MustCompile(`^[a-z][a-z0-9-]*[a-z0-9]$|^[a-z]{2,}$`)
	// upnLocalRE is the character set Microsoft Entra ID allows before the
	// "@" of a user principal name (learn.microsoft.com, "Password policies
	// and account restrictions in Microsoft Entra ID", UserPrincipalName):
	// A-Z a-z 0-9 ' . - _ ! # ^ ~.
	upnLocalRE = regexp.MustCompile(`^[A-Za-z0-9'._!#^~-]+$`)
	// immutableIDRE accepts base64 (what Portico generates) and the
	// GUID-like forms other tools produce; "$" and "_" are refused by
	// Entra ID in onPremisesImmutableId.
	immutableIDRE = regexp.MustCompile(`^[A-Za-z0-9+/=.-]{1,64}$`)
)

// Limits taken from Microsoft Graph's user and group resources, so that a
// value accepted here can also be exported to Microsoft 365.
const (
	maxDisplayName  = 256
	maxNamePart     = 64
	maxJobTitle     = 128
	maxDepartment   = 64
	maxPhone        = 64
	maxDescription  = 1024
	maxOrgName      = 128
	maxTenantName   = 128
	maxUPNLocalPart = 64
	maxUPN          = 113
	maxEmail        = 254
)

// NormalizeSlug lower-cases and trims a tenant slug.
func NormalizeSlug(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ValidateTenant checks a tenant's slug and name. Call NormalizeSlug first.
func ValidateTenant(t Tenant) error {
	var c checker
	if !slugRE.MatchString(t.Slug) {
		c.add("slug", "must be 1 to 63 lower-case letters, digits or hyphens, not starting or ending with a hyphen")
	}
	checkText(&c, "name", t.Name, maxTenantName, true)
	return c.err()
}

// NormalizeSuffix turns "contoso.com", "@Contoso.com " into "@contoso.com".
// An empty suffix stays empty.
func NormalizeSuffix(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return ""
	}
	return "@" + strings.TrimPrefix(s, "@")
}

// ValidateOrganization checks an organization. Call NormalizeSuffix first.
func ValidateOrganization(o Organization) error {
	var c checker
	checkText(&c, "name", o.Name, maxOrgName, true)
	if o.PrincipalNameSuffix != "" && !ValidDomain(strings.TrimPrefix(o.PrincipalNameSuffix, "@")) {
		c.add("principalNameSuffix", "must be \"@\" followed by a domain name such as @contoso.com")
	}
	return c.err()
}

// ValidDomain reports whether name is a fully qualified DNS domain name of
// at least two labels with an alphabetic top-level label.
func ValidDomain(name string) bool {
	if name == "" || len(name) > 253 || name != strings.ToLower(name) {
		return false
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if !labelRE.MatchString(l) {
			return false
		}
	}
	return tldRE.MatchString(labels[len(labels)-1])
}

// FormUPN applies Portico's UPN rule: a username that contains "@" is the
// UPN; otherwise the organization's principal name suffix is appended. The
// error names the field an administrator has to change.
func FormUPN(username, suffix string) (string, error) {
	upn := username
	field := "username"
	if !strings.Contains(username, "@") {
		if suffix == "" {
			return "", Invalid("username", "has no \"@\" and the organization has no principal name suffix: use an e-mail-shaped username or give the organization a suffix such as @contoso.com")
		}
		upn = username + suffix
		field = "principalNameSuffix"
	}
	local, domain, ok := strings.Cut(upn, "@")
	switch {
	case !ok || strings.Contains(domain, "@"):
		return "", Invalid("username", "must contain at most one \"@\"")
	case local == "" || len(local) > maxUPNLocalPart:
		return "", Invalid("username", "the part before \"@\" must be 1 to 64 characters")
	case !upnLocalRE.MatchString(local):
		return "", Invalid("username", "may contain only letters, digits and ' . - _ ! # ^ ~ before \"@\"")
	case strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, ".."):
		return "", Invalid("username", "must not start or end with a period, or contain two periods in a row, before \"@\"")
	case !ValidDomain(domain):
		return "", Invalid(field, "\""+domain+"\" is not a valid domain name")
	case len(upn) > maxUPN:
		return "", Invalid("username", "the principal name must be at most 113 characters")
	}
	return upn, nil
}

// NormalizeUser trims text fields, lower-cases the username and e-mail,
// upper-cases the usage location and fills the display name from the other
// names when it is empty.
func NormalizeUser(u *User) {
	u.Username = strings.ToLower(strings.TrimSpace(u.Username))
	u.Email = strings.ToLower(strings.TrimSpace(u.Email))
	u.GivenName = strings.TrimSpace(u.GivenName)
	u.FamilyName = strings.TrimSpace(u.FamilyName)
	u.DisplayName = strings.TrimSpace(u.DisplayName)
	u.JobTitle = strings.TrimSpace(u.JobTitle)
	u.Department = strings.TrimSpace(u.Department)
	u.MobilePhone = strings.TrimSpace(u.MobilePhone)
	u.OfficePhone = strings.TrimSpace(u.OfficePhone)
	u.UsageLocation = strings.ToUpper(strings.TrimSpace(u.UsageLocation))
	if u.DisplayName == "" {
		u.DisplayName = strings.TrimSpace(u.GivenName + " " + u.FamilyName)
	}
	if u.DisplayName == "" {
		u.DisplayName = u.Username
	}
}

// ValidateUser checks a normalized user against its organization and
// returns the user with UPN set. It does not check uniqueness: storage
// does, atomically.
func ValidateUser(u User, org Organization) (User, error) {
	var c checker
	if u.Username == "" {
		c.add("username", "is required")
	} else if upn, err := FormUPN(u.Username, org.PrincipalNameSuffix); err != nil {
		ve, _ := AsValidation(err)
		c.errs = append(c.errs, ve.Errors...)
	} else {
		u.UPN = upn
	}
	if u.Email != "" && !ValidEmail(u.Email) {
		c.add("email", "must be an e-mail address such as john@contoso.com")
	}
	checkText(&c, "givenName", u.GivenName, maxNamePart, false)
	checkText(&c, "familyName", u.FamilyName, maxNamePart, false)
	checkText(&c, "displayName", u.DisplayName, maxDisplayName, false)
	checkText(&c, "jobTitle", u.JobTitle, maxJobTitle, false)
	checkText(&c, "department", u.Department, maxDepartment, false)
	checkText(&c, "mobilePhone", u.MobilePhone, maxPhone, false)
	checkText(&c, "officePhone", u.OfficePhone, maxPhone, false)
	if !u.Status.Valid() {
		c.add("status", "must be one of active, suspended, pending")
	}
	if u.UsageLocation != "" && !ValidCountry(u.UsageLocation) {
		c.add("usageLocation", "must be an ISO 3166-1 alpha-2 country code such as US or DE")
	}
	if !immutableIDRE.MatchString(u.ImmutableID) {
		c.add("immutableId", "must be 1 to 64 characters of letters, digits and + / = . -")
	}
	return u, c.err()
}

// ValidEmail reports whether s is a bare e-mail address (no display name)
// whose domain is a valid domain name.
func ValidEmail(s string) bool {
	if len(s) > maxEmail {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	_, domain, _ := strings.Cut(s, "@")
	return ValidDomain(strings.ToLower(domain))
}

// NormalizeGroup trims the group's fields and lower-cases its e-mail.
func NormalizeGroup(g *Group) {
	g.Name = strings.TrimSpace(g.Name)
	g.Email = strings.ToLower(strings.TrimSpace(g.Email))
	g.Description = strings.TrimSpace(g.Description)
	if g.Type == "" {
		g.Type = GroupSecurity
	}
}

// ValidateGroup checks a normalized group.
func ValidateGroup(g Group) error {
	var c checker
	checkText(&c, "name", g.Name, maxDisplayName, true)
	if !g.Type.Valid() {
		c.add("type", "must be one of security, microsoft365, distribution, mailEnabledSecurity")
	}
	switch {
	case g.Email != "" && !ValidEmail(g.Email):
		c.add("email", "must be an e-mail address such as sales@contoso.com")
	case g.Email == "" && g.Type.MailEnabled():
		c.add("email", "is required for "+string(g.Type)+" groups")
	}
	checkText(&c, "description", g.Description, maxDescription, false)
	return c.err()
}

// NameKey is the case-insensitive key under which names are unique.
func NameKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

func checkText(c *checker, field, v string, max int, required bool) {
	switch {
	case required && v == "":
		c.add(field, "is required")
	case !utf8.ValidString(v):
		c.add(field, "must be valid UTF-8")
	case utf8.RuneCountInString(v) > max:
		c.add(field, "must be at most "+strconv.Itoa(max)+" characters")
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		c.add(field, "must not contain control characters")
	}
}
