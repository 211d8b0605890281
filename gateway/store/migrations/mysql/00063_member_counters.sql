-- Counters of a member's earns: per scope (a merchant id, or
-- alliance:referral for referral rewards) and period (dYYYY-MM-DD or
-- mYYYY-MM in the alliance's zone), the earns and the points they awarded.
-- Kept only while a rule version needs them (per-member caps, expression
-- counters, the referral cap); the batch locks a row before it reads it.
-- +goose Up
CREATE TABLE member_counters (
    member_id VARCHAR(40) NOT NULL,
    scope     VARCHAR(64) NOT NULL,
    period    VARCHAR(16) NOT NULL,
    purchases BIGINT NOT NULL,
    points    BIGINT NOT NULL,
    PRIMARY KEY (member_id, scope, period)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- +goose Down
DROP TABLE member_counters;
