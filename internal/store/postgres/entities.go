package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"

	"gatehouse/internal/domain"
)

// One column list, one scanner and one upsert per entity, shared by the Tx
// getters, the List calls and Load so a field cannot be read in one place
// and forgotten in another. The upserts are generated from the column
// lists (upsertSQL); these variables are computed once and never change.
var (
	tenantUpsert   = upsertSQL("tenants", tenantCols)
	consumerUpsert = upsertSQL("consumers", consumerCols)
	keyUpsert      = upsertSQL("api_keys", keyWriteCols)
	serviceUpsert  = upsertSQL("services", serviceCols)
	routeUpsert    = upsertSQL("routes", routeCols)
	adminUpsert    = upsertSQL("admins", adminCols)
	auditInsert    = `INSERT INTO audit_log (` + auditCols + `) VALUES (` + placeholders(len(splitCols(auditCols))) + `)`
)

// otherUnique names a unique violation of a constraint this package does
// not expect (a newer migration's index): still a conflict, still named.
func otherUnique(what, constraint string) error {
	return conflict("%s conflicts with an existing one (unique constraint %s)", what, constraint)
}

const tenantCols = `id, slug, name, status, suspended_at, created_at, updated_at`

func scanTenant(r rowScanner) (domain.Tenant, error) {
	var (
		t         domain.Tenant
		suspended *int64
		c, u      int64
	)
	if err := r.Scan(&t.ID, &t.Slug, &t.Name, &t.Status, &suspended, &c, &u); err != nil {
		return t, err
	}
	t.SuspendedAt, t.CreatedAt, t.UpdatedAt = fromTmOpt(suspended), fromTm(c), fromTm(u)
	return t, nil
}

func putTenant(ctx context.Context, t *tx, v domain.Tenant) error {
	return t.put(ctx, "tenant", v.ID, func(c string) error {
		if c == "tenants_slug" {
			return conflict("tenant slug %q is taken", v.Slug)
		}
		return otherUnique("tenant", c)
	}, tenantUpsert, v.ID, v.Slug, v.Name, v.Status, tmOpt(v.SuspendedAt), tm(v.CreatedAt), tm(v.UpdatedAt))
}

const consumerCols = `id, tenant_id, name, status, scopes, ip_allow, labels, suspended_at, deleted_at, created_at, updated_at`

func scanConsumer(r rowScanner) (domain.Consumer, error) { return scanConsumerWith(nil)(r) }

// scanConsumerWith scans a consumer, sharing repeated strings through in
// (nil: plain copies); destinations are reused as in scanKeyWith.
func scanConsumerWith(in interner) func(rowScanner) (domain.Consumer, error) {
	var row struct {
		c                  domain.Consumer
		tenant             pgtype.DriverBytes
		scopes, ipAllow    pgtype.DriverBytes
		label              pgtype.DriverBytes
		suspended, deleted pgtype.Int8
		cr, u              int64
	}
	dest := []any{&row.c.ID, &row.tenant, &row.c.Name, &row.c.Status, &row.scopes, &row.ipAllow, &row.label,
		&row.suspended, &row.deleted, &row.cr, &row.u}
	return func(r rowScanner) (domain.Consumer, error) {
		row.c = domain.Consumer{}
		if err := r.Scan(dest...); err != nil {
			return row.c, err
		}
		c := row.c
		var err error
		c.TenantID = in.of(row.tenant)
		if c.Scopes, err = decStrings(row.scopes, in); err != nil {
			return c, fmt.Errorf("consumer %q: %w", c.ID, err)
		}
		if c.IPAllow, err = decStrings(row.ipAllow, in); err != nil {
			return c, fmt.Errorf("consumer %q: %w", c.ID, err)
		}
		if c.Labels, err = decLabels(row.label, in); err != nil {
			return c, fmt.Errorf("consumer %q: %w", c.ID, err)
		}
		c.SuspendedAt, c.DeletedAt = fromInt8(row.suspended), fromInt8(row.deleted)
		c.CreatedAt, c.UpdatedAt = fromTm(row.cr), fromTm(row.u)
		return c, nil
	}
}

