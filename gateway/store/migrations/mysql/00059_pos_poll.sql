-- Polling pull-only POS connections (issue 12): one row per connection
-- that is polled instead of pushing webhooks. cursor is the adapter's
-- opaque position (not secret: window times and a page token), written
-- only in the transaction that stores the records read up to it, so a
-- restart resumes from the last stored page. next_at is when the next
-- poll is due (the interval, or the backoff after a provider error:
-- failures counts them in a row); claimed_until fences one instance's
-- poll from another's.
-- +goose Up
CREATE TABLE pos_poll_state (
    connection_id  VARCHAR(64) NOT NULL PRIMARY KEY,
    interval_ms    BIGINT NOT NULL,
    poll_cursor    TEXT NOT NULL,
    next_at        BIGINT NOT NULL,
    claimed_until  BIGINT NOT NULL,
    failures       INT NOT NULL,
    last_error     VARCHAR(1000) NOT NULL,
    last_polled_at BIGINT NOT NULL,
    last_ok_at     BIGINT NOT NULL,
    records        BIGINT NOT NULL,
    KEY pos_poll_state_due (next_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- +goose Down
DROP TABLE pos_poll_state;
