-- Merchant staff for the console: one account per (merchant, login) with a
-- role and an argon2id password hash (PHC string); console sessions kept
-- only as the SHA-256 of their token, with the CSRF token forms post back.
-- +goose Up
CREATE TABLE staff (
    id            TEXT PRIMARY KEY,
    merchant_id   TEXT NOT NULL,
    login         TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (merchant_id, login)
);
CREATE TABLE staff_sessions (
    token_hash  TEXT PRIMARY KEY,
    staff_id    TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    login       TEXT NOT NULL,
    role        TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX purchases_by_merchant_time ON purchases(merchant_id, created_at);
-- +goose Down
DROP INDEX purchases_by_merchant_time;
DROP TABLE staff_sessions;
DROP TABLE staff;
