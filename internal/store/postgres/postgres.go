// Package postgres is Gatehouse's cluster store (§10): every node of a
// cluster opens the same PostgreSQL database through a pgx connection pool.
// It implements store.Store with the embedded store's semantics (same
// errors and messages, same version counter, same list order and cursors)
// and runs the same portable migrations (internal/store/migrations), so
// the conformance suite (internal/store/storetest) holds it to the same
// contract.
//
// Where PostgreSQL differs, and what this package does about it:
//
//   - Writers. SQLite has one writer; here every Update starts by bumping
//     the version row (UPDATE meta … RETURNING), whose row lock is held to
//     commit. Admin changes from every node are therefore serialized in
//     version order, each sees every earlier one, and the version a change
//     committed under is known inside the transaction, which lets Update
//     NOTIFY it (see Channel and internal/changefeed) — delivered on commit,
//     never for a rollback. Call inserts and last-used touches do not take
//     that lock.
//   - A failed statement aborts a PostgreSQL transaction. The Tx remembers
//     the first failure: later calls in the same Update return an error
//     naming it, and Update rolls back even if fn swallowed the error, so a
//     partial change never commits. (Savepoints around every statement
//     would mimic SQLite exactly, but each is a subtransaction and more
//     than 64 in one transaction degrade every session's snapshots.)
//   - Reads. View and Load run in one REPEATABLE READ, READ ONLY
//     transaction: one consistent snapshot, like a SQLite read transaction.
//   - The call log is range-partitioned by day (partitions.go): a
//     PostgreSQL-only follow-up applied after goose, because the portable
//     migrations cannot express partitioning. Retention drops whole days.
//   - Order. Lists order by id and calls by (ts, request_id) under the
//     database's collation; with C or C.UTF-8 (the default of the official
//     images) that is byte order, as in SQLite. Cursors are correct under
//     any collation.
//   - Outages. Every call runs under a timeout (Options) unless ctx ends
//     sooner, connection attempts under ConnectTimeout, and errors that
//     mean "could not reach the database" wrap ErrUnavailable, so the node
//     keeps serving from its snapshot and reports itself degraded.
//
// Schemas: the URL's search_path parameter (or Options.Schema) selects the
// schema the store lives in; Open creates it when missing. One database
// can hold several independent Gatehouse deployments (or tests), each in
// its own schema with its own notification channel.
package postgres

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"gatehouse/internal/store"
	"gatehouse/internal/store/migrations"
)

// Options tune timeouts and logging. Zero values take the defaults.
type Options struct {
	// Schema, when set, overrides the URL's search_path: the store's tables
	// live in this schema (created if missing).
	Schema string
	// QueryTimeout bounds every call but Update, Load and
	// DeleteCallsBefore when ctx has no earlier deadline (default 5s): a
	// database that stopped answering costs a request at most this long.
	QueryTimeout time.Duration
	// UpdateTimeout bounds one Update (default 30s).
	UpdateTimeout time.Duration
	// LoadTimeout bounds one Load (default 2m; a million keys load in a
	// few seconds).
	LoadTimeout time.Duration
	// ConnectTimeout bounds one connection attempt when the URL has no
	// connect_timeout (default 3s).
	ConnectTimeout time.Duration
	// Logger receives the store's few log lines (default slog.Default()).
	Logger *slog.Logger
	// OnMigration, if set, is called after each schema change Open applies
	// (gatehouse migrate prints them as progress).
	OnMigration func(MigrationStep)
}

func (o Options) withDefaults() Options {
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 5 * time.Second
	}
	if o.UpdateTimeout <= 0 {
		o.UpdateTimeout = 30 * time.Second
	}
	if o.LoadTimeout <= 0 {
		o.LoadTimeout = 2 * time.Minute
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Store is the PostgreSQL store. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	opts    Options
	schema  string // current_schema() of the pool's connections
	channel string // NOTIFY channel of this schema's changes
	// deleteChunk bounds one retention DELETE on a partly expired day.
	deleteChunk int
	parts       partitionCache
}

var _ store.Store = (*Store)(nil)

