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
    id            VARCHAR(64) NOT NULL PRIMARY KEY,
    merchant_id   VARCHAR(64) NOT NULL,
    url           VARCHAR(2048) NOT NULL,
    events        TEXT NOT NULL,
    status        VARCHAR(16) NOT NULL,
    secret_id     VARCHAR(64) NOT NULL,
    secret_sealed TEXT NOT NULL,
    prev_id       VARCHAR(64) NOT NULL,
    prev_sealed   TEXT NOT NULL,
    prev_until    BIGINT NOT NULL,
    created_by    VARCHAR(128) NOT NULL,
    created_at    BIGINT NOT NULL,
    KEY webhook_endpoints_by_merchant (merchant_id, status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE outbox (
    id            BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    endpoint_id   VARCHAR(64) NOT NULL,
    merchant_id   VARCHAR(64) NOT NULL,
    event_id      VARCHAR(64) NOT NULL,
    event_type    VARCHAR(64) NOT NULL,
    payload       MEDIUMTEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    state         VARCHAR(16) NOT NULL,
    attempts      INT NOT NULL,
    next_at       BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL,
    last_status   INT NOT NULL,
    last_error    TEXT NOT NULL,
    done_at       BIGINT NOT NULL,
    UNIQUE KEY outbox_by_event (endpoint_id, event_id),
    KEY outbox_head (endpoint_id, state, id),
    KEY outbox_due (state, next_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- +goose Down
DROP TABLE outbox;
DROP TABLE webhook_endpoints;
