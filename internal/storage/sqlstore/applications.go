package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/portico-idp/portico/internal/apps"
	"github.com/portico-idp/portico/internal/storage"
)

func scanApp(r scanner) (apps.Application, error) {
	var a apps.Application
	var kind, settings string
	err := r.Scan(&a.TenantID, &a.ID, &kind, &a.Name, &a.Enabled, &a.PolicyID, &a.AllowPasswordOnlyActive, &settings,
		timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt}, &a.Version)
	a.Kind = apps.Kind(kind)
	if err == nil && settings != "" && settings != "null" {
		a.Office365 = &apps.Office365Settings{}
		err = json.Unmarshal([]byte(settings), a.Office365)
	}
	return a, err
}

// appRefs names the reference that failed when writing an application:
// its policy or one of its groups.
func (s *Store) appRefs(ctx context.Context, q queryer, a apps.Application) error {
	for _, g := range a.GroupIDs {
		if ok, err := s.exists(ctx, q, "GroupExists", a.TenantID, g); err != nil {
			return err
		} else if !ok {
			return &storage.ReferenceError{Field: "permissionGroupIds"}
		}
	}
	return nil
}

func (s *Store) writeAppGroups(ctx context.Context, tx *sql.Tx, a apps.Application) error {
	if _, err := tx.ExecContext(ctx, s.q["DeleteApplicationGroups"], a.TenantID, a.ID); err != nil {
		return s.classify(err)
	}
	seen := map[string]bool{}
	for _, g := range a.GroupIDs {
		if seen[g] {
			continue
		}
		seen[g] = true
		if _, err := tx.ExecContext(ctx, s.q["InsertApplicationGroup"], a.TenantID, a.ID, g); err != nil {
			return s.classify(err)
		}
	}
	return nil
}

func policyRef(err error) error {
	if errors.Is(err, storage.ErrInvalidReference) {
		var re *storage.ReferenceError
		if errors.As(err, &re) && re.Field == "" {
			return &storage.ReferenceError{Field: "authenticationPolicyId"}
		}
	}
	return err
}

// CreateApplication stores an application and its permission groups.
func (s *Store) CreateApplication(ctx context.Context, a apps.Application) (err error) {
	defer s.track("CreateApplication", time.Now(), &err)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.appRefs(ctx, tx, a); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.q["InsertApplication"], a.TenantID, a.ID, string(a.Kind), a.Name, a.Enabled, a.PolicyID,
			a.AllowPasswordOnlyActive, string(a.SettingsJSON()), s.t(a.CreatedAt), s.t(a.UpdatedAt))
		if err != nil {
			return policyRef(s.classify(err))
		}
		return s.writeAppGroups(ctx, tx, a)
	})
	if err != nil {
		return fmt.Errorf("create application %q: %w", a.Name, err)
	}
	return nil
}

func (s *Store) loadGroups(ctx context.Context, a *apps.Application) error {
	rows, err := s.queryRows(ctx, s.q["ListApplicationGroups"], a.TenantID, a.ID)
	if err != nil {
		return s.classify(err)
	}
	defer rows.Close()
	a.GroupIDs = []string{}
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return err
		}
		a.GroupIDs = append(a.GroupIDs, g)
	}
	return rows.Err()
}

// GetApplication reads an application with its permission groups.
func (s *Store) GetApplication(ctx context.Context, tenantID, id string) (a apps.Application, err error) {
	defer s.track("GetApplication", time.Now(), &err)
	if a, err = scanApp(s.queryRow(ctx, s.q["GetApplication"], tenantID, id)); err != nil {
		return a, fmt.Errorf("get application %s: %w", id, s.classify(err))
	}
	if err = s.loadGroups(ctx, &a); err != nil {
		return a, fmt.Errorf("get application %s: %w", id, err)
	}
	return a, nil
}

// ListApplications lists a tenant's applications.
func (s *Store) ListApplications(ctx context.Context, tenantID string) (out []apps.Application, err error) {
	defer s.track("ListApplications", time.Now(), &err)
	rows, err := s.queryRows(ctx, s.q["ListApplications"], tenantID)
	if err != nil {
		return nil, fmt.Errorf("list applications: %w", s.classify(err))
	}
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list applications: %w", err)
		}
		out = append(out, a)
	}
	rows.Close()
	for i := range out {
		if err := s.loadGroups(ctx, &out[i]); err != nil {
			return nil, fmt.Errorf("list applications: %w", err)
		}
	}
	return out, rows.Err()
}

