package calllog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/diskwait"
	"gatehouse/internal/domain"
	"gatehouse/internal/reqid"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlite"
)

// The store interface is what the server hands to New, for both roles.
var (
	_ Sink    = store.Store(nil)
	_ Deleter = store.Store(nil)
)

// wait bounds every wait on the writer goroutine, so a broken writer fails
// the test instead of hanging it. No test sleeps: each waits on an event.
const wait = 10 * time.Second

var t0 = time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)

func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "calls.db"))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// storedCalls reads every call in the store, by request ID.
func storedCalls(t testing.TB, st store.Store) map[string]domain.Call {
	t.Helper()
	got := map[string]domain.Call{}
	f := store.CallFilter{Page: store.Page{Limit: 1000}}
	for {
		items, next, err := st.QueryCalls(context.Background(), f)
		if err != nil {
			t.Fatalf("query calls: %v", err)
		}
		for _, c := range items {
			if _, dup := got[c.RequestID]; dup {
				t.Fatalf("request %s listed twice", c.RequestID)
			}
			got[c.RequestID] = c
		}
		if next == "" {
			return got
		}
		f.After = next
	}
}

// newCall builds a distinct, fully populated record at time at.
func newCall(at time.Time, i int) domain.Call {
	c := domain.Call{
		RequestID: reqid.New(at), Time: at, RouteID: "rt_orders", ServiceID: "svc_orders",
		TenantID: "t_acme", ConsumerID: "c_billing", CredentialID: "gh_live_k1", CredentialType: "api_key",
		Method: "GET", Path: fmt.Sprintf("/v1/orders/%d", i), Status: 200, ClientIP: "192.0.2.7",
		UserAgent: "curl/8.5", LatencyMicros: int64(100 + i), UpstreamMicros: int64(80 + i), BytesIn: 12,
		BytesOut: int64(i), Engine: "httputil",
	}
	if i%3 == 0 {
		c.Status, c.Code = 401, "key.unknown"
		c.Trace = []domain.TraceStep{
			{Stage: "auth", Check: "key.format", Outcome: domain.OutcomePass},
			{Stage: "auth", Check: "key.lookup", Outcome: domain.OutcomeFail, Detail: "secret did not match", Private: true},
		}
	}
	return c
}

func closeWriter(t testing.TB, w *Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestConcurrentRecordsAreAllWritten(t *testing.T) {
	cases := []struct {
		desc       string
		goroutines int
		each       int
		opts       Options
	}{
		{"defaults, 32 goroutines", 32, 25, Options{}},
		{"small batches force many inserts", 32, 10, Options{BatchSize: 7}},
		{"queue just large enough for the whole load", 32, 10, Options{QueueSize: 32 * 10, FlushInterval: time.Hour}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			st := openStore(t)
			fc := clock.NewFake(t0)
			tc.opts.Clock = fc
			w := New(st, tc.opts)
			want := make([][]domain.Call, tc.goroutines)
			var refused atomic.Int64
			var wg sync.WaitGroup
			for g := range tc.goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range tc.each {
						c := newCall(t0.Add(time.Duration(g*tc.each+i)*time.Microsecond), g*tc.each+i)
						want[g] = append(want[g], c)
						if !w.Record(&c) {
							refused.Add(1)
						}
						c.Path = "/reused-by-caller" // Record copied c: reuse must not leak into the log
					}
				}()
			}
			wg.Wait()
			if n := refused.Load(); n != 0 {
				t.Fatalf("Record refused %d records with room in the queue", n)
			}
			closeWriter(t, w)

			n := tc.goroutines * tc.each
			got := storedCalls(t, st)
			if len(got) != n {
				t.Fatalf("store holds %d calls, want exactly %d", len(got), n)
			}
			for _, calls := range want {
				for _, c := range calls {
					s, ok := got[c.RequestID]
					if !ok {
						t.Fatalf("call %s missing", c.RequestID)
					}
					if s.Path != c.Path || s.Status != c.Status || s.Code != c.Code || !s.Time.Equal(c.Time) || len(s.Trace) != len(c.Trace) {
						t.Fatalf("call %s stored as %+v, want %+v", c.RequestID, s, c)
					}
				}
			}
			s := w.Stats()
			if s.Written != int64(n) || s.Dropped != 0 || s.Queued != 0 || s.FailedRecords != 0 {
				t.Errorf("stats %+v, want Written %d and nothing queued, dropped or failed", s, n)
			}
			if !s.LastFlush.Equal(t0) {
				t.Errorf("LastFlush %v, want the clock's %v", s.LastFlush, t0)
			}
		})
	}
}

