package migrations

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite"
)

func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db")+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func tables(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(),
		`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'goose_db_version' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

var wantTables = []string{"admins", "ai_access", "ai_budgets", "ai_model_targets", "ai_models", "ai_prompts", "ai_providers", "alert_rules", "alerts", "api_keys", "audit_log", "calls", "consumers", "credentials", "identity_keys", "issuers", "meta", "rollups", "routes", "services", "subscriptions", "tenants", "users"}

// TestUpDownUp applies, re-applies (a no-op), rolls everything back and
// applies again on SQLite, so the Down sections are exercised too.
func TestUpDownUp(t *testing.T) {
	db := openSQLite(t)
	ctx := t.Context()
	latest, err := Latest()
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		desc       string
		run        func() (int, error)
		wantN      int
		wantTables []string
	}{
		{"first Up applies every migration", func() (int, error) { return Up(ctx, db, goose.DialectSQLite3) }, int(latest), wantTables},
		{"second Up applies nothing", func() (int, error) { return Up(ctx, db, goose.DialectSQLite3) }, 0, wantTables},
		{"DownTo(0) removes every table", func() (int, error) {
			p, err := Provider(db, goose.DialectSQLite3)
			if err != nil {
				return 0, err
			}
			res, err := p.DownTo(ctx, 0)
			return len(res), err
		}, int(latest), nil},
		{"Up after Down rebuilds the schema", func() (int, error) { return Up(ctx, db, goose.DialectSQLite3) }, int(latest), wantTables},
	}
	for _, st := range steps {
		t.Run(st.desc, func(t *testing.T) {
			n, err := st.run()
			if err != nil {
				t.Fatal(err)
			}
			if n != st.wantN {
				t.Errorf("%d migrations ran, want %d", n, st.wantN)
			}
			if got := tables(t, db); !slices.Equal(got, st.wantTables) {
				t.Errorf("tables %v, want %v", got, st.wantTables)
			}
		})
	}
	var version, seq int64
	if err := db.QueryRowContext(ctx, `SELECT (SELECT value FROM meta WHERE key = 'version'), (SELECT value FROM meta WHERE key = 'audit_seq')`).Scan(&version, &seq); err != nil {
		t.Fatal(err)
	}
	if version != 0 || seq != 0 {
		t.Errorf("meta version %d, audit_seq %d; want both seeded at 0", version, seq)
	}
}

func TestLatestMatchesFiles(t *testing.T) {
	names, err := fs.Glob(FS(), "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("no migration files: %v", err)
	}
	latest, err := Latest()
	if err != nil {
		t.Fatal(err)
	}
	if int(latest) != len(names) {
		t.Errorf("latest version %d but %d files: versions must be 1..N without gaps", latest, len(names))
	}
}

// TestPortableSQL lints the files against what would break the same file
// on PostgreSQL (or on SQLite): engine-specific keywords, column types
// outside TEXT/BIGINT/INTEGER/BOOLEAN, timestamps that are not BIGINT.
func TestPortableSQL(t *testing.T) {
	forbidden := []string{"AUTOINCREMENT", "SERIAL", "DATETIME", "TIMESTAMP", "JSONB", "INSERT OR", "REPLACE INTO",
		"PRAGMA", "WITHOUT ROWID", "STRICT", "`", "UNSIGNED", "COLLATE", "IDENTITY", "REAL", "BLOB", "BYTEA"}
	allowedTypes := []string{"TEXT", "BIGINT", "INTEGER", "BOOLEAN"}
	column := regexp.MustCompile(`^\s+([a-z_][a-z0-9_]*)\s+([A-Za-z]+)`)
	names, _ := fs.Glob(FS(), "*.sql")
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			b, err := fs.ReadFile(FS(), name)
			if err != nil {
				t.Fatal(err)
			}
			inTable := false
			for i, line := range strings.Split(string(b), "\n") {
				code, _, _ := strings.Cut(line, "--")
				upper := strings.ToUpper(code)
				for _, f := range forbidden {
					if regexp.MustCompile(`(^|[^A-Z_])` + regexp.QuoteMeta(f) + `($|[^A-Z_])`).MatchString(upper) {
						t.Errorf("%s:%d: %q is not portable: %s", name, i+1, f, strings.TrimSpace(line))
					}
				}
				switch {
				case strings.HasPrefix(upper, "CREATE TABLE"):
					inTable = true
					continue
				case strings.HasPrefix(strings.TrimSpace(upper), ")"):
					inTable = false
				}
				m := column.FindStringSubmatch(code)
				if !inTable || m == nil {
					continue
				}
				col, typ := m[1], strings.ToUpper(m[2])
				if !slices.Contains(allowedTypes, typ) {
					t.Errorf("%s:%d: column %s has type %s; use one of %v", name, i+1, col, typ, allowedTypes)
				}
				if (strings.HasSuffix(col, "_at") || strings.HasSuffix(col, "_until") || col == "ts" || col == "at") && typ != "BIGINT" {
					t.Errorf("%s:%d: time column %s must be BIGINT unix microseconds, is %s", name, i+1, col, typ)
				}
			}
		})
	}
}

