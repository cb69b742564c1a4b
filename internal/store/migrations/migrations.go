// Package migrations holds Gatehouse's schema as plain SQL files, embedded in
// the binary and applied with goose. The same files serve the embedded
// SQLite store and the PostgreSQL store (§10), so they use only portable SQL:
// TEXT, BIGINT, INTEGER and BOOLEAN columns, timestamps as BIGINT unix
// microseconds, JSON in TEXT, no engine-specific id generators. Each store
// passes its own goose dialect; the files do not change.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// files is read-only after build: go:embed needs a package-level variable.
//
//go:embed *.sql
var files embed.FS

// FS returns the migration files (NNNNN_name.sql with goose annotations).
func FS() fs.FS { return files }

// Provider returns a goose provider for db that reads the embedded files.
// It does not use goose's global registry, so several stores (and tests) can
// run migrations in one process independently.
func Provider(db *sql.DB, dialect goose.Dialect) (*goose.Provider, error) {
	p, err := goose.NewProvider(dialect, db, files, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Up applies every pending migration to db and returns how many it applied
// (0 when the schema is current). It is safe to call on every start.
func Up(ctx context.Context, db *sql.DB, dialect goose.Dialect) (int, error) {
	p, err := Provider(db, dialect)
	if err != nil {
		return 0, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return len(res), fmt.Errorf("migrations: up: %w", err)
	}
	return len(res), nil
}

// Latest is the version of the newest embedded migration.
func Latest() (int64, error) {
	matches, err := fs.Glob(files, "*.sql")
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	var latest int64
	for _, m := range matches {
		v, err := goose.NumericComponent(m)
		if err != nil {
			return 0, fmt.Errorf("migrations: %s: %w", m, err)
		}
		latest = max(latest, v)
	}
	return latest, nil
}
