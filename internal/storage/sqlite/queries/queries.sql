-- Named queries of the SQLite backend. Each starts with "-- name: Name";
-- the shared engine (internal/storage/sqlstore) runs them by name.

-- name: InsertTenant
INSERT INTO tenants (id, slug, name, created_at, updated_at, version)
VALUES (?, ?, ?, ?, ?, ?);

-- name: GetTenant
SELECT id, slug, name, created_at, updated_at, version FROM tenants WHERE id = ?;

-- name: GetTenantBySlug
SELECT id, slug, name, created_at, updated_at, version FROM tenants WHERE slug = ?;

-- name: UpdateTenant
UPDATE tenants SET slug = ?, name = ?, updated_at = ?, version = version + 1
WHERE id = ? AND version = ?;

-- name: DeleteTenant
DELETE FROM tenants WHERE id = ?;

-- name: InsertOrganization
INSERT INTO organizations (tenant_id, id, name, name_key, principal_name_suffix, created_at, updated_at, version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?);

-- name: GetOrganization
SELECT tenant_id, id, name, principal_name_suffix, created_at, updated_at, version
FROM organizations WHERE tenant_id = ? AND id = ?;

-- name: UpdateOrganization
UPDATE organizations SET name = ?, name_key = ?, principal_name_suffix = ?, updated_at = ?, version = version + 1
WHERE tenant_id = ? AND id = ? AND version = ?;

-- name: CountPlainUsernames
SELECT count(*) FROM users
WHERE tenant_id = ? AND organization_id = ? AND instr(username, '@') = 0;

-- name: RecomputeUPNs
UPDATE users SET upn = username || ?, updated_at = ?, version = version + 1
WHERE tenant_id = ? AND organization_id = ? AND instr(username, '@') = 0;

-- name: OrganizationHasUsers
SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = ? AND organization_id = ?);

-- name: DeleteOrganization
DELETE FROM organizations WHERE tenant_id = ? AND id = ?;

-- name: InsertIssuedImmutableID
INSERT INTO issued_immutable_ids (immutable_id, tenant_id, issued_at) VALUES (?, ?, ?);

-- name: InsertUser
INSERT INTO users (tenant_id, id, organization_id, username, upn, email, given_name, family_name,
    display_name, status, immutable_id, job_title, department, mobile_phone, office_phone,
    usage_location, created_at, updated_at, version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: GetUser
SELECT tenant_id, id, organization_id, username, upn, email, given_name, family_name, display_name,
    status, immutable_id, job_title, department, mobile_phone, office_phone, usage_location,
    created_at, updated_at, version
FROM users WHERE tenant_id = ? AND id = ?;

-- name: GetUserByUsername
SELECT tenant_id, id, organization_id, username, upn, email, given_name, family_name, display_name,
    status, immutable_id, job_title, department, mobile_phone, office_phone, usage_location,
    created_at, updated_at, version
FROM users WHERE tenant_id = ? AND username = ?;

-- name: GetUserByUPN
SELECT tenant_id, id, organization_id, username, upn, email, given_name, family_name, display_name,
    status, immutable_id, job_title, department, mobile_phone, office_phone, usage_location,
    created_at, updated_at, version
FROM users WHERE tenant_id = ? AND upn = ?;

-- name: UpdateUser
UPDATE users SET organization_id = ?, username = ?, upn = ?, email = ?, given_name = ?, family_name = ?,
    display_name = ?, status = ?, job_title = ?, department = ?, mobile_phone = ?, office_phone = ?,
    usage_location = ?, updated_at = ?, version = version + 1
WHERE tenant_id = ? AND id = ? AND version = ?;

-- name: DeleteUser
DELETE FROM users WHERE tenant_id = ? AND id = ?;

-- name: UserExists
SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = ? AND id = ?);

