// Package calllog records every proxied request (§6 of the spec) without
// making the request wait for the store.
//
// The request path hands each record to Writer.Record, which copies it into
// a bounded in-memory queue and returns at once; one writer goroutine moves
// records from the queue to the store in batches. When the queue is full the
// record is refused and counted (Stats.Dropped): loss under overload is
// exposed, never silent. A background loop deletes records past the
// retention period.
//
// Durability window: a record accepted by Record (it returned true) is
// committed within FlushInterval plus the duration of the insert that
// carries it, as long as the writer keeps up (each insert shorter than
// FlushInterval and less than one batch queued at a time); with the
// defaults and the embedded store that is 200 ms plus ~12 ms (one 512-row
// insert, BenchmarkSQLiteInsertBatch). A record can miss that window only by
// being refused at Record (queue full, counted in Dropped), by a backlog
// (the writer is then writing batches back to back and the wait is the
// backlog divided by the store's rate), or by the store failing past the
// retries or refusing the record itself (counted in FailedRecords; a
// refused record is lost alone, the rest of its batch is stored: see
// Writer.write). After kill -9, records accepted
// within the last window may be missing; everything older is in the store.
//
// Capacity: the writer is one goroutine on the store's single write
// connection, so the sustained rate is the store's batch insert rate,
// measured at ~40-48k rows/s for 512-2048-row batches into the embedded
// SQLite store on the 2-core development VM (~25-47k rows/s end to end,
// BenchmarkWriterSQLite). Above it the queue absorbs up to QueueSize
// records of excess (65536: ~1.6 s of a load 40k records/s over the store's
// rate), then refuses and counts.
//
// Pacing: on a process with one P, a batch written while the writer keeps
// up (less than a batch waiting behind it) goes to the sink with a context
// marked by diskwait.WithPacing, and the embedded store then sleeps twice
// each stretch of its SQLite work: requests keep two thirds of the P
// instead of queueing behind the whole batch (p99 at half the peak: see
// diskwait.Pacer). A writer that falls behind, and Flush and Close, write
// flat out.
package calllog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/diskwait"
	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// Sink stores batches of call records. store.Store satisfies it.
type Sink interface {
	// InsertCalls writes calls in one transaction: all or none. The writer
	// reuses the slice after the call returns, so the sink must not keep it.
	InsertCalls(ctx context.Context, calls []domain.Call) error
}

// Deleter removes old call records; store.Store satisfies it.
type Deleter interface {
	DeleteCallsBefore(ctx context.Context, t time.Time) (int64, error)
}

// Defaults for the zero Options fields.
const (
	DefaultQueueSize      = 65536
	DefaultBatchSize      = 512
	DefaultFlushInterval  = 200 * time.Millisecond
	DefaultRetention      = 7 * 24 * time.Hour
	DefaultRetentionEvery = time.Hour
	DefaultMaxRetries     = 5
	DefaultRetryBackoff   = 100 * time.Millisecond
	maxRetryBackoff       = 5 * time.Second
	dropLogEvery          = 10 * time.Second
)

// ErrClosed is returned by Flush once the writer has stopped.
var ErrClosed = errors.New("calllog: writer closed")

