-- Member consent: redemption codes a member presents at a till (issued to
-- the member's own session, or sent by SMS at a merchant's request), and
-- one-time sign-in codes. Codes are stored only as keyed hashes.
-- +goose Up
CREATE TABLE member_consents (
    code_key    TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    max_points  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER NOT NULL,
    purchase_id INTEGER NOT NULL
);
CREATE INDEX member_consents_by_member ON member_consents(member_id, merchant_id, created_at);
CREATE INDEX member_consents_by_expiry ON member_consents(expires_at);
CREATE TABLE member_signins (
    kind       TEXT NOT NULL,
    lookup     TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    sent_at    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    attempts   INTEGER NOT NULL,
    PRIMARY KEY (kind, lookup)
);
-- +goose Down
DROP TABLE member_signins;
DROP TABLE member_consents;