func putConsumer(ctx context.Context, t *tx, c domain.Consumer) error {
	scopes, ipAllow, labels, err := enc3(c.Scopes, c.IPAllow, c.Labels)
	if err != nil {
		return err
	}
	return t.put(ctx, "consumer", c.ID, func(k string) error {
		if k == "consumers_tenant_name" {
			return conflict("consumer name %q is taken in tenant %q", c.Name, c.TenantID)
		}
		return otherUnique("consumer", k)
	}, consumerUpsert, c.ID, c.TenantID, c.Name, c.Status, scopes, ipAllow, labels,
		tmOpt(c.SuspendedAt), tmOpt(c.DeletedAt), tm(c.CreatedAt), tm(c.UpdatedAt))
}

const keyCols = `id, consumer_id, name, env, hash, last4, imported, scopes, ip_allow, expires_at, revoked_at,
	revoked_reason, successor, grace_until, predecessor, created_at, last_used_at`

// keyWriteCols adds what writes set but reads do not return: the version
// of the change that wrote the row (LoadOptions.KeysSince).
const keyWriteCols = keyCols + `, version`

func scanKey(r rowScanner) (domain.APIKey, error) { return scanKeyWith(nil)(r) }

// scanKeyWith scans a key, sharing its consumer id, environment and
// scope names through in (nil: plain copies). Load reads every key with
// it: the scan destinations live in one struct reused row after row (Scan
// takes ...any, so per-row locals would each escape to the heap), and the
// returned key is a copy.
func scanKeyWith(in interner) func(rowScanner) (domain.APIKey, error) {
	var row struct {
		k                                 domain.APIKey
		consumer, env, scopes, ipAllow    pgtype.DriverBytes
		expires, revoked, grace, lastUsed pgtype.Int8
		created                           int64
	}
	dest := []any{&row.k.ID, &row.consumer, &row.k.Name, &row.env, &row.k.Hash, &row.k.Last4, &row.k.Imported,
		&row.scopes, &row.ipAllow, &row.expires, &row.revoked, &row.k.RevokedReason, &row.k.Successor, &row.grace,
		&row.k.Predecessor, &row.created, &row.lastUsed}
	return func(r rowScanner) (domain.APIKey, error) {
		row.k = domain.APIKey{}
		if err := r.Scan(dest...); err != nil {
			return row.k, err
		}
		k := row.k
		var err error
		k.ConsumerID, k.Environment = in.of(row.consumer), in.of(row.env)
		if k.Scopes, err = decStrings(row.scopes, in); err != nil {
			return k, fmt.Errorf("key %q: %w", k.ID, err)
		}
		if k.IPAllow, err = decStrings(row.ipAllow, in); err != nil {
			return k, fmt.Errorf("key %q: %w", k.ID, err)
		}
		k.ExpiresAt, k.RevokedAt, k.GraceUntil = fromInt8(row.expires), fromInt8(row.revoked), fromInt8(row.grace)
		k.CreatedAt, k.LastUsedAt = fromTm(row.created), fromInt8(row.lastUsed)
		return k, nil
	}
}

func putKey(ctx context.Context, t *tx, k domain.APIKey) error {
	args, err := keyArgs(&k, t.version)
	if err != nil {
		return err
	}
	return t.put(ctx, "key", k.ID, keyConflict, keyUpsert, args...)
}

// keyConflict names a unique violation of a key write.
func keyConflict(c string) error {
	if c == "api_keys_hash" {
		// Never echo the hash: it identifies a live secret.
		return conflict("key hash is taken: another key has the same secret")
	}
	return otherUnique("key", c)
}