// Options configure a Writer. Zero fields take the defaults above.
type Options struct {
	// QueueSize bounds the records accepted but not yet handed to the sink
	// (the batch being written is counted apart). 65536 by default.
	QueueSize int
	// BatchSize is the most records per InsertCalls. 512 by default.
	BatchSize int
	// FlushInterval is the longest a record waits in the queue before the
	// writer takes it; a full batch is written sooner. 200 ms by default.
	FlushInterval time.Duration
	// MaxRetries is how many times a batch failing with an error the store
	// does not mark (neither store.ErrUnavailable nor store.ErrRefused) is
	// retried, with exponential backoff from RetryBackoff capped at 5 s,
	// before it is split to keep the records the store accepts (a batch
	// the store refuses for its data is split at once: see Writer.write).
	// A batch failing because the store is unavailable is retried until
	// the store is back, however long: the queue buffers meanwhile. 5 and
	// 100 ms by default; a negative MaxRetries means no retries.
	MaxRetries   int
	RetryBackoff time.Duration
	// Retention is how long records are kept (7 days by default), checked
	// every RetentionEvery (1 h by default) and once at start. Retention
	// runs only when Deleter is set.
	Retention      time.Duration
	RetentionEvery time.Duration
	Deleter        Deleter
	// Clock stamps LastFlush and computes the retention cutoff. Real clock
	// by default.
	Clock clock.Clock
	// Logger receives sink errors and drop warnings (counts, error text
	// and the request IDs of records the store refused; never record
	// contents). slog.Default() by default.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = DefaultMaxRetries
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = DefaultRetryBackoff
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.RetentionEvery <= 0 {
		o.RetentionEvery = DefaultRetentionEvery
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Stats is a point-in-time view of the writer, served on the admin API.
type Stats struct {
	// Queued is the records accepted and not yet written or given up: the
	// queue depth plus the batch being inserted. It is summed without a
	// global lock, so it can be off by one batch while the writer moves one.
	Queued int `json:"queued"`
	// Capacity is the queue's size (call_log.queue_size): Record refuses
	// records beyond it. Queued near Capacity under steady load means the
	// writer is falling behind and drops are near.
	Capacity int `json:"capacity"`
	// Written is the records committed to the sink.
	Written int64 `json:"written"`
	// Dropped is the records refused by Record: queue full or writer closed.
	Dropped int64 `json:"dropped"`
	// FailedRecords counts the records given up: their batch failed past
	// the retries, the store refused them (alone, after the batch was
	// split), or Close's context expired. FailedBatches counts the batches
	// that lost at least one record.
	FailedBatches int64 `json:"failed_batches"`
	FailedRecords int64 `json:"failed_records"`
	// Retries is the failed inserts that were retried.
	Retries int64 `json:"retries"`
	// LastFlush is when the last batch was committed (zero if none yet).
	LastFlush time.Time `json:"last_flush,omitzero"`
	// LastError is the text of the last sink or retention error, and
	// LastErrorAt when it happened; they stay after a recovery so an
	// operator can still see what went wrong.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Pruned is the records deleted by retention; LastPrune when it last ran
	// successfully.
	Pruned    int64     `json:"pruned"`
	LastPrune time.Time `json:"last_prune,omitzero"`
}

type errInfo struct {
	msg string
	at  time.Time
}

// Writer is the asynchronous batched call-record writer. New starts it;
// Close stops it. All methods are safe for concurrent use.
type Writer struct {
	q    *stripedQueue[domain.Call]
	sink Sink
	opts Options
	log  *slog.Logger

	dropped       atomic.Int64
	written       atomic.Int64
	failedBatches atomic.Int64
	failedRecords atomic.Int64
	retries       atomic.Int64
	inflight      atomic.Int64
	lastFlush     atomic.Int64 // UnixNano; 0 = never
	lastErr       atomic.Pointer[errInfo]
	pruned        atomic.Int64
	lastPrune     atomic.Int64

	flushReq  chan chan error
	stop      chan struct{} // closed by Close: drain and exit
	done      chan struct{} // closed by the writer goroutine on exit
	ctx       context.Context
	cancel    context.CancelFunc // aborts inserts and retention when Close gives up
	paced     context.Context    // ctx marked by diskwait.WithPacing, for batches written while the writer keeps up
	closeOnce sync.Once
	bg        sync.WaitGroup // retention loop

	// Owned by the writer goroutine.
	batch        []domain.Call
	from         uint32
	droppedSeen  int64
	dropLoggedAt time.Time
}

// New returns a running Writer: its writer goroutine, and the retention
// loop when opts.Deleter is set, start here, so there is no Start to forget.
// Call Close to flush and stop them.
func New(sink Sink, opts Options) *Writer {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		q:        newStripedQueue[domain.Call](opts.QueueSize, opts.BatchSize),
		sink:     sink,
		opts:     opts,
		log:      opts.Logger.With("component", "calllog"),
		flushReq: make(chan chan error),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		ctx:      ctx,
		cancel:   cancel,
		paced:    diskwait.WithPacing(ctx),
		batch:    make([]domain.Call, 0, opts.BatchSize),
	}
	go w.run()
	if opts.Deleter != nil {
		w.bg.Add(1)
		go w.retentionLoop()
	}
	return w
}

// Record hands c to the writer and returns at once; it never blocks on the
// store. It copies *c (the caller may reuse c as soon as Record returns, but
// must not modify the strings' or Trace's backing arrays afterwards). It
// allocates only when the backlog reaches a new high (a queue stripe grows;
// amortised to 0 allocs/op). It returns false, and counts the record in
// Stats.Dropped, when the queue is full or the writer is closed.
//
// Why a copy of *domain.Call rather than a pointer kept by the writer:
// keeping the pointer forces every caller to heap-allocate a fresh
// ~300-byte record per request, while a copy lets the pipeline keep the
// record on its stack or in a pooled request context. BenchmarkQueue: ~120
// ns/op and 0 allocs/op for the copy vs ~310 ns/op and 1 alloc/op (320 B)
// for the pointer through the same queue; BenchmarkRecord (the whole call,
// 2 parallel callers, writer running): ~115 ns/op, 0 allocs/op.
func (w *Writer) Record(c *domain.Call) bool {
	if w.q.push(c) == pushed {
		return true
	}
	w.dropped.Add(1)
	return false
}

// Flush writes everything queued before the call and waits for it. It
// returns an error if some of those records could not be written (after the
// retries), ErrClosed after Close, or ctx's error. The request path never
// calls it; it is for shutdown hooks, tests and "show me my call now".
func (w *Writer) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case w.flushReq <- reply:
	case <-w.done:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("calllog: flush: %w", ctx.Err())
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return fmt.Errorf("calllog: flush: %w", ctx.Err())
	}
}

