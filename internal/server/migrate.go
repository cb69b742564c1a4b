package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pressly/goose/v3"

	"gatehouse/internal/store/migrations"
	"gatehouse/internal/store/postgres"
)

// Migrate applies pending schema migrations to the store at url, one by
// one, printing each with its duration: the progress an operator wants
// before a rolling upgrade. Opening the gateway also migrates; this is the
// explicit, observable way.
func Migrate(ctx context.Context, url string, out io.Writer) error {
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		n := 0
		st, err := postgres.OpenWith(ctx, url, postgres.Options{OnMigration: func(m postgres.MigrationStep) {
			n++
			fmt.Fprintf(out, "[%d] %s … done in %s\n", n, m.Name, m.Took.Round(time.Millisecond))
		}})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "schema is up to date (%d steps applied now)\n", n)
		return st.Close()
	}
	db, dialect, err := openSQL(url)
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := migrations.Provider(db, dialect)
	if err != nil {
		return err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return fmt.Errorf("read migration status: %w", err)
	}
	var pending []*goose.MigrationStatus
	for _, s := range st {
		if s.State == goose.StatePending {
			pending = append(pending, s)
		}
	}
	if len(pending) == 0 {
		fmt.Fprintf(out, "schema is up to date (%d migrations applied)\n", len(st))
		return nil
	}
	fmt.Fprintf(out, "%d of %d migrations to apply\n", len(pending), len(st))
	for i, s := range pending {
		start := time.Now()
		fmt.Fprintf(out, "[%d/%d] %s … ", i+1, len(pending), filepath.Base(s.Source.Path))
		if _, err := p.UpByOne(ctx); err != nil {
			if errors.Is(err, goose.ErrNoNextVersion) {
				break
			}
			fmt.Fprintln(out, "failed")
			return fmt.Errorf("migration %s: %w", filepath.Base(s.Source.Path), err)
		}
		fmt.Fprintf(out, "done in %s\n", time.Since(start).Round(time.Millisecond))
	}
	fmt.Fprintln(out, "schema is up to date")
	return nil
}

// openSQL opens a database/sql handle for a storage URL without running
// migrations.
func openSQL(url string) (*sql.DB, goose.Dialect, error) {
	if p := sqlitePath(url); p != "" {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, "", err
		}
		db, err := sql.Open("sqlite", "file:"+p+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
		if err != nil {
			return nil, "", err
		}
		return db, goose.DialectSQLite3, nil
	}
	return nil, "", fmt.Errorf("database %q: use sqlite://path or postgres://…", url)
}
