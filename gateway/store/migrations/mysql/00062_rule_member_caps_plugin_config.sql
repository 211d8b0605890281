-- A rule version's per-member caps (points one member earns at the
-- merchant per day and per month in the alliance's zone; 0: none) and the
-- configuration of its rule plugin (JSON; '' for none: the plugin's manifest
-- configuration). Both are terms of the version: immutable once published
-- and part of the notice comparison.
-- +goose Up
ALTER TABLE rule_versions ADD COLUMN member_day_cap BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rule_versions ADD COLUMN member_month_cap BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rule_versions ADD COLUMN plugin_config TEXT NOT NULL DEFAULT ('');
-- +goose Down
ALTER TABLE rule_versions DROP COLUMN plugin_config;
ALTER TABLE rule_versions DROP COLUMN member_month_cap;
ALTER TABLE rule_versions DROP COLUMN member_day_cap;
