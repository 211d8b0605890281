-- A merchant's purchases, newest first (GET /v1/merchant/purchases): the
-- ids of one merchant's purchases grow with time, so each earn appends
-- to the end of its merchant's range of this index.
-- +goose Up
CREATE INDEX purchases_by_merchant ON purchases(merchant_id, id);
-- +goose Down
DROP INDEX purchases_by_merchant;
