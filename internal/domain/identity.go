package domain

import "time"

// IdentityJWT is a service's opt-in to the signed identity token (§8): the
// gateway adds X-Gatehouse-Identity, a short-lived JWT it signs, to every
// request it forwards to the service, so an upstream that cannot trust its
// network can still trust who is calling (the plain X-Gatehouse-* fields
// are only as good as the network between gateway and upstream).
type IdentityJWT struct {
	// Enabled turns the header on; false keeps the settings below while
	// sending no token.
	Enabled bool `json:"enabled"`
	// Audience is the token's "aud": what the upstream checks it was meant
	// for. The admin API stores the service's name when none is given, so
	// a stored value is never empty and a later rename does not move it.
	Audience string `json:"audience,omitempty"`
	// TTL is the token's lifetime (exp − iat), whole seconds; the admin
	// API stores the default, 60 s, when none is given.
	TTL Duration `json:"ttl,omitempty"`
}

// Identity key states.
const (
	// IdentityKeyCurrent signs new tokens; there is at most one.
	IdentityKeyCurrent = "current"
	// IdentityKeyNext is published in the JWKS ahead of use and becomes
	// current at the next rotation, so upstreams that cache the JWKS
	// already hold it when the first token it signs arrives.
	IdentityKeyNext = "next"
	// IdentityKeyPrevious no longer signs, and stays in the JWKS until
	// its PublishUntil so tokens it signed keep verifying.
	IdentityKeyPrevious = "previous"
)

// IdentityKeyEdDSA is the one algorithm identity keys use: Ed25519
// (RFC 8037), small keys and signatures, deterministic signing, and no
// parameter choices an upstream's verifier could get wrong.
const IdentityKeyEdDSA = "EdDSA"

// IdentityKey is one of the gateway's signing keys for identity tokens. It
// lives in the store so that every node of a cluster signs with the same
// key and serves the same JWKS.
type IdentityKey struct {
	// KID is the RFC 7638 JWK thumbprint (SHA-256, base64url) of the
	// public key: the "kid" of the tokens and of the JWKS entry.
	KID       string `json:"kid"`
	Algorithm string `json:"algorithm"`
	// PublicKey is the raw Ed25519 public key, base64url without padding
	// (the JWK "x").
	PublicKey string `json:"public_key"`
	// PrivateKey is the Ed25519 seed sealed under the master key
	// (secrets.Box). It never leaves the store's callers: not in JSON,
	// not in the audit log, not in logs.
	PrivateKey string `json:"-"`
	// State is IdentityKeyCurrent, IdentityKeyNext or IdentityKeyPrevious.
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	// RetiredAt is when a previous key stopped signing (nil otherwise).
	RetiredAt *time.Time `json:"retired_at,omitempty"`
	// PublishUntil is when a previous key leaves the JWKS (nil
	// otherwise): the rotation time plus the grace period.
	PublishUntil *time.Time `json:"publish_until,omitempty"`
}
