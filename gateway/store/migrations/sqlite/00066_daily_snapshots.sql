-- The alliance's published history (issue 15): one row per day (China
-- Standard Time), derived from the append-only ledger: the balances at the
-- end of the day by family (carried to the next day), the coverage they
-- give, and what moved for members that day. A day's row never changes; a
-- missing day is filled later with the same figures.
-- +goose Up
CREATE TABLE daily_snapshots (
    day                  TEXT PRIMARY KEY,
    reserve_fen          INTEGER NOT NULL,
    budget_points        INTEGER NOT NULL,
    pending_points       INTEGER NOT NULL,
    available_points     INTEGER NOT NULL,
    marketing_points     INTEGER NOT NULL,
    payable_fen          INTEGER NOT NULL,
    burned_points        INTEGER NOT NULL,
    expired_points       INTEGER NOT NULL,
    minted_points        INTEGER NOT NULL,
    funded_fen           INTEGER NOT NULL,
    breakage_fen         INTEGER NOT NULL,
    outstanding_points   INTEGER NOT NULL,
    face_value_fen       INTEGER NOT NULL,
    coverage_bp          INTEGER NOT NULL,
    covered              INTEGER NOT NULL,
    issued_points        INTEGER NOT NULL,
    redeemed_points      INTEGER NOT NULL,
    expired_today_points INTEGER NOT NULL,
    funded_today_fen     INTEGER NOT NULL,
    taken_at             INTEGER NOT NULL
);
-- +goose Down
DROP TABLE daily_snapshots;
