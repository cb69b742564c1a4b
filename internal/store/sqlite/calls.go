package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/diskwait"
	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

const callCols = `request_id, ts, route_id, service_id, tenant_id, consumer_id, credential_id, credential_type,
	method, path, status, code, client_ip, user_agent, latency_us, upstream_us, bytes_in, bytes_out, engine, trace, ai`

// The embedded store keeps the call log in blocks (callblock.go): one row
// of call_blocks per batch, and one row of call_ids per call for lookups
// by request ID and for skipping a record already stored. The calls table of
// the shared migrations stays empty here (PostgreSQL uses it); rows an
// older binary wrote there are moved into blocks when the store opens.
const callBlocksSchema = `
CREATE TABLE IF NOT EXISTS call_blocks (
    id        INTEGER PRIMARY KEY,
    ts_min    BIGINT NOT NULL,
    ts_max    BIGINT NOT NULL,
    n         INTEGER NOT NULL,
    consumers TEXT NOT NULL,
    codes     TEXT NOT NULL,
    routes    TEXT NOT NULL,
    tenants   TEXT NOT NULL,
    data      BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS call_blocks_ts_max ON call_blocks (ts_max);
CREATE INDEX IF NOT EXISTS call_blocks_ts_min ON call_blocks (ts_min);
CREATE TABLE IF NOT EXISTS call_ids (
    request_id TEXT PRIMARY KEY,
    block      INTEGER NOT NULL
) WITHOUT ROWID;`

// idsPerStmt is how many request IDs one statement inserts or deletes.
const idsPerStmt = 128

// insertIDsSQL inserts the request IDs of a JSON array (parameter 2) for
// block (parameter 1); an ID already stored is skipped. "WHERE true" keeps
// SQLite from reading ON CONFLICT as a join constraint.
const insertIDsSQL = `INSERT INTO call_ids (request_id, block) SELECT value, ?1 FROM json_each(?2) WHERE true
	ON CONFLICT (request_id) DO NOTHING`

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, other bytes as they are. Not the problem+json
// escaper of internal/reason: that one replaces invalid UTF-8 with U+FFFD,
// which would make the indexed request ID differ from the one in the block.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// blockWork is InsertCalls' reusable scratch space.
type blockWork struct {
	enc  blockEncoder
	keep []*domain.Call
	ids  []byte // the batch's request IDs as a JSON array
}

// InsertCalls writes a batch in one transaction as one block. A record
// whose request ID is already stored (or appears earlier in the batch) is
// skipped, so the call-log writer may retry a batch whose commit outcome it
// did not see. Calls are not admin changes: the version does not move.
func (s *Store) InsertCalls(ctx context.Context, calls []domain.Call) error {
	if len(calls) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: insert calls: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if err := s.insertBlock(ctx, tx, calls); err != nil {
		return err
	}
	if err := commit(tx); err != nil {
		return fmt.Errorf("sqlite: insert calls: commit: %w", err)
	}
	return nil
}

