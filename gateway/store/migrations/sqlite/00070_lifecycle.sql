-- Leaving the alliance and winding it down (issue 16).
-- merchant_exits: a merchant's announced exit. effective_at is at least the
-- notice period after announced_at; state: announced, done (the merchant
-- suspended, its unused budget refunded through its channels: refund_id,
-- its payable paid out: payout_id), cancelled. note says what could not
-- be done automatically (budget not refundable through a channel, no
-- payout account).
-- alliance_wind_down: at most one row (id 1): the announced wind-down.
-- state: announced (no new issuance; members redeem until effective_at),
-- done (every open lot expired at the date with its cash to the issuing
-- merchant, every budget returned; report is the per-merchant JSON).
-- +goose Up
CREATE TABLE merchant_exits (
    merchant_id  TEXT PRIMARY KEY,
    announced_at INTEGER NOT NULL,
    effective_at INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    state        TEXT NOT NULL,
    refund_id    TEXT NOT NULL,
    payout_id    TEXT NOT NULL,
    note         TEXT NOT NULL,
    announced_by TEXT NOT NULL,
    done_at      INTEGER NOT NULL
);
CREATE INDEX merchant_exits_due ON merchant_exits(state, effective_at);
CREATE TABLE alliance_wind_down (
    id           INTEGER PRIMARY KEY,
    announced_at INTEGER NOT NULL,
    effective_at INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    state        TEXT NOT NULL,
    announced_by TEXT NOT NULL,
    done_at      INTEGER NOT NULL,
    report       TEXT NOT NULL
);
-- +goose Down
DROP TABLE alliance_wind_down;
DROP TABLE merchant_exits;
