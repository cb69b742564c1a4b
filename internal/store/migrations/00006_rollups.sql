-- Analytics and alerts (§6, §12).
--
-- rollups: per-minute aggregates of the call log, written by the analytics
-- aggregator as additive upserts (INSERT … ON CONFLICT (key) DO UPDATE SET
-- x = rollups.x + excluded.x), kept longer than raw calls (90 days by
-- default). ts is the minute's start, BIGINT unix microseconds (UTC); the
-- key columns are NOT NULL DEFAULT '' so the primary key (and ON CONFLICT)
-- treats "no consumer" as one value on both engines. The latency
-- histogram is one BIGINT column per bucket (lat_00 … lat_23, bounds in
-- internal/domain/rollup.go) so buckets add up with plain SUMs.
--
-- alert_rules: rules created through the admin API, the rule itself as
-- JSON in TEXT (its fields are only read by the alert engine).
-- alerts: fired alerts, the alert as JSON in TEXT, listed newest first.
--
-- Same portability rules as 00001.

-- +goose Up
CREATE TABLE rollups (
    ts              BIGINT NOT NULL,
    tenant_id       TEXT NOT NULL DEFAULT '',
    consumer_id     TEXT NOT NULL DEFAULT '',
    route_id        TEXT NOT NULL DEFAULT '',
    status_class    TEXT NOT NULL DEFAULT '',
    code            TEXT NOT NULL DEFAULT '',
    credential_type TEXT NOT NULL DEFAULT '',
    requests        BIGINT NOT NULL DEFAULT 0,
    bytes_in        BIGINT NOT NULL DEFAULT 0,
    bytes_out       BIGINT NOT NULL DEFAULT 0,
    latency_sum_us  BIGINT NOT NULL DEFAULT 0,
    latency_max_us  BIGINT NOT NULL DEFAULT 0,
    lat_00          BIGINT NOT NULL DEFAULT 0,
    lat_01          BIGINT NOT NULL DEFAULT 0,
    lat_02          BIGINT NOT NULL DEFAULT 0,
    lat_03          BIGINT NOT NULL DEFAULT 0,
    lat_04          BIGINT NOT NULL DEFAULT 0,
    lat_05          BIGINT NOT NULL DEFAULT 0,
    lat_06          BIGINT NOT NULL DEFAULT 0,
    lat_07          BIGINT NOT NULL DEFAULT 0,
    lat_08          BIGINT NOT NULL DEFAULT 0,
    lat_09          BIGINT NOT NULL DEFAULT 0,
    lat_10          BIGINT NOT NULL DEFAULT 0,
    lat_11          BIGINT NOT NULL DEFAULT 0,
    lat_12          BIGINT NOT NULL DEFAULT 0,
    lat_13          BIGINT NOT NULL DEFAULT 0,
    lat_14          BIGINT NOT NULL DEFAULT 0,
    lat_15          BIGINT NOT NULL DEFAULT 0,
    lat_16          BIGINT NOT NULL DEFAULT 0,
    lat_17          BIGINT NOT NULL DEFAULT 0,
    lat_18          BIGINT NOT NULL DEFAULT 0,
    lat_19          BIGINT NOT NULL DEFAULT 0,
    lat_20          BIGINT NOT NULL DEFAULT 0,
    lat_21          BIGINT NOT NULL DEFAULT 0,
    lat_22          BIGINT NOT NULL DEFAULT 0,
    lat_23          BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (ts, tenant_id, consumer_id, route_id, status_class, code, credential_type)
);
-- The primary key leads with ts (time ranges, retention); tenant and
-- consumer filters have their own.
CREATE INDEX rollups_tenant_ts ON rollups (tenant_id, ts);
CREATE INDEX rollups_consumer_ts ON rollups (consumer_id, ts);

CREATE TABLE alert_rules (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL DEFAULT '',
    name       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    rule       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX alert_rules_tenant_name ON alert_rules (tenant_id, name);

CREATE TABLE alerts (
    id        TEXT PRIMARY KEY,
    fired_at  BIGINT NOT NULL,
    rule_id   TEXT NOT NULL DEFAULT '',
    tenant_id TEXT NOT NULL DEFAULT '',
    alert     TEXT NOT NULL
);
CREATE INDEX alerts_fired ON alerts (fired_at);
CREATE INDEX alerts_tenant_fired ON alerts (tenant_id, fired_at);

-- +goose Down
DROP TABLE alerts;
DROP TABLE alert_rules;
DROP TABLE rollups;
