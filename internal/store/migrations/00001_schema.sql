-- Core schema: the objects the request path loads into its snapshot, the
-- admins who change them, the audit trail and the change counter.
--
-- Portability rules (this file runs unchanged on SQLite and PostgreSQL):
--   * types: TEXT, BIGINT, INTEGER, BOOLEAN only;
--   * every timestamp is BIGINT unix microseconds (UTC), NULL when unset;
--   * lists, maps and nested structs are JSON in TEXT columns;
--   * no AUTOINCREMENT/SERIAL: generated ids come from counters in meta;
--   * unique names that allow re-use after deletion are partial indexes,
--     which both engines support.

-- +goose Up
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
-- version: bumped once per committed admin change (the snapshot's cue).
-- audit_seq: last audit_log id handed out.
INSERT INTO meta (key, value) VALUES ('version', 0);
INSERT INTO meta (key, value) VALUES ('audit_seq', 0);

CREATE TABLE tenants (
    id           TEXT PRIMARY KEY,
    slug         TEXT NOT NULL,
    name         TEXT NOT NULL,
    status       TEXT NOT NULL,
    suspended_at BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX tenants_slug ON tenants (slug);

CREATE TABLE consumers (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    name         TEXT NOT NULL,
    status       TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    ip_allow     TEXT NOT NULL,
    labels       TEXT NOT NULL,
    suspended_at BIGINT,
    deleted_at   BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
-- A deleted consumer keeps its row (its keys must answer consumer.deleted)
-- but releases its name.
CREATE UNIQUE INDEX consumers_tenant_name ON consumers (tenant_id, name) WHERE status <> 'deleted';
CREATE INDEX consumers_tenant ON consumers (tenant_id, id);

CREATE TABLE api_keys (
    id             TEXT PRIMARY KEY,
    consumer_id    TEXT NOT NULL REFERENCES consumers (id),
    name           TEXT NOT NULL DEFAULT '',
    env            TEXT NOT NULL,
    hash           TEXT NOT NULL,
    last4          TEXT NOT NULL,
    imported       BOOLEAN NOT NULL DEFAULT FALSE,
    scopes         TEXT NOT NULL,
    ip_allow       TEXT NOT NULL,
    expires_at     BIGINT,
    revoked_at     BIGINT,
    revoked_reason TEXT NOT NULL DEFAULT '',
    successor      TEXT NOT NULL DEFAULT '',
    grace_until    BIGINT,
    predecessor    TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT
);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (hash);
CREATE INDEX api_keys_consumer ON api_keys (consumer_id, id);

CREATE TABLE services (
    id                TEXT PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants (id),
    name              TEXT NOT NULL,
    targets           TEXT NOT NULL,
    visibility        TEXT NOT NULL,
    approval_required BOOLEAN NOT NULL DEFAULT FALSE,
    timeouts          TEXT NOT NULL,
    engine            TEXT NOT NULL DEFAULT '',
    host_header       TEXT NOT NULL DEFAULT '',
    eject_after       INTEGER NOT NULL DEFAULT 0,
    eject_for_ns      BIGINT NOT NULL DEFAULT 0,
    version           TEXT NOT NULL DEFAULT '',
    declared          BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
-- Service names are global: GetService resolves an id or a name without a
-- tenant, and routes in gatehouse.yaml refer to services by name.
CREATE UNIQUE INDEX services_name ON services (name);
CREATE INDEX services_tenant ON services (tenant_id, id);

CREATE TABLE routes (
    id                 TEXT PRIMARY KEY,
    service_id         TEXT NOT NULL REFERENCES services (id),
    name               TEXT NOT NULL DEFAULT '',
    hosts              TEXT NOT NULL,
    paths              TEXT NOT NULL,
    methods            TEXT NOT NULL,
    auth               TEXT NOT NULL,
    scopes             TEXT NOT NULL,
    strip_prefix       BOOLEAN NOT NULL DEFAULT FALSE,
    upstream_path      TEXT NOT NULL DEFAULT '',
    query_key          BOOLEAN NOT NULL DEFAULT FALSE,
    forward_credential BOOLEAN NOT NULL DEFAULT FALSE,
    disclosure         TEXT NOT NULL DEFAULT '',
    error_format       TEXT NOT NULL DEFAULT '',
    max_body           BIGINT NOT NULL DEFAULT 0,
    route_type         TEXT NOT NULL DEFAULT '',
    declared           BOOLEAN NOT NULL DEFAULT FALSE,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX routes_service ON routes (service_id, id);

CREATE TABLE admins (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    role       TEXT NOT NULL,
    tenant_id  TEXT REFERENCES tenants (id),
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX admins_token_hash ON admins (token_hash);
CREATE INDEX admins_tenant ON admins (tenant_id, id);

-- The audit trail outlives what it describes: no foreign keys.
CREATE TABLE audit_log (
    id          BIGINT PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    resource    TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    tenant_id   TEXT,
    before_json TEXT,
    after_json  TEXT
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE admins;
DROP TABLE routes;
DROP TABLE services;
DROP TABLE api_keys;
DROP TABLE consumers;
DROP TABLE tenants;
DROP TABLE meta;
