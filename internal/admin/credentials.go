package admin

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gatehouse/internal/domain"
	"gatehouse/internal/secrets"
	"gatehouse/internal/store"
)

// Credentials other than API keys (issue 4, Appendix A): jwt_binding,
// hmac, mtls and basic, created for a consumer, read, listed and revoked
// with a reason like keys. Tenant-admins manage their tenant's consumers'
// credentials. What identifies a caller (hmac key_id, basic username,
// jwt_binding issuer+claim+value, mtls fingerprint or subject) is unique
// among live credentials: a conflict names the credential holding it when
// the admin may see it.
//
// Secrets: an hmac credential without a public key gets 32 random bytes,
// sealed under the master key (Config.Secrets) and returned once, base64,
// as "secret"; a basic password is stored as an argon2id hash only. Neither
// is ever returned again, logged or audited.

// credentialRequest creates a credential; which fields apply depends on
// type (Appendix A).
type credentialRequest struct {
	// Consumer is an id, a name, or tenant-slug/name.
	Consumer string `json:"consumer"`
	// Type is jwt_binding, hmac, mtls or basic.
	Type string `json:"type"`
	// jwt_binding: the issuer (id or name) and either subject (the "sub"
	// claim's value) or claim (default "sub") and value.
	Issuer string `json:"issuer,omitempty"`
	// Subject: jwt_binding, the token's sub; mtls, the certificate's
	// subject (bound by subject when no fingerprint is given).
	Subject string `json:"subject,omitempty"`
	Claim   string `json:"claim,omitempty"`
	Value   string `json:"value,omitempty"`
	// hmac: the RFC 9421 keyid, algorithm (default from the key, or
	// hmac-sha256) and an optional public key (PEM or JWK); without one
	// the gateway generates the shared secret.
	KeyID     string `json:"key_id,omitempty"`
	Algorithm string `json:"algorithm,omitempty"`
	PublicKey string `json:"public_key,omitempty"`
	// basic: the username and password (stored as an argon2id hash).
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// mtls: the certificate's SHA-256 fingerprint (hex, colons allowed).
	FingerprintSHA256 string `json:"fingerprint_sha256,omitempty"`
	// Scopes within the consumer's (absent: all of them; []: none).
	Scopes    *[]string `json:"scopes,omitempty"`
	IPAllow   []string  `json:"ip_allow,omitempty"`
	ExpiresAt string    `json:"expires_at,omitempty"`
	ExpiresIn string    `json:"expires_in,omitempty"`
}

// Credential statuses shown by the admin API (derived, not stored).
const (
	credentialActive  = "active"
	credentialExpired = "expired"
	credentialRevoked = "revoked"
)

// credentialView is a credential as the API shows it: never its secret or
// password hash (domain.Credential does not serialise them).
type credentialView struct {
	domain.Credential
	// Status is derived at read time: active, expired or revoked.
	Status string `json:"status"`
	// HasSecret tells an hmac credential with a (sealed) shared secret.
	HasSecret bool `json:"has_secret,omitempty"`
}

// credentialCreated is the one answer that may carry a generated secret.
type credentialCreated struct {
	credentialView
	// Secret is a generated HMAC secret, base64, shown only in this answer.
	Secret string `json:"secret,omitempty"`
}

func viewCredential(c domain.Credential, now time.Time) credentialView {
	s := credentialActive
	switch {
	case c.RevokedAt != nil:
		s = credentialRevoked
	case c.ExpiresAt != nil && !now.Before(*c.ExpiresAt):
		s = credentialExpired
	}
	return credentialView{Credential: c, Status: s, HasSecret: c.Secret != ""}
}

// credentialUsable reports whether c could still authenticate at now.
func credentialUsable(c domain.Credential, now time.Time) bool {
	return c.RevokedAt == nil && (c.ExpiresAt == nil || now.Before(*c.ExpiresAt))
}

