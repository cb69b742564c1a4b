package postgres

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

const callCols = `request_id, ts, route_id, service_id, tenant_id, consumer_id, credential_id, credential_type,
	method, path, status, code, client_ip, user_agent, latency_us, upstream_us, bytes_in, bytes_out, engine, trace, ai`

// Computed once from callCols; never changed.
var (
	callColNames = splitCols(callCols)
	// insertStagedCalls moves a staged batch into the call log. DISTINCT ON
	// keeps the first record of a request id repeated within the batch
	// (ctid is the staging order) and ON CONFLICT skips a record already
	// stored: the embedded store's "first write kept" rule, under the
	// partitioned table's key (request_id, ts) — see InsertCalls.
	insertStagedCalls = `INSERT INTO calls (` + strings.Join(callColNames, ", ") + `)
		SELECT DISTINCT ON (i.request_id) ` + "i." + strings.Join(callColNames, ", i.") + `
		FROM ` + stagingTable + ` i
		ORDER BY i.request_id, i.ctid
		ON CONFLICT DO NOTHING`
)

// stagingTable is the per-connection temporary table COPY fills; it is
// emptied at every commit.
const stagingTable = "gatehouse_calls_in"

// stagingReady marks, in a connection's CustomData, that its staging table
// exists (a temporary table lives as long as its connection).
const stagingReady = "gatehouse.calls_staging"

// InsertCalls writes a batch in one transaction: COPY into a temporary
// staging table, then one INSERT … SELECT … ON CONFLICT DO NOTHING into
// the day partitions (created on demand, see partitions.go). COPY cannot
// skip duplicates itself, and a record already stored must be skipped so
// the call-log writer may retry a batch whose commit outcome it did not
// see; staging keeps COPY's speed and gets the skip from the INSERT.
// Calls are not admin changes: the version does not move.
//
// A stored record is recognised by (request_id, ts), the partitioned
// table's key, where SQLite uses request_id alone. The two agree on every
// record the gateway writes: a request ID is minted from the call's own
// start time (internal/reqid), so a repeated ID is a retried record with
// the same ts. Probing every day partition for the ID alone was measured
// and rejected: BenchmarkInsertCalls512 with 30 days kept, 3 100 rows/s
// with the probe against 25 000 without. A 512-row multi-row INSERT, the
// other alternative, reaches about the same rows/s (22-29 000) at twice
// the gateway's CPU per row (17 µs against 8 µs), CPU the node would
// rather spend on traffic. A different record reusing an ID at another
// time would be kept beside the first; GetCall returns the earliest.
//
// PostgreSQL text cannot hold NUL bytes or invalid UTF-8, which a caller
// controls: a request path decodes %00 and %FF into them, and a raw header
// (User-Agent) carries them as sent. Each NUL and each run of invalid bytes
// becomes U+FFFD (clean) rather than failing the batch — and with it the
// records of every other caller in the batch. A batch PostgreSQL still
// refuses for the data it carries fails wrapped in store.ErrRefused
// (refusedData), so that the call-log writer splits it at once.
func (s *Store) InsertCalls(ctx context.Context, calls []domain.Call) error {
	if len(calls) == 0 {
		return nil
	}
	ctx, cancel := opCtx(ctx, s.opts.QueryTimeout)
	defer cancel()
	rows := make([][]any, len(calls))
	days := make([]int64, 0, 2)
	var traces store.TraceEncoder
	for i := range calls {
		row, err := callRow(&calls[i], &traces)
		if err != nil {
			return fmt.Errorf("postgres: insert calls: call %q: %w: %w", calls[i].RequestID, store.ErrRefused, err)
		}
		if d := dayOf(row[1].(int64)); !slices.Contains(days, d) {
			days = append(days, d)
		}
		rows[i] = row
	}
	if err := s.ensureDays(ctx, days); err != nil {
		return err
	}
	err := s.copyCalls(ctx, rows)
	if isNoPartition(err) {
		// Another node's retention dropped a partition this node believed
		// in: forget, recreate, retry once.
		s.forgetDays(days)
		if err := s.ensureDays(ctx, days); err != nil {
			return err
		}
		err = s.copyCalls(ctx, rows)
	}
	if err != nil {
		what := fmt.Sprintf("insert calls %q…", calls[0].RequestID)
		if refusedData(err) {
			return fmt.Errorf("postgres: %s: %w: %w", what, store.ErrRefused, err)
		}
		return wrapErr(ctx, what, err)
	}
	return nil
}

