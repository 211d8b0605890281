-- The alliance's published history (issue 15): one row per day (China
-- Standard Time), derived from the append-only ledger: the balances at the
-- end of the day by family (carried to the next day), the coverage they
-- give, and what moved for members that day. A day's row never changes; a
-- missing day is filled later with the same figures.
-- +goose Up
CREATE TABLE daily_snapshots (
    day                  CHAR(10) NOT NULL PRIMARY KEY,
    reserve_fen          BIGINT NOT NULL,
    budget_points        BIGINT NOT NULL,
    pending_points       BIGINT NOT NULL,
    available_points     BIGINT NOT NULL,
    marketing_points     BIGINT NOT NULL,
    payable_fen          BIGINT NOT NULL,
    burned_points        BIGINT NOT NULL,
    expired_points       BIGINT NOT NULL,
    minted_points        BIGINT NOT NULL,
    funded_fen           BIGINT NOT NULL,
    breakage_fen         BIGINT NOT NULL,
    outstanding_points   BIGINT NOT NULL,
    face_value_fen       BIGINT NOT NULL,
    coverage_bp          BIGINT NOT NULL,
    covered              TINYINT NOT NULL,
    issued_points        BIGINT NOT NULL,
    redeemed_points      BIGINT NOT NULL,
    expired_today_points BIGINT NOT NULL,
    funded_today_fen     BIGINT NOT NULL,
    taken_at             BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- +goose Down
DROP TABLE daily_snapshots;
