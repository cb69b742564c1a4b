-- A route's quota (§9): calls per calendar day or month, as JSON in TEXT
-- like rate_limit: {"limit","period","by"}. NULL: none. (A subscription
-- plan's quota lives in the plan's JSON with its rate limit.)
--
-- Same portability rules as 00001.

-- +goose Up
ALTER TABLE routes ADD COLUMN quota TEXT;

-- +goose Down
ALTER TABLE routes DROP COLUMN quota;
