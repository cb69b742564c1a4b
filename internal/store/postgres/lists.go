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

const tableSizesQuery = `SELECT relname::text, reltuples::float8 FROM pg_class
	WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p')`

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
	}, tableSizesQuery)
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

// The statements of a load that are not in a helper of their own.
const (
	tenantLoad   = `SELECT ` + tenantCols + ` FROM tenants ORDER BY id`
	consumerLoad = `SELECT ` + consumerCols + ` FROM consumers ORDER BY id`
	keyLoad      = `SELECT ` + keyCols + ` FROM api_keys ORDER BY id`
	serviceLoad  = `SELECT ` + serviceCols + ` FROM services ORDER BY id`
	routeLoad    = `SELECT ` + routeCols + ` FROM routes ORDER BY id`
	commitLoad   = `COMMIT`
)

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

// load sends every statement of the load in one batch, BEGIN to COMMIT,
// and reads their results in order as they arrive. A cluster node loads
// after every change any node makes (§10: everywhere within 100 ms), and
// on a busy machine each round trip can wait far longer than the
// statement takes for the CPU on the node or the database's side, so the
// load waits on the network once instead of once per statement: no
// statement depends on another's result (table sizes only size slices,
// and are read before the rows they size; the models' targets are read
// whole). Keys still stream: their rows are scanned as they arrive,
// never held together. On a connection that has not prepared the
// statements yet, pgx prepares them all first, which is one more round
// trip.
//
// The transaction is the same as before batching: readTxOptions, begun
// by the batch, its snapshot taken by the version read and seen by every
// statement after. It is read only, so ending it with COMMIT (queued
// last, saving the round trip of a ROLLBACK after the reads) changes
// nothing; if a statement fails, PostgreSQL skips the rest of the batch,
// COMMIT included, and the deferred Rollback ends the failed
// transaction before the connection goes back to the pool.
func (s *Store) load(ctx context.Context, stream *store.LoadOptions) (*store.Data, error) {
	ctx, cancel := opCtx(ctx, s.opts.LoadTimeout)
	defer cancel()
	b := &pgx.Batch{}
	b.BeginTx(readTxOptions)
	// The snapshot is taken at the first statement after BEGIN, the
	// version read; everything after sees the same state.
	for _, q := range []string{versionQuery, tableSizesQuery, tenantLoad, consumerLoad} {
		b.Queue(q)
	}
	if stream != nil {
		q, args := streamKeysQuery(*stream)
		b.Queue(q, args...)
	} else {
		b.Queue(keyLoad)
	}
	b.Queue(serviceLoad)
	b.Queue(routeLoad)
	for _, loads := range [][]string{accessLoads, credentialLoads, aiLoads, identityKeyLoads} {
		for _, q := range loads {
			b.Queue(q)
		}
	}
	b.Queue(commitLoad)
	br := s.pool.SendBatch(ctx, b)
	// A no-op once COMMIT ran (the transaction is closed then); it must
	// run after br.Close, which is deferred later and so runs first.
	ptx := br.Tx()
	defer func() { _ = ptx.Rollback(context.WithoutCancel(ctx)) }()
	defer br.Close()
	rd := &batchReader{b: b, br: br}
	if _, err := rd.Exec(ctx, b.QueuedQueries[0].SQL); err != nil {
		// Statements pgx could not prepare fail the batch before BEGIN.
		var pe pgx.ErrPreprocessingBatch
		if errors.As(err, &pe) {
			return nil, wrapErr(ctx, "load: prepare the statement reading "+tableOf(pe.SQL()), err)
		}
		return nil, wrapErr(ctx, "load: begin", err)
	}
	d, err := readLoad(ctx, rd, stream)
	if err != nil {
		return nil, err
	}
	if _, err := rd.Exec(ctx, commitLoad); err != nil {
		return nil, wrapErr(ctx, "load: commit", err)
	}
	if err := rd.done(); err != nil {
		return nil, err
	}
	if err := br.Close(); err != nil {
		return nil, wrapErr(ctx, "load: end batch", err)
	}
	return d, nil
}

// tableOf names the table a load statement reads, for errors (pgx leaves
// a failed statement's text out of its error, and the text is long).
func tableOf(sql string) string {
	_, after, ok := strings.Cut(sql, " FROM ")
	if f := strings.Fields(after); ok && len(f) > 0 {
		return f[0]
	}
	return "(unknown)"
}

// readLoad reads the results of load's batch between BEGIN and COMMIT,
// in the order load queued them.
func readLoad(ctx context.Context, q querier, stream *store.LoadOptions) (*store.Data, error) {
	d := &store.Data{}
	var err error
	if d.Version, err = version(ctx, q); err != nil {
		return nil, err
	}
	sizes, err := tableSizes(ctx, q)
	if err != nil {
		return nil, wrapErr(ctx, "load: table sizes", err)
	}
	in := interner{}
	if d.Tenants, err = queryAll(ctx, q, scanTenant, tenantLoad); err != nil {
		return nil, wrapErr(ctx, "load tenants", err)
	}
	if d.Consumers, err = queryAllCap(ctx, q, scanConsumerWith(in), sizes["consumers"], consumerLoad); err != nil {
		return nil, wrapErr(ctx, "load consumers", err)
	}
	if stream != nil {
		if stream.Expect != nil && stream.KeysSince == 0 {
			stream.Expect(sizes["api_keys"])
		}
		if err := streamKeys(ctx, q, in, *stream); err != nil {
			return nil, wrapErr(ctx, "load keys", err)
		}
	} else if d.Keys, err = queryAllCap(ctx, q, scanKeyWith(in), sizes["api_keys"], keyLoad); err != nil {
		return nil, wrapErr(ctx, "load keys", err)
	}
	if d.Services, err = queryAll(ctx, q, scanService, serviceLoad); err != nil {
		return nil, wrapErr(ctx, "load services", err)
	}
	if d.Routes, err = queryAll(ctx, q, scanRoute, routeLoad); err != nil {
		return nil, wrapErr(ctx, "load routes", err)
	}
	if err := loadAccess(ctx, q, d); err != nil {
		return nil, err
	}
	if err := loadCredentials(ctx, q, d, in, sizes); err != nil {
		return nil, err
	}
	if err := loadAI(ctx, q, d); err != nil {
		return nil, err
	}
	if err := loadIdentityKeys(ctx, q, d); err != nil {
		return nil, err
	}
	return d, nil
}
