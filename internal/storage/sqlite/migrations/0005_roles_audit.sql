-- Roles of API tokens, and the append-only audit log.

-- Existing tokens keep what they could do: global tokens become global,
-- tenant tokens tenant administrators. The global role exists only for
-- tokens of all tenants.
ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'tenantAdmin'
    CHECK (role IN ('global', 'tenantAdmin', 'helpdesk', 'readOnly') AND (role <> 'global' OR tenant_id IS NULL));
UPDATE api_tokens SET role = 'global' WHERE tenant_id IS NULL;

-- One row: how long events are kept. The purge writes the server's
-- --audit-retention here before deleting, and the delete guard below reads it.
CREATE TABLE audit_settings (
    id             INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    retention_days INTEGER NOT NULL CHECK (retention_days >= 1)
);
INSERT INTO audit_settings (id, retention_days) VALUES (1, 365);

-- tenant_id has no foreign key on purpose: a tenant's history outlives the
-- tenant (its deletion is itself an event) until the retention purge.
-- Times are Unix microseconds; changes and details are JSON objects.
CREATE TABLE audit_events (
    id          TEXT    NOT NULL PRIMARY KEY,
    at          INTEGER NOT NULL,
    tenant_id   TEXT,
    actor_kind  TEXT    NOT NULL,
    actor_id    TEXT    NOT NULL,
    actor_name  TEXT    NOT NULL,
    actor_role  TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    object_type TEXT    NOT NULL,
    object_id   TEXT    NOT NULL,
    object_name TEXT    NOT NULL,
    app_id      TEXT    NOT NULL,
    changes     TEXT    NOT NULL,
    details     TEXT    NOT NULL,
    address     TEXT    NOT NULL,
    user_agent  TEXT    NOT NULL,
    request_id  TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    reason      TEXT    NOT NULL
);
CREATE INDEX audit_events_tenant_idx ON audit_events (tenant_id, id);
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_object_idx ON audit_events (object_type, object_id);

-- Append-only: no event is ever changed, and none is deleted before the
-- retention period has passed (only the purge deletes, and only older rows).
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only: they cannot be changed');
END;

CREATE TRIGGER audit_events_keep_retained BEFORE DELETE ON audit_events
WHEN OLD.at >= (CAST(strftime('%s', 'now') AS INTEGER) - (SELECT retention_days FROM audit_settings WHERE id = 1) * 86400) * 1000000
BEGIN
    SELECT RAISE(ABORT, 'audit events are kept for the retention period: only older events can be deleted');
END;
