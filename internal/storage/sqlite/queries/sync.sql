-- Named queries of synchronization with Microsoft 365 (SQLite): sync
-- links, runs and their operations.

-- name: ListSyncLinks
SELECT tenant_id, app_id, kind, local_id, remote_id, created_by_portico, fingerprint, license_sku_id,
    disabled_by_portico, last_result, last_run_id, updated_at
FROM sync_links WHERE tenant_id = ?1 AND app_id = ?2 AND kind = ?3 AND local_id > ?4
ORDER BY local_id LIMIT ?5;

-- name: GetSyncLink
SELECT tenant_id, app_id, kind, local_id, remote_id, created_by_portico, fingerprint, license_sku_id,
    disabled_by_portico, last_result, last_run_id, updated_at
FROM sync_links WHERE tenant_id = ?1 AND app_id = ?2 AND kind = ?3 AND local_id = ?4;

-- name: PutSyncLink
INSERT INTO sync_links (tenant_id, app_id, kind, local_id, remote_id, created_by_portico, fingerprint, license_sku_id,
    disabled_by_portico, last_result, last_run_id, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
ON CONFLICT (tenant_id, app_id, kind, local_id) DO UPDATE SET
    remote_id = excluded.remote_id, created_by_portico = excluded.created_by_portico,
    fingerprint = excluded.fingerprint, license_sku_id = excluded.license_sku_id,
    disabled_by_portico = excluded.disabled_by_portico, last_result = excluded.last_result,
    last_run_id = excluded.last_run_id, updated_at = excluded.updated_at;

-- name: DeleteSyncLink
DELETE FROM sync_links WHERE tenant_id = ?1 AND app_id = ?2 AND kind = ?3 AND local_id = ?4;

-- name: InsertSyncRun
INSERT INTO sync_runs (tenant_id, id, app_id, trigger_kind, dry_run, state, allow_deletes, cancel_requested, counts,
    message, report, plan_millis, created_at, started_at, finished_at, version)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, 1);

-- name: GetSyncRun
SELECT tenant_id, id, app_id, trigger_kind, dry_run, state, allow_deletes, cancel_requested, counts, message, report,
    plan_millis, created_at, started_at, finished_at, version
FROM sync_runs WHERE tenant_id = ?1 AND id = ?2;

-- name: ListSyncRuns
SELECT tenant_id, id, app_id, trigger_kind, dry_run, state, allow_deletes, cancel_requested, counts, message, report,
    plan_millis, created_at, started_at, finished_at, version
FROM sync_runs WHERE tenant_id = ?1 AND app_id = ?2 AND (?3 = '' OR id < ?3)
ORDER BY id DESC LIMIT ?4;

-- name: UpdateSyncRun
UPDATE sync_runs SET state = ?1, allow_deletes = ?2, cancel_requested = ?3, counts = ?4, message = ?5, report = ?6,
    plan_millis = ?7, started_at = ?8, finished_at = ?9, version = version + 1
WHERE tenant_id = ?10 AND id = ?11 AND version = ?12;

-- name: InsertSyncOperation
INSERT INTO sync_operations (tenant_id, run_id, seq, kind, local_id, remote_id, upn, reason, changes, result, error,
    request_id, updated_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13);

-- name: ListSyncOperations
SELECT run_id, seq, kind, local_id, remote_id, upn, reason, changes, result, error, request_id, updated_at
FROM sync_operations WHERE tenant_id = ?1 AND run_id = ?2 AND (?3 = '' OR result = ?3) AND (?4 = '' OR kind = ?4)
    AND seq > ?5
ORDER BY seq LIMIT ?6;

-- name: SetSyncOperationResult
UPDATE sync_operations SET result = ?1, remote_id = CASE WHEN ?2 = '' THEN remote_id ELSE ?2 END, error = ?3,
    request_id = ?4, updated_at = ?5
WHERE tenant_id = ?6 AND run_id = ?7 AND seq = ?8;
