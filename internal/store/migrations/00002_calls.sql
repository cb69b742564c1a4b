-- The call log (§6): one row per proxied request, written in batches by the
-- call-log writer, read newest first with filters, pruned by retention.
-- Same portability rules as 00001: ts is BIGINT unix microseconds (UTC),
-- trace is JSON in TEXT (NULL when the call kept no trace).

-- +goose Up
CREATE TABLE calls (
    request_id      TEXT PRIMARY KEY,
    ts              BIGINT NOT NULL,
    route_id        TEXT NOT NULL DEFAULT '',
    service_id      TEXT NOT NULL DEFAULT '',
    tenant_id       TEXT NOT NULL DEFAULT '',
    consumer_id     TEXT NOT NULL DEFAULT '',
    credential_id   TEXT NOT NULL DEFAULT '',
    credential_type TEXT NOT NULL DEFAULT '',
    method          TEXT NOT NULL DEFAULT '',
    path            TEXT NOT NULL DEFAULT '',
    status          INTEGER NOT NULL DEFAULT 0,
    code            TEXT NOT NULL DEFAULT '',
    client_ip       TEXT NOT NULL DEFAULT '',
    user_agent      TEXT NOT NULL DEFAULT '',
    latency_us      BIGINT NOT NULL DEFAULT 0,
    upstream_us     BIGINT NOT NULL DEFAULT 0,
    bytes_in        BIGINT NOT NULL DEFAULT 0,
    bytes_out       BIGINT NOT NULL DEFAULT 0,
    engine          TEXT NOT NULL DEFAULT '',
    trace           TEXT
);
-- Queries are "newest first" under one optional equality filter plus a time
-- range; each index leads with the filtered column and ends with ts so the
-- order comes from the index. ts alone serves since/until and retention.
CREATE INDEX calls_ts ON calls (ts);
CREATE INDEX calls_consumer_ts ON calls (consumer_id, ts);
CREATE INDEX calls_route_ts ON calls (route_id, ts);
CREATE INDEX calls_tenant_ts ON calls (tenant_id, ts);
CREATE INDEX calls_status_ts ON calls (status, ts);
CREATE INDEX calls_code_ts ON calls (code, ts);

-- +goose Down
DROP TABLE calls;