func TestCloseAndFlushWriteEverythingQueued(t *testing.T) {
	cases := []struct {
		desc  string
		flush bool // Flush first, then Close
	}{
		{"Close flushes", false},
		{"Flush writes before Close", true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			st := openStore(t)
			fc := clock.NewFake(t0)
			// Neither the interval nor a full batch can trigger a write:
			// only Flush or Close can.
			w := New(st, Options{FlushInterval: time.Hour, BatchSize: 100000, Clock: fc})
			const n = 250
			for i := range n {
				c := newCall(t0, i)
				if !w.Record(&c) {
					t.Fatalf("record %d refused", i)
				}
			}
			if got := len(storedCalls(t, st)); got != 0 {
				t.Fatalf("%d calls written before any flush; the test cannot tell Close's flush apart", got)
			}
			if s := w.Stats(); s.Queued != n {
				t.Fatalf("Queued = %d, want %d", s.Queued, n)
			}
			if tc.flush {
				fc.Advance(time.Minute)
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				if err := w.Flush(ctx); err != nil {
					t.Fatalf("Flush: %v", err)
				}
				if got := len(storedCalls(t, st)); got != n {
					t.Fatalf("after Flush the store holds %d calls, want %d", got, n)
				}
				if s := w.Stats(); s.Written != n || s.Queued != 0 || !s.LastFlush.Equal(t0.Add(time.Minute)) {
					t.Fatalf("after Flush stats %+v", s)
				}
			}
			closeWriter(t, w)
			if got := len(storedCalls(t, st)); got != n {
				t.Fatalf("after Close the store holds %d calls, want %d", got, n)
			}
			late := newCall(t0, 999)
			if w.Record(&late) {
				t.Fatal("Record accepted a call after Close")
			}
			if s := w.Stats(); s.Written != n || s.Dropped != 1 || s.Queued != 0 {
				t.Fatalf("stats after Close %+v, want Written %d, Dropped 1 (the late record)", s, n)
			}
			if err := w.Close(context.Background()); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if err := w.Flush(context.Background()); !errors.Is(err, ErrClosed) {
				t.Fatalf("Flush after Close = %v, want ErrClosed", err)
			}
		})
	}
}

// gateSink holds every insert until release is closed. It is the one
// component here that is not the real store's behaviour: the overflow test
// needs a store that stops absorbing records on cue. The records still land
// in the real store afterwards.
type gateSink struct {
	Sink
	entered chan int
	release chan struct{}
}

func (g *gateSink) InsertCalls(ctx context.Context, calls []domain.Call) error {
	select {
	case g.entered <- len(calls):
	default:
	}
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Sink.InsertCalls(ctx, calls)
}

func TestQueueOverflowCountsDropsExactly(t *testing.T) {
	cases := []struct {
		desc       string
		queueSize  int
		extra      int
		goroutines int
	}{
		{"37 over a queue of 100", 100, 37, 1},
		{"queue of one", 1, 5, 1},
		{"filled exactly, nothing dropped", 300, 0, 1},
		{"32 goroutines racing for the last slots", 500, 300, 32},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			st := openStore(t)
			gate := &gateSink{Sink: st, entered: make(chan int, 1), release: make(chan struct{})}
			w := New(gate, Options{QueueSize: tc.queueSize, BatchSize: 10, FlushInterval: time.Millisecond})

			// One record goes in and the writer takes it to the sink, where
			// it stays: from now on nothing leaves the queue.
			first := newCall(t0, 0)
			if !w.Record(&first) {
				t.Fatal("first record refused")
			}
			select {
			case n := <-gate.entered:
				if n != 1 {
					t.Fatalf("first batch has %d records, want 1", n)
				}
			case <-time.After(wait):
				t.Fatal("writer never called the sink")
			}

			total := tc.queueSize + tc.extra
			var accepted, refused atomic.Int64
			var wg sync.WaitGroup
			for g := range tc.goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := g; i < total; i += tc.goroutines {
						c := newCall(t0, i+1)
						if w.Record(&c) {
							accepted.Add(1)
						} else {
							refused.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			if accepted.Load() != int64(tc.queueSize) || refused.Load() != int64(tc.extra) {
				t.Fatalf("accepted %d, refused %d; want exactly %d and %d", accepted.Load(), refused.Load(), tc.queueSize, tc.extra)
			}
			s := w.Stats()
			if s.Dropped != int64(tc.extra) || s.Queued != tc.queueSize+1 || s.Written != 0 || s.Capacity != tc.queueSize {
				t.Fatalf("stats while blocked %+v, want Dropped %d, Queued %d, Written 0, Capacity %d", s, tc.extra, tc.queueSize+1, tc.queueSize)
			}

			close(gate.release)
			closeWriter(t, w)
			want := tc.queueSize + 1
			if got := len(storedCalls(t, st)); got != want {
				t.Fatalf("store holds %d calls, want every accepted one: %d", got, want)
			}
			if s := w.Stats(); s.Written != int64(want) || s.Dropped != int64(tc.extra) || s.Queued != 0 {
				t.Fatalf("final stats %+v, want Written %d, Dropped %d", s, want, tc.extra)
			}
		})
	}
}