// insertBlock stores calls as one new block inside tx.
func (s *Store) insertBlock(ctx context.Context, tx *sql.Tx, calls []domain.Call) error {
	wk := s.blockWork.Get().(*blockWork)
	defer func() {
		clear(wk.keep)
		wk.keep = wk.keep[:0]
		s.blockWork.Put(wk)
	}()
	pace := diskwait.StartPacer(ctx)
	var id int64
	if err := tx.StmtContext(ctx, s.nextBlockID).QueryRowContext(ctx).Scan(&id); err != nil {
		return fmt.Errorf("sqlite: insert calls: next block: %w", err)
	}
	// The batch's request IDs go in idsPerStmt at a time, each chunk one
	// statement over a JSON array bound as one parameter and expanded by
	// json_each (one bind instead of two per record: the driver's
	// per-argument work was half the cost). Between chunks the writer
	// pauses (diskwait.Pacer): pure-Go SQLite makes no system call while it
	// works, so on a single P (GOMAXPROCS=1, one CPU) requests would
	// otherwise wait behind the whole batch (~1.7 ms of CPU at 512 records,
	// BenchmarkInsertCalls512); paced, the writer takes at most a third of
	// the P while it keeps up.
	var n int64
	for start := 0; start < len(calls); start += idsPerStmt {
		chunk := calls[start:min(start+idsPerStmt, len(calls))]
		wk.ids = append(wk.ids[:0], '[')
		for i := range chunk {
			if i > 0 {
				wk.ids = append(wk.ids, ',')
			}
			wk.ids = appendJSONString(wk.ids, chunk[i].RequestID)
		}
		wk.ids = append(wk.ids, ']')
		if start > 0 {
			pace.Pause()
		}
		res, err := tx.StmtContext(ctx, s.insertIDs).ExecContext(ctx, id, wk.ids)
		if err != nil {
			return fmt.Errorf("sqlite: insert calls %q…: %w", chunk[0].RequestID, err)
		}
		m, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: insert calls: %w", err)
		}
		n += m
	}
	pace.Pause()
	if n == int64(len(calls)) {
		for i := range calls {
			wk.keep = append(wk.keep, &calls[i])
		}
	} else {
		// Some request IDs were stored before (a retried batch, a
		// duplicate within the batch): keep the records whose ID row this
		// block just wrote, each once.
		kept := make(map[string]bool, len(calls))
		for i := range calls {
			c := &calls[i]
			if kept[c.RequestID] {
				continue
			}
			var block int64
			if err := tx.QueryRowContext(ctx, `SELECT block FROM call_ids WHERE request_id = ?`, c.RequestID).Scan(&block); err != nil {
				return fmt.Errorf("sqlite: insert calls: %q: %w", c.RequestID, err)
			}
			if block == id {
				kept[c.RequestID] = true
				wk.keep = append(wk.keep, c)
			}
		}
	}
	if len(wk.keep) == 0 {
		return nil
	}
	return putBlock(ctx, tx.StmtContext(ctx, s.insertBlk), &wk.enc, id, wk.keep, &pace)
}

