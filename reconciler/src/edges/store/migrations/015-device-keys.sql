-- 015: device keys (issue 12). A device proves itself with an Ed25519 key made by its agent at
-- enrollment: the store keeps the public key (SPKI PEM), never a secret. `credential_hash` stays
-- only for devices enrolled before keys: such an agent sends its credential once more with its
-- new public key, and the credential is cleared in the same statement that stores the key.
ALTER TABLE devices ADD COLUMN public_key TEXT;
