-- Active queries of funding orders (issue 13): a payment whose
-- notification never came is learnt by asking the channel
-- (settlement.Funding.Query). queried_at is when the channel was last
-- asked (0: never) and query_outcome what that query found; the sweep
-- asks the least recently queried open orders first.
-- +goose Up
ALTER TABLE funding_orders ADD COLUMN queried_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE funding_orders ADD COLUMN query_outcome VARCHAR(64) NOT NULL DEFAULT '';
CREATE INDEX funding_orders_open ON funding_orders(status, queried_at);
-- +goose Down
DROP INDEX funding_orders_open ON funding_orders;
ALTER TABLE funding_orders DROP COLUMN query_outcome;
ALTER TABLE funding_orders DROP COLUMN queried_at;
