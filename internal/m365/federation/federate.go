package federation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/m365/graph"
)

// Result is the outcome of an operation that may write to Microsoft 365.
type Result struct {
	Domain string `json:"domain"`
	// Action is what was done: created, updated, unchanged, deleted or none.
	Action string `json:"action"`
	// Changed lists the properties an update changed.
	Changed []string `json:"changed,omitempty"`
	// State is the domain's state after the operation, as read back.
	State   State  `json:"state"`
	Message string `json:"message"`
	Report  Report `json:"report"`
}

// Errors of the write operations; the Result still says what happened.
var (
	// ErrNotCompatible: Verify Compatibility failed; nothing was written.
	ErrNotCompatible = errors.New("the domain is not compatible: see the report")
	// ErrManualMode: "Federate automatically" is off.
	ErrManualMode = errors.New("\"Federate automatically\" is off: enter the manual settings in Microsoft 365 instead")
	// ErrAutomaticMode: Disconnect needs "Federate automatically" off.
	ErrAutomaticMode = errors.New("uncheck \"Federate automatically\" before disconnecting (so that Portico does not federate the domain again)")
	// ErrNotRoot: a subdomain follows its root and is not federated itself.
	ErrNotRoot = errors.New("the domain is a subdomain: federate its root domain")
	// ErrNextNotRegistered: the next certificate cannot sign in to Microsoft
	// Graph yet; the rollover stopped before Portico depends on it.
	ErrNextNotRegistered = errors.New("the next certificate is not registered on the app registration")
	// ErrElsewhere: the domain is federated to another identity provider.
	ErrElsewhere = errors.New("the domain is federated to another identity provider; Portico does not touch it")
)

// Federate creates the domain's federation configuration, or brings one
// that is already Portico's up to date. It is idempotent: when nothing
// differs nothing is written. It writes only after Verify Compatibility
// passed, and reads the domain back afterwards, so the result always says
// the state the domain is really in. It needs the federation.manage
// permission, and every attempt is in the audit log.
func (s *Service) Federate(ctx context.Context, t directory.Tenant, app apps.Application, domain string) (Result, error) {
	if _, err := authz.Require(ctx, t.ID, authz.ManageFederation); err != nil {
		return Result{Domain: strings.ToLower(domain), Action: "none"}, err
	}
	res, err := s.federate(ctx, t, app, domain)
	s.recordResult(ctx, t, app, "domain.federate", res, err)
	return res, err
}

func (s *Service) federate(ctx context.Context, t directory.Tenant, app apps.Application, domain string) (Result, error) {
	res := Result{Domain: strings.ToLower(domain), Action: "none"}
	if app.Office365 != nil && !app.Office365.Automatic() {
		return res, ErrManualMode
	}
	rep, err := s.Verify(ctx, t, app, domain)
	res.Report, res.State = rep, rep.State
	if err != nil {
		return res, err
	}
	if !rep.Compatible {
		res.Message = "nothing was changed: " + failedChecks(rep)
		return res, ErrNotCompatible
	}
	if rep.RootDomain != rep.Domain {
		res.Message = "nothing was changed: " + rep.Domain + " follows its root domain " + rep.RootDomain
		return res, ErrNotRoot
	}
	want, err := s.Desired(ctx, t, app, domain)
	if err != nil {
		return res, err
	}
	g := rep.graph // a compatible report comes from a working connection
	switch rep.State {
	case StateManaged:
		_, err = g.CreateFederationConfiguration(ctx, res.Domain, want)
		res.Action = "created"
	case StateFederatedHere:
		changed, nulls := diff(*rep.current, want)
		if len(changed) == 0 {
			res.Action, res.Message = "unchanged", res.Domain+" is already federated to this application with these settings"
			return res, s.recordDomain(ctx, t, app, res.Domain, true)
		}
		_, err = g.UpdateFederationConfiguration(ctx, res.Domain, rep.current.ID, want, nulls...)
		res.Action, res.Changed = "updated", changed
	default:
		return res, ErrElsewhere
	}
	res.State = s.readState(ctx, g, res.Domain, rep.app)
	if err != nil {
		res.Message = fmt.Sprintf("the change failed (%v); %s is now %s", err, res.Domain, describeState(res.State))
		return res, fmt.Errorf("federate %s: %w", res.Domain, err)
	}
	res.Message = res.Domain + " is federated to this application: its users now sign in through Portico"
	s.log.InfoContext(ctx, "domain federated", "tenant", t.Slug, "app", app.ID, "domain", res.Domain, "action", res.Action)
	return res, s.recordDomain(ctx, t, app, res.Domain, res.State == StateFederatedHere)
}