var (
	credentialTypes = []string{domain.CredentialJWTBinding, domain.CredentialHMAC, domain.CredentialMTLS, domain.CredentialBasic}
	// keyIDRE: an RFC 8941 sf-string's characters minus space, so the key
	// id survives Signature-Input unescaped.
	keyIDRE       = regexp.MustCompile(`^[!#-\[\]-~]{1,128}$`)
	fingerprintRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

const (
	hmacSecretBytes   = 32
	minPasswordLength = 8
	maxPasswordLength = 1024
	maxUsernameLength = 128
	maxValueLength    = 1024
)

// typeFields lists the type-specific request fields each type takes.
var typeFields = map[string][]string{
	domain.CredentialJWTBinding: {"issuer", "subject", "claim", "value"},
	domain.CredentialHMAC:       {"key_id", "algorithm", "public_key"},
	domain.CredentialMTLS:       {"fingerprint_sha256", "subject"},
	domain.CredentialBasic:      {"username", "password"},
}

// present lists the type-specific fields a request sets.
func (r credentialRequest) present() map[string]bool {
	return map[string]bool{"issuer": r.Issuer != "", "subject": r.Subject != "", "claim": r.Claim != "", "value": r.Value != "",
		"key_id": r.KeyID != "", "algorithm": r.Algorithm != "", "public_key": r.PublicKey != "",
		"username": r.Username != "", "password": r.Password != "", "fingerprint_sha256": r.FingerprintSHA256 != ""}
}

// textField validates free text that identifies something (a claim value,
// a certificate subject): non-empty, bounded, no control characters.
func textField(field, v string, limit int) error {
	if len(v) > limit || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return invalid("%s must be at most %d characters of valid UTF-8 without control characters", field, limit)
	}
	return nil
}

// buildCredential validates the type-specific fields into c (consumer,
// issuer id, scopes and times are set by the caller). It returns the
// generated HMAC secret (raw) when one is needed.
func buildCredential(req credentialRequest) (domain.Credential, []byte, error) {
	c := domain.Credential{Type: req.Type}
	if req.Type == "" {
		return c, nil, invalid("type is required: one of %s (API keys are created with POST %s/keys)", strings.Join(credentialTypes, ", "), basePath)
	}
	if err := oneOf("type", req.Type, credentialTypes...); err != nil {
		return c, nil, err
	}
	allowed := typeFields[req.Type]
	for _, t := range credentialTypes {
		for _, f := range typeFields[t] {
			if req.present()[f] && !slices.Contains(allowed, f) {
				return c, nil, invalid("%s is a field of %s credentials; a %s credential takes %s", f, t, req.Type, strings.Join(allowed, ", "))
			}
		}
	}
	switch req.Type {
	case domain.CredentialJWTBinding:
		if req.Issuer == "" {
			return c, nil, invalid("issuer is required for a jwt_binding: the trusted issuer's id or name (gatehouse issuer list)")
		}
		c.Claim, c.Value = req.Claim, req.Value
		if req.Subject != "" {
			if (c.Claim != "" && c.Claim != "sub") || c.Value != "" {
				return c, nil, invalid("give subject (the token's sub), or claim and value; not both")
			}
			c.Claim, c.Value = "sub", req.Subject
		}
		if c.Claim == "" {
			c.Claim = "sub"
		}
		if c.Value == "" {
			return c, nil, invalid("value is required: the %s claim's value that identifies this consumer (or give subject for sub)", c.Claim)
		}
		if !claimRE.MatchString(c.Claim) {
			return c, nil, invalid("claim %q must be a claim name: 1-256 printable characters without spaces, e.g. \"client_id\"", c.Claim)
		}
		if err := textField("value", c.Value, maxValueLength); err != nil {
			return c, nil, err
		}
	case domain.CredentialHMAC:
		if !keyIDRE.MatchString(req.KeyID) {
			return c, nil, invalid("key_id is required: 1-128 printable ASCII characters without spaces, quotes or backslashes (the keyid of Signature-Input)")
		}
		c.KeyID = req.KeyID
		kind := ""
		if req.PublicKey != "" {
			k, err := publicKeyKind(req.PublicKey)
			if err != nil {
				return c, nil, err
			}
			kind, c.PublicKey = k, strings.TrimSpace(req.PublicKey)
		}
		alg, err := sigAlgorithm(kind, req.Algorithm)
		if err != nil {
			return c, nil, err
		}
		c.Algorithm = alg
		if kind == "" {
			secret := make([]byte, hmacSecretBytes)
			if _, err := rand.Read(secret); err != nil {
				return c, nil, internal(err, "could not generate a secret")
			}
			return c, secret, nil
		}
	case domain.CredentialMTLS:
		if req.FingerprintSHA256 == "" && req.Subject == "" {
			return c, nil, invalid("an mtls credential needs fingerprint_sha256 (the certificate's SHA-256, e.g. openssl x509 -noout -fingerprint -sha256) or subject")
		}
		if req.FingerprintSHA256 != "" {
			fp := strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(req.FingerprintSHA256))
			if !fingerprintRE.MatchString(fp) {
				return c, nil, invalid("fingerprint_sha256 must be 64 hex digits (colons allowed): the SHA-256 of the certificate's DER bytes")
			}
			c.FingerprintSHA256 = fp
		}
		if err := textField("subject", req.Subject, maxValueLength); err != nil {
			return c, nil, err
		}
		c.Subject = req.Subject
	case domain.CredentialBasic:
		u := req.Username
		switch {
		case u == "":
			return c, nil, invalid("username is required for a basic credential")
		case len(u) > maxUsernameLength || strings.TrimSpace(u) != u || strings.Contains(u, ":") || textField("username", u, maxUsernameLength) != nil:
			return c, nil, invalid("username must be 1-%d characters without ':', control characters or surrounding spaces (Basic splits user:password at the first colon)", maxUsernameLength)
		}
		switch n := len(req.Password); {
		case n == 0:
			return c, nil, invalid("password is required for a basic credential (stored as an argon2id hash, never shown again)")
		case n < minPasswordLength || n > maxPasswordLength:
			return c, nil, invalid("password has %d bytes; use %d to %d", n, minPasswordLength, maxPasswordLength)
		}
		c.Username = u
	}
	return c, nil, nil
}

