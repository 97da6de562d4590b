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
INSERT INTO api_tokens (id, tenant_id, name, hash, created_at) VALUES ($1, $2, $3, $4, $5);

-- name: GetAPITokenByHash
SELECT id, tenant_id, name, hash, created_at FROM api_tokens WHERE hash = $1;

-- name: ListAPITokens
SELECT id, tenant_id, name, hash, created_at FROM api_tokens
WHERE (tenant_id = $1) OR ($1 = '' AND tenant_id IS NULL) ORDER BY created_at, id;

-- name: DeleteAPIToken
DELETE FROM api_tokens WHERE id = $1;