// TestRollupModelKeepsTheRows: 00018 rebuilds the rollups table with the
// model in its key; every row written before it survives under model ”,
// and Down merges the models of a key back into one row.
func TestRollupModelKeepsTheRows(t *testing.T) {
	db := openSQLite(t)
	ctx := t.Context()
	p, err := Provider(db, goose.DialectSQLite3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 17); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		ts         int64
		code       string
		n, latency int64
	}{{60e6, "", 3, 900}, {60e6, "key.revoked", 2, 50}, {120e6, "", 7, 1200}} {
		if _, err := db.ExecContext(ctx, `INSERT INTO rollups (ts, tenant_id, route_id, status_class, code, requests, latency_max_us, lat_03, cost_micros)
			VALUES (?, 'ten_1', 'rte_1', '2xx', ?, ?, ?, ?, ?)`, r.ts, r.code, r.n, r.latency, r.n, 10*r.n); err != nil {
			t.Fatal(err)
		}
	}
	count := func() (rows, requests, lat03, cost, maxLat int64) {
		t.Helper()
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*), SUM(requests), SUM(lat_03), SUM(cost_micros), MAX(latency_max_us) FROM rollups`).
			Scan(&rows, &requests, &lat03, &cost, &maxLat); err != nil {
			t.Fatal(err)
		}
		return
	}
	if _, err := p.UpTo(ctx, 18); err != nil {
		t.Fatal(err)
	}
	if rows, req, lat, cost, mx := count(); rows != 3 || req != 12 || lat != 12 || cost != 120 || mx != 1200 {
		t.Errorf("after 00018: %d rows, %d requests, lat_03 %d, cost %d, max latency %d; want 3, 12, 12, 120, 1200", rows, req, lat, cost, mx)
	}
	var blank int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM rollups WHERE model = ''`).Scan(&blank); err != nil || blank != 3 {
		t.Errorf("%d rows under no model (%v), want all 3", blank, err)
	}
	// The same key under two models is two rows now; Down merges them.
	if _, err := db.ExecContext(ctx, `INSERT INTO rollups (ts, tenant_id, route_id, status_class, code, model, requests, latency_max_us, lat_03, cost_micros)
		VALUES (60000000, 'ten_1', 'rte_1', '2xx', '', 'chat', 5, 4000, 5, 50)`); err != nil {
		t.Fatalf("a second model under one key: %v", err)
	}
	if _, err := p.DownTo(ctx, 17); err != nil {
		t.Fatal(err)
	}
	if rows, req, lat, cost, mx := count(); rows != 3 || req != 17 || lat != 17 || cost != 170 || mx != 4000 {
		t.Errorf("after Down: %d rows, %d requests, lat_03 %d, cost %d, max latency %d; want 3, 17, 17, 170, 4000", rows, req, lat, cost, mx)
	}
	if got := tables(t, db); !slices.Equal(got, wantTables) {
		t.Errorf("tables after Down %v, want %v", got, wantTables)
	}
}
