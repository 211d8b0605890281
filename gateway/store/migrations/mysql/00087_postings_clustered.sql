-- Postings clustered by their key (issue 18) is a SQLite change: InnoDB
-- already keeps postings' rows in the b-tree of their primary key
-- (tx_id, seq), which is what the SQLite migration of this number does.
-- The number is kept so both dialects list the same migrations.
-- +goose Up
SELECT 1;
-- +goose Down
SELECT 1;
