package postgres

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

var (
	_ store.Analytics   = (*Store)(nil)
	_ store.AlertRuleTx = (*tx)(nil)
)

// rollupKeyCols is the rollups primary key.
const rollupKeyCols = `ts, tenant_id, consumer_id, route_id, status_class, code, credential_type, model`

// rollupLatCols are the histogram columns, bucket order.
const rollupLatCols = `lat_00, lat_01, lat_02, lat_03, lat_04, lat_05, lat_06, lat_07, lat_08, lat_09, lat_10, lat_11, lat_12, lat_13, lat_14, lat_15, lat_16, lat_17, lat_18, lat_19, lat_20, lat_21, lat_22, lat_23`

const rollupCols = rollupKeyCols + `, requests, bytes_in, bytes_out, latency_sum_us, latency_max_us, ` + rollupLatCols + `, cost_micros`

// The alert tables' columns (the rule and the alert themselves are JSON).
const (
	alertRuleCols = `id, tenant_id, name, kind, rule, created_at, updated_at`
	alertCols     = `id, fired_at, rule_id, tenant_id, alert`
)

// Computed once from the column lists; never changed.
var (
	// upsertRollup adds one row into its key's stored row: every counter
	// added, the maximum kept.
	upsertRollup = func() string {
		var sets []string
		for _, c := range splitCols(rollupCols)[len(splitCols(rollupKeyCols)):] {
			if c == "latency_max_us" {
				sets = append(sets, c+" = GREATEST(rollups."+c+", excluded."+c+")")
				continue
			}
			sets = append(sets, c+" = rollups."+c+" + excluded."+c)
		}
		return `INSERT INTO rollups (` + rollupCols + `) VALUES (` + placeholders(len(splitCols(rollupCols))) + `)
			ON CONFLICT (` + rollupKeyCols + `) DO UPDATE SET ` + strings.Join(sets, ", ")
	}()
	// rollupSums is the SELECT list of QueryRollups after the bucket: the
	// key, then SUMs (cast back from numeric) and the MAX.
	rollupSums = func() string {
		var out []string
		for _, c := range splitCols(rollupCols)[1:] {
			switch {
			case c == "latency_max_us":
				out = append(out, "MAX("+c+")")
			case strings.HasSuffix(c, "_id") || c == "status_class" || c == "code" || c == "credential_type" || c == "model":
				out = append(out, c)
			default:
				out = append(out, "SUM("+c+")::bigint")
			}
		}
		return strings.Join(out, ", ")
	}()
)

// UpsertRollups adds the rollups into the stored rows in one transaction:
// one statement per rollup, all sent in one pipelined batch (a flush
// carries one minute's distinct keys, hundreds to a few thousand rows).
// Statements apply in order, so rows with the same key add up.
func (s *Store) UpsertRollups(ctx context.Context, rollups []domain.Rollup) error {
	if len(rollups) == 0 {
		return nil
	}
	ctx, cancel := opCtx(ctx, s.opts.QueryTimeout)
	defer cancel()
	var b pgx.Batch
	for i := range rollups {
		r := &rollups[i]
		args := make([]any, 0, 14+domain.RollupBuckets)
		args = append(args, tm(r.Minute), r.TenantID, r.ConsumerID, r.RouteID, r.StatusClass, r.Code, r.CredentialType, r.Model,
			r.Count, r.BytesIn, r.BytesOut, r.LatencySumMicros, r.LatencyMaxMicros)
		for _, n := range r.Latency {
			args = append(args, n)
		}
		args = append(args, r.CostMicros)
		b.Queue(upsertRollup, args...)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return tx.SendBatch(ctx, &b).Close() })
	if err != nil {
		return wrapErr(ctx, "upsert rollups", err)
	}
	return nil
}

