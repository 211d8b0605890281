-- A merchant's purchases are read newest first by purchases_by_merchant_time
-- (merchant_id, created_at), whose entries end with the rowid (the purchase
-- id): paged by (created_at, id), it serves GET /v1/merchant/purchases as
-- well as the staff figures, so purchases_by_merchant (merchant_id, id) was
-- a second index entry per earn for the same reads (issue 18).
-- +goose Up
DROP INDEX purchases_by_merchant;
-- +goose Down
CREATE INDEX purchases_by_merchant ON purchases(merchant_id, id);
