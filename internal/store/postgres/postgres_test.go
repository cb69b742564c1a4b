package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
	"gatehouse/internal/store/migrations"
	"gatehouse/internal/store/postgres/pgtest"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func putTenantTx(ctx context.Context, id, slug string) func(store.Tx) error {
	return func(tx store.Tx) error {
		return tx.PutTenant(ctx, domain.Tenant{ID: id, Slug: slug, Name: slug, Status: domain.StatusActive, CreatedAt: t0, UpdatedAt: t0})
	}
}

func call(id string, at time.Time) domain.Call {
	return domain.Call{RequestID: id, Time: at, Method: "GET", Path: "/v1", Status: 200}
}

func callIDs(t *testing.T, s *Store, f store.CallFilter) []string {
	t.Helper()
	f.Limit = 1000
	got, _, err := s.QueryCalls(t.Context(), f)
	if err != nil {
		t.Fatalf("QueryCalls: %v", err)
	}
	out := []string{}
	for _, c := range got {
		out = append(out, c.RequestID)
	}
	return out
}

// partitions lists the call log's partitions by name.
func partitions(t *testing.T, s *Store) []string {
	t.Helper()
	names, err := queryAll(t.Context(), s.pool, func(r rowScanner) (string, error) {
		var n string
		return n, r.Scan(&n)
	}, `SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'calls'::regclass ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestColumnsCovered fails when a migration adds a table or a column this
// store does not read and write: the conformance suite only notices the
// fields it knows about.
func TestColumnsCovered(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	lists := map[string]string{
		"tenants": tenantCols, "consumers": consumerCols, "api_keys": keyWriteCols, "services": serviceCols,
		"routes": routeCols, "admins": adminCols, "audit_log": auditCols, "subscriptions": subscriptionCols,
		"issuers": issuerCols, "credentials": credentialCols, "calls": callCols,
		"rollups": rollupCols, "alert_rules": alertRuleCols, "alerts": alertCols,
		"ai_providers": providerCols, "ai_models": modelCols, "ai_model_targets": modelTargetCols,
		"ai_access": accessCols, "ai_budgets": budgetCols, "ai_prompts": promptCols, "users": userCols,
		"identity_keys": identityKeyCols,
	}
	internal := map[string]bool{"meta": true, "goose_db_version": true}
	type column struct{ table, name string }
	cols, err := queryAll(t.Context(), s.pool, func(r rowScanner) (column, error) {
		var c column
		return c, r.Scan(&c.table, &c.name)
	}, `SELECT c.table_name::text, c.column_name::text FROM information_schema.columns c
		JOIN pg_class k ON k.relname = c.table_name AND k.relnamespace = c.table_schema::regnamespace
		WHERE c.table_schema = current_schema() AND NOT k.relispartition ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range cols {
		if internal[c.table] {
			continue
		}
		list, ok := lists[c.table]
		if !ok {
			if !seen[c.table] {
				t.Errorf("table %s (from a migration) is not handled by the postgres store", c.table)
			}
			seen[c.table] = true
			continue
		}
		seen[c.table] = true
		if !slices.Contains(splitCols(list), c.name) {
			t.Errorf("column %s.%s (from a migration) is not read or written by the postgres store", c.table, c.name)
		}
	}
	for table := range lists {
		if !seen[table] {
			t.Errorf("the store lists columns of %s, which the migrations do not create", table)
		}
	}
}

func TestOpenURLs(t *testing.T) {
	t.Parallel()
	base := pgtest.Require(t)
	t.Run("search_path selects (and creates) the schema", func(t *testing.T) {
		schema := "gh_open_sp_" + strings.ToLower(fmt.Sprint(time.Now().UnixNano()%1e9))
		t.Cleanup(func() { pgtest.DropSchema(t, schema) })
		s := openURL(t, pgtest.WithSearchPath(t, base, schema), Options{})
		if s.Schema() != schema || s.Channel() != "gatehouse_changes."+schema {
			t.Errorf("schema %q channel %q, want %q and its channel", s.Schema(), s.Channel(), schema)
		}
		if err := s.Update(t.Context(), putTenantTx(t.Context(), "ten_1", "acme")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Options.Schema overrides the URL", func(t *testing.T) {
		schema := "gh_open_opt_" + strings.ToLower(fmt.Sprint(time.Now().UnixNano()%1e9))
		t.Cleanup(func() { pgtest.DropSchema(t, schema) })
		s := openURL(t, pgtest.WithSearchPath(t, base, "not_this_one"), Options{Schema: schema})
		if s.Schema() != schema {
			t.Errorf("schema %q, want %q", s.Schema(), schema)
		}
	})
	bad := []struct {
		desc, url, want string
	}{
		{"another scheme", "mysql://u@127.0.0.1/test", "postgres://"},
		{"an unparsable URL does not echo its password", "postgres://u:hunter2@127.0.0.1:notaport/test", "parse storage URL"},
		{"an unreachable server is ErrUnavailable, password not echoed", "postgres://u:hunter2@127.0.0.1:1/test?connect_timeout=1", "unavailable"},
	}
	for _, tc := range bad {
		t.Run(tc.desc, func(t *testing.T) {
			s, err := Open(t.Context(), tc.url)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q: want it to name %q and never the password", err, tc.want)
			}
		})
	}
	t.Run("channel names stay within PostgreSQL's identifier limit", func(t *testing.T) {
		long := strings.Repeat("s", 80)
		if c := channelFor(long); len(c) > 63 || c == channelFor(long+"x") {
			t.Errorf("channel %q for a long schema: too long or not distinct", c)
		}
		if c := channelFor("public"); c != "gatehouse_changes" {
			t.Errorf("public schema channel %q", c)
		}
	})
}

// TestMigrationProgress: a fresh schema reports every portable migration
// in order, then the call-log partitioning; reopening reports nothing.
func TestMigrationProgress(t *testing.T) {
	t.Parallel()
	url := pgtest.Schema(t)
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		desc string
		want int
	}{
		{"a fresh schema applies everything", int(latest) + 1},
		{"a current schema applies nothing", 0},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			var steps []MigrationStep
			s := openURL(t, url, Options{OnMigration: func(st MigrationStep) { steps = append(steps, st) }})
			s.Close()
			if len(steps) != tc.want {
				t.Fatalf("%d steps reported, want %d: %+v", len(steps), tc.want, steps)
			}
			for i, st := range steps[:max(0, len(steps)-1)] {
				if st.Version != int64(i+1) || !strings.HasSuffix(st.Name, ".sql") {
					t.Errorf("step %d: %+v, want migration %d", i, st, i+1)
				}
			}
			if len(steps) > 0 && !strings.Contains(steps[len(steps)-1].Name, "partition") {
				t.Errorf("last step %+v, want the call log partitioning", steps[len(steps)-1])
			}
		})
	}
}

