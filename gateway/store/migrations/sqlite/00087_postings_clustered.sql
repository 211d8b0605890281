-- Postings clustered by their key (issue 18): postings was a rowid table
-- with its primary key (tx_id, seq) as a separate unique index, so every
-- posting was two b-tree inserts besides postings_by_account, and its key
-- was stored twice. As a WITHOUT ROWID table the rows are the key's b-tree:
-- one insert, at the right edge (transaction ids only grow), and
-- postings_by_account's entries end with (tx_id, seq) instead of a rowid.
-- Every query reads postings by tx_id or by account, never by rowid.
-- +goose Up
CREATE TABLE postings_clustered (
    tx_id   INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    account TEXT NOT NULL,
    asset   TEXT NOT NULL,
    amount  INTEGER NOT NULL,
    PRIMARY KEY (tx_id, seq)
) WITHOUT ROWID;
INSERT INTO postings_clustered (tx_id, seq, account, asset, amount)
    SELECT tx_id, seq, account, asset, amount FROM postings ORDER BY tx_id, seq;
DROP TABLE postings;
ALTER TABLE postings_clustered RENAME TO postings;
CREATE INDEX postings_by_account ON postings(account, tx_id);
-- +goose Down
CREATE TABLE postings_rowid (
    tx_id   INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    account TEXT NOT NULL,
    asset   TEXT NOT NULL,
    amount  INTEGER NOT NULL,
    PRIMARY KEY (tx_id, seq)
);
INSERT INTO postings_rowid (tx_id, seq, account, asset, amount)
    SELECT tx_id, seq, account, asset, amount FROM postings ORDER BY tx_id, seq;
DROP TABLE postings;
ALTER TABLE postings_rowid RENAME TO postings;
CREATE INDEX postings_by_account ON postings(account, tx_id);
