package apps

import (
	"errors"
	"strings"
	"testing"

	"github.com/portico-idp/portico/internal/directory"
)

func TestSyncSettingsValidation(t *testing.T) {
	neg, big, zero := -1, MaxSyncIntervalMinutes+1, 0
	for _, tc := range []struct {
		name  string
		sync  Sync
		field string // "" = valid
	}{
		{"defaults", Sync{}, ""},
		{"all set", Sync{ExportEnabled: true, UsernameMapping: MapImmutableID, DefaultLicense: "ENTERPRISEPACK", UsageLocation: "DE", DeprovisionAction: DeprovisionDelete, IntervalMinutes: &zero, DeleteThreshold: &zero, Staging: true}, ""},
		{"mapping", Sync{UsernameMapping: "samAccountName"}, "office365.sync.usernameMapping"},
		{"licence", Sync{DefaultLicense: "ENTERPRISE PACK"}, "office365.sync.defaultLicense"},
		{"country", Sync{UsageLocation: "XX"}, "office365.sync.usageLocation"},
		{"country length", Sync{UsageLocation: "USA"}, "office365.sync.usageLocation"},
		{"deprovision", Sync{DeprovisionAction: "purge"}, "office365.sync.deprovisionAction"},
		{"interval negative", Sync{IntervalMinutes: &neg}, "office365.sync.intervalMinutes"},
		{"interval too long", Sync{IntervalMinutes: &big}, "office365.sync.intervalMinutes"},
		{"threshold", Sync{DeleteThreshold: &neg}, "office365.sync.deleteThreshold"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Application{Name: "Office 365", Kind: KindOffice365, Office365: &Office365Settings{Sync: tc.sync}}
			a.NormalizeSync()
			err := a.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid settings refused: %v", err)
				}
				return
			}
			var ve *directory.ValidationError
			if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Field != tc.field {
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
}

func TestSyncDefaultsAndNormalize(t *testing.T) {
	var s Sync
	if s.EffectiveMapping() != MapUPN || s.EffectiveDeprovision() != DeprovisionDisable || s.Interval() != 30 || s.Threshold() != 500 {
		t.Fatalf("defaults: %s %s %d %d", s.EffectiveMapping(), s.EffectiveDeprovision(), s.Interval(), s.Threshold())
	}
	a := Application{Name: "x", Kind: KindOffice365, Office365: &Office365Settings{Sync: Sync{UsageLocation: " us ", DefaultLicense: " SPE_E3 "}}}
	a.NormalizeSync()
	if a.Office365.Sync.UsageLocation != "US" || a.Office365.Sync.DefaultLicense != "SPE_E3" {
		t.Fatalf("normalized: %+v", a.Office365.Sync)
	}
	if err := a.Validate(); err != nil && strings.Contains(err.Error(), "sync") {
		t.Fatal(err)
	}
}
