package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"gatehouse/internal/domain"
)

// One column list, one scanner and one upsert per entity, shared by the Tx
// getters, the List calls and Load so a field cannot be read in one place
// and forgotten in another.

const tenantCols = `id, slug, name, status, suspended_at, created_at, updated_at`

func scanTenant(r rowScanner) (domain.Tenant, error) {
	var (
		t         domain.Tenant
		suspended sql.NullInt64
		c, u      int64
	)
	if err := r.Scan(&t.ID, &t.Slug, &t.Name, &t.Status, &suspended, &c, &u); err != nil {
		return t, err
	}
	t.SuspendedAt, t.CreatedAt, t.UpdatedAt = fromTmOpt(suspended), fromTm(c), fromTm(u)
	return t, nil
}

func putTenant(ctx context.Context, q querier, t domain.Tenant) error {
	_, err := q.ExecContext(ctx, `INSERT INTO tenants (`+tenantCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET slug = excluded.slug, name = excluded.name, status = excluded.status,
		suspended_at = excluded.suspended_at, created_at = excluded.created_at, updated_at = excluded.updated_at`,
		t.ID, t.Slug, t.Name, t.Status, tmOpt(t.SuspendedAt), tm(t.CreatedAt), tm(t.UpdatedAt))
	if isUnique(err) {
		return conflict("tenant slug %q is taken", t.Slug)
	}
	if err != nil {
		return fmt.Errorf("sqlite: put tenant %q: %w", t.ID, err)
	}
	return nil
}

const consumerCols = `id, tenant_id, name, status, scopes, ip_allow, labels, suspended_at, deleted_at, created_at, updated_at`

func scanConsumer(r rowScanner) (domain.Consumer, error) {
	var (
		c                      domain.Consumer
		scopes, ipAllow, label string
		suspended, deleted     sql.NullInt64
		cr, u                  int64
	)
	if err := r.Scan(&c.ID, &c.TenantID, &c.Name, &c.Status, &scopes, &ipAllow, &label, &suspended, &deleted, &cr, &u); err != nil {
		return c, err
	}
	if err := decAll(scopes, &c.Scopes, ipAllow, &c.IPAllow, label, &c.Labels); err != nil {
		return c, fmt.Errorf("consumer %q: %w", c.ID, err)
	}
	c.SuspendedAt, c.DeletedAt, c.CreatedAt, c.UpdatedAt = fromTmOpt(suspended), fromTmOpt(deleted), fromTm(cr), fromTm(u)
	return c, nil
}

func putConsumer(ctx context.Context, q querier, c domain.Consumer) error {
	scopes, ipAllow, labels, err := enc3(c.Scopes, c.IPAllow, c.Labels)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, `INSERT INTO consumers (`+consumerCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id, name = excluded.name, status = excluded.status,
		scopes = excluded.scopes, ip_allow = excluded.ip_allow, labels = excluded.labels,
		suspended_at = excluded.suspended_at, deleted_at = excluded.deleted_at,
		created_at = excluded.created_at, updated_at = excluded.updated_at`,
		c.ID, c.TenantID, c.Name, c.Status, scopes, ipAllow, labels,
		tmOpt(c.SuspendedAt), tmOpt(c.DeletedAt), tm(c.CreatedAt), tm(c.UpdatedAt))
	if isUnique(err) {
		return conflict("consumer name %q is taken in tenant %q", c.Name, c.TenantID)
	}
	if err != nil {
		return fmt.Errorf("sqlite: put consumer %q: %w", c.ID, err)
	}
	return nil
}

const keyCols = `id, consumer_id, name, env, hash, last4, imported, scopes, ip_allow, expires_at, revoked_at,
	revoked_reason, successor, grace_until, predecessor, created_at, last_used_at`

func scanKey(r rowScanner) (domain.APIKey, error) {
	var (
		k                                 domain.APIKey
		scopes, ipAllow                   string
		expires, revoked, grace, lastUsed sql.NullInt64
		created                           int64
	)
	if err := r.Scan(&k.ID, &k.ConsumerID, &k.Name, &k.Environment, &k.Hash, &k.Last4, &k.Imported,
		&scopes, &ipAllow, &expires, &revoked, &k.RevokedReason, &k.Successor, &grace, &k.Predecessor,
		&created, &lastUsed); err != nil {
		return k, err
	}
	if err := decAll(scopes, &k.Scopes, ipAllow, &k.IPAllow); err != nil {
		return k, fmt.Errorf("key %q: %w", k.ID, err)
	}
	k.ExpiresAt, k.RevokedAt, k.GraceUntil = fromTmOpt(expires), fromTmOpt(revoked), fromTmOpt(grace)
	k.CreatedAt, k.LastUsedAt = fromTm(created), fromTmOpt(lastUsed)
	return k, nil
}

func putKey(ctx context.Context, q querier, k domain.APIKey) error {
	scopes, ipAllow, _, err := enc3(k.Scopes, k.IPAllow, nil)
	if err != nil {
		return err
	}
	// version: the one this transaction commits (Update bumps the meta row
	// last), so a node can reload only the keys changed since its snapshot.
	_, err = q.ExecContext(ctx, `INSERT INTO api_keys (`+keyCols+`, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
			(SELECT value + 1 FROM meta WHERE key = 'version'))
		ON CONFLICT (id) DO UPDATE SET consumer_id = excluded.consumer_id, name = excluded.name, env = excluded.env,
		hash = excluded.hash, last4 = excluded.last4, imported = excluded.imported, scopes = excluded.scopes,
		ip_allow = excluded.ip_allow, expires_at = excluded.expires_at, revoked_at = excluded.revoked_at,
		revoked_reason = excluded.revoked_reason, successor = excluded.successor, grace_until = excluded.grace_until,
		predecessor = excluded.predecessor, created_at = excluded.created_at, last_used_at = excluded.last_used_at,
		version = excluded.version`,
		k.ID, k.ConsumerID, k.Name, k.Environment, k.Hash, k.Last4, k.Imported, scopes, ipAllow,
		tmOpt(k.ExpiresAt), tmOpt(k.RevokedAt), k.RevokedReason, k.Successor, tmOpt(k.GraceUntil), k.Predecessor,
		tm(k.CreatedAt), tmOpt(k.LastUsedAt))
	if isUnique(err) {
		// Never echo the hash: it identifies a live secret.
		return conflict("key hash is taken: another key has the same secret")
	}
	if err != nil {
		return fmt.Errorf("sqlite: put key %q: %w", k.ID, err)
	}
	return nil
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
		identityJWT       sql.NullString
		lifecycle         sql.NullString
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

func putService(ctx context.Context, q querier, s domain.Service) error {
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
	_, err = q.ExecContext(ctx, `INSERT INTO services (`+serviceCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id, name = excluded.name, targets = excluded.targets,
		visibility = excluded.visibility, approval_required = excluded.approval_required, timeouts = excluded.timeouts,
		engine = excluded.engine, host_header = excluded.host_header, eject_after = excluded.eject_after,
		eject_for_ns = excluded.eject_for_ns, version = excluded.version, declared = excluded.declared,
		created_at = excluded.created_at, updated_at = excluded.updated_at, environment = excluded.environment,
		identity_jwt = excluded.identity_jwt, lifecycle = excluded.lifecycle`,
		s.ID, s.TenantID, s.Name, targets, s.Visibility, s.ApprovalRequired, timeouts, s.Engine, s.HostHeader,
		s.EjectAfter, int64(s.EjectFor), s.Version, s.Declared, tm(s.CreatedAt), tm(s.UpdatedAt), s.Environment, identityJWT, lifecycle)
	if isUnique(err) {
		return conflict("service name %q is taken", s.Name)
	}
	if err != nil {
		return fmt.Errorf("sqlite: put service %q: %w", s.ID, err)
	}
	return nil
}

const routeCols = `id, service_id, name, hosts, paths, methods, auth, scopes, strip_prefix, upstream_path, query_key,
	forward_credential, disclosure, error_format, max_body, route_type, declared, created_at, updated_at, rate_limit, prompt_id, cors, quota`

func scanRoute(r rowScanner) (domain.Route, error) {
	var (
		rt                                  domain.Route
		hosts, paths, methods, auth, scopes string
		c, u                                int64
		limit, cors, quota                  sql.NullString
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

func putRoute(ctx context.Context, q querier, r domain.Route) error {
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
	_, err = q.ExecContext(ctx, `INSERT INTO routes (`+routeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET service_id = excluded.service_id, name = excluded.name, hosts = excluded.hosts,
		paths = excluded.paths, methods = excluded.methods, auth = excluded.auth, scopes = excluded.scopes,
		strip_prefix = excluded.strip_prefix, upstream_path = excluded.upstream_path, query_key = excluded.query_key,
		forward_credential = excluded.forward_credential, disclosure = excluded.disclosure,
		error_format = excluded.error_format, max_body = excluded.max_body, route_type = excluded.route_type,
		declared = excluded.declared, created_at = excluded.created_at, updated_at = excluded.updated_at,
		rate_limit = excluded.rate_limit, prompt_id = excluded.prompt_id, cors = excluded.cors, quota = excluded.quota`,
		r.ID, r.ServiceID, r.Name, hosts, paths, methods, auth, scopes, r.StripPrefix, r.UpstreamPath, r.QueryKey,
		r.ForwardCredential, r.Disclosure, r.ErrorFormat, r.MaxBody, r.Type, r.Declared, tm(r.CreatedAt), tm(r.UpdatedAt), limit,
		r.PromptID, cors, quota)
	if err != nil {
		return fmt.Errorf("sqlite: put route %q: %w", r.ID, err)
	}
	return nil
}

const adminCols = `id, name, token_hash, role, tenant_id, created_at`

func scanAdmin(r rowScanner) (domain.Admin, error) {
	var (
		a      domain.Admin
		tenant sql.NullString
		c      int64
	)
	if err := r.Scan(&a.ID, &a.Name, &a.TokenHash, &a.Role, &tenant, &c); err != nil {
		return a, err
	}
	a.TenantID, a.CreatedAt = tenant.String, fromTm(c)
	return a, nil
}

func putAdmin(ctx context.Context, q querier, a domain.Admin) error {
	_, err := q.ExecContext(ctx, `INSERT INTO admins (`+adminCols+`) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, token_hash = excluded.token_hash, role = excluded.role,
		tenant_id = excluded.tenant_id, created_at = excluded.created_at`,
		a.ID, a.Name, a.TokenHash, a.Role, nullStr(a.TenantID), tm(a.CreatedAt))
	if isUnique(err) {
		return conflict("admin token is taken: another admin has the same token")
	}
	if err != nil {
		return fmt.Errorf("sqlite: put admin %q: %w", a.ID, err)
	}
	return nil
}

const auditCols = `id, at, actor, action, resource, resource_id, tenant_id, before_json, after_json, other_tenant_id`

func scanAudit(r rowScanner) (domain.AuditEntry, error) {
	var (
		e             domain.AuditEntry
		at            int64
		tenant, other sql.NullString
		before, after sql.NullString
	)
	if err := r.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Resource, &e.ResourceID, &tenant, &before, &after, &other); err != nil {
		return e, err
	}
	e.At, e.TenantID, e.Before, e.After = fromTm(at), tenant.String, fromRawOpt(before), fromRawOpt(after)
	e.OtherTenantID = other.String
	return e, nil
}

// enc3 encodes up to three values as JSON (a nil interface is skipped).
func enc3(a, b, c any) (string, string, string, error) {
	var out [3]string
	for i, v := range [3]any{a, b, c} {
		if v == nil {
			continue
		}
		s, err := enc(v)
		if err != nil {
			return "", "", "", err
		}
		out[i] = s
	}
	return out[0], out[1], out[2], nil
}

// encOpt encodes v as JSON, or NULL when v is a nil pointer (an optional
// nested object such as a route's rate limit).
func encOpt[T any](v *T) (any, error) {
	if v == nil {
		return nil, nil
	}
	return enc(v)
}

// decOpt decodes an optional JSON column into a pointer (nil for NULL).
func decOpt[T any](v sql.NullString, dst **T) error {
	*dst = nil
	if !v.Valid {
		return nil
	}
	var x T
	if err := dec(v.String, &x); err != nil {
		return err
	}
	*dst = &x
	return nil
}

// decAll decodes pairs of (json text, destination).
func decAll(pairs ...any) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		src, ok := pairs[i].(string)
		if !ok {
			return fmt.Errorf("sqlite: decAll: argument %d is %T, want string", i, pairs[i])
		}
		if err := dec(src, pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}
