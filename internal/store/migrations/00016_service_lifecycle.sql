-- A service's lifecycle (§2): draft → active → deprecated with a sunset
-- date → retired, with the deprecation time and the successor service.
--
-- services.lifecycle: {"state","deprecated_at","sunset","successor"} as
-- JSON in TEXT like identity_jwt (00015). NULL: active, nothing set (every
-- service before this migration).
--
-- Same portability rules as 00001.

-- +goose Up
ALTER TABLE services ADD COLUMN lifecycle TEXT;

-- +goose Down
ALTER TABLE services DROP COLUMN lifecycle;