// Close stops accepting records (Record returns false from now on), writes
// everything already queued and waits for the last batch and the retention
// loop. If ctx ends first, inserts in progress are cancelled, the records
// still queued are given up (counted in FailedRecords) and the error says
// how many. Close is idempotent.
func (w *Writer) Close(ctx context.Context) error {
	// Read before the stop is signalled: the writer may drain, fail and
	// count the last batch before this goroutine runs its next statement.
	failedBefore := w.failedRecords.Load()
	w.closeOnce.Do(func() {
		w.q.close()
		close(w.stop)
	})
	var err error
	select {
	case <-w.done:
	case <-ctx.Done():
		w.cancel()
		<-w.done
		err = fmt.Errorf("calllog: close: %d records not written: %w",
			w.failedRecords.Load()-failedBefore, ctx.Err())
	}
	w.cancel()
	w.bg.Wait()
	if err == nil {
		if lost := w.failedRecords.Load() - failedBefore; lost > 0 {
			err = fmt.Errorf("calllog: close: %d records not written after retries (last error: %s)", lost, w.lastError())
		}
	}
	return err
}

// Stats returns the writer's counters.
func (w *Writer) Stats() Stats {
	s := Stats{
		Queued:        w.q.len() + int(w.inflight.Load()),
		Capacity:      w.opts.QueueSize,
		Written:       w.written.Load(),
		Dropped:       w.dropped.Load(),
		FailedBatches: w.failedBatches.Load(),
		FailedRecords: w.failedRecords.Load(),
		Retries:       w.retries.Load(),
		Pruned:        w.pruned.Load(),
	}
	if ns := w.lastFlush.Load(); ns != 0 {
		s.LastFlush = time.Unix(0, ns).UTC()
	}
	if ns := w.lastPrune.Load(); ns != 0 {
		s.LastPrune = time.Unix(0, ns).UTC()
	}
	if e := w.lastErr.Load(); e != nil {
		s.LastError, s.LastErrorAt = e.msg, e.at
	}
	return s
}

