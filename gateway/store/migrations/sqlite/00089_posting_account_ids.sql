-- Postings name their account by a short integer id instead of repeating
-- its name (issue 18): a name such as "member:mbr_01a231b22dde5f3148ce:pending"
-- is about 40 bytes, stored in every posting row and again in every
-- postings_by_account entry; an id is a varint of a few bytes. accounts
-- gets a stable id as its INTEGER PRIMARY KEY (an alias of the rowid that
-- VACUUM keeps, unlike an implicit rowid) and keeps its name unique.
-- Every posting's account gets a row first: a batch whose postings on an
-- unguarded account netted to zero wrote no balance row before this
-- migration (the writer now creates every account a posting names). The
-- kind is derived from the name as in 00031; ids are given in name order.
-- Down puts the names back into postings and accounts back to its name key.
-- +goose Up
INSERT OR IGNORE INTO accounts (name, asset, kind, balance)
    SELECT p.account, MIN(p.asset), CASE
        WHEN p.account LIKE 'merchant:%:budget' THEN 'budget'
        WHEN p.account LIKE 'merchant:%:payable' THEN 'payable'
        WHEN p.account LIKE 'member:%:pending' THEN 'pending'
        WHEN p.account LIKE 'member:%:available' THEN 'available'
        WHEN p.account LIKE 'alliance:%' THEN 'alliance'
        WHEN p.account LIKE 'external:%' THEN 'external'
        ELSE '' END, 0
    FROM postings p WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.name = p.account)
    GROUP BY p.account;
CREATE TABLE accounts_ids (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    asset   TEXT NOT NULL,
    balance INTEGER NOT NULL,
    kind    TEXT NOT NULL DEFAULT ''
);
INSERT INTO accounts_ids (name, asset, balance, kind)
    SELECT name, asset, balance, kind FROM accounts ORDER BY name;
DROP TABLE accounts;
ALTER TABLE accounts_ids RENAME TO accounts;
CREATE TABLE postings_ids (
    tx_id      INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    account_id INTEGER NOT NULL,
    asset      TEXT NOT NULL,
    amount     INTEGER NOT NULL,
    PRIMARY KEY (tx_id, seq)
) WITHOUT ROWID;
INSERT INTO postings_ids (tx_id, seq, account_id, asset, amount)
    SELECT p.tx_id, p.seq, a.id, p.asset, p.amount FROM postings p JOIN accounts a ON a.name = p.account ORDER BY p.tx_id, p.seq;
DROP TABLE postings;
ALTER TABLE postings_ids RENAME TO postings;
CREATE INDEX postings_by_account ON postings(account_id, tx_id);
-- +goose Down
CREATE TABLE postings_names (
    tx_id   INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    account TEXT NOT NULL,
    asset   TEXT NOT NULL,
    amount  INTEGER NOT NULL,
    PRIMARY KEY (tx_id, seq)
) WITHOUT ROWID;
INSERT INTO postings_names (tx_id, seq, account, asset, amount)
    SELECT p.tx_id, p.seq, a.name, p.asset, p.amount FROM postings p JOIN accounts a ON a.id = p.account_id ORDER BY p.tx_id, p.seq;
DROP TABLE postings;
ALTER TABLE postings_names RENAME TO postings;
CREATE INDEX postings_by_account ON postings(account, tx_id);
CREATE TABLE accounts_names (
    name    TEXT PRIMARY KEY,
    asset   TEXT NOT NULL,
    balance INTEGER NOT NULL,
    kind    TEXT NOT NULL DEFAULT ''
);
INSERT INTO accounts_names (name, asset, balance, kind)
    SELECT name, asset, balance, kind FROM accounts ORDER BY name;
DROP TABLE accounts;
ALTER TABLE accounts_names RENAME TO accounts;