// Open connects to the database named by url (postgres://… or
// postgresql://…; pgx's parameters apply, e.g. pool_max_conns,
// connect_timeout, sslmode, search_path), creates the schema if a single
// one is named, applies pending migrations under an advisory lock (nodes
// starting together migrate once) and partitions the call log.
func Open(ctx context.Context, url string) (*Store, error) {
	return OpenWith(ctx, url, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, url string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	cfg, err := poolConfig(url, opts)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, wrapErr(ctx, "open pool", err)
	}
	s := &Store{pool: pool, opts: opts, deleteChunk: 5000, parts: partitionCache{days: map[int64]bool{}}}
	if err := s.init(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// poolConfig parses url and applies the defaults the outage behaviour
// relies on. Errors never include the URL (it may hold a password).
func poolConfig(url string, opts Options) (*pgxpool.Config, error) {
	if !strings.HasPrefix(url, "postgres://") && !strings.HasPrefix(url, "postgresql://") {
		return nil, errors.New("postgres: storage URL must start with postgres:// or postgresql://")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx redacts the password in ParseConfigError.
		return nil, fmt.Errorf("postgres: parse storage URL: %w", err)
	}
	cc := cfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = opts.ConnectTimeout
	}
	if opts.Schema != "" {
		cc.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	// Every pool connection reports its application, which helps an
	// operator tell gateway nodes apart in pg_stat_activity.
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "gatehouse"
	}
	return cfg, nil
}

// requestedSchema is the single schema search_path names, or "" when it
// names none or several (then the store uses whatever exists).
func requestedSchema(cfg *pgx.ConnConfig) string {
	sp := strings.TrimSpace(cfg.RuntimeParams["search_path"])
	if sp == "" || strings.Contains(sp, ",") {
		return ""
	}
	if strings.HasPrefix(sp, `"`) && strings.HasSuffix(sp, `"`) && len(sp) >= 2 {
		return strings.ReplaceAll(sp[1:len(sp)-1], `""`, `"`)
	}
	if sp == "$user" {
		return ""
	}
	return sp
}

func (s *Store) init(ctx context.Context) error {
	if name := requestedSchema(s.pool.Config().ConnConfig); name != "" {
		if _, err := s.pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{name}.Sanitize()); err != nil {
			return wrapErr(ctx, "create schema "+strconv.Quote(name), err)
		}
	}
	var schema *string
	if err := s.pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return wrapErr(ctx, "read current schema", err)
	}
	if schema == nil {
		return errors.New("postgres: search_path names no existing schema; set ?search_path=NAME")
	}
	s.schema, s.channel = *schema, channelFor(*schema)
	applied, err := s.migrate(ctx)
	if err != nil {
		return err
	}
	cc := s.pool.Config().ConnConfig
	s.opts.Logger.LogAttrs(ctx, slog.LevelInfo, "store opened",
		slog.String("driver", "postgres"), slog.String("host", cc.Host), slog.Int("port", int(cc.Port)),
		slog.String("database", cc.Database), slog.String("schema", s.schema),
		slog.Int("migrations_applied", applied), slog.String("notify_channel", s.channel))
	return nil
}

// channelFor names the NOTIFY channel of a schema's changes. Channels are
// per database, so each schema gets its own; names longer than
// PostgreSQL's 63-byte identifier limit are shortened with a hash.
func channelFor(schema string) string {
	const base = "gatehouse_changes"
	if schema == "public" {
		return base
	}
	if c := base + "." + schema; len(c) <= 63 {
		return c
	}
	sum := sha256.Sum256([]byte(schema))
	return base + "." + hex.EncodeToString(sum[:12])
}