func (w *Writer) lastError() string {
	if e := w.lastErr.Load(); e != nil {
		return e.msg
	}
	return ""
}

func (w *Writer) setError(err error) {
	w.lastErr.Store(&errInfo{msg: err.Error(), at: w.opts.Clock.Now().UTC()})
}

// run is the writer goroutine: it wakes on a full batch, on the flush
// interval, on Flush and on Close.
func (w *Writer) run() {
	defer close(w.done)
	tick := time.NewTicker(w.opts.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-w.q.kick:
			w.writeQueued(false)
		case <-tick.C:
			w.writeQueued(false)
			w.logDrops()
		case reply := <-w.flushReq:
			before := w.failedRecords.Load()
			w.writeQueued(true)
			var err error
			if lost := w.failedRecords.Load() - before; lost > 0 {
				err = fmt.Errorf("calllog: flush: %d records not written after retries (last error: %s)", lost, w.lastError())
			}
			reply <- err
		case <-w.stop:
			// The queue is closed: after this drain it stays empty.
			w.writeQueued(true)
			w.logDrops()
			return
		}
	}
}

// writeQueued writes queued records in batches. Without all it stops at
// the first partial batch, so a trickle of records arriving during an
// insert waits for the next tick instead of making a tiny batch; with all
// it empties the queue.
func (w *Writer) writeQueued(all bool) {
	for {
		w.batch = w.q.drain(w.batch[:0], w.opts.BatchSize, w.from)
		w.from++
		n := len(w.batch)
		if n == 0 {
			return
		}
		// Paced while the writer keeps up: less than a batch waits behind
		// this one. Behind, or draining for Flush and Close, it writes flat
		// out (diskwait's pacing: at most a third of a lone P).
		w.write(w.batch, !all && w.q.len() < w.opts.BatchSize)
		clear(w.batch) // drop references to the written records
		// Here too, not only on the idle tick: while the load outruns the
		// store, or the store is down, every drain finds a full batch and
		// the writer would not see a tick until it ends (rate-limited).
		w.logDrops()
		if n < w.opts.BatchSize && !all {
			return
		}
	}
}

// write inserts one batch, paced if paced (the sink sees a context marked
// by diskwait.WithPacing). The queue keeps accepting meanwhile; its bound
// then applies and refusals are counted.
//
// Retry or split. A failure that says nothing against the records — the
// store is down, busy, lost its connection (store.ErrUnavailable, or any
// error the store does not mark as a refusal) — is retried whole with
// backoff: the batch is fine, and splitting it against a dead store would
// only multiply failing inserts. store.ErrUnavailable (but a timeout:
// storeDown) is retried until the store answers again (or Close gives up
// at its deadline): every record
// was acknowledged to its caller, and an outage of the store is no reason
// to lose one (§6) — the queue buffers the records arriving meanwhile and
// refuses, counted as dropped, only what does not fit. Other errors are
// retried up to MaxRetries. A refusal
// (store.ErrRefused: the store says the data of some record is at fault)
// is split at once, without waiting through the backoff while the queue
// fills; so is a batch still failing after the retries with an error other
// than store.ErrUnavailable (the store answers, yet will not take this
// batch: maybe a record it refuses without saying so). Either way, one
// record the store cannot take costs that record, never the acknowledged
// records of other callers that happened to share its batch: otherwise one
// crafted request could erase up to BatchSize-1 records of the call log.
func (w *Writer) write(batch []domain.Call, paced bool) {
	ctx := w.ctx
	if paced {
		ctx = w.paced
	}
	n := int64(len(batch))
	w.inflight.Store(n)
	defer w.inflight.Store(0)
	// Only this goroutine moves failedRecords: a batch that lost any of its
	// records, whole or after a split, counts once in FailedBatches.
	failedBefore := w.failedRecords.Load()
	defer func() {
		if w.failedRecords.Load() != failedBefore {
			w.failedBatches.Add(1)
		}
	}()
	backoff := w.opts.RetryBackoff
	for attempt := 0; ; attempt++ {
		if w.ctx.Err() != nil {
			w.giveUp(batch, w.ctx.Err(), "call log: records abandoned at shutdown")
			return
		}
		err := w.insert(ctx, batch)
		if err == nil {
			return
		}
		if w.ctx.Err() != nil {
			w.giveUp(batch, err, "call log: records abandoned at shutdown")
			return
		}
		w.setError(err)
		retriesDone := attempt >= w.opts.MaxRetries
		if errors.Is(err, store.ErrRefused) || (retriesDone && !storeDown(err)) {
			w.log.Warn("call log: the store refused a batch; splitting it to store the records it accepts",
				"records", n, "attempts", attempt+1, "err", err)
			w.split(ctx, batch, err)
			return
		}
		w.pause(len(batch), backoff, err) // shutdown is seen at the loop's top
		backoff = min(2*backoff, maxRetryBackoff)
	}
}