// credentialTaken is the 409 for an identifying value another live
// credential holds. It names that credential only when the admin may see
// it (same tenant, or an unbound admin).
func (rc *reqCtx) credentialTaken(tx store.Tx, c domain.Credential) error {
	other, err := tx.ConflictingCredential(rc.ctx, c)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	what := map[string]string{
		domain.CredentialHMAC:       fmt.Sprintf("key_id %q", c.KeyID),
		domain.CredentialBasic:      fmt.Sprintf("username %q", c.Username),
		domain.CredentialJWTBinding: fmt.Sprintf("claim %s = %q of this issuer", c.Claim, c.Value),
		domain.CredentialMTLS:       fmt.Sprintf("subject %q", c.Subject),
	}[c.Type]
	if c.Type == domain.CredentialMTLS && c.FingerprintSHA256 != "" {
		what = "certificate fingerprint " + c.FingerprintSHA256
	}
	owner, err := tx.GetConsumer(rc.ctx, other.ConsumerID)
	if err != nil {
		return err
	}
	if s := rc.scope(); s != "" && s != owner.TenantID {
		return conflict("%s is already bound to a live credential of another tenant; pick another", what)
	}
	e := conflict("%s is already bound to live credential %s of consumer %s; revoke it first (gatehouse credential revoke %s --reason …) or pick another",
		what, other.ID, owner.Name, other.ID)
	e.Extra = map[string]any{"existing": other.ID}
	return e
}

// loadCredential reads a credential and its consumer inside tx and checks
// the admin may reach the consumer's tenant.
func (rc *reqCtx) loadCredential(tx store.Tx, id string) (domain.Credential, domain.Consumer, error) {
	c, err := tx.GetCredential(rc.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return c, domain.Consumer{}, notFound("credential %q not found; list them with gatehouse credential list", id)
	}
	if err != nil {
		return c, domain.Consumer{}, err
	}
	owner, err := tx.GetConsumer(rc.ctx, c.ConsumerID)
	if err != nil {
		return c, owner, fmt.Errorf("consumer %s of credential %s: %w", c.ConsumerID, c.ID, err)
	}
	return c, owner, rc.reach("credential", c.ID, c.ID, owner.TenantID)
}

