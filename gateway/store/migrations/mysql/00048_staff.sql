-- Merchant staff for the console: one account per (merchant, login) with a
-- role and an argon2id password hash (PHC string); console sessions kept
-- only as the SHA-256 of their token, with the CSRF token forms post back.
-- +goose Up
CREATE TABLE staff (
    id            VARCHAR(64) NOT NULL PRIMARY KEY,
    merchant_id   VARCHAR(64) NOT NULL,
    login         VARCHAR(32) NOT NULL,
    role          VARCHAR(16) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE KEY staff_login (merchant_id, login)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE staff_sessions (
    token_hash  CHAR(64) NOT NULL PRIMARY KEY,
    staff_id    VARCHAR(64) NOT NULL,
    merchant_id VARCHAR(64) NOT NULL,
    login       VARCHAR(32) NOT NULL,
    role        VARCHAR(16) NOT NULL,
    csrf        CHAR(48) NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX purchases_by_merchant_time ON purchases (merchant_id, created_at);
-- +goose Down
DROP INDEX purchases_by_merchant_time ON purchases;
DROP TABLE staff_sessions;
DROP TABLE staff;
