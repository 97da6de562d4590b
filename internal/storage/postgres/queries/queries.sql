-- Named queries of the PostgreSQL backend. Each starts with "-- name: Name";
-- the shared engine (internal/storage/sqlstore) runs them by name.

-- name: InsertTenant
INSERT INTO tenants (id, slug, name, created_at, updated_at, version)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: GetTenant
SELECT id, slug, name, created_at, updated_at, version FROM tenants WHERE id = $1;

-- name: GetTenantBySlug
SELECT id, slug, name, created_at, updated_at, version FROM tenants WHERE slug = $1;

-- name: UpdateTenant
UPDATE tenants SET slug = $1, name = $2, updated_at = $3, version = version + 1
WHERE id = $4 AND version = $5;

-- name: DeleteTenant
DELETE FROM tenants WHERE id = $1;

-- name: InsertOrganization
INSERT INTO organizations (tenant_id, id, name, name_key, principal_name_suffix, created_at, updated_at, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: GetOrganization
SELECT tenant_id, id, name, principal_name_suffix, created_at, updated_at, version
FROM organizations WHERE tenant_id = $1 AND id = $2;

-- name: UpdateOrganization
UPDATE organizations SET name = $1, name_key = $2, principal_name_suffix = $3, updated_at = $4, version = version + 1
WHERE tenant_id = $5 AND id = $6 AND version = $7;

-- name: CountPlainUsernames
SELECT count(*) FROM users
WHERE tenant_id = $1 AND organization_id = $2 AND strpos(username, '@') = 0;

-- name: RecomputeUPNs
UPDATE users SET upn = username || $1, updated_at = $2, version = version + 1
WHERE tenant_id = $3 AND organization_id = $4 AND strpos(username, '@') = 0;

-- name: OrganizationHasUsers
SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND organization_id = $2);

-- name: DeleteOrganization
DELETE FROM organizations WHERE tenant_id = $1 AND id = $2;

-- name: InsertIssuedImmutableID
INSERT INTO issued_immutable_ids (immutable_id, tenant_id, issued_at) VALUES ($1, $2, $3);

-- name: InsertUser
INSERT INTO users (tenant_id, id, organization_id, username, upn, email, given_name, family_name,
    display_name, status, immutable_id, job_title, department, mobile_phone, office_phone,
    usage_location, created_at, updated_at, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19);

-- name: GetUser
SELECT tenant_id, id, organization_id, username, upn, email, given_name, family_name, display_name,
    status, immutable_id, job_title, department, mobile_phone, office_phone, usage_location,
    created_at, updated_at, version
FROM users WHERE tenant_id = $1 AND id = $2;

-- name: GetUserByUsername
SELECT tenant_id, id, organization_id, username, upn, email, given_name, family_name, display_name,
    status, immutable_id, job_title, department, mobile_phone, office_phone, usage_location,
    created_at, updated_at, version
FROM users WHERE tenant_id = $1 AND username = $2;

-- name: GetUserByUPN
SELECT tenant_id, id, organization_id, username, upn, email, given_name, family_name, display_name,
    status, immutable_id, job_title, department, mobile_phone, office_phone, usage_location,
    created_at, updated_at, version
FROM users WHERE tenant_id = $1 AND upn = $2;

-- name: UpdateUser
UPDATE users SET organization_id = $1, username = $2, upn = $3, email = $4, given_name = $5, family_name = $6,
    display_name = $7, status = $8, job_title = $9, department = $10, mobile_phone = $11, office_phone = $12,
    usage_location = $13, updated_at = $14, version = version + 1
WHERE tenant_id = $15 AND id = $16 AND version = $17;

-- name: DeleteUser
DELETE FROM users WHERE tenant_id = $1 AND id = $2;

-- name: UserExists
SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2);

