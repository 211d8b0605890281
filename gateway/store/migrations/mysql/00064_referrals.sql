-- Referral rewards (issue 11, DESIGN §6). A member's referral code (one per
-- member), who referred whom (a member is referred once), and each reward
-- a referee's purchase paid a referrer from alliance:marketing (one per
-- purchase and level), with what refunds clawed back of it.
-- +goose Up
CREATE TABLE referral_codes (
    code       VARCHAR(16) NOT NULL PRIMARY KEY,
    member_id  VARCHAR(40) NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE KEY referral_codes_member (member_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE referrals (
    member_id   VARCHAR(40) NOT NULL PRIMARY KEY,
    referrer_id VARCHAR(40) NOT NULL,
    created_at  BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE referral_rewards (
    purchase_id     BIGINT NOT NULL,
    level           INT NOT NULL,
    member_id       VARCHAR(40) NOT NULL,
    lot_id          BIGINT NOT NULL,
    points          BIGINT NOT NULL,
    reversed_points BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (purchase_id, level)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- The marketing budget's row exists from the start: a referral locks it
-- (on MySQL, FOR UPDATE) without creating it, so a refused referral
-- writes nothing.
INSERT IGNORE INTO accounts (name, asset, kind, balance) VALUES ('alliance:marketing', 'PTS', 'alliance', 0);
-- +goose Down
DROP TABLE referral_rewards;
DROP TABLE referrals;
DROP TABLE referral_codes;
