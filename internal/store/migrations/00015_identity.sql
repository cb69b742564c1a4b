-- The gateway-signed identity token (§8): a service's opt-in, and the
-- gateway's signing keys.
--
-- services.identity_jwt: {"enabled","audience","ttl"} as JSON in TEXT like
-- routes.cors (00013). NULL: the service gets the plain X-Gatehouse-*
-- fields only.
--
-- identity_keys: the Ed25519 keys that sign X-Gatehouse-Identity, kept here
-- so that every node of a cluster signs with the same key and serves the
-- same JWKS. kid is the RFC 7638 thumbprint of the public key; public_key
-- the raw public key (base64url); private_key the seed sealed under the
-- master key (internal/secrets), never plaintext. One key is 'current'
-- (the partial unique index makes a second one a conflict, so two nodes
-- starting at once cannot both create one); one is 'next', published
-- ahead of the rotation that makes it current; the others are
-- 'previous', retired at retired_at and published in the JWKS until
-- publish_until.
--
-- Same portability rules as 00001.

-- +goose Up
ALTER TABLE services ADD COLUMN identity_jwt TEXT;

CREATE TABLE identity_keys (
    kid           TEXT PRIMARY KEY,
    algorithm     TEXT NOT NULL,
    public_key    TEXT NOT NULL,
    private_key   TEXT NOT NULL,
    state         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    retired_at    BIGINT,
    publish_until BIGINT
);
CREATE UNIQUE INDEX identity_keys_current ON identity_keys (state) WHERE state = 'current';

-- +goose Down
DROP TABLE identity_keys;
ALTER TABLE services DROP COLUMN identity_jwt;
