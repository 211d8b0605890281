-- Named operator tokens (the bootstrap operator.token only creates them):
-- each has a label, a scope set (space separated, canonical order), an
-- expiry and a revocation; the secret is kept only as the hex SHA-256 of
-- the whole token, looked up by the id the token starts with.
-- Idempotency records are purged by age (idempotency.retention), in
-- batches taken oldest first: an index on created_at.
-- +goose Up
CREATE TABLE operator_tokens (
    id          VARCHAR(64) NOT NULL PRIMARY KEY,
    label       VARCHAR(100) NOT NULL,
    scopes      VARCHAR(255) NOT NULL,
    secret_hash CHAR(64) NOT NULL,
    created_by  VARCHAR(128) NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT NOT NULL DEFAULT 0,
    revoked_by  VARCHAR(128) NOT NULL DEFAULT ''
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX idempotency_keys_by_created ON idempotency_keys (created_at);
-- +goose Down
DROP INDEX idempotency_keys_by_created ON idempotency_keys;
DROP TABLE operator_tokens;