// QueryRollups sums the matching rows per bucket of f.Step and key. The
// bucket is (ts / step) * step in integer arithmetic, as on SQLite.
func (s *Store) QueryRollups(ctx context.Context, f store.RollupFilter) ([]domain.Rollup, error) {
	step := f.Step
	if step <= 0 {
		step = time.Minute
	}
	if step%time.Minute != 0 {
		return nil, fmt.Errorf("postgres: query rollups: step %s is not a whole number of minutes", step)
	}
	ctx, cancel := opCtx(ctx, s.opts.QueryTimeout)
	defer cancel()
	var w filter
	st := w.arg(step.Microseconds())
	if !f.Since.IsZero() {
		w.where = append(w.where, "ts >= "+w.arg(tm(f.Since)))
	}
	if !f.Until.IsZero() {
		w.where = append(w.where, "ts < "+w.arg(tm(f.Until)))
	}
	w.eq("tenant_id", f.TenantID)
	w.eq("consumer_id", f.ConsumerID)
	w.eq("route_id", f.RouteID)
	w.eq("code", f.Code)
	w.eq("model", f.Model)
	query := `SELECT (ts / ` + st + `::bigint) * ` + st + `::bigint AS bucket, ` + rollupSums + `
		FROM rollups` + whereClause(w.where) + `
		GROUP BY bucket, tenant_id, consumer_id, route_id, status_class, code, credential_type, model
		ORDER BY bucket, tenant_id, consumer_id, route_id, status_class, code, credential_type, model`
	if f.Limit > 0 {
		query += ` LIMIT ` + w.arg(f.Limit)
	}
	items, err := queryAll(ctx, s.pool, scanRollup, query, w.args...)
	if err != nil {
		return nil, wrapErr(ctx, "query rollups", err)
	}
	return items, nil
}

func scanRollup(r rowScanner) (domain.Rollup, error) {
	var (
		v  domain.Rollup
		ts int64
	)
	dest := []any{&ts, &v.TenantID, &v.ConsumerID, &v.RouteID, &v.StatusClass, &v.Code, &v.CredentialType, &v.Model,
		&v.Count, &v.BytesIn, &v.BytesOut, &v.LatencySumMicros, &v.LatencyMaxMicros}
	for i := range v.Latency {
		dest = append(dest, &v.Latency[i])
	}
	dest = append(dest, &v.CostMicros)
	if err := r.Scan(dest...); err != nil {
		return v, err
	}
	v.Minute = fromTm(ts)
	return v, nil
}

// DeleteRollupsBefore removes rollups of minutes before t, in chunks of
// Store.deleteChunk rows so a large prune never holds locks for long.
func (s *Store) DeleteRollupsBefore(ctx context.Context, t time.Time) (int64, error) {
	return s.deleteChunked(ctx, "rollups", `DELETE FROM rollups WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM rollups WHERE ts < $1 LIMIT $2))`, tm(t))
}

// DeleteAlertsBefore removes alerts fired before t.
func (s *Store) DeleteAlertsBefore(ctx context.Context, t time.Time) (int64, error) {
	return s.deleteChunked(ctx, "alerts", `DELETE FROM alerts WHERE id IN
		(SELECT id FROM alerts WHERE fired_at < $1 LIMIT $2)`, tm(t))
}

