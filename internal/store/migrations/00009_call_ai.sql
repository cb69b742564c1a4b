-- +goose Up
-- AI calls record provider, model, tokens and exact cost (§6), as JSON.
ALTER TABLE calls ADD COLUMN ai TEXT;

-- +goose Down
ALTER TABLE calls DROP COLUMN ai;
