package sync

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/storage"
	"github.com/portico-idp/portico/internal/syncrecord"
)

// Graph's limits on user properties (https://learn.microsoft.com/graph/api/resources/user):
// Portico's directory has the same ones, but users stored before a rule
// existed, or imported, are checked again here so that one bad user is
// reported instead of failing a batch.
const (
	maxDisplayName = 256
	maxNamePart    = 64
	maxJobTitle    = 128
	maxDepartment  = 64
	maxPhone       = 64
	maxUPN         = 113
	maxNickname    = 64
)

// DesiredUser is a Portico user as it should be in Microsoft 365.
type DesiredUser struct {
	LocalID     string
	UPN         string
	ImmutableID string
	Email       string
	// Enabled is false for a suspended user (deprovisioned like one who
	// left the scope).
	Enabled       bool
	DisplayName   string
	GivenName     string
	Surname       string
	MailNickname  string
	JobTitle      string
	Department    string
	MobilePhone   string
	OfficePhone   string
	UsageLocation string
}

// Desired is the first step's result.
type Desired struct {
	Users  []DesiredUser
	Issues []syncrecord.Issue
}

// DesiredState lists the members of app's permission groups (each user
// once) and turns them into DesiredUsers: the UPN is the one the UPN rule
// gave the user (username, or username + the organization's principal
// name suffix); a user whose UPN domain is not one of the application's
// domains, or whose attributes exceed Graph's limits, is reported, not
// exported.
func DesiredState(ctx context.Context, st storage.Storage, tenantID string, app apps.Application) (Desired, error) {
	var out Desired
	domains := map[string]bool{}
	for _, d := range app.Office365.DomainNames() {
		domains[strings.ToLower(d)] = true
	}
	seen := map[string]bool{}
	for _, gid := range app.GroupIDs {
		cursor := ""
		for {
			users, next, err := st.ListUsers(ctx, tenantID, storage.UserFilter{GroupID: gid}, storage.Page{Limit: storage.MaxLimit, Cursor: cursor})
			if err != nil {
				return out, fmt.Errorf("desired state: members of permission group %s: %w", gid, err)
			}
			for _, u := range users {
				if seen[u.ID] {
					continue
				}
				seen[u.ID] = true
				d, issue := desiredUser(u, domains)
				if issue != nil {
					out.Issues = append(out.Issues, *issue)
					continue
				}
				out.Users = append(out.Users, d)
			}
			if next == "" {
				break
			}
			cursor = next
		}
	}
	return out, nil
}

// desiredUser maps a directory user, or says why it cannot be exported.
func desiredUser(u directory.User, domains map[string]bool) (DesiredUser, *syncrecord.Issue) {
	upn := strings.ToLower(u.UPN)
	subject := upn
	if subject == "" {
		subject = u.Username
	}
	bad := func(code, msg string) (DesiredUser, *syncrecord.Issue) {
		return DesiredUser{}, &syncrecord.Issue{Subject: subject, Code: code, Message: msg}
	}
	local, domain, ok := strings.Cut(upn, "@")
	if !ok || local == "" {
		return bad("invalidUser", "user "+subject+" has no user principal name: give the username an @domain or its organization a principal name suffix")
	}
	if !domains[domain] {
		return bad("outOfDomain", fmt.Sprintf("user %s is not exported: %s is not one of the application's domains (office365.domains)", upn, domain))
	}
	checks := []struct {
		field, v string
		max      int
	}{
		{"userPrincipalName", upn, maxUPN}, {"displayName", u.DisplayName, maxDisplayName}, {"givenName", u.GivenName, maxNamePart},
		{"familyName", u.FamilyName, maxNamePart}, {"jobTitle", u.JobTitle, maxJobTitle}, {"department", u.Department, maxDepartment},
		{"mobilePhone", u.MobilePhone, maxPhone}, {"officePhone", u.OfficePhone, maxPhone},
	}
	for _, c := range checks {
		if n := utf8.RuneCountInString(c.v); n > c.max {
			return bad("invalidUser", fmt.Sprintf("user %s is not exported: its %s has %d characters, Microsoft 365 accepts at most %d", upn, c.field, n, c.max))
		}
	}
	if u.UsageLocation != "" && !directory.ValidCountry(u.UsageLocation) {
		return bad("invalidUser", fmt.Sprintf("user %s is not exported: its usage location %q is not an ISO 3166-1 alpha-2 country code", upn, u.UsageLocation))
	}
	if u.ImmutableID == "" || strings.ContainsAny(u.ImmutableID, "$_") {
		return bad("invalidUser", fmt.Sprintf("user %s is not exported: its immutable id is empty or holds $ or _, which Microsoft 365 refuses", upn))
	}
	display := u.DisplayName
	if display == "" {
		display = upn
	}
	return DesiredUser{
		LocalID: u.ID, UPN: upn, ImmutableID: u.ImmutableID, Email: strings.ToLower(u.Email),
		Enabled:     u.Status != directory.StatusSuspended,
		DisplayName: display, GivenName: u.GivenName, Surname: u.FamilyName, MailNickname: nickname(local),
		JobTitle: u.JobTitle, Department: u.Department, MobilePhone: u.MobilePhone, OfficePhone: u.OfficePhone,
		UsageLocation: u.UsageLocation,
	}, nil
}

// nickname makes a mailNickname from the UPN's local part: ASCII letters,
// digits and . - _ only, at most 64 characters (resources/user).
func nickname(local string) string {
	var b strings.Builder
	for _, r := range local {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			b.WriteRune(r)
		}
	}
	s := strings.Trim(b.String(), ".")
	if s == "" {
		s = "user"
	}
	if len(s) > maxNickname {
		s = s[:maxNickname]
	}
	return s
}

func validCountry(c string) bool { return directory.ValidCountry(c) }