// migrate applies the portable migrations with goose, then the
// PostgreSQL-only call-log partitioning, all under a session advisory lock
// keyed by the schema, so nodes starting together do not race on DDL.
func (s *Store) migrate(ctx context.Context) (int, error) {
	// The lock lives on its own connection, outside the pool, so goose's
	// connections from the pool never wait for it (pool_max_conns=1 works).
	// Closing the connection releases the lock.
	conn, err := pgx.ConnectConfig(ctx, s.ConnConfig())
	if err != nil {
		return 0, wrapErr(ctx, "migrate: connect", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtextextended($1, 0))`, "gatehouse.migrate."+s.schema); err != nil {
		return 0, wrapErr(ctx, "migrate: take lock", err)
	}
	// goose runs through database/sql on its own short-lived connection.
	// The simple protocol sends each DDL statement in one round trip
	// instead of prepare-then-execute (migrations have no parameters).
	mc := s.ConnConfig()
	mc.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	db := stdlib.OpenDB(*mc)
	db.SetMaxOpenConns(1)
	applied, err := s.upByOne(ctx, db)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return applied, err
	}
	start := time.Now()
	converted, err := partitionCalls(ctx, s.pool)
	if err != nil {
		return applied, err
	}
	if converted {
		s.step(ctx, MigrationStep{Name: "postgres: partition the call log by day", Took: time.Since(start)})
	}
	return applied, nil
}

// MigrationStep is one applied schema change, for progress output
// (gatehouse migrate) and logs.
type MigrationStep struct {
	// Version is the migration's number (0 for the PostgreSQL-only call
	// log partitioning, which follows the portable migrations).
	Version int64
	// Name is the migration file (or the step's description).
	Name string
	Took time.Duration
}

// upByOne applies pending portable migrations one at a time, reporting
// each as it completes.
func (s *Store) upByOne(ctx context.Context, db *sql.DB) (int, error) {
	p, err := migrations.Provider(db, goose.DialectPostgres)
	if err != nil {
		return 0, wrapErr(ctx, "migrate", err)
	}
	applied := 0
	for {
		res, err := p.UpByOne(ctx)
		if errors.Is(err, goose.ErrNoNextVersion) {
			return applied, nil
		}
		if err != nil {
			return applied, wrapErr(ctx, "migrate", err)
		}
		applied++
		step := MigrationStep{Took: res.Duration}
		if res.Source != nil {
			step.Version, step.Name = res.Source.Version, filepath.Base(res.Source.Path)
		}
		s.step(ctx, step)
	}
}

func (s *Store) step(ctx context.Context, st MigrationStep) {
	s.opts.Logger.LogAttrs(ctx, slog.LevelInfo, "migration applied", slog.Int64("version", st.Version),
		slog.String("name", st.Name), slog.Duration("took", st.Took), slog.String("schema", s.schema))
	if s.opts.OnMigration != nil {
		s.opts.OnMigration(st)
	}
}

// Schema is the schema the store's tables live in.
func (s *Store) Schema() string { return s.schema }

// Channel is the NOTIFY channel on which every committed Update announces
// its version (payload: the version in decimal). internal/changefeed
// LISTENs on it.
func (s *Store) Channel() string { return s.channel }

// ConnConfig returns a copy of the connection settings (with the schema's
// search_path), for a dedicated LISTEN connection.
func (s *Store) ConnConfig() *pgx.ConnConfig { return s.pool.Config().ConnConfig.Copy() }

// Pool exposes the connection pool (metrics: Stat()).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool, waiting for connections in use to be returned.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// opCtx bounds ctx by d unless it already ends sooner.
func opCtx(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// Update runs fn in one transaction. The version is bumped first (taking
// the cluster-wide writer lock, see the package doc) and announced with
// NOTIFY on the store's channel; both take effect only if the transaction
// commits. If fn returns an error (or panics), or a statement of fn failed
// even though fn swallowed the error, nothing is written.
func (s *Store) Update(ctx context.Context, fn func(tx store.Tx) error) error {
	ctx, cancel := opCtx(ctx, s.opts.UpdateTimeout)
	defer cancel()
	ptx, err := s.pool.Begin(ctx)
	if err != nil {
		return wrapErr(ctx, "begin", err)
	}
	defer func() { _ = ptx.Rollback(context.WithoutCancel(ctx)) }() // no-op after Commit
	var v int64
	if err := ptx.QueryRow(ctx, `UPDATE meta SET value = value + 1 WHERE key = 'version' RETURNING value`).Scan(&v); err != nil {
		return wrapErr(ctx, "bump version", err)
	}
	t := &tx{q: ptx, version: v}
	if err := fn(t); err != nil {
		return err
	}
	if t.failed != nil {
		return fmt.Errorf("postgres: the transaction was rolled back: a statement failed and PostgreSQL aborted it: %w", t.failed)
	}
	if _, err := ptx.Exec(ctx, `SELECT pg_notify($1, $2)`, s.channel, strconv.FormatInt(v, 10)); err != nil {
		return wrapErr(ctx, "notify", err)
	}
	if err := ptx.Commit(ctx); err != nil {
		return wrapErr(ctx, "commit", err)
	}
	return nil
}

// readTxOptions make a REPEATABLE READ, READ ONLY transaction: every
// statement in it sees the snapshot taken at its first statement. View
// and Load (which begins it inside its batch) share them, so both read
// one consistent state the same way.
var readTxOptions = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}

// readTx begins a read transaction (readTxOptions).
func (s *Store) readTx(ctx context.Context) (pgx.Tx, error) {
	return s.pool.BeginTx(ctx, readTxOptions)
}

// View runs fn in a read transaction: one consistent snapshot of the
// database. Write methods of its Tx fail with ErrReadOnly.
func (s *Store) View(ctx context.Context, fn func(tx store.Tx) error) error {
	ctx, cancel := opCtx(ctx, s.opts.QueryTimeout)
	defer cancel()
	ptx, err := s.readTx(ctx)
	if err != nil {
		return wrapErr(ctx, "begin read", err)
	}
	defer func() { _ = ptx.Rollback(context.WithoutCancel(ctx)) }()
	return fn(&tx{q: ptx, readOnly: true})
}

// Version is the store's change counter.
func (s *Store) Version(ctx context.Context) (int64, error) {
	ctx, cancel := opCtx(ctx, s.opts.QueryTimeout)
	defer cancel()
	return version(ctx, s.pool)
}

// versionQuery reads the store's change counter.
const versionQuery = `SELECT value FROM meta WHERE key = 'version'`

func version(ctx context.Context, q querier) (int64, error) {
	var v int64
	if err := q.QueryRow(ctx, versionQuery).Scan(&v); err != nil {
		return 0, wrapErr(ctx, "read version", err)
	}
	return v, nil
}

// partitionCache remembers which days of the call log have a partition,
// so InsertCalls creates one at most once per day and node.
type partitionCache struct {
	mu   sync.Mutex
	days map[int64]bool
}
