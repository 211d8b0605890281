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
    merchant_id TEXT NOT NULL,
    position    INTEGER NOT NULL,
    channel     TEXT NOT NULL,
    payee_type  TEXT NOT NULL,
    account     TEXT NOT NULL,
    name        TEXT NOT NULL,
    bank        TEXT NOT NULL,
    PRIMARY KEY (merchant_id, position)
);
CREATE TABLE payouts (
    id           TEXT PRIMARY KEY,
    merchant_id  TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    amount_fen   INTEGER NOT NULL,
    state        TEXT NOT NULL,
    position     INTEGER NOT NULL,
    channel      TEXT NOT NULL,
    channel_ref  TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    next_at      INTEGER NOT NULL,
    failure      TEXT NOT NULL,
    ledger_tx_id INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX payouts_by_key ON payouts(merchant_id, idem_key);
CREATE INDEX payouts_due ON payouts(state, next_at);
-- +goose Down
DROP TABLE payouts;
DROP TABLE payout_accounts;
