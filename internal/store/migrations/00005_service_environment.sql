-- +goose Up
-- A service may be pinned to live or test keys on a gateway serving both.
ALTER TABLE services ADD COLUMN environment TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE services DROP COLUMN environment;
