package conformance

import (
	"context"
	"testing"

	"github.com/portico-idp/portico/internal/apitoken"
	"github.com/portico-idp/portico/internal/authz"
	"github.com/portico-idp/portico/internal/storage"
)

func testAPITokens(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	tn := mustTenant(t, s, "tokens")
	_, hash, err := apitoken.Generate(nil)
	ok(t, err)
	tok := apitoken.Token{ID: newID(), TenantID: tn.ID, Name: "ci", Role: authz.Helpdesk, Hash: hash, CreatedAt: now()}
	ok(t, s.CreateAPIToken(ctx, tok))
	_, ghash, _ := apitoken.Generate(nil)
	global := apitoken.Token{ID: newID(), Name: "root", Role: authz.Global, Hash: ghash, CreatedAt: now()}
	ok(t, s.CreateAPIToken(ctx, global))

	got, err := s.GetAPITokenByHash(ctx, hash)
	ok(t, err)
	eq(t, "token tenant", got.TenantID, tn.ID)
	eq(t, "token name", got.Name, "ci")
	eq(t, "token role", got.Role, authz.Helpdesk)
	byID, err := s.GetAPIToken(ctx, tok.ID)
	ok(t, err)
	eq(t, "token by id", byID.Name, "ci")
	eq(t, "token by id role", byID.Role, authz.Helpdesk)
	_, err = s.GetAPIToken(ctx, newID())
	wantIs(t, err, storage.ErrNotFound)
	got, err = s.GetAPITokenByHash(ctx, ghash)
	ok(t, err)
	eq(t, "global token", got.Global(), true)
	eq(t, "global token role", got.Role, authz.Global)

	// The database itself refuses a global role limited to one tenant and
	// an unknown role.
	_, bad, _ := apitoken.Generate(nil)
	if err := s.CreateAPIToken(ctx, apitoken.Token{ID: newID(), TenantID: tn.ID, Name: "x", Role: authz.Global, Hash: bad, CreatedAt: now()}); err == nil {
		t.Fatal("a tenant token with the global role was stored")
	}
	if err := s.CreateAPIToken(ctx, apitoken.Token{ID: newID(), Name: "x", Role: "root", Hash: bad, CreatedAt: now()}); err == nil {
		t.Fatal("a token with an unknown role was stored")
	}
	_, err = s.GetAPITokenByHash(ctx, apitoken.Hash("ptc_unknown"))
	wantIs(t, err, storage.ErrNotFound)

	dup := tok
	dup.ID = newID()
	wantDuplicate(t, s.CreateAPIToken(ctx, dup), "hash")

	list, err := s.ListAPITokens(ctx, tn.ID)
	ok(t, err)
	eq(t, "tenant tokens", len(list), 1)
	list, err = s.ListAPITokens(ctx, "")
	ok(t, err)
	eq(t, "global tokens", len(list), 1)
	eq(t, "global token id", list[0].ID, global.ID)

	ok(t, s.DeleteAPIToken(ctx, global.ID))
	_, err = s.GetAPITokenByHash(ctx, ghash)
	wantIs(t, err, storage.ErrNotFound)
	// Tokens go with their tenant.
	ok(t, s.DeleteTenant(ctx, tn.ID))
	_, err = s.GetAPITokenByHash(ctx, hash)
	wantIs(t, err, storage.ErrNotFound)
}
