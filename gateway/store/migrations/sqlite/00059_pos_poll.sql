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
    connection_id  TEXT PRIMARY KEY,
    interval_ms    INTEGER NOT NULL,
    poll_cursor    TEXT NOT NULL,
    next_at        INTEGER NOT NULL,
    claimed_until  INTEGER NOT NULL,
    failures       INTEGER NOT NULL,
    last_error     TEXT NOT NULL,
    last_polled_at INTEGER NOT NULL,
    last_ok_at     INTEGER NOT NULL,
    records        INTEGER NOT NULL
);
CREATE INDEX pos_poll_state_due ON pos_poll_state(next_at);
-- +goose Down
DROP TABLE pos_poll_state;
