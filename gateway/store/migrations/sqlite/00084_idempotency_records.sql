-- Compact idempotency records (issue 18): the key as a hash, the request
-- as a hash, and for an answer the store can rebuild from the rows the
-- write created (an earn's purchase and lot) a reference instead of the
-- response body, which was about 80% of the old record. Rows keep
-- insertion order (rowid), so only the key index takes random inserts.
-- idempotency_keys keeps the records written before this migration: they
-- are still found and replayed, and purged with the new ones by age.
--   key_hash     first 16 bytes of SHA-256(scope NUL key)
--   request_hash first 16 bytes of SHA-256(the request hash)
--   form         0: response holds the body; 1: rebuilt from purchase ref
-- +goose Up
CREATE TABLE idempotency_records (
    key_hash     BLOB NOT NULL UNIQUE,
    request_hash BLOB NOT NULL,
    status       INTEGER NOT NULL,
    form         INTEGER NOT NULL,
    ref          INTEGER NOT NULL,
    response     TEXT,
    created_at   INTEGER NOT NULL
);
CREATE INDEX idempotency_records_by_created ON idempotency_records(created_at);
-- +goose Down
DROP TABLE idempotency_records;
