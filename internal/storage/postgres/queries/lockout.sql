-- Named queries of smart lockout (PostgreSQL): familiar addresses and the
-- refund of a counted attempt.

-- name: GetFamiliarAddress
SELECT last_seen_at FROM familiar_addresses
WHERE tenant_id = $1 AND user_id = $2 AND prefix = $3 AND expires_at > $4;

-- name: UpsertFamiliarAddress
INSERT INTO familiar_addresses (tenant_id, user_id, prefix, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (tenant_id, user_id, prefix) DO UPDATE SET
    last_seen_at = GREATEST(familiar_addresses.last_seen_at, excluded.last_seen_at),
    expires_at = GREATEST(familiar_addresses.expires_at, excluded.expires_at);

-- name: TrimFamiliarAddresses
DELETE FROM familiar_addresses WHERE tenant_id = $1 AND user_id = $2 AND prefix NOT IN (
    SELECT prefix FROM familiar_addresses WHERE tenant_id = $1 AND user_id = $2
    ORDER BY last_seen_at DESC, prefix LIMIT $3);

-- name: ForgetFamiliarAddresses
DELETE FROM familiar_addresses WHERE tenant_id = $1 AND user_id = $2;

-- name: DeleteExpiredFamiliarAddresses
DELETE FROM familiar_addresses WHERE expires_at < $1;

-- name: ReleaseHit
UPDATE throttle SET hits = hits - 1 WHERE key = $1 AND hits > 0;
