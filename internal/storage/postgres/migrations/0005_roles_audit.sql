-- Roles of API tokens, and the append-only audit log.

-- Existing tokens keep what they could do: global tokens become global,
-- tenant tokens tenant administrators. The global role exists only for
-- tokens of all tenants.
ALTER TABLE api_tokens ADD COLUMN role TEXT NOT NULL DEFAULT 'tenantAdmin';
UPDATE api_tokens SET role = 'global' WHERE tenant_id IS NULL;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_ck
    CHECK (role IN ('global', 'tenantAdmin', 'helpdesk', 'readOnly') AND (role <> 'global' OR tenant_id IS NULL));

-- One row: how long events are kept. The purge writes the server's
-- --audit-retention here before deleting, and the delete guard below reads it.
CREATE TABLE audit_settings (
    id             INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    retention_days INTEGER NOT NULL CHECK (retention_days >= 1)
);
INSERT INTO audit_settings (id, retention_days) VALUES (1, 365);

-- tenant_id has no foreign key on purpose: a tenant's history outlives the
-- tenant (its deletion is itself an event) until the retention purge.
CREATE TABLE audit_events (
    id          TEXT        NOT NULL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL,
    tenant_id   TEXT,
    actor_kind  TEXT        NOT NULL,
    actor_id    TEXT        NOT NULL,
    actor_name  TEXT        NOT NULL,
    actor_role  TEXT        NOT NULL,
    action      TEXT        NOT NULL,
    object_type TEXT        NOT NULL,
    object_id   TEXT        NOT NULL,
    object_name TEXT        NOT NULL,
    app_id      TEXT        NOT NULL,
    changes     JSONB       NOT NULL,
    details     JSONB       NOT NULL,
    address     TEXT        NOT NULL,
    user_agent  TEXT        NOT NULL,
    request_id  TEXT        NOT NULL,
    outcome     TEXT        NOT NULL,
    reason      TEXT        NOT NULL
);
CREATE INDEX audit_events_tenant_idx ON audit_events (tenant_id, id);
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_object_idx ON audit_events (object_type, object_id);

-- Append-only: no event is ever changed or truncated, and none is deleted
-- before the retention period has passed (only the purge deletes, and only
-- older rows). now() is the transaction's start, so a purge sees one cutoff.
CREATE FUNCTION audit_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.at >= now() - make_interval(days => (SELECT retention_days FROM audit_settings WHERE id = 1)) THEN
            RAISE EXCEPTION 'audit events are kept for the retention period: only older events can be deleted';
        END IF;
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: they cannot be changed (%)', TG_OP;
END;
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_guard();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_guard();
