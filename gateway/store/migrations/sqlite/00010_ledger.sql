-- The points ledger: balances, append-only transactions and postings, point
-- lots, members, purchases, debts, idempotency records, id blocks and job
-- leases. Timestamps are Unix microseconds.
-- +goose Up
CREATE TABLE merchant_earning (
    merchant_id TEXT PRIMARY KEY REFERENCES merchants(id),
    rate_bp     INTEGER NOT NULL,
    max_points  INTEGER NOT NULL,
    rule_plugin TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE TABLE id_blocks (
    name    TEXT PRIMARY KEY,
    next_id INTEGER NOT NULL
);
INSERT INTO id_blocks (name, next_id) VALUES ('ledger', 1000);
CREATE TABLE accounts (
    name    TEXT PRIMARY KEY,
    asset   TEXT NOT NULL,
    balance INTEGER NOT NULL
);
CREATE TABLE ledger_transactions (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    ref        TEXT NOT NULL,
    reverses   INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE postings (
    tx_id   INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    account TEXT NOT NULL,
    asset   TEXT NOT NULL,
    amount  INTEGER NOT NULL,
    PRIMARY KEY (tx_id, seq)
);
CREATE INDEX postings_by_account ON postings(account, tx_id);
CREATE TABLE members (
    id         TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);
CREATE TABLE member_identities (
    kind       TEXT NOT NULL,
    lookup     TEXT NOT NULL,
    member_id  TEXT NOT NULL,
    sealed     TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, lookup)
);
CREATE INDEX member_identities_by_member ON member_identities(member_id);
CREATE TABLE purchases (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL,
    merchant_id     TEXT NOT NULL,
    store_id        TEXT NOT NULL,
    order_id        TEXT NOT NULL,
    member_id       TEXT NOT NULL,
    amount_fen      INTEGER NOT NULL,
    points          INTEGER NOT NULL,
    refunded_fen    INTEGER NOT NULL,
    reversed_points INTEGER NOT NULL,
    lot_id          INTEGER NOT NULL,
    tx_id           INTEGER NOT NULL,
    rule_version    TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    UNIQUE (merchant_id, kind, order_id)
);
CREATE INDEX purchases_by_member ON purchases(member_id);
CREATE TABLE lots (
    id           INTEGER PRIMARY KEY,
    member_id    TEXT NOT NULL,
    merchant_id  TEXT NOT NULL,
    purchase_id  INTEGER NOT NULL,
    points       INTEGER NOT NULL,
    remaining    INTEGER NOT NULL,
    state        TEXT NOT NULL,
    rule_version TEXT NOT NULL,
    earned_at    INTEGER NOT NULL,
    release_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX lots_by_member ON lots(member_id, state, expires_at);
CREATE INDEX lots_by_release ON lots(state, release_at);
CREATE INDEX lots_by_expiry ON lots(state, expires_at);
CREATE TABLE member_debts (
    id          INTEGER PRIMARY KEY,
    member_id   TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    purchase_id INTEGER NOT NULL,
    points      INTEGER NOT NULL,
    remaining   INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX member_debts_by_member ON member_debts(member_id, remaining);
CREATE TABLE lot_consumptions (
    purchase_id INTEGER NOT NULL,
    lot_id      INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    points      INTEGER NOT NULL,
    PRIMARY KEY (purchase_id, lot_id)
);
CREATE TABLE idempotency_keys (
    merchant_id  TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    response     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, idem_key)
);
CREATE TABLE job_leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    lease_until INTEGER NOT NULL
);
-- +goose Down
DROP TABLE job_leases;
DROP TABLE idempotency_keys;
DROP TABLE lot_consumptions;
DROP TABLE member_debts;
DROP TABLE lots;
DROP TABLE purchases;
DROP TABLE member_identities;
DROP TABLE members;
DROP TABLE postings;
DROP TABLE ledger_transactions;
DROP TABLE accounts;
DROP TABLE id_blocks;
DROP TABLE merchant_earning;
