package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

const callCols = `request_id, ts, route_id, service_id, tenant_id, consumer_id, credential_id, credential_type,
	method, path, status, code, client_ip, user_agent, latency_us, upstream_us, bytes_in, bytes_out, engine, trace, ai`

// callsPerStmt is how many rows one INSERT statement carries. Multi-row
// statements amortize the driver's per-statement cost (binding, stepping,
// its context watcher) over many rows; 32 rows × 20 columns stays far below
// SQLite's 32 766 bound-parameter limit. Measured by BenchmarkInsertCalls512.
const callsPerStmt = 32

const callColCount = 21

// insertCallsSQL builds "INSERT … VALUES (…),(…) … ON CONFLICT DO NOTHING"
// for n rows.
func insertCallsSQL(n int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", callColCount), ", ") + ")"
	var b strings.Builder
	b.WriteString(`INSERT INTO calls (` + callCols + `) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(` ON CONFLICT (request_id) DO NOTHING`)
	return b.String()
}

// InsertCalls writes a batch in one transaction through prepared
// multi-row statements (one for full chunks of callsPerStmt rows, one for
// the remainder). A record whose request ID is already stored is skipped,
// so the call-log writer may retry a batch whose commit outcome it did not
// see. Calls are not admin changes: the version does not move.
func (s *Store) InsertCalls(ctx context.Context, calls []domain.Call) error {
	if len(calls) == 0 {
		return nil
	}
	sqlTx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: insert calls: begin: %w", err)
	}
	defer sqlTx.Rollback() //nolint:errcheck // no-op after Commit
	// The full-chunk statement is prepared once per Store on its single
	// write connection; StmtContext reuses that preparation.
	full := sqlTx.StmtContext(ctx, s.insertCalls)
	defer full.Close()
	args := make([]any, 0, callsPerStmt*callColCount)
	var traces store.TraceEncoder
	for start := 0; start < len(calls); start += callsPerStmt {
		chunk := calls[start:min(start+callsPerStmt, len(calls))]
		args = args[:0]
		for i := range chunk {
			c := &chunk[i]
			var trace, ai any
			if c.Trace != nil {
				if trace, err = traces.Encode(c.Trace, enc); err != nil {
					return err
				}
			}
			if c.AI != nil {
				if ai, err = enc(c.AI); err != nil {
					return err
				}
			}
			args = append(args, c.RequestID, tm(c.Time), c.RouteID, c.ServiceID, c.TenantID,
				c.ConsumerID, c.CredentialID, c.CredentialType, c.Method, c.Path, c.Status, c.Code, c.ClientIP,
				c.UserAgent, c.LatencyMicros, c.UpstreamMicros, c.BytesIn, c.BytesOut, c.Engine, trace, ai)
		}
		if len(chunk) == callsPerStmt {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = sqlTx.ExecContext(ctx, insertCallsSQL(len(chunk)), args...)
		}
		if err != nil {
			return fmt.Errorf("sqlite: insert calls %q…: %w", chunk[0].RequestID, err)
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("sqlite: insert calls: commit: %w", err)
	}
	return nil
}

func scanCall(r rowScanner) (domain.Call, error) {
	var (
		c     domain.Call
		ts    int64
		trace sql.NullString
		ai    sql.NullString
	)
	if err := r.Scan(&c.RequestID, &ts, &c.RouteID, &c.ServiceID, &c.TenantID, &c.ConsumerID, &c.CredentialID,
		&c.CredentialType, &c.Method, &c.Path, &c.Status, &c.Code, &c.ClientIP, &c.UserAgent, &c.LatencyMicros,
		&c.UpstreamMicros, &c.BytesIn, &c.BytesOut, &c.Engine, &trace, &ai); err != nil {
		return c, err
	}
	c.Time = fromTm(ts)
	if trace.Valid {
		if err := dec(trace.String, &c.Trace); err != nil {
			return c, fmt.Errorf("call %q: %w", c.RequestID, err)
		}
	}
	if ai.Valid {
		if err := dec(ai.String, &c.AI); err != nil {
			return c, fmt.Errorf("call %q: %w", c.RequestID, err)
		}
	}
	return c, nil
}

// QueryCalls lists calls newest first (time, then request ID, descending).
// Since is inclusive, Until exclusive. The cursor is opaque: it encodes the
// last call's (time, request ID), so pages stay stable while new calls
// arrive.
func (s *Store) QueryCalls(ctx context.Context, f store.CallFilter) ([]domain.Call, string, error) {
	query, args, limit, err := callsQuery(f)
	if err != nil {
		return nil, "", err
	}
	items, err := queryAll(ctx, s.r, scanCall, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: query calls: %w", err)
	}
	if len(items) > limit {
		items = items[:limit]
		last := items[limit-1]
		return items, encodeCallCursor(tm(last.Time), last.RequestID), nil
	}
	return items, "", nil
}

// callsQuery is QueryCalls' statement, its arguments and the page size (it
// asks for one row more, to know whether there is a next page).
func callsQuery(f store.CallFilter) (string, []any, int, error) {
	var w filter
	if !f.Since.IsZero() {
		w.where = append(w.where, "ts >= ?")
		w.args = append(w.args, tm(f.Since))
	}
	if !f.Until.IsZero() {
		w.where = append(w.where, "ts < ?")
		w.args = append(w.args, tm(f.Until))
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
		w.where = append(w.where, "status = ?")
		w.args = append(w.args, f.Status)
	}
	if f.After != "" {
		ts, id, err := decodeCallCursor(f.After)
		if err != nil {
			return "", nil, 0, err
		}
		w.where = append(w.where, "(ts < ? OR (ts = ? AND request_id < ?))")
		w.args = append(w.args, ts, ts, id)
	}
	limit := pageLimit(f.Limit)
	return `SELECT ` + callCols + ` FROM calls` + whereClause(w.where) + ` ORDER BY ts DESC, request_id DESC LIMIT ?`,
		append(w.args, limit+1), limit, nil
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

// GetCall finds one call by request ID.
func (s *Store) GetCall(ctx context.Context, requestID string) (domain.Call, error) {
	c, err := scanCall(s.r.QueryRowContext(ctx, `SELECT `+callCols+` FROM calls WHERE request_id = ?`, requestID))
	if errors.Is(err, sql.ErrNoRows) {
		return c, notFound("call %q not found", requestID)
	}
	if err != nil {
		return c, fmt.Errorf("sqlite: get call: %w", err)
	}
	return c, nil
}

// DeleteCallsBefore removes calls strictly older than t, in chunks of
// Store.deleteChunk rows per transaction, and returns how many it removed.
func (s *Store) DeleteCallsBefore(ctx context.Context, t time.Time) (int64, error) {
	var total int64
	for {
		res, err := s.w.ExecContext(ctx, `DELETE FROM calls WHERE request_id IN
			(SELECT request_id FROM calls WHERE ts < ? LIMIT ?)`, tm(t), s.deleteChunk)
		if err != nil {
			return total, fmt.Errorf("sqlite: delete calls: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("sqlite: delete calls: %w", err)
		}
		total += n
		if n < int64(s.deleteChunk) {
			return total, nil
		}
	}
}

// TouchKeys records last-used times in one transaction. A time never moves
// last_used_at backwards, and unknown key ids are ignored (best effort: a
// key deleted since its use has nothing to record). Like calls, touches are
// not admin changes and do not move the version.
func (s *Store) TouchKeys(ctx context.Context, lastUsed map[string]time.Time) error {
	return s.touch(ctx, "api_keys", "key", lastUsed)
}

// touch moves last_used_at forward (never back) for the ids in lastUsed,
// in one transaction. table is a constant of the caller's.
func (s *Store) touch(ctx context.Context, table, what string, lastUsed map[string]time.Time) error {
	if len(lastUsed) == 0 {
		return nil
	}
	sqlTx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: touch %ss: begin: %w", what, err)
	}
	defer sqlTx.Rollback() //nolint:errcheck // no-op after Commit
	stmt, err := sqlTx.PrepareContext(ctx,
		`UPDATE `+table+` SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`)
	if err != nil {
		return fmt.Errorf("sqlite: touch %ss: prepare: %w", what, err)
	}
	defer stmt.Close()
	for id, at := range lastUsed {
		us := tm(at)
		if _, err := stmt.ExecContext(ctx, us, id, us); err != nil {
			return fmt.Errorf("sqlite: touch %s %q: %w", what, id, err)
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("sqlite: touch %ss: commit: %w", what, err)
	}
	return nil
}
