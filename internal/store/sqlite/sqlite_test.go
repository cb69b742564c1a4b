package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
	"gatehouse/internal/store/migrations"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func putTenantTx(ctx context.Context, id, slug string) func(store.Tx) error {
	return func(tx store.Tx) error {
		return tx.PutTenant(ctx, domain.Tenant{ID: id, Slug: slug, Name: slug, Status: domain.StatusActive, CreatedAt: t0, UpdatedAt: t0})
	}
}

func TestOpenURLs(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cases := []struct {
		desc string
		url  string
		file string // expected database file, relative to dir; "" for in-memory
	}{
		{"default-style relative sqlite URL creates the directory", "sqlite://./gatehouse-data/gatehouse.db", "gatehouse-data/gatehouse.db"},
		{"absolute sqlite URL", "sqlite://" + filepath.Join(dir, "abs", "g.db"), "abs/g.db"},
		{"bare relative path", "nested/deeper/bare.db", "nested/deeper/bare.db"},
		{"sqlite3 scheme alias", "sqlite3://alias.db", "alias.db"},
		{"in-memory", "sqlite://:memory:", ""},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			s, err := Open(t.Context(), tc.url)
			if err != nil {
				t.Fatalf("Open(%q): %v", tc.url, err)
			}
			defer s.Close()
			if err := s.Update(t.Context(), putTenantTx(t.Context(), "ten_1", "acme")); err != nil {
				t.Fatalf("Update: %v", err)
			}
			if tc.file == "" {
				if s.Path() != ":memory:" {
					t.Errorf("Path %q, want :memory:", s.Path())
				}
				return
			}
			fi, err := os.Stat(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatalf("database file: %v", err)
			}
			if perm := fi.Mode().Perm(); perm != 0o600 {
				t.Errorf("database file mode %o, want 600", perm)
			}
			di, err := os.Stat(filepath.Dir(filepath.Join(dir, tc.file)))
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Dir(tc.file) != "." && di.Mode().Perm() != 0o700 {
				t.Errorf("created directory mode %o, want 700", di.Mode().Perm())
			}
		})
	}
	bad := []struct {
		desc, url, want string
	}{
		{"another scheme", "postgres://localhost/db", "scheme"},
		{"no path", "sqlite://", "no file"},
		{"a query string", "sqlite://g.db?mode=ro", "not supported"},
	}
	for _, tc := range bad {
		t.Run(tc.desc+" is refused", func(t *testing.T) {
			s, err := Open(t.Context(), tc.url)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tc.url)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// TestPragmas checks every pool's connection settings, not just the first
// connection's: the pragmas are per connection.
func TestPragmas(t *testing.T) {
	s := openTemp(t)
	cases := []struct {
		desc   string
		db     *sql.DB
		pragma string
		want   string
	}{
		{"writer is in WAL mode", s.w, "journal_mode", "wal"},
		{"writer syncs NORMAL", s.w, "synchronous", "1"},
		{"writer enforces foreign keys", s.w, "foreign_keys", "1"},
		{"writer waits for locks", s.w, "busy_timeout", "5000"},
		{"writer may write", s.w, "query_only", "0"},
		{"reader is in WAL mode", s.r, "journal_mode", "wal"},
		{"reader enforces foreign keys", s.r, "foreign_keys", "1"},
		{"reader waits for locks", s.r, "busy_timeout", "5000"},
		{"reader cannot write", s.r, "query_only", "1"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			var got string
			if err := tc.db.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if !strings.EqualFold(got, tc.want) {
				t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
			}
		})
	}
	if got := s.w.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer pool allows %d connections, want 1", got)
	}
}

