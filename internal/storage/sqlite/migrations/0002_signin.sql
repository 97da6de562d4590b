-- Sign-in: authentication policies, credentials, browser sessions, login
-- flows, throttling, replay nonces, applications and their signing keys.
-- Zero times are stored as NULL.

CREATE TABLE auth_policies (
    tenant_id            TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                   TEXT    NOT NULL,
    name                 TEXT    NOT NULL,
    name_key             TEXT    NOT NULL,
    second_factor        TEXT    NOT NULL,
    session_idle_seconds INTEGER NOT NULL,
    session_max_seconds  INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    version              INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT auth_policies_name_uq UNIQUE (tenant_id, name_key)
);

CREATE TABLE credentials (
    tenant_id           TEXT    NOT NULL,
    user_id             TEXT    NOT NULL,
    password_hash       TEXT    NOT NULL,
    password_changed_at INTEGER,
    totp_secret         BLOB,
    totp_enrolled_at    INTEGER,
    totp_last_step      INTEGER NOT NULL,
    recovery_hashes     TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    version             INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE sessions (
    id           TEXT    NOT NULL PRIMARY KEY,
    tenant_id    TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    token_hash   BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    idle_seconds INTEGER NOT NULL,
    password_at  INTEGER,
    mfa_at       INTEGER,
    revoked_at   INTEGER,
    version      INTEGER NOT NULL,
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
    request       BLOB    NOT NULL,
    username_hint TEXT    NOT NULL,
    force_fresh   INTEGER NOT NULL,
    require_mfa   INTEGER NOT NULL,
    binding_hash  BLOB    NOT NULL,
    csrf          TEXT    NOT NULL,
    step          TEXT    NOT NULL,
    username      TEXT    NOT NULL,
    user_id       TEXT    NOT NULL,
    password_at   INTEGER,
    mfa_at        INTEGER,
    pending_totp  BLOB,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    version       INTEGER NOT NULL
);
CREATE INDEX login_flows_expires_idx ON login_flows (expires_at);

-- Fixed-window counters of failed attempts, keyed by what is limited
-- (a username, a client address).
CREATE TABLE throttle (
    key          TEXT    NOT NULL PRIMARY KEY,
    window_start INTEGER NOT NULL,
    hits         INTEGER NOT NULL
);

-- Values that may be used once (SAML request ids, assertion ids).
CREATE TABLE nonces (
    key        TEXT    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX nonces_expires_idx ON nonces (expires_at);

CREATE TABLE applications (
    tenant_id                  TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                         TEXT    NOT NULL,
    kind                       TEXT    NOT NULL,
    name                       TEXT    NOT NULL,
    enabled                    INTEGER NOT NULL,
    policy_id                  TEXT    NOT NULL,
    allow_password_only_active INTEGER NOT NULL,
    settings                   TEXT    NOT NULL,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL,
    version                    INTEGER NOT NULL,
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
    cert_der   BLOB    NOT NULL,
    key_sealed BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    not_after  INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, app_id) REFERENCES applications (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX signing_keys_app_idx ON signing_keys (tenant_id, app_id);
