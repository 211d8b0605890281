-- Reconciliation covers every line of a channel's bill (issue 13): payments
-- (funding orders), refunds (funding refund parts) and payouts. line_type
-- says which; rows from before are payments. New kinds beside
-- missing_in_ledger, missing_at_channel, amount_mismatch and duplicate:
-- reference_mismatch (another channel transaction id), status_mismatch
-- (the channel completed what the ledger failed, or another channel did),
-- pending_in_ledger (the channel completed what the ledger still waits to
-- hear about; replaced on every run of the day).
-- +goose Up
ALTER TABLE reconciliation_exceptions ADD COLUMN line_type VARCHAR(16) NOT NULL DEFAULT 'payment';
-- +goose Down
ALTER TABLE reconciliation_exceptions DROP COLUMN line_type;