func gooseRows(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM goose_db_version").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestReopenKeepsDataAndSkipsMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	ctx := t.Context()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, putTenantTx(ctx, "ten_1", "acme")); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertCalls(ctx, []domain.Call{{RequestID: "req_1", Time: t0, Status: 200}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	// goose records a version-0 row plus one row per applied migration.
	want := int(latest) + 1
	if got := gooseRows(t, path); got != want {
		t.Fatalf("after first open goose_db_version has %d rows, want %d", got, want)
	}

	for i := range 2 {
		s, err := Open(ctx, "sqlite://"+path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		d, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Version != 1 || len(d.Tenants) != 1 || d.Tenants[0].Slug != "acme" {
			t.Errorf("reopen %d: version %d, tenants %+v; want version 1 and acme", i, d.Version, d.Tenants)
		}
		if _, err := s.GetCall(ctx, "req_1"); err != nil {
			t.Errorf("reopen %d: call log lost: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if got := gooseRows(t, path); got != want {
			t.Errorf("reopen %d re-ran migrations: goose_db_version has %d rows, want %d", i, got, want)
		}
	}
}

// TestConcurrentWriters hammers the file store from 8 goroutines with admin
// updates, call batches, key touches and retention, with readers alongside:
// the single write connection must serialize them without SQLITE_BUSY.
func TestConcurrentWriters(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if err := s.Update(ctx, func(tx store.Tx) error {
		if err := putTenantTx(ctx, "ten_0", "zero")(tx); err != nil {
			return err
		}
		if err := tx.PutConsumer(ctx, domain.Consumer{ID: "con_0", TenantID: "ten_0", Name: "c", Status: domain.StatusActive}); err != nil {
			return err
		}
		return tx.PutKey(ctx, domain.APIKey{ID: "key_0", ConsumerID: "con_0", Hash: "h0", Environment: domain.EnvLive})
	}); err != nil {
		t.Fatal(err)
	}
	const workers, rounds = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds*5)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				id := fmt.Sprintf("%d_%d", w, i)
				errs <- s.Update(ctx, putTenantTx(ctx, "ten_"+id, "slug-"+id))
				errs <- s.InsertCalls(ctx, []domain.Call{{RequestID: "req_" + id, Time: t0.Add(time.Duration(i) * time.Second)}})
				errs <- s.TouchKeys(ctx, map[string]time.Time{"key_0": t0.Add(time.Duration(i) * time.Second)})
				_, err := s.DeleteCallsBefore(ctx, t0.Add(-time.Hour))
				errs <- err
				_, err = s.Load(ctx)
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent operation failed: %v", err)
		}
	}
	v, err := s.Version(ctx)
	if err != nil || v != 1+workers*rounds {
		t.Errorf("version %d, %v; want %d", v, err, 1+workers*rounds)
	}
}

// TestCrossProcessWriter checks busy_timeout: another process holding the
// write lock briefly delays an Update instead of failing it.
func TestCrossProcessWriter(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	other, err := sql.Open("sqlite", s.Path()+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Update(ctx, putTenantTx(ctx, "ten_1", "acme")) }()
	// Wait (without sleeping) until the Update holds the store's write
	// connection: it is then beginning its transaction, which cannot
	// succeed while the other connection holds the lock.
	for s.w.Stats().InUse == 0 && ctx.Err() == nil {
		runtime.Gosched()
	}
	select {
	case err := <-done:
		t.Fatalf("Update finished while another connection held the write lock: %v", err)
	default:
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Update after the lock was released: %v", err)
	}
}

