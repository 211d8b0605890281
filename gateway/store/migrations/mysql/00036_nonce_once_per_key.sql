-- A nonce is used once per key whatever its timestamp: the rows stay keyed
-- by expiry first (purging is a range delete), and a unique index on
-- (key_id, nonce) refuses the same nonce again under another timestamp,
-- which used to land on a row of its own. A nonce already accepted twice
-- that way keeps its latest expiry.
-- +goose Up
DELETE older FROM request_nonces older JOIN request_nonces later
    ON later.key_id = older.key_id AND later.nonce = older.nonce AND later.expires_at > older.expires_at;
CREATE UNIQUE INDEX request_nonces_once ON request_nonces (key_id, nonce);
-- +goose Down
DROP INDEX request_nonces_once ON request_nonces;