// deleteChunked runs query (bound to a cutoff and a chunk size) until it
// deletes less than a chunk; each chunk is its own transaction.
func (s *Store) deleteChunked(ctx context.Context, what, query string, cutoff int64) (int64, error) {
	var total int64
	for {
		qctx, cancel := opCtx(ctx, s.opts.QueryTimeout)
		tag, err := s.pool.Exec(qctx, query, cutoff, s.deleteChunk)
		cancel()
		if err != nil {
			return total, wrapErr(ctx, "delete "+what, err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(s.deleteChunk) {
			return total, nil
		}
	}
}

// ListAlertRules returns every stored rule in id order.
func (s *Store) ListAlertRules(ctx context.Context) ([]domain.AlertRule, error) {
	ctx, cancel := opCtx(ctx, s.opts.QueryTimeout)
	defer cancel()
	items, err := queryAll(ctx, s.pool, scanAlertRule, `SELECT rule, created_at, updated_at FROM alert_rules ORDER BY id`)
	if err != nil {
		return nil, wrapErr(ctx, "list alert rules", err)
	}
	return items, nil
}

func scanAlertRule(r rowScanner) (domain.AlertRule, error) {
	var (
		v                domain.AlertRule
		raw              string
		created, updated int64
	)
	if err := r.Scan(&raw, &created, &updated); err != nil {
		return v, err
	}
	if err := dec(raw, &v); err != nil {
		return v, err
	}
	v.CreatedAt, v.UpdatedAt = fromTm(created), fromTm(updated)
	return v, nil
}

// GetAlertRule finds a stored rule by id.
func (t *tx) GetAlertRule(ctx context.Context, id string) (domain.AlertRule, error) {
	return getOne(ctx, t, scanAlertRule, func() error { return notFound("alert rule %q not found", id) },
		`SELECT rule, created_at, updated_at FROM alert_rules WHERE id = $1`, id)
}

// PutAlertRule inserts or replaces the rule with this ID (an update keeps
// the stored created_at, as on SQLite).
func (t *tx) PutAlertRule(ctx context.Context, r domain.AlertRule) error {
	if t.readOnly {
		return readOnly("put alert rule")
	}
	if err := requireID("alert rule", r.ID); err != nil {
		return err
	}
	raw, err := enc(r)
	if err != nil {
		return err
	}
	return t.put(ctx, "alert rule", r.ID, func(c string) error {
		if c == "alert_rules_tenant_name" {
			return conflict("alert rule name %q is taken", r.Name)
		}
		return otherUnique("alert rule", c)
	}, `INSERT INTO alert_rules (`+alertRuleCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id, name = excluded.name, kind = excluded.kind,
			rule = excluded.rule, updated_at = excluded.updated_at`,
		r.ID, r.TenantID, r.Name, r.Kind, raw, tm(r.CreatedAt), tm(r.UpdatedAt))
}

// DeleteAlertRule removes a stored rule (its fired alerts stay).
func (t *tx) DeleteAlertRule(ctx context.Context, id string) error {
	if t.readOnly {
		return readOnly("delete alert rule")
	}
	return t.deleteByID(ctx, "alert_rules", "alert rule", id)
}

// InsertAlert stores a fired alert; a repeated ID is ignored.
func (s *Store) InsertAlert(ctx context.Context, a domain.Alert) error {
	if a.ID == "" {
		return errors.New("postgres: insert alert: the id is empty")
	}
	raw, err := enc(a)
	if err != nil {
		return err
	}
	ctx, cancel := opCtx(ctx, s.opts.QueryTimeout)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `INSERT INTO alerts (`+alertCols+`) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO NOTHING`, a.ID, tm(a.FiredAt), a.RuleID, a.TenantID, raw); err != nil {
		return wrapErr(ctx, fmt.Sprintf("insert alert %q", a.ID), err)
	}
	return nil
}

// ListAlerts lists alerts newest first; the cursor encodes the last
// alert's (fired_at, id) like the call log's.
func (s *Store) ListAlerts(ctx context.Context, f store.AlertFilter) ([]domain.Alert, string, error) {
	ctx, cancel := opCtx(ctx, s.opts.QueryTimeout)
	defer cancel()
	var w filter
	w.eq("tenant_id", f.TenantID)
	w.eq("rule_id", f.RuleID)
	if !f.Since.IsZero() {
		w.where = append(w.where, "fired_at >= "+w.arg(tm(f.Since)))
	}
	if f.After != "" {
		ts, id, err := decodeAlertCursor(f.After)
		if err != nil {
			return nil, "", err
		}
		a, b := w.arg(ts), w.arg(id)
		w.where = append(w.where, fmt.Sprintf("(fired_at < %s OR (fired_at = %s AND id < %s))", a, a, b))
	}
	limit := pageLimit(f.Limit)
	items, err := queryAll(ctx, s.pool, scanAlert,
		`SELECT alert, fired_at FROM alerts`+whereClause(w.where)+` ORDER BY fired_at DESC, id DESC LIMIT `+w.arg(limit+1),
		w.args...)
	if err != nil {
		return nil, "", wrapErr(ctx, "list alerts", err)
	}
	if len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		return items, encodeAlertCursor(tm(last.FiredAt), last.ID), nil
	}
	return items, "", nil
}

func scanAlert(r rowScanner) (domain.Alert, error) {
	var (
		v   domain.Alert
		raw string
		ts  int64
	)
	if err := r.Scan(&raw, &ts); err != nil {
		return v, err
	}
	if err := dec(raw, &v); err != nil {
		return v, err
	}
	v.FiredAt = fromTm(ts)
	return v, nil
}

func encodeAlertCursor(ts int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(ts, 10) + "." + id))
}

func decodeAlertCursor(c string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", fmt.Errorf("alerts cursor: %w", store.ErrBadCursor)
	}
	tsText, id, ok := strings.Cut(string(b), ".")
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if !ok || err != nil || id == "" {
		return 0, "", fmt.Errorf("alerts cursor: %w", store.ErrBadCursor)
	}
	return ts, id, nil
}