// messages is a slog handler that passes each record's message on, so a
// test can wait for a log line as an event.
type messages struct{ ch chan string }

func (m *messages) Enabled(context.Context, slog.Level) bool { return true }
func (m *messages) WithAttrs([]slog.Attr) slog.Handler       { return m }
func (m *messages) WithGroup(string) slog.Handler            { return m }
func (m *messages) Handle(_ context.Context, r slog.Record) error {
	select {
	case m.ch <- r.Message:
	default:
	}
	return nil
}

// TestDropsLoggedWhileTheWriterStaysBusy: records refused while the
// writer works through full batches are reported then, not at the next
// idle tick — under a load that outruns the store there is none.
func TestDropsLoggedWhileTheWriterStaysBusy(t *testing.T) {
	st := openStore(t)
	gate := &gateSink{Sink: st, entered: make(chan int, 1), release: make(chan struct{})}
	logs := &messages{ch: make(chan string, 64)}
	w := New(gate, Options{QueueSize: 8, BatchSize: 4, FlushInterval: time.Hour, Logger: slog.New(logs)})

	first := newCall(t0, 0)
	w.Record(&first)
	select {
	case <-gate.entered:
	case <-time.After(wait):
		t.Fatal("writer never called the sink")
	}
	for i := 1; i <= 11; i++ { // 8 fill the queue, 3 are refused
		c := newCall(t0, i)
		w.Record(&c)
	}
	if d := w.Stats().Dropped; d != 3 {
		t.Fatalf("dropped %d, want 3", d)
	}
	close(gate.release) // two full batches wait behind the first
	timeout := time.After(wait)
	for {
		select {
		case msg := <-logs.ch:
			if strings.Contains(msg, "records dropped") {
				closeWriter(t, w)
				return
			}
		case <-timeout:
			t.Fatal("no drop warning while the writer wrote the batches behind the refusals (the idle tick is an hour away)")
		}
	}
}

// flakySink fails inserts while failing is set (or for its first failFirst
// calls), with an error that looks like a real store's, then passes them to
// the real store.
type flakySink struct {
	Sink
	failFirst int64
	failing   atomic.Bool
	calls     atomic.Int64
	failed    chan struct{} // receives once per failure, if there is room
}

var errLocked = errors.New("sqlite: insert calls: begin: database is locked (SQLITE_BUSY)")

func (f *flakySink) InsertCalls(ctx context.Context, calls []domain.Call) error {
	n := f.calls.Add(1)
	if n <= f.failFirst || f.failing.Load() {
		select {
		case f.failed <- struct{}{}:
		default:
		}
		return errLocked
	}
	return f.Sink.InsertCalls(ctx, calls)
}

func TestSinkFailureThenRecoveryLosesNothing(t *testing.T) {
	cases := []struct {
		desc        string
		failFirst   int64
		maxRetries  int
		wantRetries int64
	}{
		{"two failures, then the store recovers", 2, 5, 2},
		{"fails on every attempt but the last retry", 3, 3, 3},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			st := openStore(t)
			var logs bytes.Buffer
			fc := clock.NewFake(t0)
			sink := &flakySink{Sink: st, failFirst: tc.failFirst, failed: make(chan struct{}, 1)}
			w := New(sink, Options{
				FlushInterval: time.Hour, BatchSize: 100000, MaxRetries: tc.maxRetries,
				RetryBackoff: time.Millisecond, Clock: fc,
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			const n = 100
			var ids []string
			for i := range n {
				c := newCall(t0, i)
				c.UserAgent = "agent-marker-do-not-log"
				ids = append(ids, c.RequestID)
				w.Record(&c)
			}
			closeWriter(t, w)
			got := storedCalls(t, st)
			if len(got) != n {
				t.Fatalf("store holds %d calls, want all %d", len(got), n)
			}
			s := w.Stats()
			if s.Written != n || s.Retries != tc.wantRetries || s.FailedBatches != 0 || s.FailedRecords != 0 {
				t.Fatalf("stats %+v, want Written %d, Retries %d, nothing failed", s, n, tc.wantRetries)
			}
			if s.LastError != errLocked.Error() || !s.LastErrorAt.Equal(t0) {
				t.Fatalf("LastError %q at %v, want %q at %v", s.LastError, s.LastErrorAt, errLocked, t0)
			}
			out := logs.String()
			if !strings.Contains(out, "database is locked") {
				t.Errorf("the sink error is not logged:\n%s", out)
			}
			for _, leak := range []string{"agent-marker-do-not-log", "/v1/orders", ids[0], "gh_live_k1"} {
				if strings.Contains(out, leak) {
					t.Errorf("log contains record content %q:\n%s", leak, out)
				}
			}
		})
	}
}

