-- Nonces keyed by expiry first: every insert lands at the right edge of one
-- B-tree (no random page per request, no second index), and purging is a
-- range delete on the key. The expiry is a function of the request's signed
-- timestamp, so a replayed request maps to the same row.
-- Release and expiry scans use partial indexes holding only the lots they
-- look for, so earning a lot updates one of them instead of two.
-- +goose Up
CREATE TABLE request_nonces_new (
    expires_at INTEGER NOT NULL,
    key_id     TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    PRIMARY KEY (expires_at, key_id, nonce)
) WITHOUT ROWID;
INSERT INTO request_nonces_new (expires_at, key_id, nonce) SELECT expires_at, key_id, nonce FROM request_nonces;
DROP TABLE request_nonces;
ALTER TABLE request_nonces_new RENAME TO request_nonces;
DROP INDEX lots_by_release;
DROP INDEX lots_by_expiry;
CREATE INDEX lots_pending_by_release ON lots(release_at, id) WHERE state = 'pending';
CREATE INDEX lots_available_by_expiry ON lots(expires_at, id) WHERE state = 'available';
-- +goose Down
DROP INDEX lots_available_by_expiry;
DROP INDEX lots_pending_by_release;
CREATE INDEX lots_by_release ON lots(state, release_at);
CREATE INDEX lots_by_expiry ON lots(state, expires_at);
CREATE TABLE request_nonces_old (
    key_id     TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, nonce)
);
INSERT OR IGNORE INTO request_nonces_old (key_id, nonce, expires_at) SELECT key_id, nonce, expires_at FROM request_nonces;
DROP TABLE request_nonces;
ALTER TABLE request_nonces_old RENAME TO request_nonces;
CREATE INDEX request_nonces_by_expiry ON request_nonces(expires_at);
