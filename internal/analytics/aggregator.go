// Package analytics turns the call log into per-minute rollups (§6, §12)
// and answers the stats questions an operator asks of them: totals, error
// rate over time, top reasons, top failing consumers, latency quantiles.
//
// How rollups are computed. The call-log writer (internal/calllog) hands
// batches of records to its Sink; Sink(next, agg) wraps that sink so that
// each batch, once next has committed it, is added to an in-memory
// Aggregator: one accumulator per (minute, tenant, consumer, route, status
// class, reason code, credential type, AI model). Every FlushEvery (one minute) and
// on Close the aggregator writes what it accumulated since its last flush
// to the store as additive upserts (store.Analytics.UpsertRollups adds the
// counters into the stored row of the same key), then forgets it.
//
// Why additive deltas rather than "write a minute once it is closed":
// records reach the writer up to a flush interval late and a backlog can
// delay them further, so a minute is never provably closed; with additive
// upserts a late record just adds to its minute's row, a minute may be
// written by several flushes (and by several gateway nodes sharing one
// PostgreSQL store) and the sum stays exact.
//
// Exactness and double counting. A batch is aggregated only after next
// returned nil, so rollups count exactly the records the call log holds:
// a batch the writer retries is counted once (when it finally commits), a
// batch it gives up on is counted nowhere. A flush that fails keeps its
// deltas in memory, merged with newer ones, and retries at the next flush;
// since the failed transaction wrote nothing, nothing is counted twice.
// The one ambiguous case is a commit whose outcome the store did not
// report (connection lost during COMMIT): retrying may then count those
// deltas twice. Memory is bounded by MaxPending accumulators; records that
// would need more are counted in Stats.DroppedRecords and logged, never
// silently lost.
//
// Durability: rollups lag the call log by at most FlushEvery. After kill
// -9 the deltas of the last (at most) FlushEvery are missing from the
// rollups while the raw records are in the call log; a graceful shutdown
// (Close) flushes them.
//
// Retention: rollups are pruned after Retention (90 days by default),
// separately from raw calls (7 days).
package analytics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/domain"
	"gatehouse/internal/reason"
)

// Store is what the aggregator writes to; store.Analytics satisfies it.
type Store interface {
	UpsertRollups(ctx context.Context, rollups []domain.Rollup) error
	DeleteRollupsBefore(ctx context.Context, t time.Time) (int64, error)
}

// Defaults for zero Options fields.
const (
	DefaultFlushEvery     = time.Minute
	DefaultRetention      = 90 * 24 * time.Hour
	DefaultRetentionEvery = time.Hour
	DefaultMaxPending     = 200_000
	dropLogEvery          = 10 * time.Second
)

// ErrClosed is returned by Flush after Close.
var ErrClosed = errors.New("analytics: aggregator closed")

// Options configure an Aggregator.
type Options struct {
	// FlushEvery is how often accumulated rollups are written (1 min).
	FlushEvery time.Duration
	// Retention is how long rollups are kept (90 days), pruned at start
	// and every RetentionEvery (1 h).
	Retention      time.Duration
	RetentionEvery time.Duration
	// MaxPending bounds the accumulators held between flushes (200 000,
	// ~70 MB at worst; a gateway with 1 000 active consumers × a few
	// routes and reasons needs a few thousand per minute).
	MaxPending int
	// Clock computes the retention cutoff. Real clock by default.
	Clock  clock.Clock
	Logger *slog.Logger
	// NoBackground, for tests: no flush or retention goroutine; the test
	// calls Flush and Prune itself.
	NoBackground bool
}

