package sync

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/m365/graph"
	"github.com/portico-idp/portico/internal/syncrecord"
)

// PlanInput is everything the planner looks at; it does no I/O.
type PlanInput struct {
	Settings apps.Sync
	Desired  Desired
	Actual   Actual
	// Links are the application's user links.
	Links []syncrecord.Link
	// Held are local ids in scope whose export is on hold (reported as
	// invalid): their links are left alone, never deprovisioned.
	Held map[string]bool
}

// PlannedOp is an operation with what applying it needs. Only Operation
// is stored; Body never holds a password (apply adds one to a managed
// domain's create and forgets it).
type PlannedOp struct {
	syncrecord.Operation
	// Body is the JSON body of a create or PATCH, with Graph's property
	// names; nil values clear a property.
	Body map[string]any
	// Managed marks a create in a managed domain: it needs a password.
	Managed bool
	// ImmutableID is the user's immutable id (to recognise an earlier,
	// unanswered create of Portico's).
	ImmutableID string
	// SkuID is the licence of an assignLicense.
	SkuID string
	// Link is the link to store when the operation succeeds (RemoteID is
	// filled in by a create).
	Link syncrecord.Link
}

// Plan is the third step's result.
type Plan struct {
	Ops    []PlannedOp
	Issues []syncrecord.Issue
	// Deprovisions counts the disables and deletes (the delete threshold's
	// measure).
	Deprovisions int
	// SkuID is the default licence's skuId, when one is set and known.
	SkuID string
}

// Counts returns the number of operations by kind.
func (p Plan) Counts() map[string]int {
	m := map[string]int{}
	for _, op := range p.Ops {
		m[string(op.Kind)]++
	}
	return m
}

// attrs are the attributes Portico owns on an exported user, with Graph's
// names; a value of nil means "empty" (sent as null).
type attrs map[string]any

// ownedAttributes are compared and put back in this order.
var ownedAttributes = []string{"userPrincipalName", "displayName", "givenName", "surname", "jobTitle", "department",
	"mobilePhone", "businessPhones", "usageLocation"}

func strOrNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// wantAttrs is what Microsoft 365 should hold for d. The usage location
// is the user's own, else the application's; with neither it is not
// managed (left as it is).
func wantAttrs(d DesiredUser, s apps.Sync) attrs {
	phones := []string{}
	if d.OfficePhone != "" {
		phones = []string{d.OfficePhone}
	}
	a := attrs{"userPrincipalName": d.UPN, "displayName": d.DisplayName, "givenName": strOrNil(d.GivenName),
		"surname": strOrNil(d.Surname), "jobTitle": strOrNil(d.JobTitle), "department": strOrNil(d.Department),
		"mobilePhone": strOrNil(d.MobilePhone), "businessPhones": phones}
	if loc := usageLocation(d, s); loc != "" {
		a["usageLocation"] = loc
	}
	return a
}

func usageLocation(d DesiredUser, s apps.Sync) string {
	if d.UsageLocation != "" {
		return d.UsageLocation
	}
	return s.UsageLocation
}