// pause counts and logs a retry of n records after err, then waits backoff;
// false when the writer is stopping instead.
func (w *Writer) pause(n int, backoff time.Duration, err error) bool {
	w.retries.Add(1)
	w.log.Warn("call log: insert failed, retrying", "records", n, "backoff", backoff, "queued", w.q.len(), "err", err)
	// The queue may be refusing records meanwhile: say so while the store
	// is down, not only once it is back.
	w.logDrops()
	t := time.NewTimer(backoff)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.ctx.Done():
		return false
	}
}

// storeDown reports a failure that says the store cannot be reached (a
// refused or reset connection, a server shutting down), which the writer
// retries until the store is back. A timeout is not one: a batch the store
// answers too slowly may be the batch's own doing (its size, a lock), and
// retrying it whole forever would wedge the writer; it is retried
// MaxRetries times and then split like an unmarked failure.
func storeDown(err error) bool {
	return errors.Is(err, store.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded)
}

// insert hands part of a batch to the sink and counts it written if the
// sink took it.
func (w *Writer) insert(ctx context.Context, calls []domain.Call) error {
	if err := w.sink.InsertCalls(ctx, calls); err != nil {
		return err
	}
	w.written.Add(int64(len(calls)))
	w.lastFlush.Store(w.opts.Clock.Now().UnixNano())
	return nil
}

// split stores what the store accepts of calls, which it refused whole with
// err. Each half is inserted once, without backoff (the store has just
// answered), and a half that fails again is split in turn, down to single
// records: a record still refused alone is given up, counted and logged by
// request ID. One bad record in a batch of n costs about 2·log2(n) extra
// inserts (18 for 512) and loses that record only.
//
// The split stops where the failure is the store's rather than a record's:
// a half that fails because the store went away (storeDown) is kept and
// retried until it is back (retryUntilStored), one that times out is given
// up whole, and so are both halves when both fail with errors that are not
// refusals (a store refusing everything, a full disk): going on
// would make up to 2n failing inserts and n log lines for a batch that no
// split can save. Two unmarked bad records in different halves are lost
// with their halves; a store that marks its refusals (store.ErrRefused,
// as the PostgreSQL store does) is always split down to the record.
func (w *Writer) split(ctx context.Context, calls []domain.Call, err error) {
	if len(calls) == 1 {
		w.failedRecords.Add(1)
		// The request ID and the error only: the record's fields are
		// whatever the caller sent.
		w.log.Error("call log: record refused by the store, lost",
			"request_id", calls[0].RequestID, "failed_records_total", w.failedRecords.Load(), "err", err)
		return
	}
	halves := [2][]domain.Call{calls[:len(calls)/2], calls[len(calls)/2:]}
	var errs [2]error
	for i, h := range halves {
		if errs[i] = w.ctx.Err(); errs[i] != nil {
			continue
		}
		if errs[i] = w.insert(ctx, h); errs[i] != nil {
			w.setError(errs[i])
		}
	}
	storeWide := errs[0] != nil && errs[1] != nil &&
		!errors.Is(errs[0], store.ErrRefused) && !errors.Is(errs[1], store.ErrRefused)
	for i, e := range errs {
		switch {
		case e == nil:
		case w.ctx.Err() != nil:
			w.giveUp(halves[i], e, "call log: records abandoned at shutdown")
		case storeDown(e):
			// The store went away meanwhile: the half is fine, and is
			// kept until the store is back, as a whole batch would be.
			w.retryUntilStored(ctx, halves[i], e)
		case storeWide || errors.Is(e, store.ErrUnavailable):
			w.giveUp(halves[i], e, "call log: records lost: the store failed while a refused batch was split")
		default:
			w.split(ctx, halves[i], e)
		}
	}
}

