package sync

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/m365/graph"
	"github.com/portico-idp/portico/internal/syncrecord"
)

const skuE3 = "6fd2c87f-b296-42f0-b197-1e91e994b900"

func du(local, upn string) DesiredUser {
	return DesiredUser{LocalID: local, UPN: upn, ImmutableID: "imm-" + local, Email: upn, Enabled: true, DisplayName: "User " + local,
		MailNickname: strings.Split(upn, "@")[0]}
}

func on() *bool  { b := true; return &b }
func off() *bool { b := false; return &b }

// remoteOf is the Microsoft 365 user that an export of d makes.
func remoteOf(id string, d DesiredUser, s apps.Sync) graph.User {
	u := graph.User{ID: id, UserPrincipalName: d.UPN, DisplayName: d.DisplayName, AccountEnabled: on(), OnPremisesImmutableID: d.ImmutableID,
		UsageLocation: usageLocation(d, s)}
	return u
}

func linkOf(d DesiredUser, remote string, s apps.Sync, created bool) syncrecord.Link {
	return syncrecord.Link{Kind: syncrecord.KindUser, LocalID: d.LocalID, RemoteID: remote, CreatedByPortico: created,
		Fingerprint: fingerprint(wantAttrs(d, s))}
}

// summary renders a plan as "kind upn [changes]" lines and the issues as
// "! code subject".
func summary(p Plan) []string {
	var out []string
	for _, op := range p.Ops {
		out = append(out, fmt.Sprintf("%s %s %v", op.Kind, op.UPN, op.Changes))
	}
	for _, i := range p.Issues {
		out = append(out, "! "+i.Code+" "+i.Subject)
	}
	return out
}

