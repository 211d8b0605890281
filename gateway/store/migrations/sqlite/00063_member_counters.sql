-- Counters of a member's earns: per scope (a merchant id, or
-- alliance:referral for referral rewards) and period (dYYYY-MM-DD or
-- mYYYY-MM in the alliance's zone), the earns and the points they awarded.
-- Kept only while a rule version needs them (per-member caps, expression
-- counters, the referral cap); the batch locks a row before it reads it.
-- +goose Up
CREATE TABLE member_counters (
    member_id TEXT NOT NULL,
    scope     TEXT NOT NULL,
    period    TEXT NOT NULL,
    purchases INTEGER NOT NULL,
    points    INTEGER NOT NULL,
    PRIMARY KEY (member_id, scope, period)
) WITHOUT ROWID;
-- +goose Down
DROP TABLE member_counters;