func failedChecks(rep Report) string {
	var out []string
	for _, c := range rep.Checks {
		if c.Status == Fail {
			out = append(out, c.Title+": "+c.Detail)
		}
	}
	return strings.Join(out, "; ")
}

func describeState(st State) string {
	switch st {
	case StateManaged:
		return "managed (not federated)"
	case StateFederatedHere:
		return "federated to this application"
	case StateFederatedElsewhere:
		return "federated to another identity provider"
	}
	return "in an unknown state (Microsoft Graph could not be read)"
}

// readState reads a domain back after a write.
func (s *Service) readState(ctx context.Context, g Graph, domain string, app appRef) State {
	d, err := g.GetDomain(ctx, domain)
	if err != nil {
		return StateUnknown
	}
	if !d.Federated() {
		return StateManaged
	}
	cfgs, err := g.ListFederationConfigurations(ctx, domain)
	if err != nil {
		return StateUnknown
	}
	if len(cfgs) > 0 && s.ours(app, cfgs[0].IssuerURI) {
		return StateFederatedHere
	}
	return StateFederatedElsewhere
}

// diff lists the properties of have that differ from want, and those that
// must be set to null (a next certificate that is no longer there).
func diff(have, want graph.InternalDomainFederation) (changed, nulls []string) {
	cmp := func(name, a, b string) {
		if a != b {
			changed = append(changed, name)
		}
	}
	cmp("displayName", have.DisplayName, want.DisplayName)
	cmp("issuerUri", have.IssuerURI, want.IssuerURI)
	cmp("passiveSignInUri", have.PassiveSignInURI, want.PassiveSignInURI)
	cmp("activeSignInUri", have.ActiveSignInURI, want.ActiveSignInURI)
	cmp("metadataExchangeUri", have.MetadataExchangeURI, want.MetadataExchangeURI)
	cmp("signOutUri", have.SignOutURI, want.SignOutURI)
	cmp("signingCertificate", have.SigningCertificate, want.SigningCertificate)
	cmp("preferredAuthenticationProtocol", have.PreferredAuthenticationProtocol, want.PreferredAuthenticationProtocol)
	cmp("promptLoginBehavior", have.PromptLoginBehavior, want.PromptLoginBehavior)
	cmp("federatedIdpMfaBehavior", have.FederatedIdpMfaBehavior, want.FederatedIdpMfaBehavior)
	if have.NextSigningCertificate != want.NextSigningCertificate {
		changed = append(changed, "nextSigningCertificate")
		if want.NextSigningCertificate == "" {
			nulls = append(nulls, "nextSigningCertificate")
		}
	}
	if boolOf(have.IsSignedAuthenticationRequestRequired) != boolOf(want.IsSignedAuthenticationRequestRequired) {
		changed = append(changed, "isSignedAuthenticationRequestRequired")
	}
	return changed, nulls
}

func boolOf(b *bool) bool { return b != nil && *b }

// recordDomain notes in the application's settings whether a domain is
// federated to it (for status displays and rollover), adding the domain to
// the list when it is not there yet.
func (s *Service) recordDomain(ctx context.Context, t directory.Tenant, app apps.Application, domain string, federated bool) error {
	_, err := s.admin.UpdateApplication(ctx, t.ID, app.ID, 0, func(a *apps.Application) error {
		a.Office365.SetDomainFederated(domain, federated, time.Now().UTC())
		return nil
	})
	return err
}

