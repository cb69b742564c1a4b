package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

const issuerCols = `id, name, issuer, jwks_url, discovery_url, introspection_url, introspection_client_id,
	introspection_client_secret, audiences, algorithms, leeway_ns, required_claims, typ, hs256_secret, declared,
	created_at, updated_at`

func scanIssuer(r rowScanner) (domain.Issuer, error) {
	var (
		i                        domain.Issuer
		auds, algs, claims       string
		leeway, created, updated int64
	)
	if err := r.Scan(&i.ID, &i.Name, &i.Issuer, &i.JWKSURL, &i.DiscoveryURL, &i.IntrospectionURL, &i.IntrospectionClientID,
		&i.IntrospectionClientSecret, &auds, &algs, &leeway, &claims, &i.Typ, &i.HS256Secret, &i.Declared,
		&created, &updated); err != nil {
		return i, err
	}
	if err := decAll(auds, &i.Audiences, algs, &i.Algorithms, claims, &i.RequiredClaims); err != nil {
		return i, fmt.Errorf("issuer %q: %w", i.ID, err)
	}
	i.Leeway, i.CreatedAt, i.UpdatedAt = domain.Duration(leeway), fromTm(created), fromTm(updated)
	return i, nil
}

func putIssuer(ctx context.Context, q querier, i domain.Issuer) error {
	auds, algs, claims, err := enc3(i.Audiences, i.Algorithms, i.RequiredClaims)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `INSERT INTO issuers (`+issuerCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, issuer = excluded.issuer, jwks_url = excluded.jwks_url,
		discovery_url = excluded.discovery_url, introspection_url = excluded.introspection_url,
		introspection_client_id = excluded.introspection_client_id,
		introspection_client_secret = excluded.introspection_client_secret, audiences = excluded.audiences,
		algorithms = excluded.algorithms, leeway_ns = excluded.leeway_ns, required_claims = excluded.required_claims,
		typ = excluded.typ, hs256_secret = excluded.hs256_secret, declared = excluded.declared,
		created_at = excluded.created_at, updated_at = excluded.updated_at`,
		i.ID, i.Name, i.Issuer, i.JWKSURL, i.DiscoveryURL, i.IntrospectionURL, i.IntrospectionClientID,
		i.IntrospectionClientSecret, auds, algs, int64(i.Leeway), claims, i.Typ, i.HS256Secret, i.Declared,
		tm(i.CreatedAt), tm(i.UpdatedAt))
	if isUnique(err) {
		if strings.Contains(err.Error(), "issuers.issuer") {
			return conflict("issuer %q (the iss value) is taken by another issuer", i.Issuer)
		}
		return conflict("issuer name %q is taken", i.Name)
	}
	if err != nil {
		return fmt.Errorf("sqlite: put issuer %q: %w", i.ID, err)
	}
	return nil
}

const credentialCols = `id, consumer_id, cred_type, issuer_id, claim, claim_value, key_id, algorithm, public_key, secret,
	fingerprint_sha256, subject, username, password_hash, scopes, ip_allow, expires_at, revoked_at, revoked_reason,
	created_at, last_used_at`

func scanCredential(r rowScanner) (domain.Credential, error) {
	var (
		c                          domain.Credential
		scopes, ipAllow            string
		expires, revoked, lastUsed sql.NullInt64
		created                    int64
	)
	if err := r.Scan(&c.ID, &c.ConsumerID, &c.Type, &c.IssuerID, &c.Claim, &c.Value, &c.KeyID, &c.Algorithm, &c.PublicKey,
		&c.Secret, &c.FingerprintSHA256, &c.Subject, &c.Username, &c.PasswordHash, &scopes, &ipAllow, &expires, &revoked,
		&c.RevokedReason, &created, &lastUsed); err != nil {
		return c, err
	}
	if err := decAll(scopes, &c.Scopes, ipAllow, &c.IPAllow); err != nil {
		return c, fmt.Errorf("credential %q: %w", c.ID, err)
	}
	c.ExpiresAt, c.RevokedAt, c.CreatedAt, c.LastUsedAt = fromTmOpt(expires), fromTmOpt(revoked), fromTm(created), fromTmOpt(lastUsed)
	return c, nil
}

func putCredential(ctx context.Context, q querier, c domain.Credential) error {
	scopes, ipAllow, _, err := enc3(c.Scopes, c.IPAllow, nil)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `INSERT INTO credentials (`+credentialCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET consumer_id = excluded.consumer_id, cred_type = excluded.cred_type,
		issuer_id = excluded.issuer_id, claim = excluded.claim, claim_value = excluded.claim_value, key_id = excluded.key_id,
		algorithm = excluded.algorithm, public_key = excluded.public_key, secret = excluded.secret,
		fingerprint_sha256 = excluded.fingerprint_sha256, subject = excluded.subject, username = excluded.username,
		password_hash = excluded.password_hash, scopes = excluded.scopes, ip_allow = excluded.ip_allow,
		expires_at = excluded.expires_at, revoked_at = excluded.revoked_at, revoked_reason = excluded.revoked_reason,
		created_at = excluded.created_at, last_used_at = excluded.last_used_at`,
		c.ID, c.ConsumerID, c.Type, c.IssuerID, c.Claim, c.Value, c.KeyID, c.Algorithm, c.PublicKey, c.Secret,
		c.FingerprintSHA256, c.Subject, c.Username, c.PasswordHash, scopes, ipAllow, tmOpt(c.ExpiresAt), tmOpt(c.RevokedAt),
		c.RevokedReason, tm(c.CreatedAt), tmOpt(c.LastUsedAt))
	if isUnique(err) {
		return conflict("%s", identityTaken(c))
	}
	if err != nil {
		return fmt.Errorf("sqlite: put credential %q: %w", c.ID, err)
	}
	return nil
}

