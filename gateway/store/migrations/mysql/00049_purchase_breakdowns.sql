-- The explainable breakdown of an award decided by a rule expression
-- (eligible amount, base points, caps, total), kept with its purchase as
-- JSON. Flat-rate earns need none: their rule version and amount explain them.
-- +goose Up
CREATE TABLE purchase_breakdowns (
    purchase_id BIGINT NOT NULL PRIMARY KEY,
    breakdown   TEXT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- +goose Down
DROP TABLE purchase_breakdowns;