// Disconnect removes a domain's federation configuration (defederation):
// the domain's users then sign in with Microsoft 365 cloud passwords. The
// seed guide allows it only with "Federate automatically" off. A domain
// federated to another identity provider is never touched. It needs the
// federation.manage permission, and every attempt is in the audit log.
func (s *Service) Disconnect(ctx context.Context, t directory.Tenant, app apps.Application, domain string) (Result, error) {
	if _, err := authz.Require(ctx, t.ID, authz.ManageFederation); err != nil {
		return Result{Domain: strings.ToLower(domain), Action: "none"}, err
	}
	res, err := s.disconnect(ctx, t, app, domain)
	s.recordResult(ctx, t, app, "domain.disconnect", res, err)
	return res, err
}

func (s *Service) disconnect(ctx context.Context, t directory.Tenant, app apps.Application, domain string) (Result, error) {
	res := Result{Domain: strings.ToLower(domain), Action: "none"}
	if app.Office365 != nil && app.Office365.Automatic() {
		return res, ErrAutomaticMode
	}
	rep, err := s.Verify(ctx, t, app, domain)
	res.Report, res.State = rep, rep.State
	if err != nil {
		return res, err
	}
	switch rep.State {
	case StateManaged:
		res.Message = res.Domain + " is not federated: nothing to disconnect"
		return res, s.recordDomain(ctx, t, app, res.Domain, false)
	case StateFederatedElsewhere:
		res.Message = res.Domain + " is federated to another identity provider; Portico leaves it alone"
		return res, ErrElsewhere
	case StateUnknown:
		res.Message = "the domain's state could not be read: " + failedChecks(rep)
		return res, ErrNotCompatible
	}
	if rep.RootDomain != rep.Domain {
		return res, ErrNotRoot
	}
	g := rep.graph // the state was read through it
	err = g.DeleteFederationConfiguration(ctx, res.Domain, rep.current.ID)
	res.Action = "deleted"
	res.State = s.readState(ctx, g, res.Domain, rep.app)
	if err != nil {
		res.Message = fmt.Sprintf("the disconnect failed (%v); %s is now %s", err, res.Domain, describeState(res.State))
		return res, fmt.Errorf("disconnect %s: %w", res.Domain, err)
	}
	res.Message = "Portico is disconnected from " + res.Domain + ": its users now sign in to Microsoft 365 with cloud passwords. " +
		"Portico did not set any password — users without one must get it from an administrator (Microsoft 365 admin center → Users → Reset password) before they can sign in."
	s.log.InfoContext(ctx, "domain defederated", "tenant", t.Slug, "app", app.ID, "domain", res.Domain)
	return res, s.recordDomain(ctx, t, app, res.Domain, false)
}

