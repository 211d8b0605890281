-- HMAC credential secrets are stored sealed: key_sealed holds
-- base64(SM4-GCM(secret)) under the personal-data keyring, bound to its row
-- (store.credentialAD), and key_material is then empty. key_material keeps
-- the public keys of ed25519 and sm2 credentials, which are not secret.
-- An hmac-sha256 row with key_sealed NULL and key_material not empty is a
-- plaintext secret written before this migration (or without a keyring):
-- serve seals such rows at start and `lianmeng reencrypt` seals and counts
-- them. Down drops the sealed secrets: those credentials stop working.
-- +goose Up
ALTER TABLE api_keys ADD COLUMN key_sealed TEXT;
-- +goose Down
ALTER TABLE api_keys DROP COLUMN key_sealed;
