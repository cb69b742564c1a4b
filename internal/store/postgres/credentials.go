package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

const issuerCols = `id, name, issuer, jwks_url, discovery_url, introspection_url, introspection_client_id,
	introspection_client_secret, audiences, algorithms, leeway_ns, required_claims, typ, hs256_secret, declared,
	created_at, updated_at`

var issuerUpsert = upsertSQL("issuers", issuerCols)

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

func putIssuer(ctx context.Context, t *tx, i domain.Issuer) error {
	auds, algs, claims, err := enc3(i.Audiences, i.Algorithms, i.RequiredClaims)
	if err != nil {
		return err
	}
	return t.put(ctx, "issuer", i.ID, func(c string) error {
		switch c {
		case "issuers_issuer":
			return conflict("issuer %q (the iss value) is taken by another issuer", i.Issuer)
		case "issuers_name":
			return conflict("issuer name %q is taken", i.Name)
		}
		return otherUnique("issuer", c)
	}, issuerUpsert, i.ID, i.Name, i.Issuer, i.JWKSURL, i.DiscoveryURL, i.IntrospectionURL, i.IntrospectionClientID,
		i.IntrospectionClientSecret, auds, algs, int64(i.Leeway), claims, i.Typ, i.HS256Secret, i.Declared,
		tm(i.CreatedAt), tm(i.UpdatedAt))
}

const credentialCols = `id, consumer_id, cred_type, issuer_id, claim, claim_value, key_id, algorithm, public_key, secret,
	fingerprint_sha256, subject, username, password_hash, scopes, ip_allow, expires_at, revoked_at, revoked_reason,
	created_at, last_used_at`

var credentialUpsert = upsertSQL("credentials", credentialCols)

func scanCredential(r rowScanner) (domain.Credential, error) { return scanCredentialWith(nil)(r) }

// scanCredentialWith scans a credential, sharing repeated strings through
// in (nil: plain copies); destinations are reused as in scanKeyWith.
func scanCredentialWith(in interner) func(rowScanner) (domain.Credential, error) {
	var row struct {
		c                          domain.Credential
		consumer, typ              pgtype.DriverBytes
		scopes, ipAllow            pgtype.DriverBytes
		expires, revoked, lastUsed pgtype.Int8
		created                    int64
	}
	c := &row.c
	dest := []any{&c.ID, &row.consumer, &row.typ, &c.IssuerID, &c.Claim, &c.Value, &c.KeyID, &c.Algorithm, &c.PublicKey,
		&c.Secret, &c.FingerprintSHA256, &c.Subject, &c.Username, &c.PasswordHash, &row.scopes, &row.ipAllow,
		&row.expires, &row.revoked, &c.RevokedReason, &row.created, &row.lastUsed}
	return func(r rowScanner) (domain.Credential, error) {
		row.c = domain.Credential{}
		if err := r.Scan(dest...); err != nil {
			return row.c, err
		}
		c := row.c
		var err error
		c.ConsumerID, c.Type = in.of(row.consumer), in.of(row.typ)
		if c.Scopes, err = decStrings(row.scopes, in); err != nil {
			return c, fmt.Errorf("credential %q: %w", c.ID, err)
		}
		if c.IPAllow, err = decStrings(row.ipAllow, in); err != nil {
			return c, fmt.Errorf("credential %q: %w", c.ID, err)
		}
		c.ExpiresAt, c.RevokedAt, c.LastUsedAt = fromInt8(row.expires), fromInt8(row.revoked), fromInt8(row.lastUsed)
		c.CreatedAt = fromTm(row.created)
		return c, nil
	}
}

func putCredential(ctx context.Context, t *tx, c domain.Credential) error {
	scopes, ipAllow, _, err := enc3(c.Scopes, c.IPAllow, nil)
	if err != nil {
		return err
	}
	return t.put(ctx, "credential", c.ID, func(k string) error {
		if strings.HasPrefix(k, "credentials_") {
			return conflict("%s", identityTaken(c))
		}
		return otherUnique("credential", k)
	}, credentialUpsert, c.ID, c.ConsumerID, c.Type, c.IssuerID, c.Claim, c.Value, c.KeyID, c.Algorithm, c.PublicKey, c.Secret,
		c.FingerprintSHA256, c.Subject, c.Username, c.PasswordHash, scopes, ipAllow, tmOpt(c.ExpiresAt), tmOpt(c.RevokedAt),
		c.RevokedReason, tm(c.CreatedAt), tmOpt(c.LastUsedAt))
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
	return getOne(ctx, t, scanIssuer, func() error { return notFound("issuer %q not found", idOrName) },
		`SELECT `+issuerCols+` FROM issuers WHERE id = $1 OR name = $1
		 ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END LIMIT 1`, idOrName)
}