// TestNodesMigrateTogether opens three stores on one empty schema at once,
// as three nodes starting together would: the advisory lock makes one
// migrate and the others find the schema current.
func TestNodesMigrateTogether(t *testing.T) {
	t.Parallel()
	url := pgtest.Schema(t)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	stores := make(chan *Store, 3)
	for range 3 {
		wg.Go(func() {
			s, err := Open(t.Context(), url)
			errs <- err
			if err == nil {
				stores <- s
			}
		})
	}
	wg.Wait()
	close(errs)
	close(stores)
	for err := range errs {
		if err != nil {
			t.Errorf("Open: %v", err)
		}
	}
	var first *Store
	for s := range stores {
		defer s.Close()
		first = s
	}
	if first == nil {
		t.FailNow()
	}
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	var v int64
	if err := first.pool.QueryRow(t.Context(), `SELECT max(version_id) FROM goose_db_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != latest {
		t.Errorf("schema at migration %d, want %d", v, latest)
	}
	var kind string
	if err := first.pool.QueryRow(t.Context(), `SELECT relkind::text FROM pg_class WHERE oid = 'calls'::regclass`).Scan(&kind); err != nil || kind != "p" {
		t.Errorf("calls relkind %q (%v), want p (partitioned)", kind, err)
	}
}

// TestPartitionExistingCallLog starts from a schema the portable
// migrations alone created, with calls already logged (pre-1970 included),
// and checks Open moves them into day partitions and keeps the indexes.
func TestPartitionExistingCallLog(t *testing.T) {
	t.Parallel()
	url := pgtest.Schema(t)
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDBFromPool(pool)
	if _, err := migrations.Up(t.Context(), db, goose.DialectPostgres); err != nil {
		t.Fatal(err)
	}
	db.Close()
	stamps := []time.Time{t0, t0.Add(time.Hour), t0.Add(24 * time.Hour), time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC)}
	for i, at := range stamps {
		if _, err := pool.Exec(t.Context(), `INSERT INTO calls (request_id, ts) VALUES ($1, $2)`,
			fmt.Sprintf("req_%d", i), at.UnixMicro()); err != nil {
			t.Fatal(err)
		}
	}
	var before []string
	rows, err := pool.Query(t.Context(), `SELECT indexname::text FROM pg_indexes WHERE tablename = 'calls' AND schemaname = current_schema() ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	before, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	pool.Close()

	s := openURL(t, url, Options{})
	same := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", what, got, want)
		}
	}
	same("partitions", partitions(t, s), []string{"calls_p19691231", "calls_p20300102", "calls_p20300103"})
	same("calls kept, newest first", callIDs(t, s, store.CallFilter{}), []string{"req_2", "req_1", "req_0", "req_3"})
	rows, err = s.pool.Query(t.Context(), `SELECT indexname::text FROM pg_indexes WHERE tablename = 'calls' AND schemaname = current_schema() ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	after, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	same("indexes of calls", after, before)
}

func TestRetentionDropsDays(t *testing.T) {
	t.Parallel()
	url := pgtest.Schema(t)
	a := openURL(t, url, Options{})
	b := openURL(t, url, Options{}) // a second node, with its own partition cache
	day := func(d int, h int) time.Time {
		return t0.Truncate(24 * time.Hour).Add(time.Duration(d)*24*time.Hour + time.Duration(h)*time.Hour)
	}
	var calls []domain.Call
	for d := range 4 {
		for h := range 3 {
			calls = append(calls, call(fmt.Sprintf("req_%d_%d", d, h), day(d, 6*h)))
		}
	}
	if err := a.InsertCalls(t.Context(), calls); err != nil {
		t.Fatal(err)
	}
	if err := b.InsertCalls(t.Context(), []domain.Call{call("req_b_0", day(0, 1))}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		desc    string
		before  time.Time
		deleted int64
		parts   []string
	}{
		{"a cut inside day 1 drops day 0 and prunes day 1", day(1, 7), 4 + 2, []string{"calls_p20300103", "calls_p20300104", "calls_p20300105", "calls_p20300106"}},
		{"a cut at a day boundary drops the days before it whole", day(3, 0), 1 + 3, []string{"calls_p20300105", "calls_p20300106"}},
		{"nothing left before the cut", day(3, 0), 0, []string{"calls_p20300105", "calls_p20300106"}},
	}
	for _, st := range steps {
		t.Run(st.desc, func(t *testing.T) {
			n, err := a.DeleteCallsBefore(t.Context(), st.before)
			if err != nil {
				t.Fatal(err)
			}
			if n != st.deleted {
				t.Errorf("deleted %d, want %d", n, st.deleted)
			}
			if got := partitions(t, a); !slices.Equal(got, st.parts) {
				t.Errorf("partitions %v, want %v", got, st.parts)
			}
		})
	}
	t.Run("a late call for a dropped day lands again, through either node", func(t *testing.T) {
		// b still believes day 0 has a partition: its insert fails once,
		// recreates it and retries.
		if err := b.InsertCalls(t.Context(), []domain.Call{call("req_late_b", day(0, 2))}); err != nil {
			t.Fatal(err)
		}
		if err := a.InsertCalls(t.Context(), []domain.Call{call("req_late_a", day(1, 2))}); err != nil {
			t.Fatal(err)
		}
		got := callIDs(t, a, store.CallFilter{Until: day(2, 0)})
		if !slices.Equal(got, []string{"req_late_a", "req_late_b"}) {
			t.Errorf("calls before day 2: %v", got)
		}
	})
	t.Run("a retired partition left by a crash is counted and dropped", func(t *testing.T) {
		if _, err := a.pool.Exec(t.Context(), `ALTER TABLE calls DETACH PARTITION calls_p20300102`); err != nil {
			t.Fatal(err)
		}
		if _, err := a.pool.Exec(t.Context(), `ALTER TABLE calls_p20300102 RENAME TO calls_retired_calls_p20300102`); err != nil {
			t.Fatal(err)
		}
		n, err := a.DeleteCallsBefore(t.Context(), day(0, 0))
		if err != nil || n != 1 {
			t.Errorf("deleted %d, %v; want the retired partition's 1 call", n, err)
		}
	})
}

func TestInsertCallsKeepsTheFirstRecord(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	first := call("req_1", t0)
	first.Code = "first"
	if err := s.InsertCalls(t.Context(), []domain.Call{first}); err != nil {
		t.Fatal(err)
	}
	coded := func(id string, at time.Time, code string) domain.Call {
		c := call(id, at)
		c.Code = code
		return c
	}
	cases := []struct {
		desc  string
		batch []domain.Call
		id    string
		want  string // GetCall's code
		total int    // calls stored after the batch
	}{
		{"a retried record (same id, same time) is skipped",
			[]domain.Call{coded("req_1", t0, "retried")}, "req_1", "first", 1},
		{"an id repeated within a batch keeps its first record",
			[]domain.Call{coded("req_2", t0, "one"), coded("req_2", t0.Add(time.Second), "two")}, "req_2", "one", 2},
		{"an id reused at another time is kept beside the first; GetCall returns the earliest",
			[]domain.Call{coded("req_1", t0.Add(72*time.Hour), "later")}, "req_1", "first", 3},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if err := s.InsertCalls(t.Context(), tc.batch); err != nil {
				t.Fatal(err)
			}
			got, err := s.GetCall(t.Context(), tc.id)
			if err != nil || got.Code != tc.want {
				t.Errorf("GetCall(%s) code %q (%v), want %q", tc.id, got.Code, err, tc.want)
			}
			if n := len(callIDs(t, s, store.CallFilter{})); n != tc.total {
				t.Errorf("%d calls stored, want %d", n, tc.total)
			}
		})
	}
}

func TestInsertCallsCleansText(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	c := call("req_bin", t0)
	c.UserAgent, c.Path = "curl\x00/8", "/caf\xe9"
	ok := call("req_ok", t0)
	if err := s.InsertCalls(t.Context(), []domain.Call{c, ok}); err != nil {
		t.Fatalf("a NUL or invalid UTF-8 failed the batch: %v", err)
	}
	got, err := s.GetCall(t.Context(), "req_bin")
	if err != nil {
		t.Fatal(err)
	}
	if got.UserAgent != "curl\uFFFD/8" || got.Path != "/caf\uFFFD" {
		t.Errorf("stored user agent %q path %q, want U+FFFD in place of the bad bytes", got.UserAgent, got.Path)
	}
}

// TestFailedStatementAbortsUpdate: PostgreSQL refuses every statement after
// a failed one, so an Update whose fn swallows a conflict must neither go
// on silently nor commit.
func TestFailedStatementAbortsUpdate(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := t.Context()
	if err := s.Update(ctx, putTenantTx(ctx, "ten_1", "acme")); err != nil {
		t.Fatal(err)
	}
	v, _ := s.Version(ctx)
	var later error
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := putTenantTx(ctx, "ten_2", "acme")(tx); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("want a conflict, got %w", err)
		}
		later = putTenantTx(ctx, "ten_3", "other")(tx)
		return nil // swallowed
	})
	if later == nil || !strings.Contains(later.Error(), "earlier statement") {
		t.Errorf("write after the failed one: %v, want the abort named", later)
	}
	if err == nil || !errors.Is(err, store.ErrConflict) {
		t.Errorf("Update returned %v, want the conflict that aborted it", err)
	}
	if got, _ := s.Version(ctx); got != v {
		t.Errorf("version %d, want %d (nothing committed)", got, v)
	}
	err = s.View(ctx, func(tx store.Tx) error { _, err := tx.GetTenant(ctx, "ten_3"); return err })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("tenant written after the failure: %v", err)
	}
}

// TestOutage points a store at a relay and cuts it: every call fails fast
// with ErrUnavailable (the node keeps its snapshot) and works again once
// the database is back. The bounds checked are the configured timeouts
// plus slack, i.e. that nothing waits for TCP's own minutes-long timeouts.
func TestOutage(t *testing.T) {
	t.Parallel()
	url := pgtest.Schema(t)
	relay := pgtest.NewRelay(t, pgtest.Target(t))
	// Timeouts short against TCP's minutes, long enough that the
	// operations before and after the outage succeed on a loaded 2-core
	// machine (400 ms made Load time out there under a parallel go test).
	opts := Options{QueryTimeout: 2 * time.Second, UpdateTimeout: 2 * time.Second,
		LoadTimeout: 2 * time.Second, ConnectTimeout: time.Second}
	viaRelay := strings.Replace(pgtest.WithHost(t, url, relay.Addr()), "postgres://postgres@", "postgres://postgres:hunter2@", 1)
	s := openURL(t, viaRelay, opts)
	ctx := t.Context()
	if err := s.Update(ctx, putTenantTx(ctx, "ten_1", "acme")); err != nil {
		t.Fatal(err)
	}
	ops := []struct {
		desc string
		do   func(ctx context.Context) error
	}{
		{"Version", func(ctx context.Context) error { _, err := s.Version(ctx); return err }},
		{"Load", func(ctx context.Context) error { _, err := s.Load(ctx); return err }},
		{"View", func(ctx context.Context) error {
			return s.View(ctx, func(tx store.Tx) error { _, err := tx.GetTenant(ctx, "ten_1"); return err })
		}},
		{"ListTenants", func(ctx context.Context) error { _, _, err := s.ListTenants(ctx, store.ListFilter{}); return err }},
		{"AdminByTokenHash", func(ctx context.Context) error {
			_, err := s.AdminByTokenHash(ctx, "x")
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		}},
		{"Update", func(ctx context.Context) error { return s.Update(ctx, putTenantTx(ctx, "ten_2", "beta")) }},
		{"InsertCalls", func(ctx context.Context) error {
			return s.InsertCalls(ctx, []domain.Call{call(fmt.Sprintf("req_%d", time.Now().UnixNano()), t0)})
		}},
		{"QueryCalls", func(ctx context.Context) error { _, _, err := s.QueryCalls(ctx, store.CallFilter{}); return err }},
		{"TouchKeys", func(ctx context.Context) error {
			return s.TouchKeys(ctx, map[string]time.Time{"key_x": t0})
		}},
	}
	bound := opts.ConnectTimeout + opts.QueryTimeout + 2*time.Second
	outages := []struct {
		desc string
		cut  func()
	}{
		{"connections refused and reset", relay.Cut},
		{"network silent", relay.Silence},
	}
	for _, o := range outages {
		t.Run(o.desc, func(t *testing.T) {
			relay.Restore()
			for _, op := range ops {
				if err := op.do(ctx); err != nil {
					t.Fatalf("%s before the outage: %v", op.desc, err)
				}
			}
			o.cut()
			for _, op := range ops {
				start := time.Now()
				err := op.do(ctx)
				took := time.Since(start)
				switch {
				case err == nil:
					t.Errorf("%s succeeded while the database is unreachable", op.desc)
				case !errors.Is(err, ErrUnavailable):
					t.Errorf("%s: %v, want ErrUnavailable", op.desc, err)
				case strings.Contains(err.Error(), "hunter2"):
					t.Errorf("%s: error %q echoes the password", op.desc, err)
				case took > bound:
					t.Errorf("%s failed after %v, want within %v (the timeouts)", op.desc, took, bound)
				}
			}
			relay.Restore()
			for _, op := range ops {
				if err := op.do(ctx); err != nil {
					t.Errorf("%s after the database came back: %v", op.desc, err)
				}
			}
		})
	}
}
