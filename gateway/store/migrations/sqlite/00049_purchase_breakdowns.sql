-- The explainable breakdown of an award decided by a rule expression
-- (eligible amount, base points, caps, total), kept with its purchase as
-- JSON. Flat-rate earns need none: their rule version and amount explain them.
-- +goose Up
CREATE TABLE purchase_breakdowns (
    purchase_id INTEGER PRIMARY KEY,
    breakdown   TEXT NOT NULL
);
-- +goose Down
DROP TABLE purchase_breakdowns;
