-- Directory, API tokens. Times are Unix microseconds (UTC).
-- Names under which something is unique are stored lower-case in *_key
-- columns; SQLite compares text byte-wise, which makes prefix ranges on
-- them index scans.

CREATE TABLE tenants (
    id         TEXT    NOT NULL PRIMARY KEY,
    slug       TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    CONSTRAINT tenants_slug_uq UNIQUE (slug)
);

CREATE TABLE organizations (
    tenant_id             TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                    TEXT    NOT NULL,
    name                  TEXT    NOT NULL,
    name_key              TEXT    NOT NULL,
    principal_name_suffix TEXT    NOT NULL,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    version               INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT organizations_name_uq UNIQUE (tenant_id, name_key)
);

-- Every immutable id ever issued, kept after its user is deleted so that
-- an id is never issued twice (Microsoft 365 matches sign-ins on it).
CREATE TABLE issued_immutable_ids (
    immutable_id TEXT    NOT NULL PRIMARY KEY,
    tenant_id    TEXT    NOT NULL,
    issued_at    INTEGER NOT NULL
);

CREATE TABLE users (
    tenant_id       TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id              TEXT    NOT NULL,
    organization_id TEXT    NOT NULL,
    username        TEXT    NOT NULL,
    upn             TEXT    NOT NULL,
    email           TEXT    NOT NULL,
    given_name      TEXT    NOT NULL,
    family_name     TEXT    NOT NULL,
    display_name    TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    immutable_id    TEXT    NOT NULL,
    job_title       TEXT    NOT NULL,
    department      TEXT    NOT NULL,
    mobile_phone    TEXT    NOT NULL,
    office_phone    TEXT    NOT NULL,
    usage_location  TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, organization_id) REFERENCES organizations (tenant_id, id),
    -- SQLite checks these in reverse order of declaration; a duplicate
    -- username (which usually also duplicates the UPN) is reported as such.
    CONSTRAINT users_upn_uq UNIQUE (tenant_id, upn),
    CONSTRAINT users_username_uq UNIQUE (tenant_id, username),
    CONSTRAINT users_immutable_id_uq UNIQUE (immutable_id)
);
CREATE INDEX users_email_idx ON users (tenant_id, email);
CREATE INDEX users_status_idx ON users (tenant_id, status, username);
CREATE INDEX users_organization_idx ON users (tenant_id, organization_id, username);

CREATE TABLE groups (
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    name_key    TEXT    NOT NULL,
    type        TEXT    NOT NULL,
    email       TEXT    NOT NULL,
    description TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT groups_name_uq UNIQUE (tenant_id, name_key)
);
CREATE INDEX groups_email_idx ON groups (tenant_id, email);

CREATE TABLE group_members (
    tenant_id  TEXT    NOT NULL,
    group_id   TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, group_id, user_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX group_members_user_idx ON group_members (tenant_id, user_id);

CREATE TABLE api_tokens (
    id         TEXT    NOT NULL PRIMARY KEY,
    tenant_id  TEXT    REFERENCES tenants (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    hash       BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    CONSTRAINT api_tokens_hash_uq UNIQUE (hash)
);
CREATE INDEX api_tokens_tenant_idx ON api_tokens (tenant_id);