// nextBlockIDSQL and insertBlockSQL are the call-log writer's per-batch
// statements; replaceBlockSQL rewrites a block (retention), with the same
// parameters.
const (
	nextBlockIDSQL  = `SELECT coalesce(max(id), 0) + 1 FROM call_blocks`
	insertBlockSQL  = `INSERT INTO call_blocks (ts_min, ts_max, n, consumers, codes, routes, tenants, data, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	replaceBlockSQL = `UPDATE call_blocks SET ts_min = ?, ts_max = ?, n = ?, consumers = ?, codes = ?, routes = ?, tenants = ?, data = ? WHERE id = ?`
)

// putBlock encodes calls and writes them as block id with stmt
// (insertBlockSQL or replaceBlockSQL, prepared in the transaction); pace,
// if not nil, pauses between the two.
func putBlock(ctx context.Context, stmt *sql.Stmt, e *blockEncoder, id int64, calls []*domain.Call, pace *diskwait.Pacer) error {
	data, err := e.encode(calls)
	if err != nil {
		return err
	}
	sum := summarize(calls)
	if pace != nil {
		pace.Pause()
	}
	if _, err := stmt.ExecContext(ctx, sum.tsMin, sum.tsMax, len(calls), sum.consumers, sum.codes, sum.routes, sum.tenants, data, id); err != nil {
		return fmt.Errorf("sqlite: insert calls: block %d: %w", id, err)
	}
	return nil
}

// QueryCalls lists calls newest first (time, then request ID, descending).
// Since is inclusive, Until exclusive. The cursor is opaque: it encodes the
// last call's (time, request ID), so pages stay stable while new calls
// arrive.
//
// Blocks are read by descending ts_max, skipping those whose summary
// rules them out. Blocks overlap in time (a long request's record lands in
// a later batch), so a record is final only once it is newer than the
// ts_max of every block not read yet; reading stops when a page (plus one,
// to know whether there is a next page) is final.
func (s *Store) QueryCalls(ctx context.Context, f store.CallFilter) ([]domain.Call, string, error) {
	q, err := newCallQuery(f)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.r.QueryContext(ctx, q.sql, q.args...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: query calls: %w", err)
	}
	defer rows.Close()
	var got []domain.Call
	for rows.Next() {
		var id, tsMax int64
		var data sql.RawBytes
		if err := rows.Scan(&id, &tsMax, &data); err != nil {
			return nil, "", fmt.Errorf("sqlite: query calls: %w", err)
		}
		if finalCount(got, tsMax) > q.limit {
			break
		}
		more, err := decodeBlock(data, got, q.match)
		if err != nil {
			// One damaged block must not hide the rest of the call log
			// from every listing that reaches its time range (until
			// retention deletes it): it is passed over, and the operator
			// told which one.
			slog.Default().LogAttrs(ctx, slog.LevelWarn, "call log: a block that does not decode is left out of a listing",
				slog.Int64("block", id), slog.String("err", err.Error()))
			continue
		}
		got = more
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("sqlite: query calls: %w", err)
	}
	slices.SortFunc(got, newestFirst)
	if len(got) > q.limit {
		got = got[:q.limit]
		last := got[q.limit-1]
		return got, encodeCallCursor(tm(last.Time), last.RequestID), nil
	}
	return got, "", nil
}

// finalCount is how many of got are newer than tsMax.
func finalCount(got []domain.Call, tsMax int64) int {
	n := 0
	for i := range got {
		if tm(got[i].Time) > tsMax {
			n++
		}
	}
	return n
}

func newestFirst(a, b domain.Call) int {
	if c := cmp.Compare(tm(b.Time), tm(a.Time)); c != 0 {
		return c
	}
	return strings.Compare(b.RequestID, a.RequestID)
}

// callQuery is one QueryCalls: the block statement and the exact test of
// each decoded record.
type callQuery struct {
	sql   string
	args  []any
	limit int
	f     store.CallFilter
	// the cursor: only records before (afterTS, afterID) in newest-first order
	cursor          bool
	afterTS         int64
	afterID         string
	since, until    int64
	hasSince, hasUn bool
}

func newCallQuery(f store.CallFilter) (*callQuery, error) {
	q := &callQuery{f: f, limit: pageLimit(f.Limit)}
	var where []string
	if !f.Since.IsZero() {
		q.since, q.hasSince = tm(f.Since), true
		where = append(where, "ts_max >= ?")
		q.args = append(q.args, q.since)
	}
	if !f.Until.IsZero() {
		q.until, q.hasUn = tm(f.Until), true
		where = append(where, "ts_min < ?")
		q.args = append(q.args, q.until)
	}
	if f.After != "" {
		ts, id, err := decodeCallCursor(f.After)
		if err != nil {
			return nil, err
		}
		q.cursor, q.afterTS, q.afterID = true, ts, id
		where = append(where, "ts_min <= ?")
		q.args = append(q.args, ts)
	}
	for _, sf := range []struct{ col, v string }{
		{"consumers", f.ConsumerID}, {"codes", f.Code}, {"routes", f.RouteID}, {"tenants", f.TenantID},
	} {
		if sf.v != "" {
			where = append(where, "instr("+sf.col+", ?) > 0")
			q.args = append(q.args, member(sf.v))
		}
	}
	q.sql = `SELECT id, ts_max, data FROM call_blocks` + whereClause(where) + ` ORDER BY ts_max DESC, id DESC`
	return q, nil
}

// match is the exact filter of one decoded record.
func (q *callQuery) match(c *domain.Call) bool {
	ts := tm(c.Time)
	f := &q.f
	switch {
	case q.hasSince && ts < q.since, q.hasUn && ts >= q.until:
		return false
	case q.cursor && (ts > q.afterTS || ts == q.afterTS && c.RequestID >= q.afterID):
		return false
	case f.ConsumerID != "" && c.ConsumerID != f.ConsumerID, f.RouteID != "" && c.RouteID != f.RouteID,
		f.TenantID != "" && c.TenantID != f.TenantID, f.Code != "" && c.Code != f.Code,
		f.Status != 0 && c.Status != f.Status:
		return false
	}
	return true
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

// GetCall finds one call by request ID: its block through call_ids, then
// the record in the block.
func (s *Store) GetCall(ctx context.Context, requestID string) (domain.Call, error) {
	var data []byte
	err := s.r.QueryRowContext(ctx, `SELECT b.data FROM call_ids i JOIN call_blocks b ON b.id = i.block
		WHERE i.request_id = ?`, requestID).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Call{}, notFound("call %q not found", requestID)
	}
	if err != nil {
		return domain.Call{}, fmt.Errorf("sqlite: get call: %w", err)
	}
	got, err := decodeBlock(data, nil, func(c *domain.Call) bool { return c.RequestID == requestID })
	if err != nil {
		return domain.Call{}, fmt.Errorf("sqlite: get call %q: %w", requestID, err)
	}
	if len(got) == 0 {
		return domain.Call{}, notFound("call %q not found", requestID)
	}
	return got[0], nil
}

// blocksPerDelete is how many blocks one retention transaction reads.
const blocksPerDelete = 8

// DeleteCallsBefore removes calls strictly older than t and returns how
// many it removed. Blocks wholly older are deleted; a block spanning t is
// rewritten with its newer records. Each transaction handles at most
// blocksPerDelete blocks, so pruning a large backlog never holds the write
// connection long enough to stall the call-log writer.
func (s *Store) DeleteCallsBefore(ctx context.Context, t time.Time) (int64, error) {
	cut := tm(t)
	var total int64
	var kept []int64 // blocks that do not decode, within retention: not read again
	for {
		n, more, err := s.deleteBlocksBefore(ctx, cut, &kept)
		total += n
		if err != nil || !more {
			return total, err
		}
	}
}

func (s *Store) deleteBlocksBefore(ctx context.Context, cut int64, kept *[]int64) (removed int64, more bool, err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, false, fmt.Errorf("sqlite: delete calls: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	type block struct {
		id, tsMax, n int64
		data         []byte
	}
	var blocks []block
	args := []any{cut}
	q := `SELECT id, ts_max, n, data FROM call_blocks WHERE ts_min < ?`
	if len(*kept) > 0 {
		q += ` AND id NOT IN (?` + strings.Repeat(", ?", len(*kept)-1) + `)`
		for _, id := range *kept {
			args = append(args, id)
		}
	}
	rows, err := tx.QueryContext(ctx, q+` ORDER BY ts_min LIMIT ?`, append(args, blocksPerDelete)...)
	if err != nil {
		return 0, false, fmt.Errorf("sqlite: delete calls: %w", err)
	}
	for rows.Next() {
		var b block
		if err := rows.Scan(&b.id, &b.tsMax, &b.n, &b.data); err != nil {
			rows.Close()
			return 0, false, fmt.Errorf("sqlite: delete calls: %w", err)
		}
		blocks = append(blocks, b)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, false, fmt.Errorf("sqlite: delete calls: %w", err)
	}
	var e blockEncoder
	for _, b := range blocks {
		calls, err := decodeBlock(b.data, nil, nil)
		if err != nil {
			// A block that does not decode (a damaged page, a bug of an
			// older binary) must not stop retention at it for good: the
			// disk would fill. Its stored range says when all its records
			// are past retention; it is deleted whole then. Until then it
			// is passed over (kept: the run's later reads leave it out, so
			// any number of them cannot hide the blocks after them), and
			// the blocks after it are pruned.
			if b.tsMax >= cut {
				slog.Default().LogAttrs(ctx, slog.LevelWarn, "call log: a block that does not decode holds records within retention; kept until they all pass it",
					slog.Int64("block", b.id), slog.Int64("records", b.n), slog.String("err", err.Error()))
				*kept = append(*kept, b.id)
				continue
			}
			// call_ids has no index on block: a full scan, for a block
			// that should never exist.
			if _, err := tx.ExecContext(ctx, `DELETE FROM call_ids WHERE block = ?`, b.id); err != nil {
				return 0, false, fmt.Errorf("sqlite: delete calls: block %d: %w", b.id, err)
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM call_blocks WHERE id = ?`, b.id); err != nil {
				return 0, false, fmt.Errorf("sqlite: delete calls: block %d: %w", b.id, err)
			}
			slog.Default().LogAttrs(ctx, slog.LevelWarn, "call log: a block that does not decode was past retention and is deleted",
				slog.Int64("block", b.id), slog.Int64("records", b.n), slog.String("err", err.Error()))
			removed += b.n
			continue
		}
		var old []string
		var keep []*domain.Call
		for i := range calls {
			if tm(calls[i].Time) < cut {
				old = append(old, calls[i].RequestID)
			} else {
				keep = append(keep, &calls[i])
			}
		}
		for start := 0; start < len(old); start += idsPerStmt {
			chunk := old[start:min(start+idsPerStmt, len(old))]
			args := make([]any, len(chunk))
			for i, id := range chunk {
				args[i] = id
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM call_ids WHERE request_id IN (?`+
				strings.Repeat(", ?", len(chunk)-1)+`)`, args...); err != nil {
				return 0, false, fmt.Errorf("sqlite: delete calls: %w", err)
			}
		}
		if len(keep) == 0 {
			_, err = tx.ExecContext(ctx, `DELETE FROM call_blocks WHERE id = ?`, b.id)
		} else {
			err = putBlock(ctx, tx.StmtContext(ctx, s.replaceBlk), &e, b.id, keep, nil)
		}
		if err != nil {
			return 0, false, fmt.Errorf("sqlite: delete calls: block %d: %w", b.id, err)
		}
		removed += int64(len(old))
	}
	if err := commit(tx); err != nil {
		return 0, false, fmt.Errorf("sqlite: delete calls: commit: %w", err)
	}
	return removed, len(blocks) == blocksPerDelete, nil
}

// moveLegacyCalls moves rows of the calls table (written by a binary before
// call blocks) into blocks, a batch per transaction, oldest first.
func (s *Store) moveLegacyCalls(ctx context.Context) (int, error) {
	moved := 0
	for {
		calls, err := queryAll(ctx, s.w, scanCall, `SELECT `+callCols+` FROM calls ORDER BY ts LIMIT 512`)
		if err != nil {
			return moved, fmt.Errorf("sqlite: move calls into blocks: %w", err)
		}
		if len(calls) == 0 {
			return moved, nil
		}
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return moved, fmt.Errorf("sqlite: move calls into blocks: %w", err)
		}
		err = s.insertBlock(ctx, tx, calls)
		for start := 0; err == nil && start < len(calls); start += idsPerStmt {
			chunk := calls[start:min(start+idsPerStmt, len(calls))]
			args := make([]any, len(chunk))
			for i := range chunk {
				args[i] = chunk[i].RequestID
			}
			_, err = tx.ExecContext(ctx, `DELETE FROM calls WHERE request_id IN (?`+strings.Repeat(", ?", len(chunk)-1)+`)`, args...)
		}
		if err == nil {
			err = commit(tx)
		}
		if err != nil {
			_ = tx.Rollback()
			return moved, fmt.Errorf("sqlite: move calls into blocks: %w", err)
		}
		moved += len(calls)
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
	if err := commit(sqlTx); err != nil {
		return fmt.Errorf("sqlite: touch %ss: commit: %w", what, err)
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