// refusedData reports whether PostgreSQL refused a statement because of
// the values it carries — SQLSTATE class 22 (data exception: bytes a text
// column cannot hold, a number out of range), 23 (integrity constraint) or
// 54 (program limit exceeded: an index row too large) — so that the same
// rows would be refused again. InsertCalls marks such an error
// store.ErrRefused: the call-log writer then splits the batch at once to
// keep every record but the refused ones, instead of retrying all of them
// with backoff and losing them together.
func refusedData(err error) bool {
	switch c := pgCode(err); {
	case len(c) != 5:
		return false
	case strings.HasPrefix(c, "22"), strings.HasPrefix(c, "23"), strings.HasPrefix(c, "54"):
		return true
	}
	return false
}

func (s *Store) copyCalls(ctx context.Context, rows [][]any) error {
	// The connection is held past the commit (a pool transaction hands it
	// back at commit) so its staging mark is set before anyone else uses it.
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	ptx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = ptx.Rollback(context.WithoutCancel(ctx)) }()
	data := conn.Conn().PgConn().CustomData()
	created := false
	if data[stagingReady] == nil {
		if _, err := ptx.Exec(ctx, `CREATE TEMPORARY TABLE IF NOT EXISTS `+stagingTable+
			` (LIKE calls INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`); err != nil {
			return err
		}
		created = true
	}
	if _, err := ptx.CopyFrom(ctx, pgx.Identifier{stagingTable}, callColNames, pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	if _, err := ptx.Exec(ctx, insertStagedCalls); err != nil {
		return err
	}
	if err := ptx.Commit(ctx); err != nil {
		return err
	}
	if created {
		// Only now: a rolled-back transaction takes the table with it.
		data[stagingReady] = true
	}
	return nil
}

// callRow is a call's values in callCols order, text cleaned (see clean).
// traces encodes the batch's traces.
func callRow(c *domain.Call, traces *store.TraceEncoder) ([]any, error) {
	var trace, ai any
	if c.Trace != nil {
		t, err := traces.Encode(c.Trace, enc)
		if err != nil {
			return nil, err
		}
		trace = clean(t)
	}
	if c.AI != nil {
		a, err := enc(c.AI)
		if err != nil {
			return nil, err
		}
		ai = clean(a)
	}
	return []any{clean(c.RequestID), tm(c.Time), clean(c.RouteID), clean(c.ServiceID), clean(c.TenantID),
		clean(c.ConsumerID), clean(c.CredentialID), clean(c.CredentialType), clean(c.Method), clean(c.Path),
		c.Status, clean(c.Code), clean(c.ClientIP), clean(c.UserAgent), c.LatencyMicros, c.UpstreamMicros,
		c.BytesIn, c.BytesOut, clean(c.Engine), trace, ai}, nil
}

// clean makes s storable as PostgreSQL text (no NUL, valid UTF-8).
func clean(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
}

func scanCall(r rowScanner) (domain.Call, error) {
	var (
		c         domain.Call
		ts        int64
		trace, ai *string
	)
	if err := r.Scan(&c.RequestID, &ts, &c.RouteID, &c.ServiceID, &c.TenantID, &c.ConsumerID, &c.CredentialID,
		&c.CredentialType, &c.Method, &c.Path, &c.Status, &c.Code, &c.ClientIP, &c.UserAgent, &c.LatencyMicros,
		&c.UpstreamMicros, &c.BytesIn, &c.BytesOut, &c.Engine, &trace, &ai); err != nil {
		return c, err
	}
	c.Time = fromTm(ts)
	if trace != nil {
		if err := dec(*trace, &c.Trace); err != nil {
			return c, fmt.Errorf("call %q: %w", c.RequestID, err)
		}
	}
	if err := decOpt(ai, &c.AI); err != nil {
		return c, fmt.Errorf("call %q: %w", c.RequestID, err)
	}
	return c, nil
}

