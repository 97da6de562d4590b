-- Directory, API tokens.
-- Names under which something is unique are stored lower-case in *_key
-- columns. Text compared by range (prefix filters, keyset paging) uses the
-- "C" collation: byte order, which is code point order for UTF-8, so that
-- a prefix range is exactly the set of strings with that prefix.

CREATE TABLE tenants (
    id         TEXT    NOT NULL PRIMARY KEY,
    slug       TEXT COLLATE "C" NOT NULL,
    name       TEXT    NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    version    BIGINT NOT NULL,
    CONSTRAINT tenants_slug_uq UNIQUE (slug)
);

CREATE TABLE organizations (
    tenant_id             TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                    TEXT    NOT NULL,
    name                  TEXT    NOT NULL,
    name_key              TEXT COLLATE "C" NOT NULL,
    principal_name_suffix TEXT    NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL,
    version               BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT organizations_name_uq UNIQUE (tenant_id, name_key)
);

-- Every immutable id ever issued, kept after its user is deleted so that
-- an id is never issued twice (Microsoft 365 matches sign-ins on it).
CREATE TABLE issued_immutable_ids (
    immutable_id TEXT    NOT NULL PRIMARY KEY,
    tenant_id    TEXT    NOT NULL,
    issued_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    tenant_id       TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id              TEXT    NOT NULL,
    organization_id TEXT    NOT NULL,
    username        TEXT COLLATE "C" NOT NULL,
    upn             TEXT COLLATE "C" NOT NULL,
    email           TEXT COLLATE "C" NOT NULL,
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
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    version         BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, organization_id) REFERENCES organizations (tenant_id, id),
    CONSTRAINT users_username_uq UNIQUE (tenant_id, username),
    CONSTRAINT users_upn_uq UNIQUE (tenant_id, upn),
    CONSTRAINT users_immutable_id_uq UNIQUE (immutable_id)
);
CREATE INDEX users_email_idx ON users (tenant_id, email);
CREATE INDEX users_status_idx ON users (tenant_id, status, username);
CREATE INDEX users_organization_idx ON users (tenant_id, organization_id, username);

CREATE TABLE groups (
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    name_key    TEXT COLLATE "C" NOT NULL,
    type        TEXT    NOT NULL,
    email       TEXT COLLATE "C" NOT NULL,
    description TEXT    NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    version     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT groups_name_uq UNIQUE (tenant_id, name_key)
);
CREATE INDEX groups_email_idx ON groups (tenant_id, email);

CREATE TABLE group_members (
    tenant_id  TEXT    NOT NULL,
    group_id   TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, group_id, user_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX group_members_user_idx ON group_members (tenant_id, user_id);

CREATE TABLE api_tokens (
    id         TEXT    NOT NULL PRIMARY KEY,
    tenant_id  TEXT    REFERENCES tenants (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    hash       BYTEA   NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT api_tokens_hash_uq UNIQUE (hash)
);
CREATE INDEX api_tokens_tenant_idx ON api_tokens (tenant_id);