func TestPlan(t *testing.T) {
	alice, bob := du("a", "alice@contoso.com"), du("b", "bob@contoso.com")
	base := apps.Sync{ExportEnabled: true}
	lic := apps.Sync{ExportEnabled: true, DefaultLicense: "ENTERPRISEPACK", UsageLocation: "US"}
	skus := []graph.SubscribedSku{{SkuID: skuE3, SkuPartNumber: "ENTERPRISEPACK"}, {SkuID: "x", SkuPartNumber: "STANDARDPACK"}}
	renamed := alice
	renamed.DisplayName = "Alice Renamed"
	suspended := alice
	suspended.Enabled = false
	drifted := remoteOf("r-a", alice, base)
	drifted.DisplayName = "Changed in the portal"
	disabledRemote := remoteOf("r-a", alice, base)
	disabledRemote.AccountEnabled = off()
	licensed := remoteOf("r-a", alice, lic)
	licensed.AssignedLicenses = []graph.AssignedLicense{{SkuID: skuE3}}
	foreign := remoteOf("r-x", alice, base)
	foreign.OnPremisesImmutableID = "someone-else"
	noImmutable := remoteOf("r-x", alice, base)
	noImmutable.OnPremisesImmutableID = ""
	byMail := graph.User{ID: "r-m", UserPrincipalName: "a.smith@contoso.com", DisplayName: alice.DisplayName, AccountEnabled: on(),
		ProxyAddresses: []string{"SMTP:a.smith@contoso.com", "smtp:alice@contoso.com"}}
	deleteSet := apps.Sync{ExportEnabled: true, DeprovisionAction: apps.DeprovisionDelete}

	for _, tc := range []struct {
		name string
		in   PlanInput
		want []string
	}{
		{"create in a managed domain", PlanInput{Settings: base, Desired: Desired{Users: []DesiredUser{alice}}},
			[]string{"createUser alice@contoso.com [accountEnabled mailNickname userPrincipalName displayName onPremisesImmutableId passwordProfile]"}},
		{"create in a federated domain has no password", PlanInput{Settings: base, Desired: Desired{Users: []DesiredUser{alice}},
			Actual: Actual{Federated: map[string]bool{"contoso.com": true}}},
			[]string{"createUser alice@contoso.com [accountEnabled mailNickname userPrincipalName displayName onPremisesImmutableId]"}},
		{"create then licence", PlanInput{Settings: lic, Desired: Desired{Users: []DesiredUser{alice}}, Actual: Actual{SKUs: skus, Federated: map[string]bool{"contoso.com": true}}},
			[]string{"createUser alice@contoso.com [accountEnabled mailNickname userPrincipalName displayName usageLocation onPremisesImmutableId]",
				"assignLicense alice@contoso.com [assignedLicenses]"}},
		{"nothing changed: no operation", PlanInput{Settings: lic, Desired: Desired{Users: []DesiredUser{alice}},
			Actual: Actual{Users: []graph.User{licensed}, SKUs: skus}, Links: []syncrecord.Link{linkOf(alice, "r-a", lic, true)}}, nil},
		{"changed in Portico: only that attribute", PlanInput{Settings: base, Desired: Desired{Users: []DesiredUser{renamed}},
			Actual: Actual{Users: []graph.User{remoteOf("r-a", alice, base)}}, Links: []syncrecord.Link{linkOf(alice, "r-a", base, true)}},
			[]string{"updateUser alice@contoso.com [displayName]"}},
		{"drift is put back", PlanInput{Settings: base, Desired: Desired{Users: []DesiredUser{alice}},
			Actual: Actual{Users: []graph.User{drifted}}, Links: []syncrecord.Link{linkOf(alice, "r-a", base, true)}},
			[]string{"updateUser alice@contoso.com [displayName]"}},
		{"soft match by UPN sets the immutable id", PlanInput{Settings: base, Desired: Desired{Users: []DesiredUser{alice}},
			Actual: Actual{Users: []graph.User{noImmutable}}},
			[]string{"linkUser alice@contoso.com [onPremisesImmutableId]"}},
		{"soft match by e-mail (proxy address)", PlanInput{Settings: apps.Sync{UsernameMapping: apps.MapEmail}, Desired: Desired{Users: []DesiredUser{alice}},
			Actual: Actual{Users: []graph.User{byMail}}},
			[]string{"linkUser alice@contoso.com [userPrincipalName onPremisesImmutableId]"}},
		{"soft match by immutable id", PlanInput{Settings: apps.Sync{UsernameMapping: apps.MapImmutableID}, Desired: Desired{Users: []DesiredUser{renamed}},
			Actual: Actual{Users: []graph.User{remoteOf("r-a", alice, base)}}},
			[]string{"linkUser alice@contoso.com [displayName]"}},
		{"mapping none: an existing UPN is a conflict, not a duplicate", PlanInput{Settings: apps.Sync{UsernameMapping: apps.MapNone}, Desired: Desired{Users: []DesiredUser{alice}},
			Actual: Actual{Users: []graph.User{noImmutable}}},
			[]string{"! conflict alice@contoso.com"}},
		{"another immutable id is a conflict, never overwritten", PlanInput{Settings: base, Desired: Desired{Users: []DesiredUser{alice}},
			Actual: Actual{Users: []graph.User{foreign}}},
			[]string{"! conflict alice@contoso.com"}},
		{"an earlier create whose answer was lost is linked", PlanInput{Settings: base, Desired: Desired{Users: []DesiredUser{alice}},
			Actual: Actual{Users: []graph.User{remoteOf("r-a", alice, base)}}, Links: []syncrecord.Link{linkOf(alice, "", base, true)}},
			[]string{"linkUser alice@contoso.com []"}},
		{"left the scope: disabled", PlanInput{Settings: base, Actual: Actual{Users: []graph.User{remoteOf("r-a", alice, base)}},
			Links: []syncrecord.Link{linkOf(alice, "r-a", base, true)}},
			[]string{"disableUser alice@contoso.com [accountEnabled]"}},
		{"suspended: disabled", PlanInput{Settings: base, Desired: Desired{Users: []DesiredUser{suspended}}, Actual: Actual{Users: []graph.User{remoteOf("r-a", alice, base)}},
			Links: []syncrecord.Link{linkOf(alice, "r-a", base, true)}},
			[]string{"disableUser alice@contoso.com [accountEnabled]"}},
		{"already disabled: nothing", PlanInput{Settings: base, Actual: Actual{Users: []graph.User{disabledRemote}},
			Links: []syncrecord.Link{linkOf(alice, "r-a", base, true)}}, nil},
		{"back in scope: enabled again", PlanInput{Settings: base, Desired: Desired{Users: []DesiredUser{alice}}, Actual: Actual{Users: []graph.User{disabledRemote}},
			Links: []syncrecord.Link{func() syncrecord.Link { l := linkOf(alice, "r-a", base, true); l.DisabledByPortico = true; return l }()}},
			[]string{"enableUser alice@contoso.com [accountEnabled]"}},
		{"disabled by someone else: left disabled", PlanInput{Settings: base, Desired: Desired{Users: []DesiredUser{alice}}, Actual: Actual{Users: []graph.User{disabledRemote}},
			Links: []syncrecord.Link{linkOf(alice, "r-a", base, true)}}, nil},
		{"delete only what Portico created", PlanInput{Settings: deleteSet,
			Actual: Actual{Users: []graph.User{remoteOf("r-a", alice, base), remoteOf("r-b", bob, base)}},
			Links:  []syncrecord.Link{linkOf(alice, "r-a", base, true), linkOf(bob, "r-b", base, false)}},
			[]string{"deleteUser alice@contoso.com []", "disableUser bob@contoso.com [accountEnabled]"}},
		{"nothing without a link is touched", PlanInput{Settings: deleteSet, Actual: Actual{Users: []graph.User{remoteOf("r-a", alice, base)}}}, nil},
		{"held users keep their link", PlanInput{Settings: base, Actual: Actual{Users: []graph.User{remoteOf("r-a", alice, base)}},
			Links: []syncrecord.Link{linkOf(alice, "r-a", base, true)}, Held: map[string]bool{"a": true}}, nil},
		{"unknown SKU is reported, users still exported", PlanInput{Settings: apps.Sync{DefaultLicense: "ENTERPRISEPAK", UsageLocation: "US"}, Desired: Desired{Users: []DesiredUser{alice}},
			Actual: Actual{SKUs: skus, Federated: map[string]bool{"contoso.com": true}}},
			[]string{"createUser alice@contoso.com [accountEnabled mailNickname userPrincipalName displayName usageLocation onPremisesImmutableId]",
				"! setting office365.sync.defaultLicense"}},
		{"no usage location: no licence, reported", PlanInput{Settings: apps.Sync{DefaultLicense: "ENTERPRISEPACK"}, Desired: Desired{Users: []DesiredUser{alice}},
			Actual: Actual{SKUs: skus, Federated: map[string]bool{"contoso.com": true}}},
			[]string{"createUser alice@contoso.com [accountEnabled mailNickname userPrincipalName displayName onPremisesImmutableId]",
				"! licence alice@contoso.com"}},
		{"a usage location that is not a country is reported", PlanInput{Settings: apps.Sync{UsageLocation: "ZZ"}, Desired: Desired{Users: []DesiredUser{alice}},
			Actual: Actual{Federated: map[string]bool{"contoso.com": true}}},
			[]string{"createUser alice@contoso.com [accountEnabled mailNickname userPrincipalName displayName onPremisesImmutableId]",
				"! setting office365.sync.usageLocation"}},
		{"the user's own usage location wins", PlanInput{Settings: apps.Sync{UsageLocation: "US"},
			Desired: Desired{Users: []DesiredUser{func() DesiredUser { d := alice; d.UsageLocation = "DE"; return d }()}},
			Actual:  Actual{Users: []graph.User{remoteOf("r-a", alice, apps.Sync{UsageLocation: "US"})}}, Links: []syncrecord.Link{linkOf(alice, "r-a", base, true)}},
			[]string{"updateUser alice@contoso.com [usageLocation]"}},
		{"an unverified domain is reported", PlanInput{Settings: base, Desired: Desired{Users: []DesiredUser{alice}},
			Actual: Actual{Verified: map[string]bool{"fabrikam.com": true}}},
			[]string{"! outOfDomain alice@contoso.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := summary(Build(tc.in))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("plan:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestPlanOrderAndThresholdCount(t *testing.T) {
	base := apps.Sync{}
	var users []graph.User
	var links []syncrecord.Link
	for i := 0; i < 3; i++ {
		d := du(fmt.Sprint("gone", i), fmt.Sprintf("gone%d@contoso.com", i))
		users = append(users, remoteOf("r"+d.LocalID, d, base))
		links = append(links, linkOf(d, "r"+d.LocalID, base, true))
	}
	p := Build(PlanInput{Settings: base, Desired: Desired{Users: []DesiredUser{du("n", "new@contoso.com")}}, Actual: Actual{Users: users}, Links: links})
	if p.Deprovisions != 3 || len(p.Ops) != 4 || p.Ops[0].Kind != syncrecord.OpCreate || p.Ops[3].Seq != 4 {
		t.Fatalf("plan %v, deprovisions %d", summary(p), p.Deprovisions)
	}
}

func TestNewPassword(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		p := newPassword()
		if len(p) != 24 || !strings.ContainsAny(p, "ABCDEFGHJKLMNPQRSTUVWXYZ") || !strings.ContainsAny(p, "abcdefghijkmnopqrstuvwxyz") ||
			!strings.ContainsAny(p, "23456789") || seen[p] {
			t.Fatalf("password %q", p)
		}
		seen[p] = true
	}
}
