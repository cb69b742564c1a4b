package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// tx implements store.Tx over one SQL transaction.
type tx struct {
	q        querier
	readOnly bool
}

var _ store.Tx = (*tx)(nil)

// getOne runs a single-row query and maps "no row" to a named not-found error.
func getOne[T any](ctx context.Context, q querier, scan func(rowScanner) (T, error), nf func() error, query string, args ...any) (T, error) {
	v, err := scan(q.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return v, nf()
	}
	if err != nil {
		return v, fmt.Errorf("sqlite: %w", err)
	}
	return v, nil
}

// exists reports whether table has a row with this id (parent checks that
// give a named error where the foreign key would only say "constraint failed").
func exists(ctx context.Context, q querier, table, id string) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM `+table+` WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: check %s %q: %w", table, id, err)
	}
	return true, nil
}

func requireParent(ctx context.Context, q querier, table, what, id string) error {
	ok, err := exists(ctx, q, table, id)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("%s %q not found", what, id)
	}
	return nil
}

func requireID(what, id string) error {
	if id == "" {
		return fmt.Errorf("sqlite: %s id is empty", what)
	}
	return nil
}

// GetTenant finds a tenant by id or, failing that, by slug.
func (t *tx) GetTenant(ctx context.Context, idOrSlug string) (domain.Tenant, error) {
	return getOne(ctx, t.q, scanTenant, func() error { return notFound("tenant %q not found", idOrSlug) },
		`SELECT `+tenantCols+` FROM tenants WHERE id = ? OR slug = ?
		 ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END LIMIT 1`, idOrSlug, idOrSlug, idOrSlug)
}

// PutTenant inserts or replaces the tenant with this ID.
func (t *tx) PutTenant(ctx context.Context, v domain.Tenant) error {
	if t.readOnly {
		return readOnly("put tenant")
	}
	if err := requireID("tenant", v.ID); err != nil {
		return err
	}
	return putTenant(ctx, t.q, v)
}

// GetConsumer finds a consumer by id (deleted consumers included).
func (t *tx) GetConsumer(ctx context.Context, id string) (domain.Consumer, error) {
	return getOne(ctx, t.q, scanConsumer, func() error { return notFound("consumer %q not found", id) },
		`SELECT `+consumerCols+` FROM consumers WHERE id = ?`, id)
}

// GetConsumerByName finds the tenant's live consumer with this name or, if
// only deleted ones carry it, the most recently created deleted one.
func (t *tx) GetConsumerByName(ctx context.Context, tenantID, name string) (domain.Consumer, error) {
	return getOne(ctx, t.q, scanConsumer,
		func() error { return notFound("consumer %q not found in tenant %q", name, tenantID) },
		`SELECT `+consumerCols+` FROM consumers WHERE tenant_id = ? AND name = ?
		 ORDER BY CASE WHEN status <> 'deleted' THEN 0 ELSE 1 END, created_at DESC, id DESC LIMIT 1`,
		tenantID, name)
}

// PutConsumer inserts or replaces a consumer; its tenant must exist.
func (t *tx) PutConsumer(ctx context.Context, c domain.Consumer) error {
	if t.readOnly {
		return readOnly("put consumer")
	}
	if err := requireID("consumer", c.ID); err != nil {
		return err
	}
	if err := requireParent(ctx, t.q, "tenants", "tenant", c.TenantID); err != nil {
		return err
	}
	return putConsumer(ctx, t.q, c)
}

// GetKey finds a key by its public id.
func (t *tx) GetKey(ctx context.Context, id string) (domain.APIKey, error) {
	return getOne(ctx, t.q, scanKey, func() error { return notFound("key %q not found", id) },
		`SELECT `+keyCols+` FROM api_keys WHERE id = ?`, id)
}

// PutKey inserts or replaces a key; its consumer must exist.
func (t *tx) PutKey(ctx context.Context, k domain.APIKey) error {
	if t.readOnly {
		return readOnly("put key")
	}
	if err := requireID("key", k.ID); err != nil {
		return err
	}
	if err := requireParent(ctx, t.q, "consumers", "consumer", k.ConsumerID); err != nil {
		return err
	}
	return putKey(ctx, t.q, k)
}

// GetService finds a service by id or, failing that, by name.
func (t *tx) GetService(ctx context.Context, idOrName string) (domain.Service, error) {
	return getOne(ctx, t.q, scanService, func() error { return notFound("service %q not found", idOrName) },
		`SELECT `+serviceCols+` FROM services WHERE id = ? OR name = ?
		 ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END LIMIT 1`, idOrName, idOrName, idOrName)
}

// PutService inserts or replaces a service; its tenant must exist.
func (t *tx) PutService(ctx context.Context, s domain.Service) error {
	if t.readOnly {
		return readOnly("put service")
	}
	if err := requireID("service", s.ID); err != nil {
		return err
	}
	if err := requireParent(ctx, t.q, "tenants", "tenant", s.TenantID); err != nil {
		return err
	}
	return putService(ctx, t.q, s)
}

