-- The call log is written at request rate, and every secondary index is one
-- more B-tree per insert: measured on the embedded store, six indexes cost
-- about half of the insert time. Filters on route, tenant and status always
-- come with a time range (the API's since/until, default the last 24 hours),
-- so a range scan on calls_ts serves them; consumer and reason code — the
-- filters people search by when something is wrong — keep their own.

-- +goose Up
DROP INDEX calls_route_ts;
DROP INDEX calls_tenant_ts;
DROP INDEX calls_status_ts;

-- +goose Down
CREATE INDEX calls_route_ts ON calls (route_id, ts);
CREATE INDEX calls_tenant_ts ON calls (tenant_id, ts);
CREATE INDEX calls_status_ts ON calls (status, ts);
