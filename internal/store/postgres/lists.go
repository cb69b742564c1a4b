package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// filter collects optional conditions with numbered placeholders.
type filter struct {
	where []string
	args  []any
}

// arg adds v as the next argument and returns its placeholder ("$n").
func (f *filter) arg(v any) string {
	f.args = append(f.args, v)
	return "$" + strconv.Itoa(len(f.args))
}

func (f *filter) eq(col, v string) {
	if v != "" {
		f.where = append(f.where, col+" = "+f.arg(v))
	}
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
	rows, err := q.Query(ctx, query, args...)
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

// queryAllCap is queryAll into a slice of capacity n (a row-count
// estimate), so reading a million rows does not regrow the slice twenty
// times.
func queryAllCap[T any](ctx context.Context, q querier, scan func(rowScanner) (T, error), n int, query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	items := make([]T, 0, n)
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		items = append(items, v)
	}
	return items, rows.Err()
}

// tableSizes estimates each table's rows from the planner's statistics
// (pg_class.reltuples: free to read, kept current by autovacuum; -1 or 0
// before the first analyze), plus 5% for rows added since.
func tableSizes(ctx context.Context, q querier) (map[string]int, error) {
	type size struct {
		name string
		rows float64
	}
	all, err := queryAll(ctx, q, func(r rowScanner) (size, error) {
		var s size
		return s, r.Scan(&s.name, &s.rows)
	}, `SELECT relname::text, reltuples::float8 FROM pg_class
		WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p')`)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(all))
	for _, s := range all {
		out[s.name] = int(max(0, s.rows) * 1.05)
	}
	return out, nil
}

// listByID pages through table in id order: After is the last id of the
// previous page, and next is the last id of this page when more rows follow.
func listByID[T any](ctx context.Context, s *Store, cols, table string, w filter,
	p store.Page, scan func(rowScanner) (T, error), id func(T) string) ([]T, string, error) {
	ctx, cancel := opCtx(ctx, s.opts.QueryTimeout)
	defer cancel()
	if p.After != "" {
		w.where = append(w.where, "id > "+w.arg(p.After))
	}
	limit := pageLimit(p.Limit)
	query := `SELECT ` + cols + ` FROM ` + table + whereClause(w.where) + ` ORDER BY id LIMIT ` + w.arg(limit+1)
	items, err := queryAll(ctx, s.pool, scan, query, w.args...)
	if err != nil {
		return nil, "", wrapErr(ctx, "list "+table, err)
	}
	if len(items) > limit {
		items = items[:limit]
		return items, id(items[limit-1]), nil
	}
	return items, "", nil
}

// ListTenants lists tenants in id order.
func (s *Store) ListTenants(ctx context.Context, f store.ListFilter) ([]domain.Tenant, string, error) {
	return listByID(ctx, s, tenantCols, "tenants", filter{}, f.Page, scanTenant,
		func(t domain.Tenant) string { return t.ID })
}

// ListConsumers lists consumers (deleted ones included), filtered by
// TenantID and Name.
func (s *Store) ListConsumers(ctx context.Context, f store.ListFilter) ([]domain.Consumer, string, error) {
	var w filter
	w.eq("tenant_id", f.TenantID)
	w.eq("name", f.Name)
	return listByID(ctx, s, consumerCols, "consumers", w, f.Page, scanConsumer,
		func(c domain.Consumer) string { return c.ID })
}

// ListKeys lists keys, filtered by ConsumerID.
func (s *Store) ListKeys(ctx context.Context, f store.ListFilter) ([]domain.APIKey, string, error) {
	var w filter
	w.eq("consumer_id", f.ConsumerID)
	return listByID(ctx, s, keyCols, "api_keys", w, f.Page, scanKey,
		func(k domain.APIKey) string { return k.ID })
}

// ListServices lists services, filtered by TenantID and Name.
func (s *Store) ListServices(ctx context.Context, f store.ListFilter) ([]domain.Service, string, error) {
	var w filter
	w.eq("tenant_id", f.TenantID)
	w.eq("name", f.Name)
	return listByID(ctx, s, serviceCols, "services", w, f.Page, scanService,
		func(v domain.Service) string { return v.ID })
}

// ListRoutes lists routes, filtered by ServiceID.
func (s *Store) ListRoutes(ctx context.Context, f store.ListFilter) ([]domain.Route, string, error) {
	var w filter
	w.eq("service_id", f.ServiceID)
	return listByID(ctx, s, routeCols, "routes", w, f.Page, scanRoute,
		func(r domain.Route) string { return r.ID })
}

// ListAdmins lists admins, filtered by TenantID.
func (s *Store) ListAdmins(ctx context.Context, f store.ListFilter) ([]domain.Admin, string, error) {
	var w filter
	w.eq("tenant_id", f.TenantID)
	return listByID(ctx, s, adminCols, "admins", w, f.Page, scanAdmin,
		func(a domain.Admin) string { return a.ID })
}

