package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
	"gatehouse/internal/store/postgres/pgtest"
)

// seedLoad writes a tenant, a consumer and n keys, one change each, so
// an incremental load has keys of later versions to find.
func seedLoad(t *testing.T, s *Store, n int) {
	t.Helper()
	ctx := t.Context()
	if err := s.Update(ctx, func(tx store.Tx) error {
		return errors.Join(putTenantTx(ctx, "ten_1", "acme")(tx),
			tx.PutConsumer(ctx, domain.Consumer{ID: "con_1", TenantID: "ten_1", Name: "shop", Status: domain.StatusActive,
				Scopes: []string{"orders:read"}, CreatedAt: t0, UpdatedAt: t0}))
	}); err != nil {
		t.Fatalf("seed: %v", err)
	}
	for i := range n {
		if err := s.Update(ctx, func(tx store.Tx) error {
			return tx.PutKey(ctx, domain.APIKey{ID: fmt.Sprintf("key_%d", i), ConsumerID: "con_1", Environment: domain.EnvLive,
				Hash: fmt.Sprintf("hash_%d", i), Last4: "ab12", Scopes: []string{"orders:read"}, CreatedAt: t0})
		}); err != nil {
			t.Fatalf("seed key %d: %v", i, err)
		}
	}
}

// TestLoadRoundTrips counts the network round trips of a load through a
// relay that sees every byte. A cluster node reloads on every change
// another node makes, and on a busy machine each round trip can wait
// hundreds of milliseconds for the CPU on either side, so the
// propagation bound of §10 (100 ms p99) holds only if a load waits on
// the network a constant, small number of times, not once per table.
// Turns are counted, not timed, so the test is exact under any load.
func TestLoadRoundTrips(t *testing.T) {
	t.Parallel()
	url := pgtest.Schema(t)
	relay := pgtest.NewRelay(t, pgtest.Target(t))
	// One connection, so every load runs on the connection whose prepared
	// statements the previous one left (pool_max_conns=1).
	s := openURL(t, pgtest.WithHost(t, url, relay.Addr())+"&pool_max_conns=1", Options{})
	seedLoad(t, s, 5)
	ctx := t.Context()
	v, err := s.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	streamed := 0
	loads := []struct {
		desc string
		load func(ctx context.Context) (*store.Data, error)
		keys int
	}{
		{"Load", s.Load, 5},
		{"LoadStream of every key", func(ctx context.Context) (*store.Data, error) {
			return s.LoadStream(ctx, store.LoadOptions{Key: func(*domain.APIKey) error { streamed++; return nil }})
		}, 5},
		{"LoadStream of the keys since a version", func(ctx context.Context) (*store.Data, error) {
			return s.LoadStream(ctx, store.LoadOptions{KeysSince: v - 2,
				Key: func(*domain.APIKey) error { streamed++; return nil }})
		}, 2},
	}
	for _, l := range loads {
		// The first load of each kind on the connection prepares its
		// statements: one more round trip for all of them together.
		for _, run := range []struct {
			name string
			max  int64
		}{{"first", 2}, {"again", 1}} {
			streamed = 0
			before := relay.Turns()
			d, err := l.load(ctx)
			turns := relay.Turns() - before
			if err != nil {
				t.Fatalf("%s (%s): %v", l.desc, run.name, err)
			}
			if got := len(d.Keys) + streamed; got != l.keys || d.Version != v || len(d.Consumers) != 1 {
				t.Errorf("%s (%s): %d keys, version %d, %d consumers; want %d keys, version %d, 1 consumer",
					l.desc, run.name, got, d.Version, len(d.Consumers), l.keys, v)
			}
			t.Logf("%s (%s): %d round trips", l.desc, run.name, turns)
			if turns > run.max {
				t.Errorf("%s (%s) took %d round trips, want at most %d", l.desc, run.name, turns, run.max)
			}
		}
	}
}

// TestLoadFailureNamesTheStep makes one table of the load fail, once
// when pgx prepares the load's statements (the table is missing) and
// once when PostgreSQL runs them (a view in its place that fails when
// read). The load fails naming that table, not a neighbour (the results
// of a batched load are matched to its statements by position), and the
// connection is back in the pool outside any transaction, so the next
// call on it works.
func TestLoadFailureNamesTheStep(t *testing.T) {
	t.Parallel()
	s := openURL(t, pgtest.Schema(t)+"&pool_max_conns=1", Options{})
	seedLoad(t, s, 2)
	ctx := t.Context()
	exec := func(sql string) {
		t.Helper()
		if _, err := s.pool.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	loads := []struct {
		desc string
		load func() error
	}{
		{"Load", func() error { _, err := s.Load(ctx); return err }},
		{"LoadStream", func() error {
			_, err := s.LoadStream(ctx, store.LoadOptions{Key: func(*domain.APIKey) error { return nil }})
			return err
		}},
	}
	cases := []struct {
		desc, breaks, repairs string
		want                  []string
	}{
		{"table missing", `ALTER TABLE ai_budgets RENAME TO ai_budgets_gone`, `ALTER TABLE ai_budgets_gone RENAME TO ai_budgets`,
			[]string{"load: prepare the statement reading ai_budgets", `relation "ai_budgets" does not exist`}},
		{"table failing when read", `ALTER TABLE ai_budgets RENAME TO ai_budgets_gone;
			CREATE VIEW ai_budgets AS SELECT * FROM ai_budgets_gone WHERE 1 / 0 = 1`,
			`DROP VIEW ai_budgets; ALTER TABLE ai_budgets_gone RENAME TO ai_budgets`,
			[]string{"load budgets", "division by zero"}},
	}
	for _, c := range cases {
		exec(c.breaks)
		for _, l := range loads {
			err := l.load()
			for _, w := range c.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("%s, %s: %v, want an error saying %q", c.desc, l.desc, err, w)
				}
			}
			if _, err := s.Version(ctx); err != nil {
				t.Errorf("%s: Version after the failed %s: %v", c.desc, l.desc, err)
			}
		}
		exec(c.repairs)
		for _, l := range loads {
			if err := l.load(); err != nil {
				t.Errorf("%s: %s once repaired: %v", c.desc, l.desc, err)
			}
		}
	}
}