-- name: InsertGroup
INSERT INTO groups (tenant_id, id, name, name_key, type, email, description, created_at, updated_at, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: GetGroup
SELECT tenant_id, id, name, type, email, description, created_at, updated_at, version
FROM groups WHERE tenant_id = $1 AND id = $2;

-- name: UpdateGroup
UPDATE groups SET name = $1, name_key = $2, type = $3, email = $4, description = $5, updated_at = $6, version = version + 1
WHERE tenant_id = $7 AND id = $8 AND version = $9;

-- name: DeleteGroup
DELETE FROM groups WHERE tenant_id = $1 AND id = $2;

-- name: GroupExists
SELECT EXISTS (SELECT 1 FROM groups WHERE tenant_id = $1 AND id = $2);

-- name: InsertMember
INSERT INTO group_members (tenant_id, group_id, user_id, created_at) VALUES ($1, $2, $3, $4);

-- name: DeleteMember
DELETE FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND user_id = $3;

-- name: IsMember
SELECT EXISTS (SELECT 1 FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND user_id = $3);

-- name: InsertAPIToken
INSERT INTO api_tokens (id, tenant_id, name, role, hash, created_at) VALUES ($1, $2, $3, $4, $5, $6);

-- name: GetAPITokenByHash
SELECT id, tenant_id, name, role, hash, created_at FROM api_tokens WHERE hash = $1;

-- name: GetAPIToken
SELECT id, tenant_id, name, role, hash, created_at FROM api_tokens WHERE id = $1;

-- name: ListAPITokens
SELECT id, tenant_id, name, role, hash, created_at FROM api_tokens
WHERE (tenant_id = $1) OR ($1 = '' AND tenant_id IS NULL) ORDER BY created_at, id;

-- name: DeleteAPIToken
DELETE FROM api_tokens WHERE id = $1;

-- name: InsertPolicy
INSERT INTO auth_policies (tenant_id, id, name, name_key, second_factor, session_idle_seconds, session_max_seconds, created_at, updated_at, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: GetPolicy
SELECT tenant_id, id, name, second_factor, session_idle_seconds, session_max_seconds, created_at, updated_at, version
FROM auth_policies WHERE tenant_id = $1 AND id = $2;

-- name: ListPolicies
SELECT tenant_id, id, name, second_factor, session_idle_seconds, session_max_seconds, created_at, updated_at, version
FROM auth_policies WHERE tenant_id = $1 ORDER BY name_key;

-- name: UpdatePolicy
UPDATE auth_policies SET name = $1, name_key = $2, second_factor = $3, session_idle_seconds = $4, session_max_seconds = $5,
    updated_at = $6, version = version + 1
WHERE tenant_id = $7 AND id = $8 AND version = $9;

-- name: PolicyInUse
SELECT EXISTS (SELECT 1 FROM applications WHERE tenant_id = $1 AND policy_id = $2);

-- name: DeletePolicy
DELETE FROM auth_policies WHERE tenant_id = $1 AND id = $2;

-- name: GetCredentials
SELECT tenant_id, user_id, password_hash, password_changed_at, totp_secret, totp_enrolled_at, totp_last_step,
    recovery_hashes, created_at, updated_at, version
FROM credentials WHERE tenant_id = $1 AND user_id = $2;

-- name: InsertCredentials
INSERT INTO credentials (tenant_id, user_id, password_hash, password_changed_at, totp_secret, totp_enrolled_at,
    totp_last_step, recovery_hashes, created_at, updated_at, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1);

-- name: UpdateCredentials
UPDATE credentials SET password_hash = $1, password_changed_at = $2, totp_secret = $3, totp_enrolled_at = $4,
    totp_last_step = $5, recovery_hashes = $6, updated_at = $7, version = version + 1
WHERE tenant_id = $8 AND user_id = $9 AND version = $10;

-- name: InsertSession
INSERT INTO sessions (id, tenant_id, user_id, token_hash, created_at, last_seen_at, expires_at, idle_seconds,
    password_at, mfa_at, revoked_at, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1);

-- name: GetSessionByToken
SELECT id, tenant_id, user_id, token_hash, created_at, last_seen_at, expires_at, idle_seconds, password_at, mfa_at,
    revoked_at, version
FROM sessions WHERE token_hash = $1;

-- name: GetSession
SELECT id, tenant_id, user_id, token_hash, created_at, last_seen_at, expires_at, idle_seconds, password_at, mfa_at,
    revoked_at, version
FROM sessions WHERE id = $1;

-- name: UpdateSession
UPDATE sessions SET last_seen_at = $1, expires_at = $2, idle_seconds = $3, password_at = $4, mfa_at = $5, revoked_at = $6,
    version = version + 1
WHERE id = $7 AND version = $8;

-- name: RevokeUserSessions
UPDATE sessions SET revoked_at = $1, version = version + 1
WHERE tenant_id = $2 AND user_id = $3 AND revoked_at IS NULL;

-- name: DeleteExpiredSessions
DELETE FROM sessions WHERE expires_at < $1;

-- name: InsertLoginFlow
INSERT INTO login_flows (id, tenant_id, app_id, protocol, request, username_hint, force_fresh, require_mfa,
    binding_hash, csrf, step, username, user_id, password_at, mfa_at, pending_totp, created_at, expires_at, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, 1);

-- name: GetLoginFlow
SELECT id, tenant_id, app_id, protocol, request, username_hint, force_fresh, require_mfa, binding_hash, csrf, step,
    username, user_id, password_at, mfa_at, pending_totp, created_at, expires_at, version
FROM login_flows WHERE id = $1;

-- name: UpdateLoginFlow
UPDATE login_flows SET step = $1, username = $2, user_id = $3, password_at = $4, mfa_at = $5, pending_totp = $6, csrf = $7,
    version = version + 1
WHERE id = $8 AND version = $9;

-- name: DeleteLoginFlow
DELETE FROM login_flows WHERE id = $1;

-- name: DeleteExpiredLoginFlows
DELETE FROM login_flows WHERE expires_at < $1;

-- name: Hit
INSERT INTO throttle (key, window_start, hits) VALUES ($1, $2, 1)
ON CONFLICT (key) DO UPDATE SET
    hits = CASE WHEN throttle.window_start <= $3 THEN 1 ELSE throttle.hits + 1 END,
    window_start = CASE WHEN throttle.window_start <= $3 THEN $2 ELSE throttle.window_start END
RETURNING hits;

-- name: ClearHits
DELETE FROM throttle WHERE key = $1;

-- name: DeleteStaleThrottle
DELETE FROM throttle WHERE window_start < $1;

-- name: InsertNonce
INSERT INTO nonces (key, expires_at) VALUES ($1, $2);

-- name: DeleteExpiredNonces
DELETE FROM nonces WHERE expires_at < $1;

-- name: InsertApplication
INSERT INTO applications (tenant_id, id, kind, name, enabled, policy_id, allow_password_only_active, settings,
    created_at, updated_at, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1);

-- name: GetApplication
SELECT tenant_id, id, kind, name, enabled, policy_id, allow_password_only_active, settings, created_at, updated_at, version
FROM applications WHERE tenant_id = $1 AND id = $2;

-- name: ListApplications
SELECT tenant_id, id, kind, name, enabled, policy_id, allow_password_only_active, settings, created_at, updated_at, version
FROM applications WHERE tenant_id = $1 ORDER BY name, id;

-- name: UpdateApplication
UPDATE applications SET name = $1, enabled = $2, policy_id = $3, allow_password_only_active = $4, settings = $5,
    updated_at = $6, version = version + 1
WHERE tenant_id = $7 AND id = $8 AND version = $9;

-- name: DeleteApplication
DELETE FROM applications WHERE tenant_id = $1 AND id = $2;

-- name: ListApplicationGroups
SELECT group_id FROM application_groups WHERE tenant_id = $1 AND app_id = $2 ORDER BY group_id;

-- name: InsertApplicationGroup
INSERT INTO application_groups (tenant_id, app_id, group_id) VALUES ($1, $2, $3);

-- name: DeleteApplicationGroups
DELETE FROM application_groups WHERE tenant_id = $1 AND app_id = $2;

-- name: IsUserPermitted
SELECT EXISTS (
    SELECT 1 FROM application_groups ag
    JOIN group_members m ON m.tenant_id = ag.tenant_id AND m.group_id = ag.group_id
    WHERE ag.tenant_id = $1 AND ag.app_id = $2 AND m.user_id = $3);

-- name: InsertSigningKey
INSERT INTO signing_keys (tenant_id, app_id, id, role, cert_der, key_sealed, created_at, not_after, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1);

-- name: ListSigningKeys
SELECT tenant_id, app_id, id, role, cert_der, key_sealed, created_at, not_after, version
FROM signing_keys WHERE tenant_id = $1 AND app_id = $2 ORDER BY created_at, id;

-- name: SetSigningKeyRole
UPDATE signing_keys SET role = $1, version = version + 1 WHERE tenant_id = $2 AND app_id = $3 AND id = $4;

-- name: HasSealedSecrets
SELECT EXISTS (SELECT 1 FROM signing_keys) OR EXISTS (SELECT 1 FROM credentials WHERE totp_secret IS NOT NULL);

-- name: Hits
SELECT hits FROM throttle WHERE key = $1 AND window_start > $2;

-- name: InsertAuditEvent
INSERT INTO audit_events (id, at, tenant_id, actor_kind, actor_id, actor_name, actor_role, action, object_type, object_id,
    object_name, app_id, changes, details, address, user_agent, request_id, outcome, reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19);

-- name: SetAuditRetention
UPDATE audit_settings SET retention_days = $1 WHERE id = 1;

-- name: PurgeAuditEvents
-- The cutoff is the delete guard's (the transaction's now()), a minute
-- earlier, so the guard never refuses a row the purge chose.
DELETE FROM audit_events
WHERE at < now() - make_interval(days => (SELECT retention_days FROM audit_settings WHERE id = 1)) - interval '1 minute';