// UpdateApplication compare-and-swaps an application and its groups.
func (s *Store) UpdateApplication(ctx context.Context, tenantID, id string, fn func(apps.Application) (apps.Application, error)) (na apps.Application, err error) {
	defer s.track("UpdateApplication", time.Now(), &err)
	old, err := s.GetApplication(ctx, tenantID, id)
	if err != nil {
		return na, err
	}
	if na, err = fn(old); err != nil {
		return na, err
	}
	na.TenantID, na.ID, na.Kind, na.CreatedAt = old.TenantID, old.ID, old.Kind, old.CreatedAt
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.appRefs(ctx, tx, na); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q["UpdateApplication"], na.Name, na.Enabled, na.PolicyID, na.AllowPasswordOnlyActive,
			string(na.SettingsJSON()), s.t(na.UpdatedAt), tenantID, id, old.Version)
		if err := s.casResult(res, policyRef(s.classify(err))); err != nil {
			return err
		}
		return s.writeAppGroups(ctx, tx, na)
	})
	if err = s.resolveMiss(err, func() error { _, e := s.GetApplication(ctx, tenantID, id); return e }); err != nil {
		return na, fmt.Errorf("update application %s: %w", id, err)
	}
	na.Version = old.Version + 1
	return na, nil
}

// DeleteApplication removes an application, its groups and its keys.
func (s *Store) DeleteApplication(ctx context.Context, tenantID, id string) (err error) {
	defer s.track("DeleteApplication", time.Now(), &err)
	return s.deleteOne(ctx, "delete application "+id, "DeleteApplication", tenantID, id)
}

// IsUserPermitted reports whether a user is in a permission group of an
// application.
func (s *Store) IsUserPermitted(ctx context.Context, tenantID, appID, userID string) (ok bool, err error) {
	defer s.track("IsUserPermitted", time.Now(), &err)
	if ok, err = s.exists(ctx, s.conn(ctx), "IsUserPermitted", tenantID, appID, userID); err != nil {
		return false, fmt.Errorf("is %s permitted to %s: %w", userID, appID, err)
	}
	return ok, nil
}

// ---- signing keys ----

// CreateSigningKey stores a certificate and its sealed key.
func (s *Store) CreateSigningKey(ctx context.Context, k apps.SigningKey) (err error) {
	defer s.track("CreateSigningKey", time.Now(), &err)
	_, err = s.exec(ctx, s.q["InsertSigningKey"], k.TenantID, k.AppID, k.ID, string(k.Role), k.CertDER, k.KeySealed,
		s.t(k.CreatedAt), s.t(k.NotAfter))
	if err != nil {
		err = s.classify(err)
		if errors.Is(err, storage.ErrInvalidReference) {
			err = &storage.ReferenceError{Field: "applicationId"}
		}
		return fmt.Errorf("create signing key: %w", err)
	}
	return nil
}

// ListSigningKeys lists an application's keys, oldest first.
func (s *Store) ListSigningKeys(ctx context.Context, tenantID, appID string) (out []apps.SigningKey, err error) {
	defer s.track("ListSigningKeys", time.Now(), &err)
	rows, err := s.queryRows(ctx, s.q["ListSigningKeys"], tenantID, appID)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", s.classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		var k apps.SigningKey
		var role string
		if err := rows.Scan(&k.TenantID, &k.AppID, &k.ID, &role, &k.CertDER, &k.KeySealed, timeCol{&k.CreatedAt},
			timeCol{&k.NotAfter}, &k.Version); err != nil {
			return nil, fmt.Errorf("list signing keys: %w", err)
		}
		k.Role = apps.SigningKeyRole(role)
		out = append(out, k)
	}
	return out, rows.Err()
}

// SetSigningKeyRoles changes several keys' roles in one transaction.
func (s *Store) SetSigningKeyRoles(ctx context.Context, tenantID, appID string, roles map[string]apps.SigningKeyRole) (err error) {
	defer s.track("SetSigningKeyRoles", time.Now(), &err)
	return s.inTx(ctx, func(tx *sql.Tx) error {
		for id, role := range roles {
			if err := s.execOne(ctx, tx, "set role of signing key "+id, "SetSigningKeyRole", string(role), tenantID, appID, id); err != nil {
				return err
			}
		}
		return nil
	})
}
