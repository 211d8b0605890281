-- Merchants, their stores and API credentials; single-use request nonces;
-- the administrative audit log that the evidence sealer also seals.
-- +goose Up
CREATE TABLE merchants (
    id          VARCHAR(64) NOT NULL PRIMARY KEY,
    name        VARCHAR(200) NOT NULL,
    industry    VARCHAR(64) NOT NULL,
    status      VARCHAR(16) NOT NULL,
    created_at  BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE stores (
    id          VARCHAR(64) NOT NULL PRIMARY KEY,
    merchant_id VARCHAR(64) NOT NULL,
    name        VARCHAR(200) NOT NULL,
    created_at  BIGINT NOT NULL,
    KEY stores_by_merchant (merchant_id),
    CONSTRAINT stores_merchant_fk FOREIGN KEY (merchant_id) REFERENCES merchants(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE api_keys (
    id           VARCHAR(64) NOT NULL PRIMARY KEY,
    merchant_id  VARCHAR(64) NOT NULL,
    algorithm    VARCHAR(32) NOT NULL,
    key_material TEXT NOT NULL,
    label        VARCHAR(200) NOT NULL,
    status       VARCHAR(16) NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT NULL,
    KEY api_keys_by_merchant (merchant_id),
    CONSTRAINT api_keys_merchant_fk FOREIGN KEY (merchant_id) REFERENCES merchants(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE TABLE request_nonces (
    key_id     VARCHAR(64) NOT NULL,
    nonce      VARCHAR(64) NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (key_id, nonce),
    KEY request_nonces_by_expiry (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE audit_events (
    id         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    kind       VARCHAR(64) NOT NULL,
    actor      VARCHAR(128) NOT NULL,
    subject    VARCHAR(128) NOT NULL,
    payload    TEXT NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
-- +goose Down
DROP TABLE audit_events;
DROP TABLE request_nonces;
DROP TABLE api_keys;
DROP TABLE stores;
DROP TABLE merchants;