// identityTaken names what makes c collide with a live credential. Never
// a secret: the identifying fields are public by nature.
func identityTaken(c domain.Credential) string {
	switch c.Type {
	case domain.CredentialHMAC:
		return fmt.Sprintf("hmac key_id %q is taken by another live credential", c.KeyID)
	case domain.CredentialBasic:
		return fmt.Sprintf("basic username %q is taken by another live credential", c.Username)
	case domain.CredentialJWTBinding:
		return fmt.Sprintf("jwt binding of issuer %q claim %q value %q is taken by another live credential", c.IssuerID, c.Claim, c.Value)
	case domain.CredentialMTLS:
		if c.FingerprintSHA256 != "" {
			return fmt.Sprintf("mtls fingerprint_sha256 %q is taken by another live credential", c.FingerprintSHA256)
		}
		return fmt.Sprintf("mtls subject %q is taken by another live credential", c.Subject)
	}
	return fmt.Sprintf("credential %q conflicts with another", c.ID)
}

// GetIssuer finds an issuer by id or, failing that, by name.
func (t *tx) GetIssuer(ctx context.Context, idOrName string) (domain.Issuer, error) {
	return getOne(ctx, t.q, scanIssuer, func() error { return notFound("issuer %q not found", idOrName) },
		`SELECT `+issuerCols+` FROM issuers WHERE id = ? OR name = ?
		 ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END LIMIT 1`, idOrName, idOrName, idOrName)
}

// PutIssuer inserts or replaces an issuer.
func (t *tx) PutIssuer(ctx context.Context, i domain.Issuer) error {
	if t.readOnly {
		return readOnly("put issuer")
	}
	if err := requireID("issuer", i.ID); err != nil {
		return err
	}
	return putIssuer(ctx, t.q, i)
}

// DeleteIssuer removes an issuer that no live jwt_binding uses; revoked
// bindings keep its id.
func (t *tx) DeleteIssuer(ctx context.Context, id string) error {
	if t.readOnly {
		return readOnly("delete issuer")
	}
	var live int
	if err := t.q.QueryRowContext(ctx, `SELECT COUNT(*) FROM credentials
		WHERE issuer_id = ? AND cred_type = 'jwt_binding' AND revoked_at IS NULL`, id).Scan(&live); err != nil {
		return fmt.Errorf("sqlite: delete issuer %q: %w", id, err)
	}
	if live > 0 {
		return conflict("issuer %q still has %d live jwt binding(s): revoke them first", id, live)
	}
	return deleteByID(ctx, t.q, "issuers", "issuer", id)
}

// GetCredential finds a credential by id.
func (t *tx) GetCredential(ctx context.Context, id string) (domain.Credential, error) {
	return getOne(ctx, t.q, scanCredential, func() error { return notFound("credential %q not found", id) },
		`SELECT `+credentialCols+` FROM credentials WHERE id = ?`, id)
}

