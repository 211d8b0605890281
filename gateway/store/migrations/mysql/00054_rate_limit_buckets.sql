-- Rate limits shared by every gateway instance on one database (issue 9):
-- one GCRA bucket per limiter and key. tat is the bucket's theoretical
-- arrival time in Unix nanoseconds: a request at now is admitted when
-- tat <= now + tolerance, which moves tat to max(tat, now) + interval, in
-- one INSERT ... ON DUPLICATE KEY UPDATE. A row whose tat has passed is a
-- full bucket: the purge job deletes it. rkey is never a personal value
-- (member identities and tokens are HMACed first).
-- +goose Up
CREATE TABLE rate_limit_buckets (
    limiter VARCHAR(16) NOT NULL,
    rkey    VARCHAR(128) NOT NULL,
    tat     BIGINT NOT NULL,
    PRIMARY KEY (limiter, rkey),
    KEY rate_limit_buckets_tat (tat)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- +goose Down
DROP TABLE rate_limit_buckets;
