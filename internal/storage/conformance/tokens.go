package conformance

import (
	"context"
	"testing"

	"github.com/portico-idp/portico/internal/apitoken"
	"github.com/portico-idp/portico/internal/storage"
)

func testAPITokens(t *testing.T, s storage.Storage) {
	ctx := context.Background()
	tn := mustTenant(t, s, "tokens")
	_, hash, err := apitoken.Generate(nil)
	ok(t, err)
	tok := apitoken.Token{ID: newID(), TenantID: tn.ID, Name: "ci", Hash: hash, CreatedAt: now()}
	ok(t, s.CreateAPIToken(ctx, tok))
	_, ghash, _ := apitoken.Generate(nil)
	global := apitoken.Token{ID: newID(), Name: "root", Hash: ghash, CreatedAt: now()}
	ok(t, s.CreateAPIToken(ctx, global))

	got, err := s.GetAPITokenByHash(ctx, hash)
	ok(t, err)
	eq(t, "token tenant", got.TenantID, tn.ID)
	eq(t, "token name", got.Name, "ci")
	got, err = s.GetAPITokenByHash(ctx, ghash)
	ok(t, err)
	eq(t, "global token", got.Global(), true)
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