func (a *API) createCredential(rc *reqCtx) (any, error) {
	var req credentialRequest
	if err := rc.decode(&req, false); err != nil {
		return nil, err
	}
	cred, secret, err := buildCredential(req)
	if err != nil {
		return nil, err
	}
	exp, err := parseExpiry(req.ExpiresAt, req.ExpiresIn, rc.now)
	if err != nil {
		return nil, err
	}
	ips, err := checkIPAllow("ip_allow", req.IPAllow)
	if err != nil {
		return nil, err
	}
	cid, err := rc.consumerID("consumer", req.Consumer)
	if err != nil {
		return nil, err
	}
	// The slow or keyed work happens before the write transaction.
	if secret != nil {
		if cred.Secret, err = rc.seal("the hmac secret", string(secret)); err != nil {
			return nil, err
		}
	}
	if cred.Type == domain.CredentialBasic {
		if cred.PasswordHash, err = secrets.HashPassword([]byte(req.Password)); err != nil {
			return nil, internal(err, "could not hash the password")
		}
	}
	if cred.ID, err = newID(prefixCredential); err != nil {
		return nil, internal(err, "could not generate an id")
	}
	cred.IPAllow, cred.ExpiresAt, cred.CreatedAt = ips, exp, rc.now
	var out credentialCreated
	err = rc.commit(func(tx store.Tx) (change, error) {
		c, err := rc.keyOwner(tx, cid)
		if err != nil {
			return change{}, err
		}
		cred.ConsumerID = c.ID
		if cred.Scopes, err = grantedScopes(req.Scopes, c); err != nil {
			return change{}, err
		}
		if cred.Type == domain.CredentialJWTBinding {
			iss, err := rc.loadIssuer(tx, req.Issuer)
			if err != nil {
				return change{}, err
			}
			cred.IssuerID = iss.ID
		}
		if err := rc.credentialTaken(tx, cred); err != nil {
			return change{}, err
		}
		if err := tx.PutCredential(rc.ctx, cred); err != nil {
			return change{}, phrasedConflict(err)
		}
		out = credentialCreated{credentialView: viewCredential(cred, rc.now)}
		return change{Resource: "credential", ResourceID: cred.ID, TenantID: c.TenantID, After: out.credentialView}, nil
	})
	if err != nil {
		return nil, err
	}
	if secret != nil {
		out.Secret = base64.StdEncoding.EncodeToString(secret)
	}
	return out, nil
}

func (a *API) getCredential(rc *reqCtx) (any, error) {
	var c domain.Credential
	err := rc.view(func(tx store.Tx) (err error) {
		c, _, err = rc.loadCredential(tx, rc.r.PathValue("id"))
		return err
	})
	if err != nil {
		return nil, err
	}
	return viewCredential(c, rc.now), nil
}

func (a *API) listCredentials(rc *reqCtx) (any, error) {
	p, err := rc.page()
	if err != nil {
		return nil, err
	}
	f := store.ListFilter{Page: p, TenantID: rc.scope(), Type: rc.query("type")}
	if f.Type != "" {
		if err := oneOf("type", f.Type, credentialTypes...); err != nil {
			return nil, err
		}
	}
	if f.ConsumerID, err = rc.consumerFilter(); err != nil {
		return nil, err
	}
	if ref := rc.query("issuer"); ref != "" {
		if err := rc.view(func(tx store.Tx) error { i, err := rc.loadIssuer(tx, ref); f.IssuerID = i.ID; return err }); err != nil {
			return nil, err
		}
	}
	if f.TenantID, err = rc.tenantFilter(); err != nil {
		return nil, err
	}
	items, next, err := a.cfg.Store.ListCredentials(rc.ctx, f)
	if err != nil {
		return nil, storeError(err)
	}
	out := make([]credentialView, len(items))
	for n, c := range items {
		out[n] = viewCredential(c, rc.now)
	}
	return list(out, next), nil
}

func (a *API) revokeCredential(rc *reqCtx) (any, error) {
	var req revokeRequest
	if err := rc.decode(&req, true); err != nil {
		return nil, err
	}
	reason, err := revokeReason(req, "the credential", "its holder")
	if err != nil {
		return nil, err
	}
	var out credentialView
	err = rc.commit(func(tx store.Tx) (change, error) {
		c, owner, err := rc.loadCredential(tx, rc.r.PathValue("id"))
		if err != nil {
			return change{}, err
		}
		if c.RevokedAt != nil {
			return change{}, conflict("credential %s was already revoked at %s (%s)", c.ID, c.RevokedAt.Format(time.RFC3339), c.RevokedReason)
		}
		before := c
		at := rc.now
		c.RevokedAt, c.RevokedReason = &at, reason
		if err := tx.PutCredential(rc.ctx, c); err != nil {
			return change{}, err
		}
		out = viewCredential(c, rc.now)
		return change{Resource: "credential", ResourceID: c.ID, TenantID: owner.TenantID, Before: viewCredential(before, rc.now), After: out}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
