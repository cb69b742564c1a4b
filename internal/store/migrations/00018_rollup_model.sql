-- The AI model in the analytics rollups (§12: per-minute rollups by tenant,
-- consumer, route, status, reason, model).
--
-- rollups.model: the model an AI call asked for, by its catalogue name (the
-- call record's ai.alias); '' for calls on other routes. It joins the
-- primary key (and so ON CONFLICT), which neither engine changes in place
-- portably: the table is rebuilt under a new name, the rows copied (those
-- written before this migration keep model ''), the old one dropped and
-- the new one renamed, its indexes made again.
--
-- Same portability rules as 00001.

-- +goose Up
CREATE TABLE rollups_by_model (
    ts              BIGINT NOT NULL,
    tenant_id       TEXT NOT NULL DEFAULT '',
    consumer_id     TEXT NOT NULL DEFAULT '',
    route_id        TEXT NOT NULL DEFAULT '',
    status_class    TEXT NOT NULL DEFAULT '',
    code            TEXT NOT NULL DEFAULT '',
    credential_type TEXT NOT NULL DEFAULT '',
    model           TEXT NOT NULL DEFAULT '',
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
    cost_micros     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (ts, tenant_id, consumer_id, route_id, status_class, code, credential_type, model)
);
INSERT INTO rollups_by_model (ts, tenant_id, consumer_id, route_id, status_class, code, credential_type, model, requests, bytes_in, bytes_out, latency_sum_us, latency_max_us, lat_00, lat_01, lat_02, lat_03, lat_04, lat_05, lat_06, lat_07, lat_08, lat_09, lat_10, lat_11, lat_12, lat_13, lat_14, lat_15, lat_16, lat_17, lat_18, lat_19, lat_20, lat_21, lat_22, lat_23, cost_micros)
    SELECT ts, tenant_id, consumer_id, route_id, status_class, code, credential_type, '', requests, bytes_in, bytes_out, latency_sum_us, latency_max_us, lat_00, lat_01, lat_02, lat_03, lat_04, lat_05, lat_06, lat_07, lat_08, lat_09, lat_10, lat_11, lat_12, lat_13, lat_14, lat_15, lat_16, lat_17, lat_18, lat_19, lat_20, lat_21, lat_22, lat_23, cost_micros FROM rollups;
DROP TABLE rollups;
ALTER TABLE rollups_by_model RENAME TO rollups;
CREATE INDEX rollups_tenant_ts ON rollups (tenant_id, ts);
CREATE INDEX rollups_consumer_ts ON rollups (consumer_id, ts);

-- +goose Down
CREATE TABLE rollups_any_model (
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
    cost_micros     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (ts, tenant_id, consumer_id, route_id, status_class, code, credential_type)
);
INSERT INTO rollups_any_model (ts, tenant_id, consumer_id, route_id, status_class, code, credential_type, requests, bytes_in, bytes_out, latency_sum_us, latency_max_us, lat_00, lat_01, lat_02, lat_03, lat_04, lat_05, lat_06, lat_07, lat_08, lat_09, lat_10, lat_11, lat_12, lat_13, lat_14, lat_15, lat_16, lat_17, lat_18, lat_19, lat_20, lat_21, lat_22, lat_23, cost_micros)
    SELECT ts, tenant_id, consumer_id, route_id, status_class, code, credential_type, SUM(requests), SUM(bytes_in), SUM(bytes_out), SUM(latency_sum_us), MAX(latency_max_us), SUM(lat_00), SUM(lat_01), SUM(lat_02), SUM(lat_03), SUM(lat_04), SUM(lat_05), SUM(lat_06), SUM(lat_07), SUM(lat_08), SUM(lat_09), SUM(lat_10), SUM(lat_11), SUM(lat_12), SUM(lat_13), SUM(lat_14), SUM(lat_15), SUM(lat_16), SUM(lat_17), SUM(lat_18), SUM(lat_19), SUM(lat_20), SUM(lat_21), SUM(lat_22), SUM(lat_23), SUM(cost_micros) FROM rollups
    GROUP BY ts, tenant_id, consumer_id, route_id, status_class, code, credential_type;
DROP TABLE rollups;
ALTER TABLE rollups_any_model RENAME TO rollups;
CREATE INDEX rollups_tenant_ts ON rollups (tenant_id, ts);
CREATE INDEX rollups_consumer_ts ON rollups (consumer_id, ts);
