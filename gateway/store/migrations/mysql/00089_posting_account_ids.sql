-- Postings name their account by a short integer id instead of repeating
-- its name (issue 18): a name such as "member:mbr_01a231b22dde5f3148ce:pending"
-- is about 40 bytes, stored in every posting row and again in every
-- postings_by_account entry; an id is 8. accounts gets a stable
-- AUTO_INCREMENT id as its primary key and keeps its name as a unique key
-- (every lookup, lock and upsert is still by name). Every posting's account
-- gets a row first: a batch whose postings on an unguarded account netted
-- to zero wrote no balance row before this migration (the writer now
-- creates every account a posting names). The kind is derived from the
-- name as in 00031. postings is rebuilt and swapped in (a copy with its
-- index built after the load, rather than a 20M-row UPDATE). Down puts the
-- names back into postings and accounts back to its name key.
-- +goose Up
INSERT IGNORE INTO accounts (name, asset, kind, balance)
    SELECT p.account, MIN(p.asset), CASE
        WHEN p.account LIKE 'merchant:%:budget' THEN 'budget'
        WHEN p.account LIKE 'merchant:%:payable' THEN 'payable'
        WHEN p.account LIKE 'member:%:pending' THEN 'pending'
        WHEN p.account LIKE 'member:%:available' THEN 'available'
        WHEN p.account LIKE 'alliance:%' THEN 'alliance'
        WHEN p.account LIKE 'external:%' THEN 'external'
        ELSE '' END, 0
    FROM postings p LEFT JOIN accounts a ON a.name = p.account WHERE a.name IS NULL
    GROUP BY p.account;
ALTER TABLE accounts DROP PRIMARY KEY,
    ADD COLUMN id BIGINT NOT NULL AUTO_INCREMENT FIRST,
    ADD PRIMARY KEY (id),
    ADD UNIQUE KEY accounts_by_name (name);
CREATE TABLE postings_ids (
    tx_id      BIGINT NOT NULL,
    seq        BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    asset      VARCHAR(8) NOT NULL,
    amount     BIGINT NOT NULL,
    PRIMARY KEY (tx_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO postings_ids (tx_id, seq, account_id, asset, amount)
    SELECT p.tx_id, p.seq, a.id, p.asset, p.amount FROM postings p JOIN accounts a ON a.name = p.account ORDER BY p.tx_id, p.seq;
CREATE INDEX postings_by_account ON postings_ids(account_id, tx_id);
DROP TABLE postings;
RENAME TABLE postings_ids TO postings;
-- +goose Down
CREATE TABLE postings_names (
    tx_id   BIGINT NOT NULL,
    seq     BIGINT NOT NULL,
    account VARCHAR(128) NOT NULL,
    asset   VARCHAR(8) NOT NULL,
    amount  BIGINT NOT NULL,
    PRIMARY KEY (tx_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO postings_names (tx_id, seq, account, asset, amount)
    SELECT p.tx_id, p.seq, a.name, p.asset, p.amount FROM postings p JOIN accounts a ON a.id = p.account_id ORDER BY p.tx_id, p.seq;
CREATE INDEX postings_by_account ON postings_names(account, tx_id);
DROP TABLE postings;
RENAME TABLE postings_names TO postings;
ALTER TABLE accounts DROP COLUMN id, DROP INDEX accounts_by_name, ADD PRIMARY KEY (name);
