package domain

import "time"

// Credential types (§2) besides API keys, which keep their own entity.
const (
	CredentialJWTBinding = "jwt_binding"
	CredentialHMAC       = "hmac"
	CredentialMTLS       = "mtls"
	CredentialBasic      = "basic"
)

// Issuer is a trusted JWT issuer (or RFC 7662 introspection endpoint) that
// jwt_binding credentials map to consumers (issue 4).
//
// Secret fields hold the value sealed by internal/secrets (the master key's
// AES-256-GCM box, "gs1:<key id>:…"), never the plaintext; they are never
// serialised. Open them with secrets.Box.Open when building the snapshot.
type Issuer struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Issuer is the exact "iss" value tokens carry; unique.
	Issuer       string `json:"issuer"`
	JWKSURL      string `json:"jwks_url,omitempty"`
	DiscoveryURL string `json:"discovery_url,omitempty"`
	// Introspection (RFC 7662) for opaque tokens: client-authenticated POST.
	IntrospectionURL      string `json:"introspection_url,omitempty"`
	IntrospectionClientID string `json:"introspection_client_id,omitempty"`
	// IntrospectionClientSecret is sealed; "" when none.
	IntrospectionClientSecret string `json:"-"`
	// Audiences a token must name one of (empty: "aud" is not checked).
	Audiences []string `json:"audiences"`
	// Algorithms allowed for this issuer's tokens (never "none").
	Algorithms []string `json:"algorithms"`
	// Leeway for exp/nbf/iat.
	Leeway Duration `json:"leeway"`
	// RequiredClaims must be present in every token.
	RequiredClaims []string `json:"required_claims,omitempty"`
	// Typ, when set, is the required JOSE "typ" header (e.g. "at+jwt").
	Typ string `json:"typ,omitempty"`
	// HS256Secret is sealed; "" when HS256 is not allowed. At least 32
	// bytes once opened.
	HS256Secret string    `json:"-"`
	Declared    bool      `json:"declared,omitempty"` // from gatehouse.yaml: read-only via API
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Credential is how a consumer proves itself other than with an API key:
// a jwt_binding (issuer + claim value → consumer), an hmac credential
// (RFC 9421 key id with a shared secret or a public key), an mtls binding
// (certificate fingerprint or subject) or basic (username + password hash).
// Only the fields of its type are set.
type Credential struct {
	ID         string `json:"id"`
	ConsumerID string `json:"consumer"`
	Type       string `json:"type"`
	// jwt_binding: tokens of IssuerID whose claim Claim (default "sub")
	// equals Value belong to the consumer.
	IssuerID string `json:"issuer,omitempty"`
	Claim    string `json:"claim,omitempty"`
	Value    string `json:"value,omitempty"`
	// hmac: the RFC 9421 keyid and algorithm (hmac-sha256, ed25519,
	// ecdsa-p256-sha256, ecdsa-p384-sha384, rsa-pss-sha512,
	// rsa-v1_5-sha256), with either PublicKey (PEM or JWK text) or Secret.
	KeyID     string `json:"key_id,omitempty"`
	Algorithm string `json:"algorithm,omitempty"`
	PublicKey string `json:"public_key,omitempty"`
	// Secret is the sealed shared secret (32 random bytes once opened);
	// never serialised.
	Secret string `json:"-"`
	// mtls: the certificate's SHA-256 fingerprint (lowercase hex, no
	// colons), or its subject when bound by subject only.
	FingerprintSHA256 string `json:"fingerprint_sha256,omitempty"`
	Subject           string `json:"subject,omitempty"`
	// basic: the username and an argon2id PHC string (secrets.HashPassword);
	// the hash is never serialised.
	Username     string `json:"username,omitempty"`
	PasswordHash string `json:"-"`
	// Scopes are within the consumer's grants.
	Scopes        []string   `json:"scopes"`
	IPAllow       []string   `json:"ip_allow,omitempty"`
	ExpiresAt     *time.Time `json:"expires_at"`
	RevokedAt     *time.Time `json:"revoked_at,omitempty"`
	RevokedReason string     `json:"revoked_reason,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	LastUsedAt    *time.Time `json:"last_used_at,omitempty"`
}