func TestRecordsKeepQueueingWhileTheStoreIsDown(t *testing.T) {
	st := openStore(t)
	sink := &flakySink{Sink: st, failed: make(chan struct{}, 1)}
	sink.failing.Store(true)
	w := New(sink, Options{BatchSize: 50, FlushInterval: time.Millisecond, MaxRetries: 1000, RetryBackoff: time.Millisecond})

	first := newCall(t0, 0)
	w.Record(&first)
	select {
	case <-sink.failed:
	case <-time.After(wait):
		t.Fatal("the sink was never called")
	}
	// The writer is now retrying; the request path must keep being served.
	const more = 200
	for i := 1; i <= more; i++ {
		c := newCall(t0, i)
		if !w.Record(&c) {
			t.Fatalf("record %d refused while the store was down and the queue had room", i)
		}
	}
	// The sink reports its first failure before the writer counts the
	// retry; a second failure means the writer has counted it.
	select {
	case <-sink.failed:
	case <-time.After(wait):
		t.Fatal("the writer did not retry")
	}
	if s := w.Stats(); s.Queued != more+1 || s.Written != 0 || s.Retries == 0 {
		t.Fatalf("stats while down %+v, want Queued %d, Written 0, some retries", s, more+1)
	}
	sink.failing.Store(false)
	closeWriter(t, w)
	if got := len(storedCalls(t, st)); got != more+1 {
		t.Fatalf("store holds %d calls after recovery, want %d", got, more+1)
	}
	if s := w.Stats(); s.Written != more+1 || s.FailedRecords != 0 {
		t.Fatalf("stats after recovery %+v", s)
	}
}

