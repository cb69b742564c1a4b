package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// listByID pages through table in id order: After is the last id of the
// previous page, and next is the last id of this page when more rows follow.
func listByID[T any](ctx context.Context, q querier, cols, table string, where []string, args []any,
	p store.Page, scan func(rowScanner) (T, error), id func(T) string) ([]T, string, error) {
	if p.After != "" {
		where = append(where, "id > ?")
		args = append(args, p.After)
	}
	limit := pageLimit(p.Limit)
	query := `SELECT ` + cols + ` FROM ` + table + whereClause(where) + ` ORDER BY id LIMIT ?`
	items, err := queryAll(ctx, q, scan, query, append(args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: list %s: %w", table, err)
	}
	if len(items) > limit {
		items = items[:limit]
		return items, id(items[limit-1]), nil
	}
	return items, "", nil
}

func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// queryAll runs query and scans every row. It returns a non-nil empty slice
// when there are no rows, so JSON lists render as [] rather than null.
func queryAll[T any](ctx context.Context, q querier, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	items := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		items = append(items, v)
	}
	return items, rows.Err()
}

// filter collects optional equality conditions.
type filter struct {
	where []string
	args  []any
}

func (f *filter) eq(col, v string) {
	if v != "" {
		f.where = append(f.where, col+" = ?")
		f.args = append(f.args, v)
	}
}

// ListTenants lists tenants in id order.
func (s *Store) ListTenants(ctx context.Context, f store.ListFilter) ([]domain.Tenant, string, error) {
	return listByID(ctx, s.r, tenantCols, "tenants", nil, nil, f.Page, scanTenant,
		func(t domain.Tenant) string { return t.ID })
}

// ListConsumers lists consumers (deleted ones included), filtered by
// TenantID and Name.
func (s *Store) ListConsumers(ctx context.Context, f store.ListFilter) ([]domain.Consumer, string, error) {
	var w filter
	w.eq("tenant_id", f.TenantID)
	w.eq("name", f.Name)
	return listByID(ctx, s.r, consumerCols, "consumers", w.where, w.args, f.Page, scanConsumer,
		func(c domain.Consumer) string { return c.ID })
}

// ListKeys lists keys, filtered by ConsumerID.
func (s *Store) ListKeys(ctx context.Context, f store.ListFilter) ([]domain.APIKey, string, error) {
	var w filter
	w.eq("consumer_id", f.ConsumerID)
	return listByID(ctx, s.r, keyCols, "api_keys", w.where, w.args, f.Page, scanKey,
		func(k domain.APIKey) string { return k.ID })
}

// ListServices lists services, filtered by TenantID and Name.
func (s *Store) ListServices(ctx context.Context, f store.ListFilter) ([]domain.Service, string, error) {
	var w filter
	w.eq("tenant_id", f.TenantID)
	w.eq("name", f.Name)
	return listByID(ctx, s.r, serviceCols, "services", w.where, w.args, f.Page, scanService,
		func(v domain.Service) string { return v.ID })
}

// ListRoutes lists routes, filtered by ServiceID.
func (s *Store) ListRoutes(ctx context.Context, f store.ListFilter) ([]domain.Route, string, error) {
	var w filter
	w.eq("service_id", f.ServiceID)
	return listByID(ctx, s.r, routeCols, "routes", w.where, w.args, f.Page, scanRoute,
		func(r domain.Route) string { return r.ID })
}

// ListAdmins lists admins, filtered by TenantID.
func (s *Store) ListAdmins(ctx context.Context, f store.ListFilter) ([]domain.Admin, string, error) {
	var w filter
	w.eq("tenant_id", f.TenantID)
	return listByID(ctx, s.r, adminCols, "admins", w.where, w.args, f.Page, scanAdmin,
		func(a domain.Admin) string { return a.ID })
}

