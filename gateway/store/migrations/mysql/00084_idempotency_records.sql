-- Compact idempotency records (issue 18): the key as a hash, the request
-- as a hash, and for an answer the store can rebuild from the rows the
-- write created (an earn's purchase and lot) a reference instead of the
-- response body, which was about 80% of the old record.
-- idempotency_keys keeps the records written before this migration: they
-- are still found and replayed, and purged with the new ones by age.
--   key_hash     first 16 bytes of SHA-256(scope NUL key)
--   request_hash first 16 bytes of SHA-256(the request hash)
--   form         0: response holds the body; 1: rebuilt from purchase ref
-- +goose Up
CREATE TABLE idempotency_records (
    key_hash     BINARY(16) NOT NULL PRIMARY KEY,
    request_hash BINARY(16) NOT NULL,
    status       SMALLINT NOT NULL,
    form         TINYINT NOT NULL,
    ref          BIGINT NOT NULL,
    response     MEDIUMTEXT NULL,
    created_at   BIGINT NOT NULL,
    KEY idempotency_records_by_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- +goose Down
DROP TABLE idempotency_records;