// TestLargeRetentionDeletesInChunks removes more rows than one chunk.
func TestLargeRetentionDeletesInChunks(t *testing.T) {
	s := openTemp(t)
	s.deleteChunk = 100
	ctx := t.Context()
	const n = 2*100 + 17
	calls := make([]domain.Call, n)
	for i := range calls {
		calls[i] = domain.Call{RequestID: fmt.Sprintf("req_%06d", i), Time: t0.Add(time.Duration(i) * time.Millisecond)}
	}
	if err := s.InsertCalls(ctx, calls); err != nil {
		t.Fatal(err)
	}
	got, err := s.DeleteCallsBefore(ctx, t0.Add(time.Duration(n-5)*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if got != n-5 {
		t.Errorf("deleted %d, want %d", got, n-5)
	}
	left, _, err := s.QueryCalls(ctx, store.CallFilter{})
	if err != nil || len(left) != 5 {
		t.Errorf("%d calls left, %v; want 5", len(left), err)
	}
}

// crashChildEnv makes the test binary act as the crashing child of
// TestCommittedUpdateSurvivesKill.
const crashChildEnv = "GATEHOUSE_SQLITE_CRASH_CHILD"

// TestCommittedUpdateSurvivesKill re-runs this test binary as a child that
// opens the store, commits an Update and a call batch, reports it, and is
// then killed with SIGKILL while still holding the database open (no Close,
// no checkpoint). Reopening must show both commits.
func TestCommittedUpdateSurvivesKill(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCommittedUpdateSurvivesKill$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "committed" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child said %q, %v; want committed", line, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("child exited cleanly; it should have been killed")
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Logf("no WAL file left behind (%v): the commit reached the main file", err)
	}

	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	d, err := s.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d.Version != 1 || len(d.Tenants) != 1 || d.Tenants[0].ID != "ten_crash" {
		t.Errorf("after kill -9: version %d, tenants %+v; want the committed tenant at version 1", d.Version, d.Tenants)
	}
	if _, err := s.GetCall(t.Context(), "req_crash"); err != nil {
		t.Errorf("after kill -9 the committed call is gone: %v", err)
	}
}

// crashChild commits, says so, then blocks until killed. It never returns
// normally: a returning child would run the rest of the tests.
func crashChild(path string) {
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err == nil {
		err = errors.Join(
			s.Update(ctx, putTenantTx(ctx, "ten_crash", "crash")),
			s.InsertCalls(ctx, []domain.Call{{RequestID: "req_crash", Time: t0, Status: 500}}),
		)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	fmt.Println("committed")
	io.Copy(io.Discard, os.Stdin) // blocks until the parent kills us
	os.Exit(1)                    // the parent closed stdin without killing: still no Close
}

// TestRetentionPassesBlocksThatDoNotDecode: a damaged block must not stop
// retention at it for good (the disk would fill), nor fail every listing
// of its time range. One wholly past the cut
// is deleted with its request IDs; one holding records within retention is
// kept; the blocks around them are pruned as usual, and no error stops it.
func TestRetentionPassesBlocksThatDoNotDecode(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	batch := func(prefix string, from time.Time, n int, step time.Duration) []domain.Call {
		calls := make([]domain.Call, n)
		for i := range calls {
			calls[i] = domain.Call{RequestID: fmt.Sprintf("%s_%03d", prefix, i), Time: from.Add(time.Duration(i) * step)}
		}
		return calls
	}
	cut := t0.Add(time.Hour)
	// One block per InsertCalls, oldest first: damaged and old, old,
	// damaged and spanning the cut, new.
	for _, calls := range [][]domain.Call{
		batch("damaged_old", t0, 10, time.Second),
		batch("old", t0.Add(time.Minute), 20, time.Second),
		batch("damaged_span", cut.Add(-time.Minute), 5, time.Minute),
		batch("new", cut.Add(time.Hour), 3, time.Second),
	} {
		if err := s.InsertCalls(ctx, calls); err != nil {
			t.Fatal(err)
		}
	}
	var ids []int64
	rows, err := s.w.QueryContext(ctx, `SELECT id FROM call_blocks ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil || len(ids) != 4 {
		t.Fatalf("blocks %v, %v: want 4", ids, err)
	}
	for _, id := range []int64{ids[0], ids[2]} {
		if _, err := s.w.ExecContext(ctx, `UPDATE call_blocks SET data = x'00ff00ff' WHERE id = ?`, id); err != nil {
			t.Fatal(err)
		}
	}
	// Listings pass over them too, with the rest of the log.
	if listed, _, err := s.QueryCalls(ctx, store.CallFilter{}); err != nil || len(listed) != 20+3 {
		t.Errorf("QueryCalls: %d calls, %v; want the 23 of the blocks that decode", len(listed), err)
	}
	got, err := s.DeleteCallsBefore(ctx, cut)
	if err != nil {
		t.Fatalf("DeleteCallsBefore: %v (a damaged block stopped retention)", err)
	}
	if got != 10+20 {
		t.Errorf("deleted %d, want 30 (the damaged old block's 10 and the old block's 20)", got)
	}
	var left []int64
	rows, err = s.w.QueryContext(ctx, `SELECT id FROM call_blocks ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		_ = rows.Scan(&id)
		left = append(left, id)
	}
	_ = rows.Close()
	if !slices.Equal(left, []int64{ids[2], ids[3]}) {
		t.Errorf("blocks left %v, want the damaged one within retention and the new one %v", left, []int64{ids[2], ids[3]})
	}
	var n int
	if err := s.w.QueryRowContext(ctx, `SELECT count(*) FROM call_ids WHERE request_id LIKE 'damaged_old%' OR request_id LIKE 'old%'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d request IDs of deleted blocks still indexed (%v)", n, err)
	}
	if _, err := s.GetCall(ctx, "new_001"); err != nil {
		t.Errorf("GetCall of a kept record: %v", err)
	}
	// Once its records are all past retention, the damaged block goes too.
	if got, err := s.DeleteCallsBefore(ctx, cut.Add(5*time.Minute)); err != nil || got != 5 {
		t.Errorf("second pass deleted %d, %v; want the damaged block's 5", got, err)
	}
}

// TestRetentionPassesManyBlocksThatDoNotDecode: more damaged blocks within
// retention than one retention transaction reads, all older by ts_min than
// a block past retention, do not hide that block: retention reads past
// them.
func TestRetentionPassesManyBlocksThatDoNotDecode(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	cut := t0.Add(time.Hour)
	for i := range blocksPerDelete + 2 {
		calls := []domain.Call{
			{RequestID: fmt.Sprintf("span_%02d_a", i), Time: t0.Add(time.Duration(i) * time.Second)},
			{RequestID: fmt.Sprintf("span_%02d_b", i), Time: cut.Add(time.Hour)},
		}
		if err := s.InsertCalls(ctx, calls); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE call_blocks SET data = x'00ff00ff'`); err != nil {
		t.Fatal(err)
	}
	old := make([]domain.Call, 5)
	for i := range old {
		old[i] = domain.Call{RequestID: fmt.Sprintf("old_%d", i), Time: t0.Add(10*time.Minute + time.Duration(i)*time.Second)}
	}
	if err := s.InsertCalls(ctx, old); err != nil {
		t.Fatal(err)
	}
	got, err := s.DeleteCallsBefore(ctx, cut)
	if err != nil || got != 5 {
		t.Errorf("DeleteCallsBefore: %d, %v; want the 5 records of the block behind the damaged ones", got, err)
	}
}