// ListAudit lists audit entries newest first (descending id), filtered by
// TenantID, which matches the entry's tenant or its other tenant. The
// cursor is the last entry's id in decimal.
func (s *Store) ListAudit(ctx context.Context, f store.ListFilter) ([]domain.AuditEntry, string, error) {
	var w filter
	if f.TenantID != "" {
		w.where = append(w.where, "(tenant_id = ? OR other_tenant_id = ?)")
		w.args = append(w.args, f.TenantID, f.TenantID)
	}
	if f.After != "" {
		after, err := strconv.ParseInt(f.After, 10, 64)
		if err != nil || after <= 0 {
			return nil, "", fmt.Errorf("audit cursor %q: %w", f.After, store.ErrBadCursor)
		}
		w.where = append(w.where, "id < ?")
		w.args = append(w.args, after)
	}
	limit := pageLimit(f.Limit)
	items, err := queryAll(ctx, s.r, scanAudit,
		`SELECT `+auditCols+` FROM audit_log`+whereClause(w.where)+` ORDER BY id DESC LIMIT ?`,
		append(w.args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: list audit: %w", err)
	}
	if len(items) > limit {
		items = items[:limit]
		return items, strconv.FormatInt(items[limit-1].ID, 10), nil
	}
	return items, "", nil
}

// AdminByTokenHash finds the admin whose token has this SHA-256 (hex). The
// lookup is an indexed equality on the hash of a high-entropy token, so it
// leaks nothing useful through timing; the error never echoes the hash.
func (s *Store) AdminByTokenHash(ctx context.Context, hash string) (domain.Admin, error) {
	a, err := scanAdmin(s.r.QueryRowContext(ctx, `SELECT `+adminCols+` FROM admins WHERE token_hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return a, notFound("admin token not found")
	}
	if err != nil {
		return a, fmt.Errorf("sqlite: admin by token: %w", err)
	}
	return a, nil
}

// Load reads the snapshot's data and the version in one read transaction,
// so the version matches the data exactly.
func (s *Store) Load(ctx context.Context) (*store.Data, error) { return s.load(ctx, nil) }

// LoadStream implements store.KeyStreamer: Load with the keys handed to
// opts.Key as they are read, only those of versions after opts.KeysSince
// when it is set (the api_keys_version index).
func (s *Store) LoadStream(ctx context.Context, opts store.LoadOptions) (*store.Data, error) {
	if opts.Key == nil {
		return nil, errors.New("sqlite: LoadStream needs LoadOptions.Key")
	}
	return s.load(ctx, &opts)
}

func (s *Store) load(ctx context.Context, stream *store.LoadOptions) (*store.Data, error) {
	sqlTx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: load: begin: %w", err)
	}
	defer sqlTx.Rollback() //nolint:errcheck // read-only
	d := &store.Data{}
	// The version is read first: in SQLite the first read fixes the
	// transaction's snapshot, and everything after sees the same state.
	if d.Version, err = version(ctx, sqlTx); err != nil {
		return nil, err
	}
	if d.Tenants, err = queryAll(ctx, sqlTx, scanTenant, `SELECT `+tenantCols+` FROM tenants ORDER BY id`); err != nil {
		return nil, fmt.Errorf("sqlite: load tenants: %w", err)
	}
	if d.Consumers, err = queryAll(ctx, sqlTx, scanConsumer, `SELECT `+consumerCols+` FROM consumers ORDER BY id`); err != nil {
		return nil, fmt.Errorf("sqlite: load consumers: %w", err)
	}
	if stream != nil {
		if err := streamKeys(ctx, sqlTx, *stream); err != nil {
			return nil, fmt.Errorf("sqlite: load keys: %w", err)
		}
	} else if d.Keys, err = queryAll(ctx, sqlTx, scanKey, `SELECT `+keyCols+` FROM api_keys ORDER BY id`); err != nil {
		return nil, fmt.Errorf("sqlite: load keys: %w", err)
	}
	if d.Services, err = queryAll(ctx, sqlTx, scanService, `SELECT `+serviceCols+` FROM services ORDER BY id`); err != nil {
		return nil, fmt.Errorf("sqlite: load services: %w", err)
	}
	if d.Routes, err = queryAll(ctx, sqlTx, scanRoute, `SELECT `+routeCols+` FROM routes ORDER BY id`); err != nil {
		return nil, fmt.Errorf("sqlite: load routes: %w", err)
	}
	if err := loadAccess(ctx, sqlTx, d); err != nil {
		return nil, err
	}
	if err := loadCredentials(ctx, sqlTx, d); err != nil {
		return nil, err
	}
	if err := loadAI(ctx, sqlTx, d); err != nil {
		return nil, err
	}
	if err := loadIdentityKeys(ctx, sqlTx, d); err != nil {
		return nil, err
	}
	return d, nil
}
