-- Used request nonces as 16-byte hashes (issue 18; store.nonceHash): a row
-- of request_nonces held the key id and the nonce text twice (its key and
-- its unique index), about 170 bytes per signed write.
-- Layout: the hash is the key of a WITHOUT ROWID table, plus an index on
-- the expiry: two entries of about 28 bytes per nonce, the fewest that
-- give both a unique hash and a range purge. Keyed the other way round
-- (PRIMARY KEY (expires_at, hash), a unique index on the hash) is as many
-- entries of the same size (TestDiskPerEarn: 33 + 33 bytes per earn
-- either way), one b-tree taking random inserts and one right-edge
-- inserts either way, but an insert then checks uniqueness in both
-- b-trees; this way only in the table, the replay lookup is a descent of
-- the table itself, and the purge is a range scan of the expiry index.
-- request_nonces keeps the nonces used before this migration: they are
-- still refused until they expire, purged by expiry with the new ones, and
-- no longer written. A downgrade forgets the nonces used since (a hash
-- cannot be turned back into its nonce): they stay refused as stale once
-- their window of minutes has passed.
-- +goose Up
CREATE TABLE request_nonce_hashes (
    hash       BLOB NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX request_nonce_hashes_by_expiry ON request_nonce_hashes(expires_at);
-- +goose Down
DROP TABLE request_nonce_hashes;
