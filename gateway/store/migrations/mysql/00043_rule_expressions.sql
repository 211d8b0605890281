-- A rule version may compute its points with a CEL expression instead of
-- the flat rate (gateway/rules/cel.go); empty for the flat rate.
-- +goose Up
ALTER TABLE rule_versions ADD COLUMN expression VARCHAR(4000) NOT NULL DEFAULT '';
-- +goose Down
ALTER TABLE rule_versions DROP COLUMN expression;
