-- Developer accounts (issue 9): a user of role developer logs in to the
-- developer portal, not the console, and acts there for exactly one
-- consumer, users.consumer_id. The admin API sets it for developers only
-- (the user's tenant_id is then the consumer's tenant, so a tenant-admin's
-- reach covers both) and leaves it NULL for console roles. Consumers are
-- never removed (deletion is a status), so the reference always holds.
--
-- Same portability rules as 00001.

-- +goose Up
ALTER TABLE users ADD COLUMN consumer_id TEXT REFERENCES consumers (id);
CREATE INDEX users_consumer ON users (consumer_id, id);

-- +goose Down
DROP INDEX users_consumer;
ALTER TABLE users DROP COLUMN consumer_id;
