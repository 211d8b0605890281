-- Member consent: redemption codes a member presents at a till (issued to
-- the member's own session, or sent by SMS at a merchant's request), and
-- one-time sign-in codes. Codes are stored only as keyed hashes.
-- +goose Up
CREATE TABLE member_consents (
    code_key    VARCHAR(64) NOT NULL PRIMARY KEY,
    kind        VARCHAR(8) NOT NULL,
    member_id   VARCHAR(64) NOT NULL,
    merchant_id VARCHAR(64) NOT NULL,
    max_points  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT NOT NULL,
    purchase_id BIGINT NOT NULL,
    KEY member_consents_by_member (member_id, merchant_id, created_at),
    KEY member_consents_by_expiry (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE member_signins (
    kind       VARCHAR(32) NOT NULL,
    lookup     VARCHAR(160) NOT NULL,
    code_hash  VARCHAR(64) NOT NULL,
    sent_at    BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts   INT NOT NULL,
    PRIMARY KEY (kind, lookup)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- +goose Down
DROP TABLE member_signins;
DROP TABLE member_consents;
