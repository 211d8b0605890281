-- Witnesses' cosignatures of checkpoints (docs/evidence.md §14, C2SP
-- tlog-cosignature): one per checkpoint size and witness, the signed-note
-- signature line as the witness answered it.
-- +goose Up
CREATE TABLE evidence_cosignatures (
    size        BIGINT NOT NULL,
    witness     VARCHAR(255) NOT NULL,
    line        VARCHAR(1024) NOT NULL,
    cosigned_at BIGINT NOT NULL,
    PRIMARY KEY (size, witness)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
-- +goose Down
DROP TABLE evidence_cosignatures;