// PutCredential inserts or replaces a credential; its consumer, and a
// jwt_binding's issuer, must exist.
func (t *tx) PutCredential(ctx context.Context, c domain.Credential) error {
	if t.readOnly {
		return readOnly("put credential")
	}
	if err := requireID("credential", c.ID); err != nil {
		return err
	}
	if err := requireParent(ctx, t.q, "consumers", "consumer", c.ConsumerID); err != nil {
		return err
	}
	if c.Type == domain.CredentialJWTBinding && c.RevokedAt == nil {
		if err := requireParent(ctx, t.q, "issuers", "issuer", c.IssuerID); err != nil {
			return err
		}
	}
	return putCredential(ctx, t.q, c)
}

// ConflictingCredential finds the live credential other than c that holds
// c's identifying value, with the same predicate as the unique index.
func (t *tx) ConflictingCredential(ctx context.Context, c domain.Credential) (domain.Credential, error) {
	var where string
	var args []any
	switch c.Type {
	case domain.CredentialHMAC:
		where, args = `key_id = ?`, []any{c.KeyID}
	case domain.CredentialBasic:
		where, args = `username = ?`, []any{c.Username}
	case domain.CredentialJWTBinding:
		where, args = `issuer_id = ? AND claim = ? AND claim_value = ?`, []any{c.IssuerID, c.Claim, c.Value}
	case domain.CredentialMTLS:
		if c.FingerprintSHA256 != "" {
			where, args = `fingerprint_sha256 = ?`, []any{c.FingerprintSHA256}
		} else {
			where, args = `fingerprint_sha256 = '' AND subject = ?`, []any{c.Subject}
		}
	default:
		return domain.Credential{}, notFound("credential type %q has no identifying value", c.Type)
	}
	return getOne(ctx, t.q, scanCredential, func() error { return notFound("no live credential conflicts with %q", c.ID) },
		`SELECT `+credentialCols+` FROM credentials WHERE cred_type = ? AND revoked_at IS NULL AND id <> ? AND `+where+` LIMIT 1`,
		append([]any{c.Type, c.ID}, args...)...)
}

// ListIssuers lists issuers in id order.
func (s *Store) ListIssuers(ctx context.Context, f store.ListFilter) ([]domain.Issuer, string, error) {
	var w filter
	w.eq("name", f.Name)
	return listByID(ctx, s.r, issuerCols, "issuers", w.where, w.args, f.Page, scanIssuer,
		func(i domain.Issuer) string { return i.ID })
}

// ListCredentials lists credentials in id order, filtered by consumer,
// type, issuer and the consumer's tenant.
func (s *Store) ListCredentials(ctx context.Context, f store.ListFilter) ([]domain.Credential, string, error) {
	var w filter
	w.eq("consumer_id", f.ConsumerID)
	w.eq("cred_type", f.Type)
	w.eq("issuer_id", f.IssuerID)
	if f.TenantID != "" {
		w.where = append(w.where, "consumer_id IN (SELECT id FROM consumers WHERE tenant_id = ?)")
		w.args = append(w.args, f.TenantID)
	}
	return listByID(ctx, s.r, credentialCols, "credentials", w.where, w.args, f.Page, scanCredential,
		func(c domain.Credential) string { return c.ID })
}

// TouchCredentials records credentials' last-used times (see TouchKeys).
func (s *Store) TouchCredentials(ctx context.Context, lastUsed map[string]time.Time) error {
	return s.touch(ctx, "credentials", "credential", lastUsed)
}

// loadCredentials reads issuers and credentials for Load.
func loadCredentials(ctx context.Context, q querier, d *store.Data) error {
	var err error
	if d.Issuers, err = queryAll(ctx, q, scanIssuer, `SELECT `+issuerCols+` FROM issuers ORDER BY id`); err != nil {
		return fmt.Errorf("sqlite: load issuers: %w", err)
	}
	if d.Credentials, err = queryAll(ctx, q, scanCredential, `SELECT `+credentialCols+` FROM credentials ORDER BY id`); err != nil {
		return fmt.Errorf("sqlite: load credentials: %w", err)
	}
	return nil
}
