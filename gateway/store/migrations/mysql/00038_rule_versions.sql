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
    id              BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    merchant_id     VARCHAR(64) NOT NULL,
    version         BIGINT NULL,
    status          VARCHAR(16) NOT NULL,
    rate_bp         BIGINT NOT NULL,
    max_points      BIGINT NOT NULL,
    rule_plugin     VARCHAR(64) NOT NULL,
    release_delay_s BIGINT NOT NULL,
    validity_s      BIGINT NOT NULL,
    excluded        TEXT NOT NULL,
    summary_zh      TEXT NOT NULL,
    summary_en      TEXT NOT NULL,
    created_by      VARCHAR(128) NOT NULL,
    created_at      BIGINT NOT NULL,
    published_at    BIGINT NOT NULL DEFAULT 0,
    effective_at    BIGINT NOT NULL DEFAULT 0,
    withdrawn_at    BIGINT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
CREATE UNIQUE INDEX rule_versions_number ON rule_versions (merchant_id, version);
CREATE INDEX rule_versions_effective ON rule_versions (merchant_id, status, effective_at);
INSERT INTO rule_versions (merchant_id, version, status, rate_bp, max_points, rule_plugin, release_delay_s, validity_s,
    excluded, summary_zh, summary_en, created_by, created_at, published_at, effective_at, withdrawn_at)
SELECT merchant_id, 1, 'published', rate_bp, max_points, rule_plugin, -1, -1, '[]', '', '', 'migration',
    updated_at, updated_at, updated_at, 0 FROM merchant_earning;
-- +goose Down
DROP TABLE rule_versions;