func TestBatchGivenUpAfterRetriesIsCounted(t *testing.T) {
	st := openStore(t)
	sink := &flakySink{Sink: st, failed: make(chan struct{}, 1)}
	sink.failing.Store(true)
	w := New(sink, Options{FlushInterval: time.Hour, BatchSize: 100000, MaxRetries: 2, RetryBackoff: time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	const n = 40
	for i := range n {
		c := newCall(t0, i)
		w.Record(&c)
	}
	err := w.Close(context.Background())
	if err == nil || !strings.Contains(err.Error(), "40 records not written") {
		t.Fatalf("Close = %v, want an error counting the 40 lost records", err)
	}
	s := w.Stats()
	if s.FailedBatches != 1 || s.FailedRecords != n || s.Retries != 2 || s.Written != 0 || s.Queued != 0 {
		t.Fatalf("stats %+v, want 1 failed batch of %d after 2 retries", s, n)
	}
	// After the retries the writer splits the batch once: both halves fail
	// too, with an error that is not a refusal, so the failure is the
	// store's and it stops there instead of trying every record alone.
	if got := sink.calls.Load(); got != 5 {
		t.Fatalf("sink called %d times, want 5 (1 + 2 retries + the two halves of one split)", got)
	}
}

func TestCloseGivesUpWhenItsContextEnds(t *testing.T) {
	st := openStore(t)
	gate := &gateSink{Sink: st, entered: make(chan int, 1), release: make(chan struct{})}
	w := New(gate, Options{BatchSize: 5, FlushInterval: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	for i := range 12 {
		c := newCall(t0, i)
		w.Record(&c)
	}
	<-gate.entered // a batch is stuck in the sink
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := w.Close(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "12 records not written") {
		t.Fatalf("Close = %v, want context.Canceled and a count of 12", err)
	}
	if s := w.Stats(); s.FailedRecords != 12 || s.Written != 0 || s.Queued != 0 {
		t.Fatalf("stats %+v, want all 12 counted as failed", s)
	}
}

// deleterSpy passes deletes to the real store and reports each cutoff.
type deleterSpy struct {
	Deleter
	cutoffs chan time.Time
}

func (d *deleterSpy) DeleteCallsBefore(ctx context.Context, t time.Time) (int64, error) {
	n, err := d.Deleter.DeleteCallsBefore(ctx, t)
	d.cutoffs <- t
	return n, err
}

func TestRetentionDeletesOnlyOldRecords(t *testing.T) {
	ages := []time.Duration{30 * 24 * time.Hour, 8 * 24 * time.Hour, 7*24*time.Hour + time.Second,
		7*24*time.Hour - time.Second, 24 * time.Hour, time.Minute}
	cases := []struct {
		desc      string
		retention time.Duration
		advance   time.Duration
		wantKept  int // the youngest wantKept of ages survive
	}{
		{"default 7 days", 0, 0, 3},
		{"one day: a record exactly one day old is not older, so it stays", 24 * time.Hour, 0, 2},
		{"a day later the 6d23h record goes too", 0, 24 * time.Hour, 2},
		{"nothing that old", 365 * 24 * time.Hour, 0, 6},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			st := openStore(t)
			fc := clock.NewFake(t0)
			w := New(st, Options{Clock: fc, Retention: tc.retention, Deleter: st})
			for i, age := range ages {
				c := newCall(t0.Add(-age), i)
				w.Record(&c)
			}
			closeWriter(t, w)
			fc.Advance(tc.advance)
			n, err := w.Prune(context.Background())
			if err != nil {
				t.Fatalf("Prune: %v", err)
			}
			// The loop's own run at start may have deleted some already;
			// together they delete exactly the old ones.
			got := storedCalls(t, st)
			wantDeleted := int64(len(ages) - tc.wantKept)
			if s := w.Stats(); len(got) != tc.wantKept || s.Pruned != wantDeleted || n > wantDeleted {
				t.Fatalf("kept %d, pruned %d (this run %d); want kept %d, pruned %d", len(got), s.Pruned, n, tc.wantKept, wantDeleted)
			}
			for _, c := range got {
				if age := t0.Sub(c.Time); age > ages[len(ages)-tc.wantKept] {
					t.Errorf("kept a call aged %v", age)
				}
			}
			if s := w.Stats(); !s.LastPrune.Equal(fc.Now()) {
				t.Errorf("LastPrune %v, want %v", s.LastPrune, fc.Now())
			}
		})
	}
}

func TestRetentionLoopRunsAtStartAndOnSchedule(t *testing.T) {
	st := openStore(t)
	fc := clock.NewFake(t0)
	spy := &deleterSpy{Deleter: st, cutoffs: make(chan time.Time)}
	w := New(st, Options{Clock: fc, Retention: 48 * time.Hour, RetentionEvery: time.Millisecond, Deleter: spy})
	next := func() time.Time {
		select {
		case c := <-spy.cutoffs:
			return c
		case <-time.After(wait):
			t.Fatal("retention loop did not run")
		}
		return time.Time{}
	}
	if c := next(); !c.Equal(t0.Add(-48 * time.Hour)) {
		t.Fatalf("first cutoff %v, want now-48h = %v", c, t0.Add(-48*time.Hour))
	}
	fc.Advance(time.Hour)
	// A run may have started before Advance; the one after it sees the new time.
	for c := next(); !c.Equal(t0.Add(-47 * time.Hour)); c = next() {
		if !c.Equal(t0.Add(-48 * time.Hour)) {
			t.Fatalf("cutoff %v, want now-48h", c)
		}
	}
	// Close must stop the loop even while it is blocked handing over a cutoff.
	done := make(chan error, 1)
	go func() { done <- w.Close(context.Background()) }()
	for {
		select {
		case <-spy.cutoffs:
			continue
		case err := <-done:
			if err != nil {
				t.Fatalf("Close: %v", err)
			}
			return
		case <-time.After(wait):
			t.Fatal("Close did not stop the retention loop")
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	cases := []struct {
		desc string
		in   Options
		want func(Options) bool
	}{
		{"zero value takes every default", Options{}, func(o Options) bool {
			return o.QueueSize == DefaultQueueSize && o.BatchSize == DefaultBatchSize &&
				o.FlushInterval == DefaultFlushInterval && o.Retention == DefaultRetention &&
				o.RetentionEvery == DefaultRetentionEvery && o.MaxRetries == DefaultMaxRetries &&
				o.RetryBackoff == DefaultRetryBackoff && o.Clock != nil && o.Logger != nil
		}},
		{"negative MaxRetries means none", Options{MaxRetries: -1}, func(o Options) bool { return o.MaxRetries == 0 }},
		{"explicit values are kept", Options{QueueSize: 3, BatchSize: 2, FlushInterval: time.Second}, func(o Options) bool {
			return o.QueueSize == 3 && o.BatchSize == 2 && o.FlushInterval == time.Second
		}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := tc.in.withDefaults(); !tc.want(got) {
				t.Fatalf("withDefaults() = %+v", got)
			}
		})
	}
}

// paceSink records, for every insert, whether the writer asked for pacing
// (diskwait.Paced) and how many records waited behind the batch; its first
// insert waits for release, so a backlog can build up behind it, and
// reached is closed once target records have come through. The records
// land in the real store.
type paceSink struct {
	Sink
	w       *Writer
	entered chan struct{}
	release chan struct{}
	target  int
	reached chan struct{}
	mu      sync.Mutex
	inserts []paceSeen
	total   int
}

type paceSeen struct {
	paced        bool
	size, behind int
}

func (p *paceSink) InsertCalls(ctx context.Context, calls []domain.Call) error {
	p.mu.Lock()
	first := len(p.inserts) == 0
	p.inserts = append(p.inserts, paceSeen{
		paced:  diskwait.Paced(ctx),
		size:   len(calls),
		behind: p.w.Stats().Queued - len(calls),
	})
	p.mu.Unlock()
	if first {
		close(p.entered)
		<-p.release
	}
	err := p.Sink.InsertCalls(ctx, calls)
	p.mu.Lock()
	before := p.total
	p.total += len(calls)
	if before < p.target && p.total >= p.target {
		close(p.reached)
	}
	p.mu.Unlock()
	return err
}

func TestWriterPacesOnlyWhileItKeepsUp(t *testing.T) {
	const batch = 4096 // a producer wakes the writer at batch/stripes: far above the 3 records of Flush below
	st := openStore(t)
	sink := &paceSink{Sink: st, entered: make(chan struct{}), release: make(chan struct{}),
		target: 3*batch + 100, reached: make(chan struct{})}
	w := New(sink, Options{BatchSize: batch, QueueSize: 4 * batch, FlushInterval: time.Hour})
	sink.w = w
	record := func(from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			c := newCall(t0, i)
			if !w.Record(&c) {
				t.Fatalf("record %d refused", i)
			}
		}
	}

	// A full batch wakes the writer, whose first insert then waits while
	// two batches and a bit more queue up behind it.
	record(0, batch)
	select {
	case <-sink.entered:
	case <-time.After(wait):
		t.Fatal("writer never called the sink")
	}
	record(batch, 2*batch+100)
	close(sink.release)
	select {
	case <-sink.reached:
	case <-time.After(wait):
		t.Fatalf("backlog not written: %+v", w.Stats())
	}
	// Three records and Flush: written at once, not paced.
	record(3*batch+100, 3)
	if err := w.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	closeWriter(t, w)

	sink.mu.Lock()
	got := sink.inserts
	sink.mu.Unlock()
	// The writer paces a batch exactly when less than a batch waits
	// behind it (the first one may have started before the last of its
	// batch was recorded; then both counts are small), and writes Flush's
	// records flat out. The backlog makes both kinds appear.
	if len(got) < 3 {
		t.Fatalf("inserts %+v: want the first batch, the backlog and Flush's", got)
	}
	var paced, flat, total int
	for i, in := range got[:len(got)-1] {
		total += in.size
		if want := in.behind < batch; in.paced != want {
			t.Errorf("insert %d of %d records with %d behind: paced %v, want %v", i, in.size, in.behind, in.paced, want)
		}
		if in.paced {
			paced++
		} else {
			flat++
		}
	}
	if paced == 0 || flat == 0 {
		t.Errorf("inserts %+v: want both paced and unpaced batches before Flush", got)
	}
	if last := got[len(got)-1]; last.paced || last.size != 3 {
		t.Errorf("Flush's insert %+v, want 3 records, not paced", last)
	}
	if total += 3; total != 3*batch+103 {
		t.Errorf("inserts carried %d records, want %d", total, 3*batch+103)
	}
	if n := len(storedCalls(t, st)); n != 3*batch+103 {
		t.Errorf("store holds %d calls, want %d", n, 3*batch+103)
	}
}