// RolloverStep is one step of a certificate rollover.
type RolloverStep struct {
	Step   string `json:"step"`
	Domain string `json:"domain,omitempty"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Rollover replaces the signing certificate of an application everywhere
// without interrupting sign-ins (contract §3): (1) create the next
// certificate, (2) publish it as nextSigningCertificate on every domain
// federated to the application — Entra then accepts tokens signed by
// either — (3) sign with it, (4) make it the signingCertificate of every
// domain. It stops at the first failure and the steps say how far it got.
// It needs the federation.manage permission, and every attempt is in the
// audit log.
func (s *Service) Rollover(ctx context.Context, t directory.Tenant, app apps.Application) ([]RolloverStep, error) {
	if _, err := authz.Require(ctx, t.ID, authz.ManageFederation); err != nil {
		return nil, err
	}
	steps, err := s.rollover(ctx, t, app)
	e := audit.New(ctx, t.ID, "application.rollover", audit.Object{Type: "application", ID: app.ID, Name: app.Name})
	e.AppID, e.Details = app.ID, map[string]any{"steps": steps}
	s.record(ctx, e, err)
	return steps, err
}

func (s *Service) rollover(ctx context.Context, t directory.Tenant, app apps.Application) ([]RolloverStep, error) {
	var steps []RolloverStep
	if app.Office365 == nil || !app.Office365.Automatic() {
		// Portico writes nothing to Microsoft 365 in manual mode: the
		// administrator publishes the next certificate by hand (see Manual).
		return steps, ErrManualMode
	}
	next, err := s.admin.CreateNextKey(ctx, t.ID, app.ID)
	if err != nil {
		return append(steps, RolloverStep{Step: "create next certificate", Detail: err.Error()}), err
	}
	steps = append(steps, RolloverStep{Step: "create next certificate", OK: true, Detail: "thumbprint " + next.ThumbprintSHA1()})
	if app.Office365.EffectiveMode() == apps.ModeGraph {
		// After the switch Portico authenticates to Graph with the new
		// certificate too: check now that the app registration holds it, so
		// that the rollover never leaves Portico locked out of Graph.
		step := RolloverStep{Step: "check the next certificate with Microsoft Graph", OK: true, Detail: "the app registration accepts it"}
		gNext, err := s.connectAs(ctx, t, app, next)
		if err == nil {
			_, err = gNext.Token(ctx)
		}
		if err != nil {
			step.OK = false
			step.Detail = "upload the next certificate (thumbprint " + next.ThumbprintSHA1() + ") to the app registration " +
				"(Certificates & secrets → Certificates → Upload certificate; GET …/certificates/{id}/download), then run the rollover again: " + err.Error()
			return append(steps, step), fmt.Errorf("rollover: %w", ErrNextNotRegistered)
		}
		steps = append(steps, step)
	}
	g, err := s.connect(ctx, t, app)
	if err != nil {
		return append(steps, RolloverStep{Step: "connect", Detail: err.Error()}), err
	}
	domains := app.Office365.FederatedDomains()
	publish := func(step string, keep func(d string) error) error {
		for _, d := range domains {
			err := keep(d)
			steps = append(steps, RolloverStep{Step: step, Domain: d, OK: err == nil, Detail: errText(err)})
			if err != nil {
				return fmt.Errorf("%s on %s: %w", step, d, err)
			}
		}
		return nil
	}
	update := func(d string) error {
		want, err := s.Desired(ctx, t, app, d)
		if err != nil {
			return err
		}
		cfgs, err := g.ListFederationConfigurations(ctx, d)
		if err != nil {
			return err
		}
		if len(cfgs) == 0 || !s.ours(appRef{t.Slug, app.ID}, cfgs[0].IssuerURI) {
			return fmt.Errorf("%s is no longer federated to this application", d)
		}
		_, nulls := diff(cfgs[0], want)
		_, err = g.UpdateFederationConfiguration(ctx, d, cfgs[0].ID, want, nulls...)
		return err
	}
	if err := publish("publish next certificate", update); err != nil {
		return steps, err
	}
	if err := s.admin.PromoteNextKey(ctx, t.ID, app.ID); err != nil {
		return append(steps, RolloverStep{Step: "sign with the new certificate", Detail: err.Error()}), err
	}
	steps = append(steps, RolloverStep{Step: "sign with the new certificate", OK: true, Detail: "thumbprint " + next.ThumbprintSHA1()})
	if err := publish("make the new certificate current", update); err != nil {
		return steps, err
	}
	s.log.InfoContext(ctx, "certificate rolled over", "tenant", t.Slug, "app", app.ID, "thumbprint", next.ThumbprintSHA1())
	return steps, nil
}

func errText(err error) string {
	if err == nil {
		return "done"
	}
	return err.Error()
}

// recordResult records a write operation on a domain. Microsoft 365, not
// Portico's database, holds what changed, so no transaction can span the
// change and its event: the event is written after the fact, success or
// failure, and a failure to write it is logged.
func (s *Service) recordResult(ctx context.Context, t directory.Tenant, app apps.Application, action string, res Result, err error) {
	e := audit.New(ctx, t.ID, action, audit.Object{Type: "domain", Name: res.Domain})
	e.AppID = app.ID
	e.Details = map[string]any{"application": app.Name, "result": res.Action, "state": res.State}
	if len(res.Changed) > 0 {
		e.Details["changed"] = res.Changed
	}
	s.record(ctx, e, err)
}

// record appends e with the outcome of err.
func (s *Service) record(ctx context.Context, e audit.Event, err error) {
	if err != nil {
		e.Outcome, e.Reason = audit.Failure, truncate(err.Error(), 500)
	}
	if rerr := s.admin.RecordEvent(context.WithoutCancel(ctx), e); rerr != nil {
		s.log.ErrorContext(ctx, "record in the audit log", "action", e.Action, "err", rerr)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