func (o Options) withDefaults() Options {
	if o.FlushEvery <= 0 {
		o.FlushEvery = DefaultFlushEvery
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.RetentionEvery <= 0 {
		o.RetentionEvery = DefaultRetentionEvery
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Stats is the aggregator's state, for /admin/v1/status and metrics.
type Stats struct {
	// Records is the call records aggregated; Pending the accumulators
	// waiting for the next flush.
	Records int64 `json:"records"`
	Pending int   `json:"pending"`
	// Flushes and RowsWritten count successful flushes and the rollup rows
	// they upserted; FailedFlushes the flushes that will be retried.
	Flushes       int64 `json:"flushes"`
	RowsWritten   int64 `json:"rows_written"`
	FailedFlushes int64 `json:"failed_flushes"`
	// DroppedRecords were left out of the rollups because MaxPending
	// accumulators were already held (the store unreachable for long, or
	// an explosion of distinct keys).
	DroppedRecords int64     `json:"dropped_records"`
	LastFlush      time.Time `json:"last_flush,omitzero"`
	LastError      string    `json:"last_error,omitempty"`
	Pruned         int64     `json:"pruned"`
}

// key identifies one accumulator. Its strings are the records' own (no
// copy): they are immutable, and the writer does not reuse their bytes.
type key struct {
	minute                        int64 // unix seconds of the minute
	tenant, consumer, route, code string
	credType                      string
	class                         string
	model                         string
}

// Aggregator accumulates rollups in memory and flushes them to the store.
// Add is called by the call-log writer goroutine (through Sink); Flush by
// its own loop. Safe for concurrent use.
type Aggregator struct {
	st   Store
	opts Options
	log  *slog.Logger

	mu sync.Mutex
	// idx maps a key to its accumulator in rows; both are swapped out
	// whole by a flush and reused (cleared) by the next one, so steady
	// state allocates nothing per record.
	idx  map[key]int32
	rows []domain.Rollup
	// spareIdx and spareRows are the previous flush's buffers, kept for
	// reuse.
	spareIdx  map[key]int32
	spareRows []domain.Rollup

	flushMu sync.Mutex // one flush at a time

	records, flushes, rowsWritten, failedFlushes, dropped, pruned atomic.Int64
	lastFlush                                                     atomic.Int64
	lastErr                                                       atomic.Pointer[string]
	droppedLogged                                                 int64
	dropLoggedAt                                                  time.Time

	stop      chan struct{}
	done      sync.WaitGroup
	closeOnce sync.Once
	closed    atomic.Bool
}

// NewAggregator returns a running aggregator: its flush loop and retention
// loop start here (unless opts.NoBackground). Close flushes and stops it.
func NewAggregator(st Store, opts Options) *Aggregator {
	opts = opts.withDefaults()
	a := &Aggregator{
		st:   st,
		opts: opts,
		log:  opts.Logger.With("component", "analytics"),
		idx:  make(map[key]int32, 1024),
		stop: make(chan struct{}),
	}
	if !opts.NoBackground {
		a.done.Add(2)
		go a.flushLoop()
		go a.retentionLoop()
	}
	return a
}

// Add aggregates a batch of call records. It never blocks on the store.
func (a *Aggregator) Add(calls []domain.Call) {
	if len(calls) == 0 {
		return
	}
	var dropped int64
	a.mu.Lock()
	for i := range calls {
		c := &calls[i]
		k := key{
			minute:   c.Time.Unix() - mod(c.Time.Unix(), 60),
			tenant:   c.TenantID,
			consumer: c.ConsumerID,
			route:    c.RouteID,
			code:     c.Code,
			credType: c.CredentialType,
			class:    domain.StatusClass(c.Status),
			model:    modelOf(c),
		}
		j, ok := a.idx[k]
		if !ok {
			if len(a.rows) >= a.opts.MaxPending {
				dropped++
				continue
			}
			j = int32(len(a.rows))
			a.idx[k] = j
			a.rows = append(a.rows, domain.Rollup{})
			r := &a.rows[j]
			r.Minute = time.Unix(k.minute, 0).UTC()
			r.TenantID, r.ConsumerID, r.RouteID, r.Code, r.CredentialType, r.StatusClass, r.Model =
				k.tenant, k.consumer, k.route, k.code, k.credType, k.class, k.model
		}
		addCall(&a.rows[j], c)
	}
	a.mu.Unlock()
	a.records.Add(int64(len(calls)) - dropped)
	if dropped > 0 {
		a.dropped.Add(dropped)
		a.logDrops()
	}
}

// mod is the non-negative remainder, so minutes before 1970 still floor.
func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// addCall adds one record to an accumulator.
func addCall(r *domain.Rollup, c *domain.Call) {
	r.Count++
	r.BytesIn += c.BytesIn
	r.BytesOut += c.BytesOut
	lat := max(c.LatencyMicros, 0)
	r.LatencySumMicros += lat
	r.LatencyMaxMicros = max(r.LatencyMaxMicros, lat)
	r.Latency[domain.LatencyBucket(lat)]++
	if c.AI != nil {
		r.CostMicros += c.AI.CostMicros
	}
}

// Merge adds o into r (same key assumed): counters and buckets add, the
// maximum is the larger.
func Merge(r *domain.Rollup, o *domain.Rollup) {
	r.Count += o.Count
	r.BytesIn += o.BytesIn
	r.BytesOut += o.BytesOut
	r.LatencySumMicros += o.LatencySumMicros
	r.LatencyMaxMicros = max(r.LatencyMaxMicros, o.LatencyMaxMicros)
	for i := range r.Latency {
		r.Latency[i] += o.Latency[i]
	}
	r.CostMicros += o.CostMicros
}

func keyOf(r *domain.Rollup) key {
	return key{minute: r.Minute.Unix(), tenant: r.TenantID, consumer: r.ConsumerID, route: r.RouteID,
		code: r.Code, credType: r.CredentialType, class: r.StatusClass, model: r.Model}
}

// modelOf is the rollup model of a call: the catalogue name its client
// asked for (the alias), else the model the record names; "" off AI routes.
// A name the catalogue does not hold (ai.model_unknown) or in a body the
// gateway could not read (ai.bad_request before any provider was asked)
// counts as none: those names are the caller's, as many as it likes, and
// would make a rollup row each. A provider's own 400 keeps its model.
func modelOf(c *domain.Call) string {
	if c.AI == nil || c.Code == reason.AIModelUnknown || (c.Code == reason.AIBadRequest && len(c.AI.Attempts) == 0) {
		return ""
	}
	if c.AI.Alias != "" {
		return c.AI.Alias
	}
	return c.AI.Model
}

// Flush writes the accumulated rollups now. On failure they stay pending
// (merged with whatever arrives meanwhile) for the next flush.
func (a *Aggregator) Flush(ctx context.Context) error {
	if a.closed.Load() {
		return ErrClosed
	}
	return a.flush(ctx)
}

func (a *Aggregator) flush(ctx context.Context) error {
	a.flushMu.Lock()
	defer a.flushMu.Unlock()
	a.mu.Lock()
	rows := a.rows
	if len(rows) == 0 {
		a.mu.Unlock()
		return nil
	}
	oldIdx := a.idx
	// Swap in the spare (cleared) buffers so Add continues meanwhile.
	if a.spareIdx == nil {
		a.spareIdx = make(map[key]int32, len(oldIdx))
	}
	a.idx, a.rows = a.spareIdx, a.spareRows[:0]
	a.spareIdx, a.spareRows = nil, nil
	a.mu.Unlock()

	err := a.st.UpsertRollups(ctx, rows)

	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		// Merge the unwritten deltas back; they were not committed.
		for i := range rows {
			k := keyOf(&rows[i])
			if j, ok := a.idx[k]; ok {
				Merge(&a.rows[j], &rows[i])
				continue
			}
			a.idx[k] = int32(len(a.rows))
			a.rows = append(a.rows, rows[i])
		}
		a.failedFlushes.Add(1)
		msg := err.Error()
		a.lastErr.Store(&msg)
		a.log.Warn("analytics: rollup flush failed; will retry with the next flush",
			"rows", len(rows), "pending", len(a.rows), "err", err)
		clear(oldIdx)
		a.spareIdx, a.spareRows = oldIdx, rows[:0]
		return fmt.Errorf("analytics: flush %d rollups: %w", len(rows), err)
	}
	a.flushes.Add(1)
	a.rowsWritten.Add(int64(len(rows)))
	a.lastFlush.Store(a.opts.Clock.Now().UnixNano())
	clear(oldIdx)
	clear(rows) // drop the strings they reference
	a.spareIdx, a.spareRows = oldIdx, rows[:0]
	return nil
}

// Prune deletes rollups older than Retention and returns how many.
func (a *Aggregator) Prune(ctx context.Context) (int64, error) {
	n, err := a.st.DeleteRollupsBefore(ctx, a.opts.Clock.Now().Add(-a.opts.Retention))
	a.pruned.Add(n)
	if err != nil {
		return n, fmt.Errorf("analytics: retention: %w", err)
	}
	return n, nil
}

// Close stops the loops and writes what is pending. Idempotent.
func (a *Aggregator) Close(ctx context.Context) error {
	var err error
	a.closeOnce.Do(func() {
		close(a.stop)
		a.done.Wait()
		err = a.flush(ctx)
		a.closed.Store(true)
	})
	return err
}

// Stats returns the counters.
func (a *Aggregator) Stats() Stats {
	a.mu.Lock()
	pending := len(a.rows)
	a.mu.Unlock()
	s := Stats{
		Records: a.records.Load(), Pending: pending, Flushes: a.flushes.Load(), RowsWritten: a.rowsWritten.Load(),
		FailedFlushes: a.failedFlushes.Load(), DroppedRecords: a.dropped.Load(), Pruned: a.pruned.Load(),
	}
	if ns := a.lastFlush.Load(); ns != 0 {
		s.LastFlush = time.Unix(0, ns).UTC()
	}
	if e := a.lastErr.Load(); e != nil {
		s.LastError = *e
	}
	return s
}

func (a *Aggregator) logDrops() {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.opts.Clock.Now()
	if !a.dropLoggedAt.IsZero() && now.Sub(a.dropLoggedAt) < dropLogEvery {
		return
	}
	d := a.dropped.Load()
	a.log.Warn("analytics: records left out of the rollups: too many pending accumulators",
		"dropped", d-a.droppedLogged, "dropped_total", d, "max_pending", a.opts.MaxPending)
	a.droppedLogged, a.dropLoggedAt = d, now
}

func (a *Aggregator) flushLoop() {
	defer a.done.Done()
	t := time.NewTicker(a.opts.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), a.opts.FlushEvery)
			_ = a.flush(ctx) // logged and counted inside; retried next tick
			cancel()
		case <-a.stop:
			return
		}
	}
}

func (a *Aggregator) retentionLoop() {
	defer a.done.Done()
	t := time.NewTicker(a.opts.RetentionEvery)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), a.opts.RetentionEvery)
		if _, err := a.Prune(ctx); err != nil {
			msg := err.Error()
			a.lastErr.Store(&msg)
			a.log.Error("analytics: rollup retention failed", "err", err)
		}
		cancel()
		select {
		case <-t.C:
		case <-a.stop:
			return
		}
	}
}