-- name: InsertGroup
INSERT INTO groups (tenant_id, id, name, name_key, type, email, description, created_at, updated_at, version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: GetGroup
SELECT tenant_id, id, name, type, email, description, created_at, updated_at, version
FROM groups WHERE tenant_id = ? AND id = ?;

-- name: UpdateGroup
UPDATE groups SET name = ?, name_key = ?, type = ?, email = ?, description = ?, updated_at = ?, version = version + 1
WHERE tenant_id = ? AND id = ? AND version = ?;

-- name: DeleteGroup
DELETE FROM groups WHERE tenant_id = ? AND id = ?;

-- name: GroupExists
SELECT EXISTS (SELECT 1 FROM groups WHERE tenant_id = ? AND id = ?);

-- name: InsertMember
INSERT INTO group_members (tenant_id, group_id, user_id, created_at) VALUES (?, ?, ?, ?);

-- name: DeleteMember
DELETE FROM group_members WHERE tenant_id = ? AND group_id = ? AND user_id = ?;

-- name: IsMember
SELECT EXISTS (SELECT 1 FROM group_members WHERE tenant_id = ? AND group_id = ? AND user_id = ?);

-- name: InsertAPIToken
INSERT INTO api_tokens (id, tenant_id, name, role, hash, created_at) VALUES (?, ?, ?, ?, ?, ?);

-- name: GetAPITokenByHash
SELECT id, tenant_id, name, role, hash, created_at FROM api_tokens WHERE hash = ?;

-- name: GetAPIToken
SELECT id, tenant_id, name, role, hash, created_at FROM api_tokens WHERE id = ?;

-- name: ListAPITokens
SELECT id, tenant_id, name, role, hash, created_at FROM api_tokens
WHERE (tenant_id = ?1) OR (?1 = '' AND tenant_id IS NULL) ORDER BY created_at, id;

-- name: DeleteAPIToken
DELETE FROM api_tokens WHERE id = ?;

-- name: InsertPolicy
INSERT INTO auth_policies (tenant_id, id, name, name_key, second_factor, session_idle_seconds, session_max_seconds, created_at, updated_at, version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: GetPolicy
SELECT tenant_id, id, name, second_factor, session_idle_seconds, session_max_seconds, created_at, updated_at, version
FROM auth_policies WHERE tenant_id = ? AND id = ?;

-- name: ListPolicies
SELECT tenant_id, id, name, second_factor, session_idle_seconds, session_max_seconds, created_at, updated_at, version
FROM auth_policies WHERE tenant_id = ? ORDER BY name_key;

-- name: UpdatePolicy
UPDATE auth_policies SET name = ?, name_key = ?, second_factor = ?, session_idle_seconds = ?, session_max_seconds = ?,
    updated_at = ?, version = version + 1
WHERE tenant_id = ? AND id = ? AND version = ?;

-- name: PolicyInUse
SELECT EXISTS (SELECT 1 FROM applications WHERE tenant_id = ? AND policy_id = ?);

-- name: DeletePolicy
DELETE FROM auth_policies WHERE tenant_id = ? AND id = ?;

-- name: GetCredentials
SELECT tenant_id, user_id, password_hash, password_changed_at, totp_secret, totp_enrolled_at, totp_last_step,
    recovery_hashes, created_at, updated_at, version
FROM credentials WHERE tenant_id = ? AND user_id = ?;

-- name: InsertCredentials
INSERT INTO credentials (tenant_id, user_id, password_hash, password_changed_at, totp_secret, totp_enrolled_at,
    totp_last_step, recovery_hashes, created_at, updated_at, version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1);

-- name: UpdateCredentials
UPDATE credentials SET password_hash = ?, password_changed_at = ?, totp_secret = ?, totp_enrolled_at = ?,
    totp_last_step = ?, recovery_hashes = ?, updated_at = ?, version = version + 1
WHERE tenant_id = ? AND user_id = ? AND version = ?;

-- name: InsertSession
INSERT INTO sessions (id, tenant_id, user_id, token_hash, created_at, last_seen_at, expires_at, idle_seconds,
    password_at, mfa_at, revoked_at, version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1);

-- name: GetSessionByToken
SELECT id, tenant_id, user_id, token_hash, created_at, last_seen_at, expires_at, idle_seconds, password_at, mfa_at,
    revoked_at, version
FROM sessions WHERE token_hash = ?;

-- name: GetSession
SELECT id, tenant_id, user_id, token_hash, created_at, last_seen_at, expires_at, idle_seconds, password_at, mfa_at,
    revoked_at, version
FROM sessions WHERE id = ?;

-- name: UpdateSession
UPDATE sessions SET last_seen_at = ?, expires_at = ?, idle_seconds = ?, password_at = ?, mfa_at = ?, revoked_at = ?,
    version = version + 1
WHERE id = ? AND version = ?;

-- name: RevokeUserSessions
UPDATE sessions SET revoked_at = ?, version = version + 1
WHERE tenant_id = ? AND user_id = ? AND revoked_at IS NULL;

-- name: DeleteExpiredSessions
DELETE FROM sessions WHERE expires_at < ?;

-- name: InsertLoginFlow
INSERT INTO login_flows (id, tenant_id, app_id, protocol, request, username_hint, force_fresh, require_mfa,
    binding_hash, csrf, step, username, user_id, password_at, mfa_at, pending_totp, created_at, expires_at, version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1);

-- name: GetLoginFlow
SELECT id, tenant_id, app_id, protocol, request, username_hint, force_fresh, require_mfa, binding_hash, csrf, step,
    username, user_id, password_at, mfa_at, pending_totp, created_at, expires_at, version
FROM login_flows WHERE id = ?;

-- name: UpdateLoginFlow
UPDATE login_flows SET step = ?, username = ?, user_id = ?, password_at = ?, mfa_at = ?, pending_totp = ?, csrf = ?,
    version = version + 1
WHERE id = ? AND version = ?;

-- name: DeleteLoginFlow
DELETE FROM login_flows WHERE id = ?;

-- name: DeleteExpiredLoginFlows
DELETE FROM login_flows WHERE expires_at < ?;

-- name: Hit
INSERT INTO throttle (key, window_start, hits) VALUES (?1, ?2, 1)
ON CONFLICT (key) DO UPDATE SET
    hits = CASE WHEN throttle.window_start <= ?3 THEN 1 ELSE throttle.hits + 1 END,
    window_start = CASE WHEN throttle.window_start <= ?3 THEN ?2 ELSE throttle.window_start END
RETURNING hits;

-- name: ClearHits
DELETE FROM throttle WHERE key = ?;

-- name: DeleteStaleThrottle
DELETE FROM throttle WHERE window_start < ?;

-- name: InsertNonce
INSERT INTO nonces (key, expires_at) VALUES (?, ?);

-- name: DeleteExpiredNonces
DELETE FROM nonces WHERE expires_at < ?;

-- name: InsertApplication
INSERT INTO applications (tenant_id, id, kind, name, enabled, policy_id, allow_password_only_active, settings,
    created_at, updated_at, version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1);

-- name: GetApplication
SELECT tenant_id, id, kind, name, enabled, policy_id, allow_password_only_active, settings, created_at, updated_at, version
FROM applications WHERE tenant_id = ? AND id = ?;

-- name: ListApplications
SELECT tenant_id, id, kind, name, enabled, policy_id, allow_password_only_active, settings, created_at, updated_at, version
FROM applications WHERE tenant_id = ? ORDER BY name, id;

-- name: UpdateApplication
UPDATE applications SET name = ?, enabled = ?, policy_id = ?, allow_password_only_active = ?, settings = ?,
    updated_at = ?, version = version + 1
WHERE tenant_id = ? AND id = ? AND version = ?;

-- name: DeleteApplication
DELETE FROM applications WHERE tenant_id = ? AND id = ?;

-- name: ListApplicationGroups
SELECT group_id FROM application_groups WHERE tenant_id = ? AND app_id = ? ORDER BY group_id;

-- name: InsertApplicationGroup
INSERT INTO application_groups (tenant_id, app_id, group_id) VALUES (?, ?, ?);

-- name: DeleteApplicationGroups
DELETE FROM application_groups WHERE tenant_id = ? AND app_id = ?;

-- name: IsUserPermitted
SELECT EXISTS (
    SELECT 1 FROM application_groups ag
    JOIN group_members m ON m.tenant_id = ag.tenant_id AND m.group_id = ag.group_id
    WHERE ag.tenant_id = ? AND ag.app_id = ? AND m.user_id = ?);

-- name: InsertSigningKey
INSERT INTO signing_keys (tenant_id, app_id, id, role, cert_der, key_sealed, created_at, not_after, version)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1);

-- name: ListSigningKeys
SELECT tenant_id, app_id, id, role, cert_der, key_sealed, created_at, not_after, version
FROM signing_keys WHERE tenant_id = ? AND app_id = ? ORDER BY created_at, id;

-- name: SetSigningKeyRole
UPDATE signing_keys SET role = ?, version = version + 1 WHERE tenant_id = ? AND app_id = ? AND id = ?;

-- name: HasSealedSecrets
SELECT EXISTS (SELECT 1 FROM signing_keys) OR EXISTS (SELECT 1 FROM credentials WHERE totp_secret IS NOT NULL);

-- name: Hits
SELECT hits FROM throttle WHERE key = ? AND window_start > ?;

-- name: InsertAuditEvent
INSERT INTO audit_events (id, at, tenant_id, actor_kind, actor_id, actor_name, actor_role, action, object_type, object_id,
    object_name, app_id, changes, details, address, user_agent, request_id, outcome, reason)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: SetAuditRetention
UPDATE audit_settings SET retention_days = ? WHERE id = 1;

-- name: PurgeAuditEvents
-- The cutoff is the delete guard's (the database's clock), a minute
-- earlier, so the guard never refuses a row the purge chose.
DELETE FROM audit_events
WHERE at < (CAST(strftime('%s', 'now') AS INTEGER) - (SELECT retention_days FROM audit_settings WHERE id = 1) * 86400 - 60) * 1000000;