// fingerprint hashes the owned attributes: equal fingerprints mean nothing
// changed in Portico since the last export.
func fingerprint(a attrs) string {
	h := sha256.New()
	for _, k := range ownedAttributes {
		v, ok := a[k]
		if !ok {
			continue
		}
		fmt.Fprintf(h, "%s=%v\n", k, v)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// remoteAttrs reads the owned attributes of a Graph user.
func remoteAttr(u graph.User, k string) any {
	switch k {
	case "userPrincipalName":
		return strOrNil(strings.ToLower(u.UserPrincipalName))
	case "displayName":
		return strOrNil(u.DisplayName)
	case "givenName":
		return strOrNil(u.GivenName)
	case "surname":
		return strOrNil(u.Surname)
	case "jobTitle":
		return strOrNil(u.JobTitle)
	case "department":
		return strOrNil(u.Department)
	case "mobilePhone":
		return strOrNil(u.MobilePhone)
	case "businessPhones":
		if u.BusinessPhones == nil {
			return []string{}
		}
		return u.BusinessPhones
	case "usageLocation":
		return strOrNil(u.UsageLocation)
	}
	return nil
}

// diff returns the owned attributes whose value in Microsoft 365 differs
// from want, in a PATCH body, and their names.
func diff(want attrs, u graph.User) (map[string]any, []string) {
	body := map[string]any{}
	var names []string
	for _, k := range ownedAttributes {
		w, ok := want[k]
		if !ok {
			continue
		}
		have := remoteAttr(u, k)
		same := false
		switch wv := w.(type) {
		case []string:
			hv, _ := have.([]string)
			same = slices.Equal(wv, hv)
		case string:
			hs, _ := have.(string)
			same = wv == hs || (k == "userPrincipalName" && strings.EqualFold(wv, hs))
		case nil:
			same = have == nil
		}
		if !same {
			body[k] = w
			names = append(names, k)
		}
	}
	return body, names
}

func hasLicense(u graph.User, skuID string) bool {
	for _, l := range u.AssignedLicenses {
		if strings.EqualFold(l.SkuID, skuID) {
			return true
		}
	}
	return false
}

// Build makes the plan: for every desired user a create, a link (soft
// match by the username mapping), an update of the changed attributes, a
// re-enable, and the default licence once; for every linked user that left
// the scope or is suspended a disable, or a delete when configured and
// Portico created it. Operations come in the order they are applied:
// creates, links, updates and enables; then licences; then disables and
// deletes.
func Build(in PlanInput) Plan {
	var p Plan
	s := in.Settings
	issue := func(subject, code, msg string) {
		p.Issues = append(p.Issues, syncrecord.Issue{Subject: subject, Code: code, Message: msg})
	}
	if s.UsageLocation != "" && !validCountry(s.UsageLocation) {
		issue("office365.sync.usageLocation", "setting", fmt.Sprintf("the usage location %q is not an ISO 3166-1 alpha-2 country code: users without their own usage location get none, and no licence", s.UsageLocation))
		s.UsageLocation = ""
	}
	if s.DefaultLicense != "" {
		var parts []string
		for _, k := range in.Actual.SKUs {
			parts = append(parts, k.SkuPartNumber)
			if strings.EqualFold(k.SkuPartNumber, s.DefaultLicense) {
				p.SkuID = strings.ToLower(k.SkuID)
			}
		}
		if p.SkuID == "" {
			sort := slices.Clone(parts)
			slices.Sort(sort)
			issue("office365.sync.defaultLicense", "setting", fmt.Sprintf("%s is not one of the tenant's subscriptions (%s): users are exported without a licence", s.DefaultLicense, strings.Join(sort, ", ")))
		}
	}

	byID := map[string]*graph.User{}
	byUPN := map[string]*graph.User{}
	byMail := map[string]*graph.User{}
	byImmutable := map[string]*graph.User{}
	for i := range in.Actual.Users {
		u := &in.Actual.Users[i]
		byID[u.ID] = u
		byUPN[strings.ToLower(u.UserPrincipalName)] = u
		if u.Mail != "" {
			byMail[strings.ToLower(u.Mail)] = u
		}
		for _, a := range u.ProxyAddresses {
			if k, v, ok := strings.Cut(a, ":"); ok && strings.EqualFold(k, "smtp") {
				if _, taken := byMail[strings.ToLower(v)]; !taken {
					byMail[strings.ToLower(v)] = u
				}
			}
		}
		if u.OnPremisesImmutableID != "" {
			byImmutable[u.OnPremisesImmutableID] = u
		}
	}
	links := map[string]syncrecord.Link{}
	linkedRemote := map[string]string{} // remote id -> local id
	for _, l := range in.Links {
		links[l.LocalID] = l
		if l.RemoteID != "" {
			linkedRemote[l.RemoteID] = l.LocalID
		}
	}

	var phaseA, phaseB, phaseC []PlannedOp
	inScope := map[string]bool{}
	for _, d := range in.Desired.Users {
		inScope[d.LocalID] = true
		want := wantAttrs(d, s)
		fp := fingerprint(want)
		link, linked := links[d.LocalID]
		var remote *graph.User
		reason := ""
		switch {
		case linked && link.RemoteID != "":
			remote = byID[link.RemoteID]
			if remote == nil {
				reason = "its linked Microsoft 365 user no longer exists: created again"
				linked = false
			}
		case linked:
			// A create was sent by an earlier run whose answer never came
			// back: find the user it made by the immutable id Portico gave it.
			if u := byImmutable[d.ImmutableID]; u != nil && linkedRemote[u.ID] == "" {
				op := PlannedOp{Operation: syncrecord.Operation{Kind: syncrecord.OpLink, LocalID: d.LocalID, RemoteID: u.ID, UPN: d.UPN,
					Reason: "created by an earlier run whose answer was lost: linked"}, ImmutableID: d.ImmutableID}
				op.Body, op.Changes = diff(want, *u)
				op.Link = syncrecord.Link{Kind: syncrecord.KindUser, LocalID: d.LocalID, RemoteID: u.ID, CreatedByPortico: true, Fingerprint: fp}
				phaseA = append(phaseA, op)
				linkedRemote[u.ID] = d.LocalID
				remote = u
				link = op.Link
				goto licence
			}
			linked = false
		}
		if !linked {
			if remote != nil {
				break
			}
			var match *graph.User
			rule := s.EffectiveMapping()
			switch rule {
			case apps.MapUPN:
				match = byUPN[d.UPN]
			case apps.MapEmail:
				if d.Email != "" {
					match = byMail[d.Email]
				}
			case apps.MapImmutableID:
				match = byImmutable[d.ImmutableID]
			}
			if match != nil {
				if other := linkedRemote[match.ID]; other != "" && other != d.LocalID {
					issue(d.UPN, "conflict", fmt.Sprintf("user %s matches Microsoft 365 user %s by %s, which is already linked to another Portico user: not exported", d.UPN, match.UserPrincipalName, rule))
					continue
				}
				if match.OnPremisesImmutableID != "" && match.OnPremisesImmutableID != d.ImmutableID {
					issue(d.UPN, "conflict", fmt.Sprintf("user %s matches Microsoft 365 user %s by %s, but that user carries another immutable id (%s): not linked, never overwritten; clear onPremisesImmutableId in Microsoft 365 to link it", d.UPN, match.UserPrincipalName, rule, match.OnPremisesImmutableID))
					continue
				}
				op := PlannedOp{Operation: syncrecord.Operation{Kind: syncrecord.OpLink, LocalID: d.LocalID, RemoteID: match.ID, UPN: d.UPN,
					Reason: "matched the existing Microsoft 365 user " + match.UserPrincipalName + " by " + rule}, ImmutableID: d.ImmutableID}
				op.Body, op.Changes = diff(want, *match)
				if match.OnPremisesImmutableID == "" {
					op.Body["onPremisesImmutableId"] = d.ImmutableID
					op.Changes = append(op.Changes, "onPremisesImmutableId")
				}
				op.Link = syncrecord.Link{Kind: syncrecord.KindUser, LocalID: d.LocalID, RemoteID: match.ID, Fingerprint: fp}
				if d.Enabled && match.AccountEnabled != nil && !*match.AccountEnabled {
					issue(d.UPN, "warning", "user "+d.UPN+" was linked to a disabled Microsoft 365 user; Portico did not disable it and leaves it disabled")
				}
				phaseA = append(phaseA, op)
				linkedRemote[match.ID] = d.LocalID
				remote, link = match, op.Link
				goto licence
			}
			if u := byUPN[d.UPN]; u != nil {
				issue(d.UPN, "conflict", fmt.Sprintf("a Microsoft 365 user %s exists but is not linked (username mapping %s): not exported; set office365.sync.usernameMapping to upn to link it", d.UPN, rule))
				continue
			}
			if u := byImmutable[d.ImmutableID]; u != nil {
				issue(d.UPN, "conflict", fmt.Sprintf("Microsoft 365 user %s already carries the immutable id of %s but is not linked: not exported; set office365.sync.usernameMapping to immutableId to link it", u.UserPrincipalName, d.UPN))
				continue
			}
			if !d.Enabled {
				continue // a suspended user is not created
			}
			_, domain, _ := strings.Cut(d.UPN, "@")
			if len(in.Actual.Verified) > 0 && !in.Actual.Verified[domain] {
				issue(d.UPN, "outOfDomain", fmt.Sprintf("user %s is not exported: %s is not a verified domain of the Microsoft 365 tenant", d.UPN, domain))
				continue
			}
			body := map[string]any{"accountEnabled": true, "mailNickname": d.MailNickname, "onPremisesImmutableId": d.ImmutableID}
			changes := []string{"accountEnabled", "mailNickname"}
			for _, k := range ownedAttributes {
				if v, ok := want[k]; ok && v != nil {
					if ph, isList := v.([]string); isList && len(ph) == 0 {
						continue
					}
					body[k] = v
					changes = append(changes, k)
				}
			}
			changes = append(changes, "onPremisesImmutableId")
			managed := !in.Actual.Federated[domain]
			if managed {
				changes = append(changes, "passwordProfile")
			}
			if reason == "" {
				reason = "new in the application's permission groups"
			}
			op := PlannedOp{Operation: syncrecord.Operation{Kind: syncrecord.OpCreate, LocalID: d.LocalID, UPN: d.UPN, Reason: reason, Changes: changes},
				Body: body, Managed: managed, ImmutableID: d.ImmutableID,
				Link: syncrecord.Link{Kind: syncrecord.KindUser, LocalID: d.LocalID, CreatedByPortico: true, Fingerprint: fp}}
			phaseA = append(phaseA, op)
			if p.SkuID != "" {
				p.licence(&phaseB, d, s, nil, op.Link)
			}
			continue
		}
		// Linked and present: put back what differs.
		{
			body, changes := diff(want, *remote)
			enable := d.Enabled && remote.AccountEnabled != nil && !*remote.AccountEnabled && link.DisabledByPortico
			nl := link
			nl.Fingerprint = fp
			switch {
			case enable:
				body["accountEnabled"] = true
				changes = append([]string{"accountEnabled"}, changes...)
				nl.DisabledByPortico = false
				phaseA = append(phaseA, PlannedOp{Operation: syncrecord.Operation{Kind: syncrecord.OpEnable, LocalID: d.LocalID, RemoteID: remote.ID, UPN: d.UPN,
					Reason: "back in the application's permission groups, or no longer suspended: enabled again", Changes: changes}, Body: body, Link: nl})
			case len(changes) > 0:
				why := "changed in Portico"
				if fp == link.Fingerprint {
					why = "changed in Microsoft 365 (drift): put back"
				}
				phaseA = append(phaseA, PlannedOp{Operation: syncrecord.Operation{Kind: syncrecord.OpUpdate, LocalID: d.LocalID, RemoteID: remote.ID, UPN: d.UPN,
					Reason: why, Changes: changes}, Body: body, Link: nl})
			}
			link = nl
			if !d.Enabled && (remote.AccountEnabled == nil || *remote.AccountEnabled) {
				phaseC = append(phaseC, p.deprovision(s, link, remote, "suspended in Portico"))
				continue
			}
		}
	licence:
		if p.SkuID != "" && d.Enabled && !hasLicense(*remote, p.SkuID) {
			p.licence(&phaseB, d, s, remote, link)
		}
	}
	for _, l := range in.Links {
		if inScope[l.LocalID] || in.Held[l.LocalID] || l.RemoteID == "" {
			continue
		}
		remote := byID[l.RemoteID]
		if remote == nil {
			continue // gone from Microsoft 365 already
		}
		if s.EffectiveDeprovision() == apps.DeprovisionDisable && remote.AccountEnabled != nil && !*remote.AccountEnabled {
			continue
		}
		phaseC = append(phaseC, p.deprovision(s, l, remote, "no longer in the application's permission groups"))
	}
	p.Ops = slices.Concat(phaseA, phaseB, phaseC)
	for i := range p.Ops {
		p.Ops[i].Seq = i + 1
		p.Ops[i].Result = syncrecord.OpPending
	}
	return p
}

// licence plans the default licence of d, once its usage location is set.
func (p *Plan) licence(ops *[]PlannedOp, d DesiredUser, s apps.Sync, remote *graph.User, l syncrecord.Link) {
	if usageLocation(d, s) == "" && (remote == nil || remote.UsageLocation == "") {
		p.Issues = append(p.Issues, syncrecord.Issue{Subject: d.UPN, Code: "licence", Message: "user " + d.UPN + " gets no licence: it has no usage location; set the user's or office365.sync.usageLocation"})
		return
	}
	why := "the default licence " + s.DefaultLicense
	if l.LicenseSkuID != "" {
		why += ", removed in Microsoft 365 (drift): put back"
	}
	op := PlannedOp{Operation: syncrecord.Operation{Kind: syncrecord.OpAssignLicense, LocalID: d.LocalID, UPN: d.UPN, Reason: why,
		Changes: []string{"assignedLicenses"}}, SkuID: p.SkuID, Link: l}
	if remote != nil {
		op.RemoteID = remote.ID
	}
	op.Link.LicenseSkuID = p.SkuID
	*ops = append(*ops, op)
}

// deprovision plans a delete (configured, and Portico created the user)
// or a disable.
func (p *Plan) deprovision(s apps.Sync, l syncrecord.Link, remote *graph.User, why string) PlannedOp {
	p.Deprovisions++
	upn := strings.ToLower(remote.UserPrincipalName)
	if s.EffectiveDeprovision() == apps.DeprovisionDelete && l.CreatedByPortico {
		return PlannedOp{Operation: syncrecord.Operation{Kind: syncrecord.OpDelete, LocalID: l.LocalID, RemoteID: remote.ID, UPN: upn,
			Reason: why + ": deleted (Portico created it)"}, Link: l}
	}
	if s.EffectiveDeprovision() == apps.DeprovisionDelete {
		why += ": disabled, not deleted (Portico did not create it)"
	}
	nl := l
	nl.DisabledByPortico = true
	return PlannedOp{Operation: syncrecord.Operation{Kind: syncrecord.OpDisable, LocalID: l.LocalID, RemoteID: remote.ID, UPN: upn,
		Reason: why, Changes: []string{"accountEnabled"}}, Body: map[string]any{"accountEnabled": false}, Link: nl}
}
