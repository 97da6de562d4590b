package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/portico-idp/portico/internal/apitoken"
	"github.com/portico-idp/portico/internal/authz"
)

func scanToken(r interface{ Scan(...any) error }) (apitoken.Token, error) {
	var t apitoken.Token
	var tenant sql.NullString
	var role string
	err := r.Scan(&t.ID, &tenant, &t.Name, &role, &t.Hash, timeCol{&t.CreatedAt})
	t.TenantID, t.Role = tenant.String, authz.Role(role)
	return t, err
}

// CreateAPIToken stores a token record (its hash, never the secret).
func (s *Store) CreateAPIToken(ctx context.Context, t apitoken.Token) (err error) {
	defer s.track("CreateAPIToken", time.Now(), &err)
	var tenant any
	if t.TenantID != "" {
		tenant = t.TenantID
	}
	if _, err = s.exec(ctx, s.q["InsertAPIToken"], t.ID, tenant, t.Name, string(t.Role), t.Hash, s.t(t.CreatedAt)); err != nil {
		return fmt.Errorf("create api token %q: %w", t.Name, s.classify(err))
	}
	return nil
}

// GetAPIToken reads a token by id.
func (s *Store) GetAPIToken(ctx context.Context, id string) (t apitoken.Token, err error) {
	defer s.track("GetAPIToken", time.Now(), &err)
	t, err = scanToken(s.queryRow(ctx, s.q["GetAPIToken"], id))
	if err != nil {
		return t, fmt.Errorf("get api token %s: %w", id, s.classify(err))
	}
	return t, nil
}

// GetAPITokenByHash finds the token a request presented.
func (s *Store) GetAPITokenByHash(ctx context.Context, hash []byte) (t apitoken.Token, err error) {
	defer s.track("GetAPITokenByHash", time.Now(), &err)
	t, err = scanToken(s.queryRow(ctx, s.q["GetAPITokenByHash"], hash))
	if err != nil {
		return t, fmt.Errorf("get api token: %w", s.classify(err))
	}
	return t, nil
}

// ListAPITokens lists a tenant's tokens, or the global ones for "".
func (s *Store) ListAPITokens(ctx context.Context, tenantID string) (out []apitoken.Token, err error) {
	defer s.track("ListAPITokens", time.Now(), &err)
	rows, err := s.queryRows(ctx, s.q["ListAPITokens"], tenantID)
	if err != nil {
		return nil, fmt.Errorf("list api tokens: %w", s.classify(err))
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list api tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteAPIToken revokes a token.
func (s *Store) DeleteAPIToken(ctx context.Context, id string) (err error) {
	defer s.track("DeleteAPIToken", time.Now(), &err)
	return s.deleteOne(ctx, "delete api token "+id, "DeleteAPIToken", id)
}
