-- Payouts of merchants' payables through payment channels (issue 13).
-- payout_accounts: where a merchant is paid, in order of preference
-- (position 0 is the primary; a payout fails over to the next only when
-- the previous channel certainly did not take it).
-- payouts: id is the host's out-request number, the channel's idempotency
-- key (out_bill_no, out_biz_no) on every channel it is sent to. state:
-- requested, submitted, unknown (resolved only by querying), succeeded
-- (ledger_tx_id: merchant payable -> external:paid), failed (nothing left
-- the payable). position is the account being tried.
-- +goose Up
CREATE TABLE payout_accounts (
    merchant_id VARCHAR(64) NOT NULL,
    position    INT NOT NULL,
    channel     VARCHAR(64) NOT NULL,
    payee_type  VARCHAR(32) NOT NULL,
    account     VARCHAR(128) NOT NULL,
    name        VARCHAR(128) NOT NULL,
    bank        VARCHAR(128) NOT NULL,
    PRIMARY KEY (merchant_id, position)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE payouts (
    id           VARCHAR(64) NOT NULL PRIMARY KEY,
    merchant_id  VARCHAR(64) NOT NULL,
    idem_key     VARCHAR(255) NOT NULL,
    amount_fen   BIGINT NOT NULL,
    state        VARCHAR(16) NOT NULL,
    position     INT NOT NULL,
    channel      VARCHAR(64) NOT NULL,
    channel_ref  VARCHAR(128) NOT NULL,
    attempts     INT NOT NULL,
    next_at      BIGINT NOT NULL,
    failure      TEXT NOT NULL,
    ledger_tx_id BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE KEY payouts_by_key (merchant_id, idem_key),
    KEY payouts_due (state, next_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- +goose Down
DROP TABLE payouts;
DROP TABLE payout_accounts;
