package postgres

import (
	"context"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/store"
	"gatehouse/internal/store/postgres/pgtest"
	"gatehouse/internal/store/storetest"
)

// openTemp opens a store in a fresh schema; the store is closed and the
// schema dropped when the test ends.
func openTemp(t testing.TB) *Store {
	t.Helper()
	return openURL(t, pgtest.Schema(t), Options{})
}

func openURL(t testing.TB, url string, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := OpenWith(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// TestConformance runs the store conformance suite. Migrating a schema
// costs far more than a subtest, so the suite shares one schema, migrated
// by the first Open: before each later subtest the previous store is
// closed and the schema emptied back to its just-migrated state (call
// partitions dropped, every table emptied, the meta counters restored).
// TestNodesMigrateTogether and TestPartitionExistingCallLog cover Open on
// fresh schemas.
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, sharedSchema(t))
}

// TestAnalyticsConformance runs the analytics and alerts suite the same way.
func TestAnalyticsConformance(t *testing.T) {
	t.Parallel()
	storetest.RunAnalytics(t, sharedSchema(t))
}

// TestAIConformance runs the AI gateway suite the same way.
func TestAIConformance(t *testing.T) {
	t.Parallel()
	storetest.RunAI(t, sharedSchema(t))
}

// sharedSchema returns an open function for a conformance suite: the
// first call migrates a fresh schema, each later one resets it.
func sharedSchema(t *testing.T) func(t *testing.T) store.Store {
	url := pgtest.Schema(t)
	var meta [][]any
	return func(t *testing.T) store.Store {
		if meta != nil {
			resetSchema(t, url, meta)
		}
		s := openURL(t, url, Options{})
		if meta == nil {
			rows, err := s.pool.Query(t.Context(), `SELECT key, value FROM meta`)
			if err != nil {
				t.Fatal(err)
			}
			if meta, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() }); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
}

// resetSchema empties the schema url selects back to its migrated state.
func resetSchema(t *testing.T, url string, meta [][]any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var parts, tables []string
		rows, err := tx.Query(ctx, `SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'calls'::regclass`)
		if err != nil {
			return err
		}
		if parts, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		for _, p := range parts {
			if _, err := tx.Exec(ctx, `DROP TABLE `+p); err != nil {
				return err
			}
		}
		rows, err = tx.Query(ctx, `SELECT quote_ident(tablename) FROM pg_tables
			WHERE schemaname = current_schema() AND tablename <> 'goose_db_version'`)
		if err != nil {
			return err
		}
		if tables, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		// DELETE, not TRUNCATE: on tables this small it is an order of
		// magnitude cheaper (TRUNCATE replaces every table and index file).
		// Foreign keys decide the order: a table whose rows are still
		// referenced fails inside its savepoint and is retried next pass.
		for pass := 0; len(tables) > 0; pass++ {
			var left []string
			for _, table := range tables {
				sp, err := tx.Begin(ctx)
				if err != nil {
					return err
				}
				if _, err := sp.Exec(ctx, `DELETE FROM `+table); err != nil {
					if pass > len(tables) {
						return err
					}
					left = append(left, table)
					if err := sp.Rollback(ctx); err != nil {
						return err
					}
					continue
				}
				if err := sp.Commit(ctx); err != nil {
					return err
				}
			}
			tables = left
		}
		for _, kv := range meta {
			if _, err := tx.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2)`, kv...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reset schema: %v", err)
	}
}

// TestKeyStreamConformance runs the key-streaming suite (LoadStream,
// incremental key loads) the same way.
func TestKeyStreamConformance(t *testing.T) {
	t.Parallel()
	storetest.RunKeyStream(t, sharedSchema(t))
}
