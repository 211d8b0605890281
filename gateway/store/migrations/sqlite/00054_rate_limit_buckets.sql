-- Rate limits shared by every gateway instance on one database (issue 9):
-- one GCRA bucket per limiter and key. tat is the bucket's theoretical
-- arrival time in Unix nanoseconds: a request at now is admitted when
-- tat <= now + tolerance, which moves tat to max(tat, now) + interval, in
-- one INSERT ... ON CONFLICT DO UPDATE. A row whose tat has passed is a
-- full bucket: the purge job deletes it. On SQLite (one instance) the
-- gateway keeps its limits in memory; the table is there for symmetry and
-- for the store's tests.
-- +goose Up
CREATE TABLE rate_limit_buckets (
    limiter TEXT NOT NULL,
    rkey    TEXT NOT NULL,
    tat     INTEGER NOT NULL,
    PRIMARY KEY (limiter, rkey)
);
CREATE INDEX rate_limit_buckets_tat ON rate_limit_buckets(tat);
-- +goose Down
DROP TABLE rate_limit_buckets;
