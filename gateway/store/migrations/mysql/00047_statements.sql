-- Daily merchant statements (issue 13): what the alliance owes each merchant
-- for one day, cut at the configured time in the alliance's time zone.
-- body is the statement JSON exactly as signed; signature is base64 of the
-- SM2 signature by the evidence key (key_id) over
-- "lianmeng-statement-v1\n" + body. A re-run of the day replaces the row.
-- +goose Up
CREATE TABLE statements (
    merchant_id VARCHAR(64) NOT NULL,
    bill_date   CHAR(10) NOT NULL,
    body        MEDIUMTEXT NOT NULL,
    key_id      VARCHAR(64) NOT NULL,
    signature   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, bill_date)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- +goose Down
DROP TABLE statements;
