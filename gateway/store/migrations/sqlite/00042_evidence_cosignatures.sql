-- Witnesses' cosignatures of checkpoints (docs/evidence.md §14, C2SP
-- tlog-cosignature): one per checkpoint size and witness, the signed-note
-- signature line as the witness answered it.
-- +goose Up
CREATE TABLE evidence_cosignatures (
    size        INTEGER NOT NULL,
    witness     TEXT NOT NULL,
    line        TEXT NOT NULL,
    cosigned_at INTEGER NOT NULL,
    PRIMARY KEY (size, witness)
);
-- +goose Down
DROP TABLE evidence_cosignatures;
