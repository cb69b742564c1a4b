// Package sqlite is Gatehouse's embedded store: one SQLite file opened with
// the pure-Go modernc.org/sqlite driver (no cgo), in WAL mode, with the
// schema from internal/store/migrations applied on open.
//
// Durability: the database runs journal_mode=WAL with synchronous=NORMAL.
// Every committed transaction survives a crash or kill -9 of the process
// (the WAL is written before commit returns); a power loss or OS crash may
// lose the last few commits (the WAL is fsynced at checkpoints, not at every
// commit) but never corrupts the file. That is the usual trade for a
// gateway's config and call log: FULL would fsync on each admin change and
// each call-log batch for little gain.
//
// Concurrency: all writes go through a pool of exactly one connection, so
// writers queue in Go instead of racing for SQLite's write lock and failing
// with SQLITE_BUSY; transactions on it begin IMMEDIATE, and busy_timeout
// covers another process (a CLI, a crashed predecessor) holding the lock.
// Reads use a separate pool of query_only connections and, thanks to WAL,
// never wait for the writer. Do not call the Store from inside an Update
// function: the single write connection is already taken.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"gatehouse/internal/diskwait"
	"gatehouse/internal/store"
	"gatehouse/internal/store/migrations"
)

// busyTimeout bounds how long a statement waits for a lock held by another
// process before failing with SQLITE_BUSY.
const busyTimeout = 5 * time.Second

// Store is the embedded store. It is safe for concurrent use.
type Store struct {
	path string
	// w has exactly one connection: every write transaction runs on it.
	w *sql.DB
	// r serves reads; it is w itself for an in-memory database.
	r *sql.DB
	// deleteChunk bounds one retention transaction, so pruning a large
	// backlog never holds the write connection long enough to stall the
	// call-log writer.
	deleteChunk int
	// The call-log writer's statements, prepared once on the write
	// connection: parsing them per batch cost ~0.4 µs per record
	// (sqlite3Parser in the profile of a 29k req/s run).
	insertIDs   *sql.Stmt // a batch's call_ids rows
	nextBlockID *sql.Stmt // the id of the next block
	insertBlk   *sql.Stmt // one call_blocks row
	replaceBlk  *sql.Stmt // a block rewritten by retention
	// blockWork pools InsertCalls' scratch space (*blockWork).
	blockWork sync.Pool
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database named by url and applies
// pending migrations. url is "sqlite://PATH" (a relative PATH such as
// "./gatehouse-data/gatehouse.db" is relative to the working directory;
// "sqlite:///abs/path.db" is absolute), a bare PATH, or "sqlite://:memory:"
// for a private in-memory database (tests; one connection, gone on Close).
// The parent directory is created with mode 0700 and a new database file
// with mode 0600.
func Open(ctx context.Context, url string) (*Store, error) {
	path, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	s := &Store{path: path, deleteChunk: 5000}
	if path == ":memory:" {
		db, err := sql.Open("sqlite", ":memory:?"+params(false, true))
		if err != nil {
			return nil, fmt.Errorf("sqlite: open memory database: %w", err)
		}
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		s.w, s.r = db, db
	} else {
		if err := prepareFile(path); err != nil {
			return nil, err
		}
		w, err := sql.Open("sqlite", path+"?"+params(false, true))
		if err != nil {
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxLifetime(0)
		w.SetConnMaxIdleTime(0)
		r, err := sql.Open("sqlite", path+"?"+params(true, false))
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		n := max(4, runtime.GOMAXPROCS(0))
		r.SetMaxOpenConns(n)
		r.SetMaxIdleConns(n)
		s.w, s.r = w, r
	}
	if err := s.init(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) init(ctx context.Context) error {
	// The first statement on the write connection switches the file to WAL
	// (persistent) before any reader opens it.
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("sqlite: %s: %w", s.path, err)
	}
	if s.path != ":memory:" && !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite: %s: journal mode is %q, want wal", s.path, mode)
	}
	applied, err := migrations.Up(ctx, s.w, goose.DialectSQLite3)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", s.path, err)
	}
	if _, err := s.w.ExecContext(ctx, callBlocksSchema); err != nil {
		return fmt.Errorf("sqlite: %s: call blocks: %w", s.path, err)
	}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{{&s.insertIDs, insertIDsSQL}, {&s.nextBlockID, nextBlockIDSQL}, {&s.insertBlk, insertBlockSQL}, {&s.replaceBlk, replaceBlockSQL}} {
		if *p.stmt, err = s.w.PrepareContext(ctx, p.sql); err != nil {
			return fmt.Errorf("sqlite: %s: prepare call-log statement: %w", s.path, err)
		}
	}
	s.blockWork.New = func() any { return new(blockWork) }
	moved, err := s.moveLegacyCalls(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", s.path, err)
	}
	if moved > 0 {
		slog.Default().LogAttrs(ctx, slog.LevelInfo, "call log moved into blocks",
			slog.String("path", s.path), slog.Int("calls", moved))
	}
	slog.Default().LogAttrs(ctx, slog.LevelInfo, "store opened",
		slog.String("driver", "sqlite"), slog.String("path", s.path),
		slog.String("journal_mode", mode), slog.Int("migrations_applied", applied))
	return nil
}

