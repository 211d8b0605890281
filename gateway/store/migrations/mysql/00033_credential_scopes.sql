-- Each API credential carries its scopes (merchant.Scopes), space
-- separated in canonical order. New credentials default to what a POS
-- needs (no finance); credentials issued before scopes existed keep every
-- route they could call: all five.
-- +goose Up
ALTER TABLE api_keys ADD COLUMN scopes VARCHAR(255) NOT NULL DEFAULT 'earn refund redeem read';
UPDATE api_keys SET scopes = 'earn refund redeem read finance';
-- +goose Down
ALTER TABLE api_keys DROP COLUMN scopes;
