-- A counter every administrative change increments in its own transaction.
-- Gateway instances poll it to drop cached merchants and credentials: unlike
-- the highest audit event id, it cannot miss a change whose transaction
-- commits after a later-numbered one.
-- +goose Up
CREATE TABLE admin_epoch (
    id    INTEGER NOT NULL PRIMARY KEY,
    epoch BIGINT NOT NULL
);
INSERT INTO admin_epoch (id, epoch) VALUES (1, 0);
-- +goose Down
DROP TABLE admin_epoch;
