-- Each account row carries its kind (budget, payable, pending, available,
-- alliance, external), written from ledger.ParseAccount when the row is
-- created, so totals and checks group by a column instead of parsing
-- account names with LIKE.
-- +goose Up
ALTER TABLE accounts ADD COLUMN kind TEXT NOT NULL DEFAULT '';
UPDATE accounts SET kind = CASE
    WHEN name LIKE 'merchant:%:budget' THEN 'budget'
    WHEN name LIKE 'merchant:%:payable' THEN 'payable'
    WHEN name LIKE 'member:%:pending' THEN 'pending'
    WHEN name LIKE 'member:%:available' THEN 'available'
    WHEN name LIKE 'alliance:%' THEN 'alliance'
    WHEN name LIKE 'external:%' THEN 'external'
    ELSE '' END;
-- +goose Down
ALTER TABLE accounts DROP COLUMN kind;
