-- Outbound merchant webhooks (issue 16).
-- webhook_endpoints: a merchant's receiving URLs. secret_sealed is
-- base64(SM4-GCM(secret, ad = "webhook_endpoint:" + id + ":" + secret_id))
-- under the personal-data keyring; prev_* is the secret it replaced, still
-- signing until prev_until (rotation with overlap). events is a
-- comma-separated list of event types ("" for all). status: active or
-- disabled.
-- outbox: one row per event and endpoint, inserted by the batching writer
-- in the transaction that posts the ledger change it announces, so an
-- event exists exactly when its change committed. Rows of one endpoint are
-- delivered in id order, one at a time. state: pending, delivered or dead.
-- +goose Up
CREATE TABLE webhook_endpoints (
    id            TEXT PRIMARY KEY,
    merchant_id   TEXT NOT NULL,
    url           TEXT NOT NULL,
    events        TEXT NOT NULL,
    status        TEXT NOT NULL,
    secret_id     TEXT NOT NULL,
    secret_sealed TEXT NOT NULL,
    prev_id       TEXT NOT NULL,
    prev_sealed   TEXT NOT NULL,
    prev_until    INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX webhook_endpoints_by_merchant ON webhook_endpoints(merchant_id, status);
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id   TEXT NOT NULL,
    merchant_id   TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    event_type    TEXT NOT NULL,
    payload       TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    state         TEXT NOT NULL,
    attempts      INTEGER NOT NULL,
    next_at       INTEGER NOT NULL,
    claimed_until INTEGER NOT NULL,
    last_status   INTEGER NOT NULL,
    last_error    TEXT NOT NULL,
    done_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX outbox_by_event ON outbox(endpoint_id, event_id);
CREATE INDEX outbox_head ON outbox(endpoint_id, state, id);
CREATE INDEX outbox_due ON outbox(state, next_at);
-- +goose Down
DROP TABLE outbox;
DROP TABLE webhook_endpoints;