// PutIssuer inserts or replaces an issuer.
func (t *tx) PutIssuer(ctx context.Context, i domain.Issuer) error {
	if t.readOnly {
		return readOnly("put issuer")
	}
	if err := requireID("issuer", i.ID); err != nil {
		return err
	}
	return putIssuer(ctx, t, i)
}

// DeleteIssuer removes an issuer that no live jwt_binding uses; revoked
// bindings keep its id.
func (t *tx) DeleteIssuer(ctx context.Context, id string) error {
	if t.readOnly {
		return readOnly("delete issuer")
	}
	if t.failed != nil {
		return t.aborted()
	}
	var live int
	if err := t.q.QueryRow(ctx, `SELECT COUNT(*) FROM credentials
		WHERE issuer_id = $1 AND cred_type = 'jwt_binding' AND revoked_at IS NULL`, id).Scan(&live); err != nil {
		return wrapErr(ctx, fmt.Sprintf("delete issuer %q", id), t.note(err))
	}
	if live > 0 {
		return conflict("issuer %q still has %d live jwt binding(s): revoke them first", id, live)
	}
	return t.deleteByID(ctx, "issuers", "issuer", id)
}

// GetCredential finds a credential by id.
func (t *tx) GetCredential(ctx context.Context, id string) (domain.Credential, error) {
	return getOne(ctx, t, scanCredential, func() error { return notFound("credential %q not found", id) },
		`SELECT `+credentialCols+` FROM credentials WHERE id = $1`, id)
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
	if err := t.requireParent(ctx, "consumers", "consumer", c.ConsumerID); err != nil {
		return err
	}
	if c.Type == domain.CredentialJWTBinding && c.RevokedAt == nil {
		if err := t.requireParent(ctx, "issuers", "issuer", c.IssuerID); err != nil {
			return err
		}
	}
	return putCredential(ctx, t, c)
}

// ConflictingCredential finds the live credential other than c that holds
// c's identifying value, with the same predicate as the unique index.
func (t *tx) ConflictingCredential(ctx context.Context, c domain.Credential) (domain.Credential, error) {
	var where string
	var args []any
	switch c.Type {
	case domain.CredentialHMAC:
		where, args = `key_id = $3`, []any{c.KeyID}
	case domain.CredentialBasic:
		where, args = `username = $3`, []any{c.Username}
	case domain.CredentialJWTBinding:
		where, args = `issuer_id = $3 AND claim = $4 AND claim_value = $5`, []any{c.IssuerID, c.Claim, c.Value}
	case domain.CredentialMTLS:
		if c.FingerprintSHA256 != "" {
			where, args = `fingerprint_sha256 = $3`, []any{c.FingerprintSHA256}
		} else {
			where, args = `fingerprint_sha256 = '' AND subject = $3`, []any{c.Subject}
		}
	default:
		return domain.Credential{}, notFound("credential type %q has no identifying value", c.Type)
	}
	return getOne(ctx, t, scanCredential, func() error { return notFound("no live credential conflicts with %q", c.ID) },
		`SELECT `+credentialCols+` FROM credentials WHERE cred_type = $1 AND revoked_at IS NULL AND id <> $2 AND `+where+` LIMIT 1`,
		append([]any{c.Type, c.ID}, args...)...)
}

// ListIssuers lists issuers in id order.
func (s *Store) ListIssuers(ctx context.Context, f store.ListFilter) ([]domain.Issuer, string, error) {
	var w filter
	w.eq("name", f.Name)
	return listByID(ctx, s, issuerCols, "issuers", w, f.Page, scanIssuer,
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
		w.where = append(w.where, "consumer_id IN (SELECT id FROM consumers WHERE tenant_id = "+w.arg(f.TenantID)+")")
	}
	return listByID(ctx, s, credentialCols, "credentials", w, f.Page, scanCredential,
		func(c domain.Credential) string { return c.ID })
}

// TouchCredentials records credentials' last-used times (see TouchKeys).
func (s *Store) TouchCredentials(ctx context.Context, lastUsed map[string]time.Time) error {
	return s.touch(ctx, "credentials", "credential", lastUsed)
}

// The statements of loadCredentials, in the order it reads them.
const (
	issuerLoad     = `SELECT ` + issuerCols + ` FROM issuers ORDER BY id`
	credentialLoad = `SELECT ` + credentialCols + ` FROM credentials ORDER BY id`
)

// credentialLoads are loadCredentials's statements, for Load to queue.
var credentialLoads = []string{issuerLoad, credentialLoad}

// loadCredentials reads issuers and credentials for Load.
func loadCredentials(ctx context.Context, q querier, d *store.Data, in interner, sizes map[string]int) error {
	var err error
	if d.Issuers, err = queryAll(ctx, q, scanIssuer, issuerLoad); err != nil {
		return wrapErr(ctx, "load issuers", err)
	}
	if d.Credentials, err = queryAllCap(ctx, q, scanCredentialWith(in), sizes["credentials"], credentialLoad); err != nil {
		return wrapErr(ctx, "load credentials", err)
	}
	return nil
}
