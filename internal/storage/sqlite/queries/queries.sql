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
INSERT INTO api_tokens (id, tenant_id, name, hash, created_at) VALUES (?, ?, ?, ?, ?);

-- name: GetAPITokenByHash
SELECT id, tenant_id, name, hash, created_at FROM api_tokens WHERE hash = ?;

-- name: ListAPITokens
SELECT id, tenant_id, name, hash, created_at FROM api_tokens
WHERE (tenant_id = ?1) OR (?1 = '' AND tenant_id IS NULL) ORDER BY created_at, id;

-- name: DeleteAPIToken
DELETE FROM api_tokens WHERE id = ?;
