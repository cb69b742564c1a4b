package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// tx implements store.Tx over one pgx transaction.
type tx struct {
	q        pgx.Tx
	readOnly bool
	// version is the version this transaction commits (Update bumps it
	// first); key rows record it.
	version int64
	// failed is the first statement error: PostgreSQL refuses every later
	// statement of the transaction, and Update must not commit.
	failed error
}

var _ store.Tx = (*tx)(nil)

// abortedError is returned by every call after a failed statement; it
// wraps that statement's (mapped) error.
type abortedError struct{ cause error }

func (e *abortedError) Error() string {
	return "postgres: an earlier statement of this transaction failed, PostgreSQL refuses further statements until rollback: " +
		e.cause.Error()
}

func (e *abortedError) Unwrap() error { return e.cause }

func (t *tx) aborted() error { return &abortedError{cause: t.failed} }

// fail replaces the recorded failure by its mapped form (a named conflict)
// so Update reports it as such, and returns it.
func (t *tx) fail(mapped error) error {
	t.failed = mapped
	return mapped
}

// isAborted reports whether err is the refusal of a statement after an
// earlier failure (not to be mapped again).
func isAborted(err error) bool {
	var a *abortedError
	return errors.As(err, &a)
}

// note records err as the transaction's failure (a "no rows" answer is not
// one) and returns it.
func (t *tx) note(err error) error {
	if err != nil && t.failed == nil && !errors.Is(err, pgx.ErrNoRows) {
		t.failed = err
	}
	return err
}

func (t *tx) exec(ctx context.Context, query string, args ...any) (pgconn.CommandTag, error) {
	if t.failed != nil {
		return pgconn.CommandTag{}, t.aborted()
	}
	tag, err := t.q.Exec(ctx, query, args...)
	return tag, t.note(err)
}

// getOne runs a single-row query and maps "no row" to a named not-found
// error. It reads through Query rather than QueryRow so scanners may use
// pgtype.DriverBytes (valid until the next row), which QueryRow refuses.
func getOne[T any](ctx context.Context, t *tx, scan func(rowScanner) (T, error), nf func() error, query string, args ...any) (T, error) {
	var zero T
	if t.failed != nil {
		return zero, t.aborted()
	}
	rows, err := t.q.Query(ctx, query, args...)
	if err != nil {
		return zero, wrapErr(ctx, "query", t.note(err))
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return zero, wrapErr(ctx, "query", t.note(err))
		}
		return zero, nf()
	}
	v, err := scan(rows)
	if err != nil {
		return v, wrapErr(ctx, "query", t.note(err))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return v, wrapErr(ctx, "query", t.note(err))
	}
	return v, nil
}

// requireParent gives a named not-found error where the foreign key would
// only say "violates foreign key constraint". table is a constant.
func (t *tx) requireParent(ctx context.Context, table, what, id string) error {
	if t.failed != nil {
		return t.aborted()
	}
	var one int
	err := t.q.QueryRow(ctx, `SELECT 1 FROM `+table+` WHERE id = $1`, id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound("%s %q not found", what, id)
	}
	if err != nil {
		return wrapErr(ctx, fmt.Sprintf("check %s %q", table, id), t.note(err))
	}
	return nil
}

func requireID(what, id string) error {
	if id == "" {
		return fmt.Errorf("postgres: %s id is empty", what)
	}
	return nil
}

// put runs an upsert and maps a unique violation through onConflict (by
// constraint name).
func (t *tx) put(ctx context.Context, what, id string, onConflict func(constraint string) error, query string, args ...any) error {
	_, err := t.exec(ctx, query, args...)
	if isAborted(err) {
		return err
	}
	if c := uniqueConstraint(err); c != "" {
		return t.fail(onConflict(c))
	}
	if err != nil {
		return wrapErr(ctx, fmt.Sprintf("put %s %q", what, id), err)
	}
	return nil
}

// GetTenant finds a tenant by id or, failing that, by slug.
func (t *tx) GetTenant(ctx context.Context, idOrSlug string) (domain.Tenant, error) {
	return getOne(ctx, t, scanTenant, func() error { return notFound("tenant %q not found", idOrSlug) },
		`SELECT `+tenantCols+` FROM tenants WHERE id = $1 OR slug = $1
		 ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END LIMIT 1`, idOrSlug)
}

// PutTenant inserts or replaces the tenant with this ID.
func (t *tx) PutTenant(ctx context.Context, v domain.Tenant) error {
	if t.readOnly {
		return readOnly("put tenant")
	}
	if err := requireID("tenant", v.ID); err != nil {
		return err
	}
	return putTenant(ctx, t, v)
}

// GetConsumer finds a consumer by id (deleted consumers included).
func (t *tx) GetConsumer(ctx context.Context, id string) (domain.Consumer, error) {
	return getOne(ctx, t, scanConsumer, func() error { return notFound("consumer %q not found", id) },
		`SELECT `+consumerCols+` FROM consumers WHERE id = $1`, id)
}