// DeleteService removes a service that no route points at any more: routes
// must be deleted first (in the same Update if need be), so a delete never
// silently takes traffic paths with it. Open (pending or approved)
// subscriptions refuse the delete the same way; closed (rejected or
// revoked) ones are removed with the service, their story being in the
// audit log.
func (t *tx) DeleteService(ctx context.Context, id string) error {
	if t.readOnly {
		return readOnly("delete service")
	}
	var routes, open int
	if err := t.q.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM routes WHERE service_id = ?),
		(SELECT COUNT(*) FROM subscriptions WHERE service_id = ? AND state IN ('pending', 'approved'))`, id, id).Scan(&routes, &open); err != nil {
		return fmt.Errorf("sqlite: delete service %q: %w", id, err)
	}
	if routes > 0 {
		return conflict("service %q still has %d route(s): delete them first", id, routes)
	}
	if open > 0 {
		return conflict("service %q still has %d open subscription(s): reject or revoke them first", id, open)
	}
	if _, err := t.q.ExecContext(ctx, `DELETE FROM subscriptions WHERE service_id = ?`, id); err != nil {
		return fmt.Errorf("sqlite: delete service %q: closed subscriptions: %w", id, err)
	}
	return deleteByID(ctx, t.q, "services", "service", id)
}

// GetRoute finds a route by id.
func (t *tx) GetRoute(ctx context.Context, id string) (domain.Route, error) {
	return getOne(ctx, t.q, scanRoute, func() error { return notFound("route %q not found", id) },
		`SELECT `+routeCols+` FROM routes WHERE id = ?`, id)
}

// PutRoute inserts or replaces a route; its service must exist.
func (t *tx) PutRoute(ctx context.Context, r domain.Route) error {
	if t.readOnly {
		return readOnly("put route")
	}
	if err := requireID("route", r.ID); err != nil {
		return err
	}
	if err := requireParent(ctx, t.q, "services", "service", r.ServiceID); err != nil {
		return err
	}
	return putRoute(ctx, t.q, r)
}

// DeleteRoute removes a route.
func (t *tx) DeleteRoute(ctx context.Context, id string) error {
	if t.readOnly {
		return readOnly("delete route")
	}
	return deleteByID(ctx, t.q, "routes", "route", id)
}

// GetAdmin finds an admin by id.
func (t *tx) GetAdmin(ctx context.Context, id string) (domain.Admin, error) {
	return getOne(ctx, t.q, scanAdmin, func() error { return notFound("admin %q not found", id) },
		`SELECT `+adminCols+` FROM admins WHERE id = ?`, id)
}

// PutAdmin inserts or replaces an admin; a tenant-scoped admin's tenant
// must exist.
func (t *tx) PutAdmin(ctx context.Context, a domain.Admin) error {
	if t.readOnly {
		return readOnly("put admin")
	}
	if err := requireID("admin", a.ID); err != nil {
		return err
	}
	if a.TenantID != "" {
		if err := requireParent(ctx, t.q, "tenants", "tenant", a.TenantID); err != nil {
			return err
		}
	}
	return putAdmin(ctx, t.q, a)
}

// DeleteAdmin removes an admin.
func (t *tx) DeleteAdmin(ctx context.Context, id string) error {
	if t.readOnly {
		return readOnly("delete admin")
	}
	return deleteByID(ctx, t.q, "admins", "admin", id)
}

// Audit appends an entry. An entry with ID 0 gets the next id from the
// audit_seq counter (a row update, so concurrent writers serialize on it in
// any engine); an explicit ID is kept and moves the counter past it.
func (t *tx) Audit(ctx context.Context, e domain.AuditEntry) error {
	if t.readOnly {
		return readOnly("audit")
	}
	if e.ID == 0 {
		if err := t.q.QueryRowContext(ctx,
			`UPDATE meta SET value = value + 1 WHERE key = 'audit_seq' RETURNING value`).Scan(&e.ID); err != nil {
			return fmt.Errorf("sqlite: next audit id: %w", err)
		}
	} else if _, err := t.q.ExecContext(ctx,
		`UPDATE meta SET value = CASE WHEN value < ? THEN ? ELSE value END WHERE key = 'audit_seq'`, e.ID, e.ID); err != nil {
		return fmt.Errorf("sqlite: advance audit id: %w", err)
	}
	_, err := t.q.ExecContext(ctx, `INSERT INTO audit_log (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, tm(e.At), e.Actor, e.Action, e.Resource, e.ResourceID, nullStr(e.TenantID), rawOpt(e.Before), rawOpt(e.After),
		nullStr(e.OtherTenantID))
	if isUnique(err) {
		return conflict("audit entry %d already exists", e.ID)
	}
	if err != nil {
		return fmt.Errorf("sqlite: audit %s: %w", e.Action, err)
	}
	return nil
}

func deleteByID(ctx context.Context, q querier, table, what, id string) error {
	res, err := q.ExecContext(ctx, `DELETE FROM `+table+` WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("sqlite: delete %s %q: %w", what, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: delete %s %q: %w", what, id, err)
	}
	if n == 0 {
		return notFound("%s %q not found", what, id)
	}
	return nil
}
