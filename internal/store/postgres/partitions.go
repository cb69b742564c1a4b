package postgres

// The call log on PostgreSQL is range-partitioned by day on ts, so
// retention drops whole days (a catalog operation) instead of deleting
// millions of rows and leaving the table to vacuum.
//
// The portable migrations (internal/store/migrations/00002_calls.sql)
// create calls as a plain table: partitioning has no portable spelling.
// partitionCalls is the PostgreSQL-only follow-up, applied by Open after
// goose under the same advisory lock. It is idempotent (a partitioned
// calls is left alone) and generic: it copies the columns, defaults and
// non-unique indexes the migrations defined, so a later portable
// migration that adds a column or an index to calls needs nothing here
// (ALTER TABLE and CREATE INDEX on a partitioned table reach every
// partition). Two things differ from the plain table:
//
//   - the primary key is (request_id, ts): PostgreSQL requires the
//     partition key in every unique index. InsertCalls skips a record
//     already stored by that key (see its comment for why that is the
//     same rule as SQLite's for every record the gateway writes);
//   - a unique index on calls without ts cannot exist; a migration adding
//     one fails here with a message saying so.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const dayMicros int64 = 24 * 60 * 60 * 1_000_000

// dayOf is the day number (days since 1970-01-01 UTC, floored) of a ts.
func dayOf(us int64) int64 {
	d := us / dayMicros
	if us%dayMicros < 0 {
		d--
	}
	return d
}

// partitionName names a day's partition: calls_p20300102.
func partitionName(day int64) string {
	return "calls_p" + time.UnixMicro(day*dayMicros).UTC().Format("20060102")
}

// retiredPrefix marks a detached partition waiting to be counted and
// dropped (a crash between the two leaves it for the next retention run).
const retiredPrefix = "calls_retired_"

// partitionCalls converts a plain calls table into a partitioned one (see
// the file comment) and reports whether it did. Rows already there are
// moved into day partitions.
func partitionCalls(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	var kind string
	err := pool.QueryRow(ctx, `SELECT relkind::text FROM pg_class WHERE oid = to_regclass('calls')`).Scan(&kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, errors.New("postgres: partition calls: the migrations created no calls table")
	}
	if err != nil {
		return false, wrapErr(ctx, "partition calls", err)
	}
	if kind == "p" {
		return false, nil
	}
	return true, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		type index struct {
			name, def     string
			unique, prime bool
		}
		idx, err := queryAll(ctx, tx, func(r rowScanner) (index, error) {
			var i index
			return i, r.Scan(&i.name, &i.def, &i.unique, &i.prime)
		}, `SELECT c.relname::text, pg_get_indexdef(i.indexrelid), i.indisunique, i.indisprimary
			FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'calls'::regclass ORDER BY c.relname`)
		if err != nil {
			return wrapErr(ctx, "partition calls: read indexes", err)
		}
		for _, i := range idx {
			if i.prime && !strings.HasSuffix(i.def, "(request_id)") {
				return fmt.Errorf("postgres: partition calls: primary key %s is not (request_id); update partitions.go", i.def)
			}
			if i.unique && !i.prime {
				return fmt.Errorf("postgres: partition calls: unique index %s cannot exist on a table partitioned by ts "+
					"(PostgreSQL needs ts in every unique index); make it non-unique or add ts", i.name)
			}
		}
		days, err := queryAll(ctx, tx, func(r rowScanner) (int64, error) {
			var d int64
			return d, r.Scan(&d)
		}, `SELECT DISTINCT floor(ts::numeric / $1)::bigint FROM calls`, dayMicros)
		if err != nil {
			return wrapErr(ctx, "partition calls: read days", err)
		}
		steps := []string{`CREATE TABLE calls_partitioned (LIKE calls INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS)
			PARTITION BY RANGE (ts)`}
		for _, d := range days {
			steps = append(steps, createPartitionSQL("calls_partitioned", d))
		}
		steps = append(steps,
			`INSERT INTO calls_partitioned SELECT * FROM calls`,
			`DROP TABLE calls`,
			`ALTER TABLE calls_partitioned RENAME TO calls`,
			`ALTER TABLE calls ADD CONSTRAINT calls_pkey PRIMARY KEY (request_id, ts)`)
		for _, i := range idx {
			if !i.prime {
				steps = append(steps, i.def)
			}
		}
		for _, st := range steps {
			if _, err := tx.Exec(ctx, st); err != nil {
				return wrapErr(ctx, "partition calls", fmt.Errorf("%s: %w", strings.Fields(st)[0]+" "+strings.Fields(st)[1], err))
			}
		}
		return nil
	})
}

