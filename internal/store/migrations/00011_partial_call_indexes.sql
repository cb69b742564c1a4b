-- The two remaining filter indexes of the call log become partial: a row
-- without a consumer (a garbage or unknown credential: exactly what a flood
-- of bad keys writes) is not in calls_consumer_ts, and an admitted call
-- (code '') is not in calls_code_ts. Nobody searches for "the calls of no
-- consumer" or "the calls with no reason" — the time index serves those —
-- so each insert skips a B-tree it never needed: on the embedded store a
-- garbage-key flood row costs one index less, an admitted row one less.
-- Queries filtering on consumer or code repeat the index's condition
-- (internal/store/*/calls.go) so both planners use the partial index.
-- On PostgreSQL the calls table may already be partitioned: DROP and
-- CREATE INDEX on the parent reach every partition.

-- +goose Up
DROP INDEX calls_consumer_ts;
DROP INDEX calls_code_ts;
CREATE INDEX calls_consumer_ts ON calls (consumer_id, ts) WHERE consumer_id <> '';
CREATE INDEX calls_code_ts ON calls (code, ts) WHERE code <> '';

-- +goose Down
DROP INDEX calls_consumer_ts;
DROP INDEX calls_code_ts;
CREATE INDEX calls_consumer_ts ON calls (consumer_id, ts);
CREATE INDEX calls_code_ts ON calls (code, ts);
