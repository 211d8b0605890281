-- When a credential last signed a request the gateway accepted. The API
-- records it at most once a minute per credential per process
-- (api.Server.touchKey), so the earn path does not write a row per request;
-- the merchant console shows it beside each key. NULL: never used since.
-- +goose Up
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT NULL;
-- +goose Down
ALTER TABLE api_keys DROP COLUMN last_used_at;
