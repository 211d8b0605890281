-- Merchants, their stores and API credentials; single-use request nonces;
-- the administrative audit log that the evidence sealer also seals.
-- +goose Up
CREATE TABLE merchants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    industry    TEXT NOT NULL,
    status      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE TABLE stores (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants(id),
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX stores_by_merchant ON stores(merchant_id);
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    merchant_id  TEXT NOT NULL REFERENCES merchants(id),
    algorithm    TEXT NOT NULL,
    key_material TEXT NOT NULL,
    label        TEXT NOT NULL,
    status       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX api_keys_by_merchant ON api_keys(merchant_id);
CREATE TABLE request_nonces (
    key_id     TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, nonce)
);
CREATE INDEX request_nonces_by_expiry ON request_nonces(expires_at);
CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    actor      TEXT NOT NULL,
    subject    TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
-- +goose Down
DROP TABLE audit_events;
DROP TABLE request_nonces;
DROP TABLE api_keys;
DROP TABLE stores;
DROP TABLE merchants;
