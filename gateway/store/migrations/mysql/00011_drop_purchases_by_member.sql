-- Nothing reads purchases by member (member history comes from postings),
-- and every earn paid for this index with a random-page write.
-- +goose Up
DROP INDEX purchases_by_member ON purchases;
-- +goose Down
CREATE INDEX purchases_by_member ON purchases(member_id);
