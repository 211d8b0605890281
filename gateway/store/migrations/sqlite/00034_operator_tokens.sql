-- Named operator tokens (the bootstrap operator.token only creates them):
-- each has a label, a scope set (space separated, canonical order), an
-- expiry and a revocation; the secret is kept only as the hex SHA-256 of
-- the whole token, looked up by the id the token starts with.
-- Idempotency records are purged by age (idempotency.retention), in
-- batches taken oldest first: an index on created_at.
-- +goose Up
CREATE TABLE operator_tokens (
    id          TEXT PRIMARY KEY,
    label       TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER NOT NULL DEFAULT 0,
    revoked_by  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idempotency_keys_by_created ON idempotency_keys(created_at);
-- +goose Down
DROP INDEX idempotency_keys_by_created;
DROP TABLE operator_tokens;