func createPartitionSQL(parent string, day int64) string {
	return fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF %s FOR VALUES FROM (%d) TO (%d)`,
		pgx.Identifier{partitionName(day)}.Sanitize(), parent, day*dayMicros, (day+1)*dayMicros)
}

// ensureDays creates the partitions of days (and of each next day, so
// midnight finds its partition ready) unless this node already knows them.
// Two nodes creating the same day at once is fine: the loser's "already
// exists" is success.
func (s *Store) ensureDays(ctx context.Context, days []int64) error {
	s.parts.mu.Lock()
	var missing []int64
	for _, d := range days {
		for _, dd := range []int64{d, d + 1} {
			if !s.parts.days[dd] {
				missing = append(missing, dd)
			}
		}
	}
	s.parts.mu.Unlock()
	for _, d := range missing {
		_, err := s.pool.Exec(ctx, createPartitionSQL("calls", d))
		switch pgCode(err) {
		case "", codeDuplicateTable, codeUniqueViolation, codeInvalidObjectDef:
			// Created, or created concurrently, or the range is already
			// covered by a partition named otherwise.
		default:
			return wrapErr(ctx, "create call partition "+partitionName(d), err)
		}
		s.parts.mu.Lock()
		s.parts.days[d] = true
		s.parts.mu.Unlock()
	}
	return nil
}

func (s *Store) forgetDays(days []int64) {
	s.parts.mu.Lock()
	defer s.parts.mu.Unlock()
	for _, d := range days {
		delete(s.parts.days, d)
	}
}

// isNoPartition reports PostgreSQL's "no partition of relation found for
// row".
func isNoPartition(err error) bool {
	return pgCode(err) == codeCheckViolation && strings.Contains(err.Error(), "no partition")
}

// boundRE reads pg_get_expr(relpartbound) of a range partition on one
// bigint column: FOR VALUES FROM ('lo') TO ('hi'), either end possibly
// MINVALUE/MAXVALUE.
var boundRE = regexp.MustCompile(`FROM \((?:'(-?\d+)'|(-?\d+)|MINVALUE)\) TO \((?:'(-?\d+)'|(-?\d+)|MAXVALUE)\)`)

// DeleteCallsBefore removes calls strictly older than t and returns how
// many it removed. Days entirely before t are detached and dropped (their
// rows counted first); the day t falls in is pruned with chunked DELETEs
// of Store.deleteChunk rows. One node at a time runs it (advisory lock);
// each step waits at most 5s for its table lock, so retention never
// queues the call log behind a long query for long.
func (s *Store) DeleteCallsBefore(ctx context.Context, t time.Time) (int64, error) {
	cut := tm(t)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, wrapErr(ctx, "delete calls", err)
	}
	defer conn.Release()
	lockKey := "gatehouse.retention." + s.schema
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, lockKey); err != nil {
		return 0, wrapErr(ctx, "delete calls: take lock", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, lockKey)
	}()

	type part struct {
		name  string
		bound string
	}
	parts, err := queryAll(ctx, conn, func(r rowScanner) (part, error) {
		var p part
		return p, r.Scan(&p.name, &p.bound)
	}, `SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'calls'::regclass ORDER BY c.relname`)
	if err != nil {
		return 0, wrapErr(ctx, "delete calls: list partitions", err)
	}
	for _, p := range parts {
		m := boundRE.FindStringSubmatch(p.bound)
		if m == nil {
			continue // DEFAULT or another shape: its rows go by DELETE below
		}
		hiText := m[3] + m[4]
		if hiText == "" {
			continue // MAXVALUE
		}
		hi, err := strconv.ParseInt(hiText, 10, 64)
		if err != nil || hi > cut {
			continue
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '5s'`); err != nil {
				return err
			}
			id := pgx.Identifier{p.name}.Sanitize()
			if _, err := tx.Exec(ctx, `ALTER TABLE calls DETACH PARTITION `+id); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `ALTER TABLE `+id+` RENAME TO `+pgx.Identifier{retiredPrefix + p.name}.Sanitize())
			return err
		})
		if err != nil {
			return 0, wrapErr(ctx, "delete calls: detach "+p.name, err)
		}
		if lo := m[1] + m[2]; lo != "" {
			if v, err := strconv.ParseInt(lo, 10, 64); err == nil {
				s.forgetDays([]int64{dayOf(v)})
			}
		}
	}

	var total int64
	retired, err := queryAll(ctx, conn, func(r rowScanner) (string, error) {
		var n string
		return n, r.Scan(&n)
	}, `SELECT relname::text FROM pg_class WHERE relnamespace = current_schema()::regnamespace
		AND relkind = 'r' AND starts_with(relname::text, $1) ORDER BY relname`, retiredPrefix)
	if err != nil {
		return 0, wrapErr(ctx, "delete calls: list retired partitions", err)
	}
	for _, name := range retired {
		var n int64
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			id := pgx.Identifier{name}.Sanitize()
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+id).Scan(&n); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DROP TABLE `+id)
			return err
		})
		if err != nil {
			return total, wrapErr(ctx, "delete calls: drop "+name, err)
		}
		total += n
	}

	for {
		tag, err := conn.Exec(ctx, `DELETE FROM calls WHERE (request_id, ts) IN
			(SELECT request_id, ts FROM calls WHERE ts < $1 LIMIT $2)`, cut, s.deleteChunk)
		if err != nil {
			return total, wrapErr(ctx, "delete calls", err)
		}
		n := tag.RowsAffected()
		total += n
		if n < int64(s.deleteChunk) {
			return total, nil
		}
	}
}
