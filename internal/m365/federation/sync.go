package federation

import (
	"context"
	"errors"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/m365/graph"
)

// MSOnlineSyncWarning is shown in the report of a run that synchronizes
// with the Microsoft Online administrator's password.
const MSOnlineSyncWarning = "this run used the Microsoft Online administrator's password (the resource owner password grant), which Microsoft has deprecated and which cannot use multi-factor authentication: register an app and turn on office365.useGraphForSync"

// SyncGraph opens the Graph connection a synchronization run of app uses:
// in Microsoft Graph mode the app registration with the application's
// certificate; in Microsoft Online mode the app registration when "Use
// graph for synchronization" (office365.useGraphForSync) is on, and
// otherwise the administrator's delegated token, with a warning for the
// run report. extra options are added (a retry observer, for example).
func (s *Service) SyncGraph(ctx context.Context, t directory.Tenant, app apps.Application, extra ...graph.Option) (*graph.Client, []string, error) {
	if app.Office365 == nil {
		return nil, nil, errors.New("not an Office 365 application")
	}
	o := app.Office365
	mode := o.EffectiveMode()
	var warnings []string
	if mode == apps.ModeMSOnline {
		if o.UseGraphForSync {
			mode = apps.ModeGraph
		} else {
			warnings = append(warnings, MSOnlineSyncWarning)
		}
	}
	if mode == apps.ModeGraph && (o.ClientID == "" || o.DirectoryID == "") {
		return nil, warnings, errors.New("the app registration is not set: fill in office365.clientId and office365.directoryId")
	}
	c, err := s.newGraph(ctx, t, app, nil, mode, extra...)
	return c, warnings, err
}
