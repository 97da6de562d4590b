-- Sign-in: authentication policies, credentials, browser sessions, login
-- flows, throttling, replay nonces, applications and their signing keys.
-- Zero times are stored as NULL.

CREATE TABLE auth_policies (
    tenant_id            TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                   TEXT    NOT NULL,
    name                 TEXT    NOT NULL,
    name_key             TEXT COLLATE "C" NOT NULL,
    second_factor        TEXT    NOT NULL,
    session_idle_seconds INTEGER NOT NULL,
    session_max_seconds  INTEGER NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    version              BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT auth_policies_name_uq UNIQUE (tenant_id, name_key)
);

CREATE TABLE credentials (
    tenant_id           TEXT    NOT NULL,
    user_id             TEXT    NOT NULL,
    password_hash       TEXT    NOT NULL,
    password_changed_at TIMESTAMPTZ,
    totp_secret         BYTEA,
    totp_enrolled_at    TIMESTAMPTZ,
    totp_last_step      BIGINT NOT NULL,
    recovery_hashes     TEXT    NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    version             BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE sessions (
    id           TEXT    NOT NULL PRIMARY KEY,
    tenant_id    TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    token_hash   BYTEA   NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    idle_seconds INTEGER NOT NULL,
    password_at  TIMESTAMPTZ,
    mfa_at       TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    version      BIGINT NOT NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT sessions_token_uq UNIQUE (token_hash)
);
CREATE INDEX sessions_user_idx ON sessions (tenant_id, user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE login_flows (
    id            TEXT    NOT NULL PRIMARY KEY,
    tenant_id     TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    app_id        TEXT    NOT NULL,
    protocol      TEXT    NOT NULL,
    request       BYTEA   NOT NULL,
    username_hint TEXT    NOT NULL,
    force_fresh   BOOLEAN NOT NULL,
    require_mfa   BOOLEAN NOT NULL,
    binding_hash  BYTEA   NOT NULL,
    csrf          TEXT    NOT NULL,
    step          TEXT    NOT NULL,
    username      TEXT    NOT NULL,
    user_id       TEXT    NOT NULL,
    password_at   TIMESTAMPTZ,
    mfa_at        TIMESTAMPTZ,
    pending_totp  BYTEA,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    version       BIGINT NOT NULL
);
CREATE INDEX login_flows_expires_idx ON login_flows (expires_at);

-- Fixed-window counters of failed attempts, keyed by what is limited
-- (a username, a client address).
CREATE TABLE throttle (
    key          TEXT    NOT NULL PRIMARY KEY,
    window_start TIMESTAMPTZ NOT NULL,
    hits         BIGINT NOT NULL
);

-- Values that may be used once (SAML request ids, assertion ids).
CREATE TABLE nonces (
    key        TEXT    NOT NULL PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX nonces_expires_idx ON nonces (expires_at);

CREATE TABLE applications (
    tenant_id                  TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                         TEXT    NOT NULL,
    kind                       TEXT    NOT NULL,
    name                       TEXT    NOT NULL,
    enabled                    BOOLEAN NOT NULL,
    policy_id                  TEXT    NOT NULL,
    allow_password_only_active BOOLEAN NOT NULL,
    settings                   TEXT    NOT NULL,
    created_at                 TIMESTAMPTZ NOT NULL,
    updated_at                 TIMESTAMPTZ NOT NULL,
    version                    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, policy_id) REFERENCES auth_policies (tenant_id, id)
);

CREATE TABLE application_groups (
    tenant_id TEXT NOT NULL,
    app_id    TEXT NOT NULL,
    group_id  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, app_id, group_id),
    FOREIGN KEY (tenant_id, app_id) REFERENCES applications (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX application_groups_group_idx ON application_groups (tenant_id, group_id);

CREATE TABLE signing_keys (
    tenant_id  TEXT    NOT NULL,
    app_id     TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    cert_der   BYTEA   NOT NULL,
    key_sealed BYTEA   NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    not_after  TIMESTAMPTZ NOT NULL,
    version    BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, app_id) REFERENCES applications (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX signing_keys_app_idx ON signing_keys (tenant_id, app_id);
