package admin

import (
	"context"
	"strings"

	"github.com/portico-idp/portico/internal/apitoken"
	"github.com/portico-idp/portico/internal/audit"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/directory"
	"github.com/portico-idp/portico/internal/storage"
)

func tokenObject(t apitoken.Token) audit.Object {
	return audit.Object{Type: "apiToken", ID: t.ID, Name: t.Name}
}

// tokenAudit is what the log shows of a token: never its hash.
type tokenAudit struct {
	Name string     `json:"name"`
	Role authz.Role `json:"role"`
}

// CreateAPIToken issues a token for a tenant ("" = all tenants) with a
// role (empty: global for all tenants, tenantAdmin for one). The caller
// can never give a token more power or a wider scope than its own. The
// secret is returned once and never stored.
func (s *Service) CreateAPIToken(ctx context.Context, tenantID, name string, role authz.Role) (string, apitoken.Token, error) {
	p, err := authz.Require(ctx, tenantID, authz.ManageTokens)
	if err != nil {
		return "", apitoken.Token{}, err
	}
	if role == "" {
		role = authz.TenantAdmin
		if tenantID == "" {
			role = authz.Global
		}
	}
	if !role.Valid() {
		return "", apitoken.Token{}, directory.Invalid("role", "must be one of "+authz.RoleNames())
	}
	if role == authz.Global && tenantID != "" {
		return "", apitoken.Token{}, directory.Invalid("role", authz.ErrGlobalNeedsAllTenants.Error())
	}
	if err := authz.CanGrant(p, role, tenantID); err != nil {
		return "", apitoken.Token{}, err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = "token"
	}
	if len(name) > 128 {
		return "", apitoken.Token{}, directory.Invalid("name", "must be at most 128 characters")
	}
	secret, hash, err := apitoken.Generate(s.random)
	if err != nil {
		return "", apitoken.Token{}, err
	}
	t := apitoken.Token{ID: s.newID(), TenantID: tenantID, Name: name, Role: role, Hash: hash, CreatedAt: s.stamp()}
	err = s.store.Atomically(ctx, func(ctx context.Context) error {
		if err := s.store.CreateAPIToken(ctx, t); err != nil {
			return err
		}
		return s.changed(ctx, tenantID, "token.create", tokenObject(t), nil, tokenAudit{t.Name, t.Role})
	})
	if err != nil {
		return "", t, err
	}
	return secret, t, nil
}

// ListAPITokens lists the tokens of a tenant, or those for all tenants
// ("").
func (s *Service) ListAPITokens(ctx context.Context, tenantID string) ([]apitoken.Token, error) {
	if _, err := authz.Require(ctx, tenantID, authz.ReadTokens); err != nil {
		return nil, err
	}
	return s.store.ListAPITokens(ctx, tenantID)
}

// DeleteAPIToken revokes a token of a tenant ("" = a token for all
// tenants). A token of another tenant is not found; one with more power
// than the caller's cannot be deleted by it.
func (s *Service) DeleteAPIToken(ctx context.Context, tenantID, id string) error {
	p, err := authz.Require(ctx, tenantID, authz.ManageTokens)
	if err != nil {
		return err
	}
	return s.store.Atomically(ctx, func(ctx context.Context) error {
		t, err := s.store.GetAPIToken(ctx, id)
		if err != nil {
			return err
		}
		if t.TenantID != tenantID {
			return storage.ErrNotFound
		}
		if err := authz.CanGrant(p, t.Role, t.TenantID); err != nil {
			return err
		}
		if err := s.store.DeleteAPIToken(ctx, id); err != nil {
			return err
		}
		return s.changed(ctx, tenantID, "token.delete", tokenObject(t), tokenAudit{t.Name, t.Role}, nil)
	})
}

// Authenticate returns the token a request presented. It needs no
// principal: it is how an API request gets one.
func (s *Service) Authenticate(ctx context.Context, secret string) (apitoken.Token, error) {
	if !apitoken.WellFormed(secret) {
		return apitoken.Token{}, storage.ErrNotFound
	}
	return s.store.GetAPITokenByHash(ctx, apitoken.Hash(secret))
}
