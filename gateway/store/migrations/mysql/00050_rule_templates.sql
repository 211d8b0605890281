-- Alliance-wide earning rule templates, one per industry: the terms a
-- merchant of that industry can adopt as a draft of its own rule set
-- (adopting publishes nothing; the draft is published with the notice
-- check like any other). terms is the JSON of rules.Terms.
-- +goose Up
CREATE TABLE rule_templates (
    industry   VARCHAR(64) NOT NULL PRIMARY KEY,
    terms      TEXT NOT NULL,
    updated_by VARCHAR(128) NOT NULL,
    updated_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
-- +goose Down
DROP TABLE rule_templates;