// keyArgs is a key's row in keyWriteCols order, written by the change of
// this version: the one encoding PutKey and CopyKeys share.
func keyArgs(k *domain.APIKey, version int64) ([]any, error) {
	scopes, ipAllow, _, err := enc3(k.Scopes, k.IPAllow, nil)
	if err != nil {
		return nil, err
	}
	return []any{k.ID, k.ConsumerID, k.Name, k.Environment, k.Hash, k.Last4, k.Imported, scopes, ipAllow,
		tmOpt(k.ExpiresAt), tmOpt(k.RevokedAt), k.RevokedReason, k.Successor, tmOpt(k.GraceUntil), k.Predecessor,
		tm(k.CreatedAt), tmOpt(k.LastUsedAt), version}, nil
}

const serviceCols = `id, tenant_id, name, targets, visibility, approval_required, timeouts, engine, host_header,
	eject_after, eject_for_ns, version, declared, created_at, updated_at, environment, identity_jwt, lifecycle`

// targetJSON is domain.Target without its lenient decoder (which turns a
// zero weight into 1), so stored targets read back exactly as written.
type targetJSON struct {
	URL    string `json:"url"`
	Weight int    `json:"weight"`
}

func scanService(r rowScanner) (domain.Service, error) {
	var (
		s                 domain.Service
		targets, timeouts string
		identityJWT       *string
		lifecycle         *string
		ejectFor          int64
		c, u              int64
	)
	if err := r.Scan(&s.ID, &s.TenantID, &s.Name, &targets, &s.Visibility, &s.ApprovalRequired, &timeouts,
		&s.Engine, &s.HostHeader, &s.EjectAfter, &ejectFor, &s.Version, &s.Declared, &c, &u, &s.Environment, &identityJWT, &lifecycle); err != nil {
		return s, err
	}
	var ts []targetJSON
	if err := decAll(targets, &ts, timeouts, &s.Timeouts); err != nil {
		return s, fmt.Errorf("service %q: %w", s.ID, err)
	}
	if err := decOpt(identityJWT, &s.IdentityJWT); err != nil {
		return s, fmt.Errorf("service %q: identity_jwt: %w", s.ID, err)
	}
	var lc *domain.ServiceLifecycle
	if err := decOpt(lifecycle, &lc); err != nil {
		return s, fmt.Errorf("service %q: lifecycle: %w", s.ID, err)
	}
	s.SetLifecycle(lc)
	if ts != nil {
		s.Targets = make([]domain.Target, len(ts))
		for i, t := range ts {
			s.Targets[i] = domain.Target{URL: t.URL, Weight: t.Weight}
		}
	}
	s.EjectFor, s.CreatedAt, s.UpdatedAt = domain.Duration(ejectFor), fromTm(c), fromTm(u)
	return s, nil
}

func putService(ctx context.Context, t *tx, s domain.Service) error {
	var ts []targetJSON
	if s.Targets != nil {
		ts = make([]targetJSON, len(s.Targets))
		for i, t := range s.Targets {
			ts[i] = targetJSON{URL: t.URL, Weight: t.Weight}
		}
	}
	targets, timeouts, _, err := enc3(ts, s.Timeouts, nil)
	if err != nil {
		return err
	}
	identityJWT, err := encOpt(s.IdentityJWT)
	if err != nil {
		return err
	}
	lifecycle, err := encOpt(s.LifecycleOf())
	if err != nil {
		return err
	}
	return t.put(ctx, "service", s.ID, func(c string) error {
		if c == "services_name" {
			return conflict("service name %q is taken", s.Name)
		}
		return otherUnique("service", c)
	}, serviceUpsert, s.ID, s.TenantID, s.Name, targets, s.Visibility, s.ApprovalRequired, timeouts, s.Engine, s.HostHeader,
		s.EjectAfter, int64(s.EjectFor), s.Version, s.Declared, tm(s.CreatedAt), tm(s.UpdatedAt), s.Environment, identityJWT, lifecycle)
}

const routeCols = `id, service_id, name, hosts, paths, methods, auth, scopes, strip_prefix, upstream_path, query_key,
	forward_credential, disclosure, error_format, max_body, route_type, declared, created_at, updated_at, rate_limit, prompt_id, cors, quota`

