-- Referral rewards (issue 11, DESIGN §6). A member's referral code (one per
-- member), who referred whom (a member is referred once), and each reward
-- a referee's purchase paid a referrer from alliance:marketing (one per
-- purchase and level), with what refunds clawed back of it.
-- +goose Up
CREATE TABLE referral_codes (
    code       TEXT PRIMARY KEY,
    member_id  TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE referrals (
    member_id   TEXT PRIMARY KEY,
    referrer_id TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE TABLE referral_rewards (
    purchase_id     INTEGER NOT NULL,
    level           INTEGER NOT NULL,
    member_id       TEXT NOT NULL,
    lot_id          INTEGER NOT NULL,
    points          INTEGER NOT NULL,
    reversed_points INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (purchase_id, level)
);
-- The marketing budget's row exists from the start: a referral locks it
-- (on MySQL, FOR UPDATE) without creating it, so a refused referral
-- writes nothing.
INSERT OR IGNORE INTO accounts (name, asset, kind, balance) VALUES ('alliance:marketing', 'PTS', 'alliance', 0);
-- +goose Down
DROP TABLE referral_rewards;
DROP TABLE referrals;
DROP TABLE referral_codes;
