-- Smart lockout: the addresses (grouped into prefixes by the sign-in
-- service) from which each user has recently completed a sign-in.
-- Failed attempts from these count against a separate, "familiar" budget,
-- so that failures from elsewhere cannot lock the user out of the office.
-- Rows expire (expires_at) and each user keeps only a few (see
-- RememberAddress); deleting the user deletes them.
CREATE TABLE familiar_addresses (
    tenant_id    TEXT        NOT NULL,
    user_id      TEXT        NOT NULL,
    prefix       TEXT COLLATE "C" NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, user_id, prefix),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX familiar_addresses_expires_idx ON familiar_addresses (expires_at);
