-- A nonce is used once per key whatever its timestamp: the rows stay keyed
-- by expiry first (purging is a range delete), and a unique index on
-- (key_id, nonce) refuses the same nonce again under another timestamp,
-- which used to land on a row of its own. A nonce already accepted twice
-- that way keeps its latest expiry.
-- +goose Up
DELETE FROM request_nonces WHERE EXISTS (
    SELECT 1 FROM request_nonces later
    WHERE later.key_id = request_nonces.key_id AND later.nonce = request_nonces.nonce AND later.expires_at > request_nonces.expires_at
);
CREATE UNIQUE INDEX request_nonces_once ON request_nonces(key_id, nonce);
-- +goose Down
DROP INDEX request_nonces_once;
