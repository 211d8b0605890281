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
    merchant_id  VARCHAR(64) NOT NULL PRIMARY KEY,
    announced_at BIGINT NOT NULL,
    effective_at BIGINT NOT NULL,
    reason       VARCHAR(255) NOT NULL,
    state        VARCHAR(16) NOT NULL,
    refund_id    VARCHAR(64) NOT NULL,
    payout_id    VARCHAR(64) NOT NULL,
    note         TEXT NOT NULL,
    announced_by VARCHAR(128) NOT NULL,
    done_at      BIGINT NOT NULL,
    KEY merchant_exits_due (state, effective_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE alliance_wind_down (
    id           INT NOT NULL PRIMARY KEY,
    announced_at BIGINT NOT NULL,
    effective_at BIGINT NOT NULL,
    reason       VARCHAR(255) NOT NULL,
    state        VARCHAR(16) NOT NULL,
    announced_by VARCHAR(128) NOT NULL,
    done_at      BIGINT NOT NULL,
    report       MEDIUMTEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- +goose Down
DROP TABLE alliance_wind_down;
DROP TABLE merchant_exits;