// QueryCalls lists calls newest first (time, then request ID, descending).
// Since is inclusive, Until exclusive. The cursor is opaque: it encodes the
// last call's (time, request ID), so pages stay stable while new calls
// arrive. A time range prunes the partitions scanned.
func (s *Store) QueryCalls(ctx context.Context, f store.CallFilter) ([]domain.Call, string, error) {
	ctx, cancel := opCtx(ctx, s.opts.QueryTimeout)
	defer cancel()
	var w filter
	if !f.Since.IsZero() {
		w.where = append(w.where, "ts >= "+w.arg(tm(f.Since)))
	}
	if !f.Until.IsZero() {
		w.where = append(w.where, "ts < "+w.arg(tm(f.Until)))
	}
	// consumer_id and code repeat the condition of their partial index
	// (migration 00011) so that the planner may use it.
	if f.ConsumerID != "" {
		w.where = append(w.where, "consumer_id <> ''")
		w.eq("consumer_id", f.ConsumerID)
	}
	w.eq("route_id", f.RouteID)
	w.eq("tenant_id", f.TenantID)
	if f.Code != "" {
		w.where = append(w.where, "code <> ''")
		w.eq("code", f.Code)
	}
	if f.Status != 0 {
		w.where = append(w.where, "status = "+w.arg(f.Status))
	}
	if f.After != "" {
		ts, id, err := decodeCallCursor(f.After)
		if err != nil {
			return nil, "", err
		}
		t, r := w.arg(ts), w.arg(id)
		w.where = append(w.where, fmt.Sprintf("(ts < %s OR (ts = %s AND request_id < %s))", t, t, r))
	}
	limit := pageLimit(f.Limit)
	items, err := queryAll(ctx, s.pool, scanCall,
		`SELECT `+callCols+` FROM calls`+whereClause(w.where)+` ORDER BY ts DESC, request_id DESC LIMIT `+w.arg(limit+1),
		w.args...)
	if err != nil {
		return nil, "", wrapErr(ctx, "query calls", err)
	}
	if len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		return items, encodeCallCursor(tm(last.Time), last.RequestID), nil
	}
	return items, "", nil
}

func encodeCallCursor(ts int64, requestID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(ts, 10) + "." + requestID))
}

func decodeCallCursor(c string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", fmt.Errorf("calls cursor: %w", store.ErrBadCursor)
	}
	tsText, id, ok := strings.Cut(string(b), ".")
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if !ok || err != nil || id == "" {
		return 0, "", fmt.Errorf("calls cursor: %w", store.ErrBadCursor)
	}
	return ts, id, nil
}

// GetCall finds one call by request ID (one index probe per day kept).
func (s *Store) GetCall(ctx context.Context, requestID string) (domain.Call, error) {
	ctx, cancel := opCtx(ctx, s.opts.QueryTimeout)
	defer cancel()
	c, err := scanCall(s.pool.QueryRow(ctx, `SELECT `+callCols+` FROM calls WHERE request_id = $1 ORDER BY ts LIMIT 1`, requestID))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, notFound("call %q not found", requestID)
	}
	if err != nil {
		return c, wrapErr(ctx, "get call", err)
	}
	return c, nil
}

// TouchKeys records last-used times in one statement. A time never moves
// last_used_at backwards, and unknown key ids are ignored (best effort: a
// key deleted since its use has nothing to record). Like calls, touches are
// not admin changes and do not move the version.
func (s *Store) TouchKeys(ctx context.Context, lastUsed map[string]time.Time) error {
	return s.touch(ctx, "api_keys", "key", lastUsed)
}

// touch moves last_used_at forward (never back) for the ids in lastUsed
// with one UPDATE over unnest()ed arrays. Ids are sorted so two nodes
// touching overlapping keys lock rows in the same order. table is a
// constant of the caller's.
func (s *Store) touch(ctx context.Context, table, what string, lastUsed map[string]time.Time) error {
	if len(lastUsed) == 0 {
		return nil
	}
	ctx, cancel := opCtx(ctx, s.opts.QueryTimeout)
	defer cancel()
	ids := make([]string, 0, len(lastUsed))
	for id := range lastUsed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	times := make([]int64, len(ids))
	for i, id := range ids {
		times[i] = tm(lastUsed[id])
	}
	if _, err := s.pool.Exec(ctx, `UPDATE `+table+` AS t SET last_used_at = v.at
		FROM unnest($1::text[], $2::bigint[]) AS v(id, at)
		WHERE t.id = v.id AND (t.last_used_at IS NULL OR t.last_used_at < v.at)`, ids, times); err != nil {
		return wrapErr(ctx, "touch "+what+"s", err)
	}
	return nil
}