// retryUntilStored inserts calls, which failed with err because the store
// could not be reached, with backoff until it takes them: a refusal then
// splits them (split), shutdown abandons them (counted).
func (w *Writer) retryUntilStored(ctx context.Context, calls []domain.Call, err error) {
	backoff := w.opts.RetryBackoff
	for storeDown(err) {
		if !w.pause(len(calls), backoff, err) {
			w.giveUp(calls, err, "call log: records abandoned at shutdown")
			return
		}
		backoff = min(2*backoff, maxRetryBackoff)
		if err = w.insert(ctx, calls); err == nil {
			return
		}
		w.setError(err)
	}
	if w.ctx.Err() != nil {
		w.giveUp(calls, err, "call log: records abandoned at shutdown")
		return
	}
	w.split(ctx, calls, err)
}

// giveUp counts calls as lost and logs why (counts and the error only).
func (w *Writer) giveUp(calls []domain.Call, err error, msg string) {
	n := int64(len(calls))
	w.failedRecords.Add(n)
	w.log.Error(msg, "records", n, "failed_records_total", w.failedRecords.Load(), "err", err)
}

// logDrops warns about records refused since the last warning, at most once
// per dropLogEvery, so an overload is visible in the logs without a line
// per request.
func (w *Writer) logDrops() {
	d := w.dropped.Load()
	if d == w.droppedSeen {
		return
	}
	now := w.opts.Clock.Now()
	if !w.dropLoggedAt.IsZero() && now.Sub(w.dropLoggedAt) < dropLogEvery {
		return
	}
	w.log.Warn("call log: records dropped (queue full or writer closed)",
		"dropped", d-w.droppedSeen, "dropped_total", d, "queue_size", w.opts.QueueSize)
	w.droppedSeen, w.dropLoggedAt = d, now
}

// retentionLoop prunes once at start, then every RetentionEvery, until
// Close.
func (w *Writer) retentionLoop() {
	defer w.bg.Done()
	tick := time.NewTicker(w.opts.RetentionEvery)
	defer tick.Stop()
	for {
		if _, err := w.Prune(w.ctx); err != nil && w.ctx.Err() == nil {
			w.setError(err)
			w.log.Error("call log: retention failed", "err", err)
		}
		select {
		case <-tick.C:
		case <-w.stop:
			return
		case <-w.ctx.Done():
			return
		}
	}
}

// Prune deletes the records older than Retention as of the clock's now and
// returns how many. The retention loop calls it; it also works after Close
// (it only needs the Deleter).
func (w *Writer) Prune(ctx context.Context) (int64, error) {
	if w.opts.Deleter == nil {
		return 0, nil
	}
	now := w.opts.Clock.Now()
	n, err := w.opts.Deleter.DeleteCallsBefore(ctx, now.Add(-w.opts.Retention))
	w.pruned.Add(n) // a failed run may still have deleted some chunks
	if err != nil {
		return n, fmt.Errorf("calllog: retention: %w", err)
	}
	w.lastPrune.Store(now.UnixNano())
	return n, nil
}