// GetConsumerByName finds the tenant's live consumer with this name or, if
// only deleted ones carry it, the most recently created deleted one.
func (t *tx) GetConsumerByName(ctx context.Context, tenantID, name string) (domain.Consumer, error) {
	return getOne(ctx, t, scanConsumer,
		func() error { return notFound("consumer %q not found in tenant %q", name, tenantID) },
		`SELECT `+consumerCols+` FROM consumers WHERE tenant_id = $1 AND name = $2
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
	if err := t.requireParent(ctx, "tenants", "tenant", c.TenantID); err != nil {
		return err
	}
	return putConsumer(ctx, t, c)
}

// GetKey finds a key by its public id.
func (t *tx) GetKey(ctx context.Context, id string) (domain.APIKey, error) {
	return getOne(ctx, t, scanKey, func() error { return notFound("key %q not found", id) },
		`SELECT `+keyCols+` FROM api_keys WHERE id = $1`, id)
}

// PutKey inserts or replaces a key; its consumer must exist.
func (t *tx) PutKey(ctx context.Context, k domain.APIKey) error {
	if t.readOnly {
		return readOnly("put key")
	}
	if err := requireID("key", k.ID); err != nil {
		return err
	}
	if err := t.requireParent(ctx, "consumers", "consumer", k.ConsumerID); err != nil {
		return err
	}
	return putKey(ctx, t, k)
}

// GetService finds a service by id or, failing that, by name.
func (t *tx) GetService(ctx context.Context, idOrName string) (domain.Service, error) {
	return getOne(ctx, t, scanService, func() error { return notFound("service %q not found", idOrName) },
		`SELECT `+serviceCols+` FROM services WHERE id = $1 OR name = $1
		 ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END LIMIT 1`, idOrName)
}

// PutService inserts or replaces a service; its tenant must exist.
func (t *tx) PutService(ctx context.Context, s domain.Service) error {
	if t.readOnly {
		return readOnly("put service")
	}
	if err := requireID("service", s.ID); err != nil {
		return err
	}
	if err := t.requireParent(ctx, "tenants", "tenant", s.TenantID); err != nil {
		return err
	}
	return putService(ctx, t, s)
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
	if t.failed != nil {
		return t.aborted()
	}
	var routes, open int
	if err := t.q.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM routes WHERE service_id = $1),
		(SELECT COUNT(*) FROM subscriptions WHERE service_id = $1 AND state IN ('pending', 'approved'))`, id).Scan(&routes, &open); err != nil {
		return wrapErr(ctx, fmt.Sprintf("delete service %q", id), t.note(err))
	}
	if routes > 0 {
		return conflict("service %q still has %d route(s): delete them first", id, routes)
	}
	if open > 0 {
		return conflict("service %q still has %d open subscription(s): reject or revoke them first", id, open)
	}
	if _, err := t.exec(ctx, `DELETE FROM subscriptions WHERE service_id = $1`, id); err != nil {
		return wrapErr(ctx, fmt.Sprintf("delete service %q: closed subscriptions", id), err)
	}
	return t.deleteByID(ctx, "services", "service", id)
}

// GetRoute finds a route by id.
func (t *tx) GetRoute(ctx context.Context, id string) (domain.Route, error) {
	return getOne(ctx, t, scanRoute, func() error { return notFound("route %q not found", id) },
		`SELECT `+routeCols+` FROM routes WHERE id = $1`, id)
}

// PutRoute inserts or replaces a route; its service must exist.
func (t *tx) PutRoute(ctx context.Context, r domain.Route) error {
	if t.readOnly {
		return readOnly("put route")
	}
	if err := requireID("route", r.ID); err != nil {
		return err
	}
	if err := t.requireParent(ctx, "services", "service", r.ServiceID); err != nil {
		return err
	}
	return putRoute(ctx, t, r)
}

// DeleteRoute removes a route.
func (t *tx) DeleteRoute(ctx context.Context, id string) error {
	if t.readOnly {
		return readOnly("delete route")
	}
	return t.deleteByID(ctx, "routes", "route", id)
}

// GetAdmin finds an admin by id.
func (t *tx) GetAdmin(ctx context.Context, id string) (domain.Admin, error) {
	return getOne(ctx, t, scanAdmin, func() error { return notFound("admin %q not found", id) },
		`SELECT `+adminCols+` FROM admins WHERE id = $1`, id)
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
		if err := t.requireParent(ctx, "tenants", "tenant", a.TenantID); err != nil {
			return err
		}
	}
	return putAdmin(ctx, t, a)
}

// DeleteAdmin removes an admin.
func (t *tx) DeleteAdmin(ctx context.Context, id string) error {
	if t.readOnly {
		return readOnly("delete admin")
	}
	return t.deleteByID(ctx, "admins", "admin", id)
}

// Audit appends an entry. An entry with ID 0 gets the next id from the
// audit_seq counter (a row update, so concurrent writers serialize on it);
// an explicit ID is kept and moves the counter past it.
func (t *tx) Audit(ctx context.Context, e domain.AuditEntry) error {
	if t.readOnly {
		return readOnly("audit")
	}
	if t.failed != nil {
		return t.aborted()
	}
	if e.ID == 0 {
		if err := t.q.QueryRow(ctx,
			`UPDATE meta SET value = value + 1 WHERE key = 'audit_seq' RETURNING value`).Scan(&e.ID); err != nil {
			return wrapErr(ctx, "next audit id", t.note(err))
		}
	} else if _, err := t.exec(ctx,
		`UPDATE meta SET value = GREATEST(value, $1) WHERE key = 'audit_seq'`, e.ID); err != nil {
		return wrapErr(ctx, "advance audit id", err)
	}
	_, err := t.exec(ctx, auditInsert,
		e.ID, tm(e.At), e.Actor, e.Action, e.Resource, e.ResourceID, nullStr(e.TenantID), rawOpt(e.Before), rawOpt(e.After),
		nullStr(e.OtherTenantID))
	if isAborted(err) {
		return err
	}
	if uniqueConstraint(err) != "" {
		return t.fail(conflict("audit entry %d already exists", e.ID))
	}
	if err != nil {
		return wrapErr(ctx, "audit "+e.Action, err)
	}
	return nil
}

func (t *tx) deleteByID(ctx context.Context, table, what, id string) error {
	tag, err := t.exec(ctx, `DELETE FROM `+table+` WHERE id = $1`, id)
	if err != nil {
		return wrapErr(ctx, fmt.Sprintf("delete %s %q", what, id), err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("%s %q not found", what, id)
	}
	return nil
}
