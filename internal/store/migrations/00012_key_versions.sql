-- The version (meta 'version') of the change that last wrote each API key,
-- so a node reloads only the keys changed since its snapshot instead of
-- all of them (store.KeyStreamer, LoadOptions.KeysSince): a million keys
-- take seconds to read, and a revocation must reach every node within
-- 100 ms. Rows written before this migration keep 0, which a node's
-- first, full load reads. last_used_at updates are not changes and leave
-- it alone.
--
-- Same portability rules as 00001.

-- +goose Up
ALTER TABLE api_keys ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX api_keys_version ON api_keys (version);

-- +goose Down
DROP INDEX api_keys_version;
ALTER TABLE api_keys DROP COLUMN version;
