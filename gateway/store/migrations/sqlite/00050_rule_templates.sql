-- Alliance-wide earning rule templates, one per industry: the terms a
-- merchant of that industry can adopt as a draft of its own rule set
-- (adopting publishes nothing; the draft is published with the notice
-- check like any other). terms is the JSON of rules.Terms.
-- +goose Up
CREATE TABLE rule_templates (
    industry   TEXT PRIMARY KEY,
    terms      TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
-- +goose Down
DROP TABLE rule_templates;
