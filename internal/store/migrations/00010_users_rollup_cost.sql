-- Console user accounts and the AI spend in the rollups (issue 9).
--
-- users: people who log in to the console with a username and password
-- instead of an admin token. A user acts with its role (admin,
-- tenant-admin, viewer; a tenant-admin bound to tenant_id) through the
-- same admin API code path as a token. password_hash is an argon2id PHC
-- string (secrets.HashPassword); the password itself is never stored.
-- disabled_at set: the user can no longer log in, and its open console
-- sessions stop at their next request. Usernames are unique for good
-- (a disabled user keeps its name, so the audit trail stays unambiguous).
--
-- rollups.cost_micros: the exact AI cost (millionths of the currency unit)
-- of the calls a rollup row counts, so budgets' spend over time is read
-- from the rollups rather than the raw call log. Rows written before this
-- migration count 0.
--
-- Same portability rules as 00001.

-- +goose Up
CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    username        TEXT NOT NULL,
    role            TEXT NOT NULL,
    tenant_id       TEXT REFERENCES tenants (id),
    password_hash   TEXT NOT NULL,
    password_set_at BIGINT NOT NULL,
    disabled_at     BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_username ON users (username);
CREATE INDEX users_tenant ON users (tenant_id, id);

ALTER TABLE rollups ADD COLUMN cost_micros BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE rollups DROP COLUMN cost_micros;
DROP TABLE users;
