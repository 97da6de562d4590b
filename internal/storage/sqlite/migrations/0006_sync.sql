-- Synchronization with Microsoft 365 (issue 11): sync links and runs with
-- their operations. Links are kept per application; a link survives the
-- deletion of its Portico user (no foreign key to users), so that the user
-- can still be deprovisioned in Microsoft 365.
CREATE TABLE sync_links (
    tenant_id           TEXT    NOT NULL,
    app_id              TEXT    NOT NULL,
    kind                TEXT    NOT NULL,
    local_id            TEXT    NOT NULL,
    remote_id           TEXT    NOT NULL,
    created_by_portico  INTEGER NOT NULL,
    fingerprint         TEXT    NOT NULL,
    license_sku_id      TEXT    NOT NULL,
    disabled_by_portico INTEGER NOT NULL,
    last_result         TEXT    NOT NULL,
    last_run_id         TEXT    NOT NULL,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, app_id, kind, local_id),
    FOREIGN KEY (tenant_id, app_id) REFERENCES applications (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sync_links_remote_idx ON sync_links (tenant_id, app_id, kind, remote_id);

CREATE TABLE sync_runs (
    tenant_id        TEXT    NOT NULL,
    id               TEXT    NOT NULL,
    app_id           TEXT    NOT NULL,
    trigger_kind     TEXT    NOT NULL,
    dry_run          INTEGER NOT NULL,
    state            TEXT    NOT NULL,
    allow_deletes    INTEGER NOT NULL,
    cancel_requested INTEGER NOT NULL,
    counts           TEXT    NOT NULL,
    message          TEXT    NOT NULL,
    report           TEXT    NOT NULL,
    plan_millis      INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    version          INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, app_id) REFERENCES applications (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX sync_runs_app_idx ON sync_runs (tenant_id, app_id, id);

CREATE TABLE sync_operations (
    tenant_id  TEXT    NOT NULL,
    run_id     TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    local_id   TEXT    NOT NULL,
    remote_id  TEXT    NOT NULL,
    upn        TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    changes    TEXT    NOT NULL,
    result     TEXT    NOT NULL,
    error      TEXT    NOT NULL,
    request_id TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, run_id, seq),
    FOREIGN KEY (tenant_id, run_id) REFERENCES sync_runs (tenant_id, id) ON DELETE CASCADE
);