// params builds the DSN query: pragmas every connection needs.
func params(readOnly, immediate bool) string {
	p := []string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeout.Milliseconds()),
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(NORMAL)",
		"_pragma=foreign_keys(1)",
		// Statement journals (multi-row inserts) and sorts stay off disk.
		"_pragma=temp_store(MEMORY)",
	}
	if readOnly {
		// Defence in depth behind View's own refusal to write.
		p = append(p, "_pragma=query_only(1)")
	}
	if immediate {
		// Take the write lock at BEGIN, so a transaction never fails to
		// upgrade a read lock half-way through.
		p = append(p, "_txlock=immediate")
	}
	return strings.Join(p, "&")
}

// parseURL turns a storage URL into a file path (or ":memory:").
func parseURL(url string) (string, error) {
	path := url
	if scheme, rest, ok := strings.Cut(url, "://"); ok {
		if scheme != "sqlite" && scheme != "sqlite3" {
			return "", fmt.Errorf("sqlite: unsupported storage URL scheme %q (want sqlite://PATH)", scheme)
		}
		path = rest
	}
	switch {
	case path == "":
		return "", errors.New("sqlite: storage URL names no file (want sqlite://PATH)")
	case strings.ContainsAny(path, "?#"):
		return "", fmt.Errorf("sqlite: storage path %q: '?' and '#' are not supported in the file name", path)
	case path == ":memory:":
		return path, nil
	}
	return filepath.Clean(path), nil
}

// prepareFile creates the parent directory (0700) and an empty database file
// (0600) so the database, its WAL and shared-memory files (which SQLite
// creates with the database's mode) are private to the gateway's user.
func prepareFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("sqlite: create directory for %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	return f.Close()
}

// Path is the database file (":memory:" for an in-memory database).
func (s *Store) Path() string { return s.path }

// Close closes both pools. A WAL checkpoint runs when the last connection
// closes, folding the WAL back into the database file.
func (s *Store) Close() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.insertIDs, s.nextBlockID, s.insertBlk, s.replaceBlk} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if s.r != nil && s.r != s.w {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close %s: %w", s.path, err)
	}
	return nil
}

// Update runs fn in one write transaction. If fn returns an error (or
// panics) the transaction rolls back and the version is unchanged;
// otherwise the version is bumped once and the transaction committed.
func (s *Store) Update(ctx context.Context, fn func(tx store.Tx) error) error {
	sqlTx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer sqlTx.Rollback() //nolint:errcheck // no-op after Commit
	if err := fn(&tx{q: sqlTx}); err != nil {
		return err
	}
	if _, err := sqlTx.ExecContext(ctx, `UPDATE meta SET value = value + 1 WHERE key = 'version'`); err != nil {
		return fmt.Errorf("sqlite: bump version: %w", err)
	}
	if err := commit(sqlTx); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// commit commits a write transaction. A commit may run a WAL checkpoint
// (SQLite's automatic one, every 1 000 pages of WAL), which copies pages
// and fsyncs the WAL and the database file: it runs under diskwait, so the
// goroutine waiting on the disk does not hold the process's only P.
func commit(tx *sql.Tx) error { return diskwait.Do(tx.Commit) }

// execWrite runs one statement on the write pool outside a transaction:
// its implicit commit may checkpoint, as in commit.
func execWrite(ctx context.Context, db *sql.DB, query string, args ...any) (res sql.Result, err error) {
	err = diskwait.Do(func() error {
		res, err = db.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// View runs fn in a read transaction: one consistent snapshot of the
// database. Write methods of its Tx fail with ErrReadOnly.
func (s *Store) View(ctx context.Context, fn func(tx store.Tx) error) error {
	sqlTx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("sqlite: begin read: %w", err)
	}
	defer sqlTx.Rollback() //nolint:errcheck // read-only: nothing to commit
	return fn(&tx{q: sqlTx, readOnly: true})
}

// Version is the store's change counter.
func (s *Store) Version(ctx context.Context) (int64, error) {
	return version(ctx, s.r)
}

func version(ctx context.Context, q querier) (int64, error) {
	var v int64
	if err := q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'version'`).Scan(&v); err != nil {
		return 0, fmt.Errorf("sqlite: read version: %w", err)
	}
	return v, nil
}
