-- A route's CORS policy (§8): allowed origins, methods, headers, exposed
-- headers, credentials and max age, as JSON in TEXT like rate_limit
-- (00003). NULL: the route answers no CORS.
--
-- Same portability rules as 00001.

-- +goose Up
ALTER TABLE routes ADD COLUMN cors TEXT;

-- +goose Down
ALTER TABLE routes DROP COLUMN cors;
