-- Trusted JWT issuers and the credentials besides API keys (issue 4):
-- jwt_binding, hmac (RFC 9421), mtls and basic. Same portability rules as
-- 00001. Recoverable secrets (hs256_secret, introspection_client_secret,
-- credentials.secret) hold values sealed under the master key
-- (internal/secrets), never plaintext; password_hash is argon2id.

-- +goose Up
CREATE TABLE issuers (
    id                          TEXT PRIMARY KEY,
    name                        TEXT NOT NULL,
    issuer                      TEXT NOT NULL,
    jwks_url                    TEXT NOT NULL DEFAULT '',
    discovery_url               TEXT NOT NULL DEFAULT '',
    introspection_url           TEXT NOT NULL DEFAULT '',
    introspection_client_id     TEXT NOT NULL DEFAULT '',
    introspection_client_secret TEXT NOT NULL DEFAULT '',
    audiences                   TEXT NOT NULL,
    algorithms                  TEXT NOT NULL,
    leeway_ns                   BIGINT NOT NULL DEFAULT 0,
    required_claims             TEXT NOT NULL,
    typ                         TEXT NOT NULL DEFAULT '',
    hs256_secret                TEXT NOT NULL DEFAULT '',
    declared                    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at                  BIGINT NOT NULL,
    updated_at                  BIGINT NOT NULL
);
CREATE UNIQUE INDEX issuers_name ON issuers (name);
-- A token's "iss" must lead to exactly one issuer.
CREATE UNIQUE INDEX issuers_issuer ON issuers (issuer);

-- issuer_id has no foreign key: a revoked binding keeps naming the issuer
-- it was for after that issuer is deleted (live bindings prevent it).
CREATE TABLE credentials (
    id                 TEXT PRIMARY KEY,
    consumer_id        TEXT NOT NULL REFERENCES consumers (id),
    cred_type          TEXT NOT NULL,
    issuer_id          TEXT NOT NULL DEFAULT '',
    claim              TEXT NOT NULL DEFAULT '',
    claim_value        TEXT NOT NULL DEFAULT '',
    key_id             TEXT NOT NULL DEFAULT '',
    algorithm          TEXT NOT NULL DEFAULT '',
    public_key         TEXT NOT NULL DEFAULT '',
    secret             TEXT NOT NULL DEFAULT '',
    fingerprint_sha256 TEXT NOT NULL DEFAULT '',
    subject            TEXT NOT NULL DEFAULT '',
    username           TEXT NOT NULL DEFAULT '',
    password_hash      TEXT NOT NULL DEFAULT '',
    scopes             TEXT NOT NULL,
    ip_allow           TEXT NOT NULL,
    expires_at         BIGINT,
    revoked_at         BIGINT,
    revoked_reason     TEXT NOT NULL DEFAULT '',
    created_at         BIGINT NOT NULL,
    last_used_at       BIGINT
);
CREATE INDEX credentials_consumer ON credentials (consumer_id, id);
CREATE INDEX credentials_issuer ON credentials (issuer_id, id);
-- What identifies a caller is unique among live (unrevoked) credentials;
-- a revoked one frees it.
CREATE UNIQUE INDEX credentials_hmac_key ON credentials (key_id) WHERE cred_type = 'hmac' AND revoked_at IS NULL;
CREATE UNIQUE INDEX credentials_basic_user ON credentials (username) WHERE cred_type = 'basic' AND revoked_at IS NULL;
CREATE UNIQUE INDEX credentials_jwt_binding ON credentials (issuer_id, claim, claim_value) WHERE cred_type = 'jwt_binding' AND revoked_at IS NULL;
CREATE UNIQUE INDEX credentials_mtls_fingerprint ON credentials (fingerprint_sha256) WHERE cred_type = 'mtls' AND fingerprint_sha256 <> '' AND revoked_at IS NULL;
CREATE UNIQUE INDEX credentials_mtls_subject ON credentials (subject) WHERE cred_type = 'mtls' AND fingerprint_sha256 = '' AND revoked_at IS NULL;

-- +goose Down
DROP TABLE credentials;
DROP TABLE issuers;
