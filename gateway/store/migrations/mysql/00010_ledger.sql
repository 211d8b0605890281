-- The points ledger: balances, append-only transactions and postings, point
-- lots, members, purchases, debts, idempotency records, id blocks and job
-- leases. Timestamps are Unix microseconds.
-- +goose Up
CREATE TABLE merchant_earning (
    merchant_id VARCHAR(64) NOT NULL PRIMARY KEY,
    rate_bp     BIGINT NOT NULL,
    max_points  BIGINT NOT NULL,
    rule_plugin VARCHAR(64) NOT NULL,
    updated_at  BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE id_blocks (
    name    VARCHAR(128) NOT NULL PRIMARY KEY,
    next_id BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO id_blocks (name, next_id) VALUES ('ledger', 1000);
CREATE TABLE accounts (
    name    VARCHAR(128) NOT NULL PRIMARY KEY,
    asset   VARCHAR(8) NOT NULL,
    balance BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE ledger_transactions (
    id         BIGINT NOT NULL PRIMARY KEY,
    kind       VARCHAR(32) NOT NULL,
    ref        VARCHAR(160) NOT NULL,
    reverses   BIGINT NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE postings (
    tx_id   BIGINT NOT NULL,
    seq     BIGINT NOT NULL,
    account VARCHAR(128) NOT NULL,
    asset   VARCHAR(8) NOT NULL,
    amount  BIGINT NOT NULL,
    PRIMARY KEY (tx_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX postings_by_account ON postings(account, tx_id);
CREATE TABLE members (
    id         VARCHAR(40) NOT NULL PRIMARY KEY,
    created_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE member_identities (
    kind       VARCHAR(32) NOT NULL,
    lookup     VARCHAR(160) NOT NULL,
    member_id  VARCHAR(40) NOT NULL,
    sealed     TEXT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (kind, lookup)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX member_identities_by_member ON member_identities(member_id);
CREATE TABLE purchases (
    id              BIGINT NOT NULL PRIMARY KEY,
    kind            VARCHAR(16) NOT NULL,
    merchant_id     VARCHAR(64) NOT NULL,
    store_id        VARCHAR(64) NOT NULL,
    order_id        VARCHAR(255) NOT NULL,
    member_id       VARCHAR(40) NOT NULL,
    amount_fen      BIGINT NOT NULL,
    points          BIGINT NOT NULL,
    refunded_fen    BIGINT NOT NULL,
    reversed_points BIGINT NOT NULL,
    lot_id          BIGINT NOT NULL,
    tx_id           BIGINT NOT NULL,
    rule_version    VARCHAR(64) NOT NULL,
    created_at      BIGINT NOT NULL,
    UNIQUE (merchant_id, kind, order_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX purchases_by_member ON purchases(member_id);
CREATE TABLE lots (
    id           BIGINT NOT NULL PRIMARY KEY,
    member_id    VARCHAR(40) NOT NULL,
    merchant_id  VARCHAR(64) NOT NULL,
    purchase_id  BIGINT NOT NULL,
    points       BIGINT NOT NULL,
    remaining    BIGINT NOT NULL,
    state        VARCHAR(16) NOT NULL,
    rule_version VARCHAR(64) NOT NULL,
    earned_at    BIGINT NOT NULL,
    release_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX lots_by_member ON lots(member_id, state, expires_at);
CREATE INDEX lots_by_release ON lots(state, release_at);
CREATE INDEX lots_by_expiry ON lots(state, expires_at);
CREATE TABLE member_debts (
    id          BIGINT NOT NULL PRIMARY KEY,
    member_id   VARCHAR(40) NOT NULL,
    merchant_id VARCHAR(64) NOT NULL,
    purchase_id BIGINT NOT NULL,
    points      BIGINT NOT NULL,
    remaining   BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX member_debts_by_member ON member_debts(member_id, remaining);
CREATE TABLE lot_consumptions (
    purchase_id BIGINT NOT NULL,
    lot_id      BIGINT NOT NULL,
    seq         BIGINT NOT NULL,
    points      BIGINT NOT NULL,
    PRIMARY KEY (purchase_id, lot_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE idempotency_keys (
    merchant_id  VARCHAR(64) NOT NULL,
    idem_key     VARCHAR(128) NOT NULL,
    request_hash CHAR(64) NOT NULL,
    status       BIGINT NOT NULL,
    response     MEDIUMTEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, idem_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE job_leases (
    name        VARCHAR(64) NOT NULL PRIMARY KEY,
    holder      VARCHAR(128) NOT NULL,
    lease_until BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
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