// ListAudit lists audit entries newest first (descending id), filtered by
// TenantID, which matches the entry's tenant or its other tenant. The
// cursor is the last entry's id in decimal.
func (s *Store) ListAudit(ctx context.Context, f store.ListFilter) ([]domain.AuditEntry, string, error) {
	ctx, cancel := opCtx(ctx, s.opts.QueryTimeout)
	defer cancel()
	var w filter
	if f.TenantID != "" {
		n := w.arg(f.TenantID)
		w.where = append(w.where, fmt.Sprintf("(tenant_id = %s OR other_tenant_id = %s)", n, n))
	}
	if f.After != "" {
		after, err := strconv.ParseInt(f.After, 10, 64)
		if err != nil || after <= 0 {
			return nil, "", fmt.Errorf("audit cursor %q: %w", f.After, store.ErrBadCursor)
		}
		w.where = append(w.where, "id < "+w.arg(after))
	}
	limit := pageLimit(f.Limit)
	items, err := queryAll(ctx, s.pool, scanAudit,
		`SELECT `+auditCols+` FROM audit_log`+whereClause(w.where)+` ORDER BY id DESC LIMIT `+w.arg(limit+1), w.args...)
	if err != nil {
		return nil, "", wrapErr(ctx, "list audit", err)
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
	ctx, cancel := opCtx(ctx, s.opts.QueryTimeout)
	defer cancel()
	a, err := scanAdmin(s.pool.QueryRow(ctx, `SELECT `+adminCols+` FROM admins WHERE token_hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, notFound("admin token not found")
	}
	if err != nil {
		return a, wrapErr(ctx, "admin by token", err)
	}
	return a, nil
}

// Load reads the snapshot's data and the version in one REPEATABLE READ
// transaction, so the version matches the data exactly.
func (s *Store) Load(ctx context.Context) (*store.Data, error) { return s.load(ctx, nil) }

// LoadStream implements store.KeyStreamer: Load with the keys handed to
// opts.Key as they are read (scanKeyStream), only those of versions after
// opts.KeysSince when it is set (the api_keys_version index).
func (s *Store) LoadStream(ctx context.Context, opts store.LoadOptions) (*store.Data, error) {
	if opts.Key == nil {
		return nil, errors.New("postgres: LoadStream needs LoadOptions.Key")
	}
	return s.load(ctx, &opts)
}

func (s *Store) load(ctx context.Context, stream *store.LoadOptions) (*store.Data, error) {
	ctx, cancel := opCtx(ctx, s.opts.LoadTimeout)
	defer cancel()
	ptx, err := s.readTx(ctx)
	if err != nil {
		return nil, wrapErr(ctx, "load: begin", err)
	}
	defer func() { _ = ptx.Rollback(context.WithoutCancel(ctx)) }()
	d := &store.Data{}
	// The snapshot is taken at the first statement; everything after sees
	// the same state.
	if d.Version, err = version(ctx, ptx); err != nil {
		return nil, err
	}
	sizes, err := tableSizes(ctx, ptx)
	if err != nil {
		return nil, wrapErr(ctx, "load: table sizes", err)
	}
	in := interner{}
	if d.Tenants, err = queryAll(ctx, ptx, scanTenant, `SELECT `+tenantCols+` FROM tenants ORDER BY id`); err != nil {
		return nil, wrapErr(ctx, "load tenants", err)
	}
	if d.Consumers, err = queryAllCap(ctx, ptx, scanConsumerWith(in), sizes["consumers"],
		`SELECT `+consumerCols+` FROM consumers ORDER BY id`); err != nil {
		return nil, wrapErr(ctx, "load consumers", err)
	}
	if stream != nil {
		if stream.Expect != nil && stream.KeysSince == 0 {
			stream.Expect(sizes["api_keys"])
		}
		if err := streamKeys(ctx, ptx, in, *stream); err != nil {
			return nil, wrapErr(ctx, "load keys", err)
		}
	} else if d.Keys, err = queryAllCap(ctx, ptx, scanKeyWith(in), sizes["api_keys"],
		`SELECT `+keyCols+` FROM api_keys ORDER BY id`); err != nil {
		return nil, wrapErr(ctx, "load keys", err)
	}
	if d.Services, err = queryAll(ctx, ptx, scanService, `SELECT `+serviceCols+` FROM services ORDER BY id`); err != nil {
		return nil, wrapErr(ctx, "load services", err)
	}
	if d.Routes, err = queryAll(ctx, ptx, scanRoute, `SELECT `+routeCols+` FROM routes ORDER BY id`); err != nil {
		return nil, wrapErr(ctx, "load routes", err)
	}
	if err := loadAccess(ctx, ptx, d); err != nil {
		return nil, err
	}
	if err := loadCredentials(ctx, ptx, d, in, sizes); err != nil {
		return nil, err
	}
	if err := loadAI(ctx, ptx, d); err != nil {
		return nil, err
	}
	if err := loadIdentityKeys(ctx, ptx, d); err != nil {
		return nil, err
	}
	return d, nil
}
