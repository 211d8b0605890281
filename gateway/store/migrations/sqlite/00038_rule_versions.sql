-- Versioned earning rules (issue 11). A merchant's rule set is its rows
-- here: drafts (version NULL), published versions numbered 1, 2, ... in
-- publication order, and withdrawn ones. The version in effect at time t is
-- the published one with the highest number whose effective_at <= t, so a
-- scheduled version takes effect at its time without any job. Published
-- rows are never changed, except that a withdrawal (only before the
-- effective time) sets status and withdrawn_at.
-- Each merchant's flat configuration becomes its version 1, effective from
-- its last change; release_delay_s and validity_s -1 mean "the alliance
-- policy's", pinned to concrete values when the gateway starts.
-- +goose Up
CREATE TABLE rule_versions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant_id     TEXT NOT NULL REFERENCES merchants(id),
    version         INTEGER,
    status          TEXT NOT NULL,
    rate_bp         INTEGER NOT NULL,
    max_points      INTEGER NOT NULL,
    rule_plugin     TEXT NOT NULL,
    release_delay_s INTEGER NOT NULL,
    validity_s      INTEGER NOT NULL,
    excluded        TEXT NOT NULL,
    summary_zh      TEXT NOT NULL,
    summary_en      TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    published_at    INTEGER NOT NULL DEFAULT 0,
    effective_at    INTEGER NOT NULL DEFAULT 0,
    withdrawn_at    INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX rule_versions_number ON rule_versions (merchant_id, version);
CREATE INDEX rule_versions_effective ON rule_versions (merchant_id, status, effective_at);
INSERT INTO rule_versions (merchant_id, version, status, rate_bp, max_points, rule_plugin, release_delay_s, validity_s,
    excluded, summary_zh, summary_en, created_by, created_at, published_at, effective_at, withdrawn_at)
SELECT merchant_id, 1, 'published', rate_bp, max_points, rule_plugin, -1, -1, '[]', '', '', 'migration',
    updated_at, updated_at, updated_at, 0 FROM merchant_earning;
-- +goose Down
DROP TABLE rule_versions;
