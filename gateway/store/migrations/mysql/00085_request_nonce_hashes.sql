-- Used request nonces as 16-byte hashes (issue 18; store.nonceHash): a row
-- of request_nonces held the key id and the nonce text twice (its key and
-- its unique index).
-- Layout: the hash is the clustered key, plus an index on the expiry: two
-- entries per nonce, the fewest that give both a unique hash and a range
-- purge. Keyed the other way round (PRIMARY KEY (expires_at, hash), a
-- unique index on the hash) is as many entries of the same size, one
-- b-tree taking random inserts and one right-edge inserts either way, but
-- a unique secondary index must be read to check every insert (InnoDB
-- cannot buffer its changes); this way the replay lookup and the
-- uniqueness check are a descent of the clustered index, and the purge is
-- a range scan of the expiry index.
-- request_nonces keeps the nonces used before this migration: they are
-- still refused until they expire, purged by expiry with the new ones, and
-- no longer written. A downgrade forgets the nonces used since (a hash
-- cannot be turned back into its nonce): they stay refused as stale once
-- their window of minutes has passed.
-- +goose Up
CREATE TABLE request_nonce_hashes (
    hash       BINARY(16) NOT NULL PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    KEY request_nonce_hashes_by_expiry (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- +goose Down
DROP TABLE request_nonce_hashes;