func scanRoute(r rowScanner) (domain.Route, error) {
	var (
		rt                                  domain.Route
		hosts, paths, methods, auth, scopes string
		c, u                                int64
		limit, cors, quota                  *string
	)
	if err := r.Scan(&rt.ID, &rt.ServiceID, &rt.Name, &hosts, &paths, &methods, &auth, &scopes, &rt.StripPrefix,
		&rt.UpstreamPath, &rt.QueryKey, &rt.ForwardCredential, &rt.Disclosure, &rt.ErrorFormat, &rt.MaxBody,
		&rt.Type, &rt.Declared, &c, &u, &limit, &rt.PromptID, &cors, &quota); err != nil {
		return rt, err
	}
	if err := decAll(hosts, &rt.Hosts, paths, &rt.Paths, methods, &rt.Methods, auth, &rt.Auth, scopes, &rt.Scopes); err != nil {
		return rt, fmt.Errorf("route %q: %w", rt.ID, err)
	}
	if err := decOpt(limit, &rt.RateLimit); err != nil {
		return rt, fmt.Errorf("route %q: %w", rt.ID, err)
	}
	if err := decOpt(cors, &rt.CORS); err != nil {
		return rt, fmt.Errorf("route %q: cors: %w", rt.ID, err)
	}
	if err := decOpt(quota, &rt.Quota); err != nil {
		return rt, fmt.Errorf("route %q: quota: %w", rt.ID, err)
	}
	rt.CreatedAt, rt.UpdatedAt = fromTm(c), fromTm(u)
	return rt, nil
}

func putRoute(ctx context.Context, t *tx, r domain.Route) error {
	hosts, paths, methods, err := enc3(r.Hosts, r.Paths, r.Methods)
	if err != nil {
		return err
	}
	auth, scopes, _, err := enc3(r.Auth, r.Scopes, nil)
	if err != nil {
		return err
	}
	limit, err := encOpt(r.RateLimit)
	if err != nil {
		return err
	}
	cors, err := encOpt(r.CORS)
	if err != nil {
		return err
	}
	quota, err := encOpt(r.Quota)
	if err != nil {
		return err
	}
	return t.put(ctx, "route", r.ID, func(c string) error { return otherUnique("route", c) },
		routeUpsert, r.ID, r.ServiceID, r.Name, hosts, paths, methods, auth, scopes, r.StripPrefix, r.UpstreamPath, r.QueryKey,
		r.ForwardCredential, r.Disclosure, r.ErrorFormat, r.MaxBody, r.Type, r.Declared, tm(r.CreatedAt), tm(r.UpdatedAt), limit,
		r.PromptID, cors, quota)
}

const adminCols = `id, name, token_hash, role, tenant_id, created_at`

func scanAdmin(r rowScanner) (domain.Admin, error) {
	var (
		a      domain.Admin
		tenant *string
		c      int64
	)
	if err := r.Scan(&a.ID, &a.Name, &a.TokenHash, &a.Role, &tenant, &c); err != nil {
		return a, err
	}
	a.TenantID, a.CreatedAt = deref(tenant), fromTm(c)
	return a, nil
}

func putAdmin(ctx context.Context, t *tx, a domain.Admin) error {
	return t.put(ctx, "admin", a.ID, func(c string) error {
		if c == "admins_token_hash" {
			return conflict("admin token is taken: another admin has the same token")
		}
		return otherUnique("admin", c)
	}, adminUpsert, a.ID, a.Name, a.TokenHash, a.Role, nullStr(a.TenantID), tm(a.CreatedAt))
}

const auditCols = `id, at, actor, action, resource, resource_id, tenant_id, before_json, after_json, other_tenant_id`

func scanAudit(r rowScanner) (domain.AuditEntry, error) {
	var (
		e             domain.AuditEntry
		at            int64
		tenant, other *string
		before, after *string
	)
	if err := r.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Resource, &e.ResourceID, &tenant, &before, &after, &other); err != nil {
		return e, err
	}
	e.At, e.TenantID, e.Before, e.After = fromTm(at), deref(tenant), fromRawOpt(before), fromRawOpt(after)
	e.OtherTenantID = deref(other)
	return e, nil
}
