package calllog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/front"
	"gatehouse/internal/pipeline"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/store"
	"gatehouse/internal/store/postgres"
	"gatehouse/internal/store/postgres/pgtest"
)

// openPostgres opens the PostgreSQL store in a fresh schema (dropped when
// the test ends). Like every PostgreSQL test it fails under CI when the
// server does not answer (pgtest.Require).
func openPostgres(t testing.TB) *postgres.Store {
	t.Helper()
	st, err := postgres.OpenWith(t.Context(), pgtest.Schema(t), postgres.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close postgres: %v", err)
		}
	})
	return st
}

// exchange sends raw on a new connection to addr and returns the request ID
// the gateway answered with.
func exchange(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(wait))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("response: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	if id == "" {
		t.Fatalf("no request ID in the answer (status %d)", resp.StatusCode)
	}
	return id
}

// TestCraftedRequestCannotEraseOtherRecords: a request whose path decodes
// to a NUL and a byte that is not UTF-8 (%00%FF) and whose User-Agent
// carries raw non-UTF-8 bytes — both reach the call record as they are —
// goes through the real listener and pipeline between ordinary requests,
// and the real writer stores the whole lot as one batch in the real store.
// Every ordinary record must be stored, and the crafted one too: the
// embedded store keeps the bytes as sent, PostgreSQL (whose text columns
// refuse NUL and invalid UTF-8) stores them as U+FFFD. Without that
// cleaning the crafted record fails its batch in PostgreSQL (SQLSTATE
// 22021) and is lost — with every other record of the batch, before the
// writer split refused batches.
func TestCraftedRequestCannotEraseOtherRecords(t *testing.T) {
	const crafted = "GET /v1/orders/%00%FF HTTP/1.1\r\nHost: api.example\r\nUser-Agent: curl\xff\xfe/8\r\n\r\n"
	cases := []struct {
		desc            string
		open            func(testing.TB) store.Store
		wantPath, wantU string
	}{
		{"embedded SQLite store keeps the bytes as sent",
			func(t testing.TB) store.Store { return openStore(t) }, "/v1/orders/\x00\xff", "curl\xff\xfe/8"},
		{"PostgreSQL store replaces NUL and each run of invalid bytes with U+FFFD",
			func(t testing.TB) store.Store { return openPostgres(t) }, "/v1/orders/\uFFFD\uFFFD", "curl\uFFFD/8"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			st := tc.open(t)
			var logs bytes.Buffer
			// One batch for everything: written at Close, after the requests.
			w := New(st, Options{FlushInterval: time.Hour, BatchSize: 100000, MaxRetries: 1,
				RetryBackoff: time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			// No configuration loaded: every request is answered (and
			// recorded) by the pipeline's own rejection, which is enough to
			// build its record from the request as the gateway does.
			p := pipeline.New(pipeline.Options{Snapshots: &snapshot.Holder{}, Calls: w,
				Logger: slog.New(slog.DiscardHandler)})
			srv := &front.Server{Handler: p, Log: slog.New(slog.DiscardHandler)}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go srv.Serve(ln) //nolint:errcheck // ends with Shutdown
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				_ = srv.Shutdown(ctx)
			})

			const good = 40
			var goodIDs []string
			var badID string
			for i := range good {
				goodIDs = append(goodIDs, exchange(t, ln.Addr().String(),
					fmt.Sprintf("GET /v1/orders/%d HTTP/1.1\r\nHost: api.example\r\nUser-Agent: curl/8\r\n\r\n", i)))
				if i == good/2 {
					badID = exchange(t, ln.Addr().String(), crafted)
				}
			}
			closeWriter(t, w)

			got := storedCalls(t, st)
			for _, id := range goodIDs {
				if _, ok := got[id]; !ok {
					t.Errorf("ordinary record %s lost (store holds %d of %d records)", id, len(got), good+1)
				}
			}
			bad, ok := got[badID]
			switch {
			case !ok:
				t.Errorf("the crafted request's record %s was not stored", badID)
			case bad.Path != tc.wantPath || bad.UserAgent != tc.wantU:
				t.Errorf("crafted record stored with path %q, user agent %q; want %q, %q",
					bad.Path, bad.UserAgent, tc.wantPath, tc.wantU)
			}
			if s := w.Stats(); s.Written != good+1 || s.FailedRecords != 0 {
				t.Errorf("stats %+v, want %d written and nothing failed", s, good+1)
			}
		})
	}
}

// refusingSink is the real store with one refusal added: an insert that
// carries a record for which refuse says true fails with err, the whole
// insert, as a store refusing one row of a transaction does. It stands in
// for a record the store cannot take (the stores take every record the
// gateway now builds, so the writer's split needs a store that refuses
// on cue); the records of successful inserts land in the real store.
type refusingSink struct {
	Sink
	refuse func(*domain.Call) bool
	err    error
	calls  atomic.Int64
}

func (r *refusingSink) InsertCalls(ctx context.Context, calls []domain.Call) error {
	r.calls.Add(1)
	for i := range calls {
		if r.refuse(&calls[i]) {
			return r.err
		}
	}
	return r.Sink.InsertCalls(ctx, calls)
}

// TestRefusedRecordIsLostAlone: when the store refuses a batch because of
// some of its records, the writer stores every other record and gives up
// only those, each counted in FailedRecords and logged by request ID
// (never by content); when the store itself fails, the batch is retried
// whole and never split into single inserts against a dead store
// (TestUnavailableStoreLosesNothing: retried until it is back).
func TestRefusedRecordIsLostAlone(t *testing.T) {
	const n, maxRetries = 512, 2
	marker := "poison-marker-do-not-log"
	byMarker := func(c *domain.Call) bool { return c.UserAgent == marker }
	all := func(*domain.Call) bool { return true }
	depth := int64(bits.Len(n - 1)) // levels of halving down to one record
	cases := []struct {
		desc        string
		poisoned    []int // records given the marker
		refuse      func(*domain.Call) bool
		err         error
		wantLost    int
		wantRetries int64
		maxCalls    int64 // bound on inserts: no record-by-record hammering
	}{
		{"a refusal the store marks is split at once, down to the one record",
			[]int{300}, byMarker, fmt.Errorf("postgres: insert calls: %w: index row too large", store.ErrRefused),
			1, 0, 1 + 2*depth},
		{"the first record of the batch",
			[]int{0}, byMarker, fmt.Errorf("refused: %w", store.ErrRefused), 1, 0, 1 + 2*depth},
		{"the last record of the batch",
			[]int{n - 1}, byMarker, fmt.Errorf("refused: %w", store.ErrRefused), 1, 0, 1 + 2*depth},
		{"two marked refusals in different halves lose those two only",
			[]int{10, 400}, byMarker, fmt.Errorf("refused: %w", store.ErrRefused), 2, 0, 1 + 4*depth},
		{"an unmarked refusal is split after the retries",
			[]int{77}, byMarker, errors.New("value the store cannot hold"), 1, maxRetries, 1 + maxRetries + 2*depth},
		{"a store failing every insert without marking it stops after one split",
			nil, all, errors.New("disk I/O error"), n, maxRetries, 1 + maxRetries + 2},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			st := openStore(t)
			sink := &refusingSink{Sink: st, refuse: tc.refuse, err: tc.err}
			var logs bytes.Buffer
			// One batch of n, written at Close.
			w := New(sink, Options{FlushInterval: time.Hour, BatchSize: 100000, MaxRetries: maxRetries,
				RetryBackoff: time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			lost := map[string]bool{}
			var ids []string
			for i := range n {
				c := newCall(t0, i)
				if contains(tc.poisoned, i) {
					c.UserAgent = marker
					lost[c.RequestID] = true
				}
				ids = append(ids, c.RequestID)
				if !w.Record(&c) {
					t.Fatalf("record %d refused by the queue", i)
				}
			}
			err := w.Close(context.Background())
			if want := fmt.Sprintf("%d records not written", tc.wantLost); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Close = %v, want an error saying %q", err, want)
			}

			got := storedCalls(t, st)
			if len(got) != n-tc.wantLost {
				t.Errorf("store holds %d records, want %d", len(got), n-tc.wantLost)
			}
			for id := range got {
				if lost[id] {
					t.Errorf("refused record %s is in the store", id)
				}
			}
			s := w.Stats()
			if s.Written != int64(n-tc.wantLost) || s.FailedRecords != int64(tc.wantLost) ||
				s.FailedBatches != 1 || s.Retries != tc.wantRetries || s.Queued != 0 {
				t.Errorf("stats %+v, want Written %d, FailedRecords %d, FailedBatches 1, Retries %d",
					s, n-tc.wantLost, tc.wantLost, tc.wantRetries)
			}
			if c := sink.calls.Load(); c > tc.maxCalls {
				t.Errorf("%d inserts, want at most %d", c, tc.maxCalls)
			}
			out := logs.String()
			for id := range lost {
				if !strings.Contains(out, "request_id="+id) {
					t.Errorf("the refused record %s is not named in the log:\n%s", id, out)
				}
			}
			for _, leak := range []string{marker, "/v1/orders", "gh_live_k1"} {
				if strings.Contains(out, leak) {
					t.Errorf("log contains record content %q:\n%s", leak, out)
				}
			}
			if tc.wantLost == n && strings.Contains(out, "request_id=") {
				t.Errorf("a failure of the store itself logged records one by one:\n%s", out)
			}
		})
	}
}

// TestRecordPostgreSQLRefusesIsLostAlone: a record the real PostgreSQL
// store cannot take (a value too large for an index: not one a caller can
// send, but the refusal is real) costs that record only — the store marks
// the refusal, and the writer splits the batch at once, without retrying.
func TestRecordPostgreSQLRefusesIsLostAlone(t *testing.T) {
	cases := []struct {
		desc   string
		n, bad int
	}{
		{"in the middle of a batch", 100, 37},
		{"alone in its batch", 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			st := openPostgres(t)
			w := New(st, Options{FlushInterval: time.Hour, BatchSize: tc.n, MaxRetries: 3,
				RetryBackoff: time.Hour, Logger: slog.New(slog.DiscardHandler)})
			var badID string
			for i := range tc.n {
				c := newCall(t0, i)
				if i == tc.bad {
					c.Code = incompressible(10000) // code is indexed: over the index row limit
					badID = c.RequestID
				}
				w.Record(&c)
			}
			// RetryBackoff is an hour: a retry would hold Close past the
			// test's deadline.
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if err := w.Close(ctx); err == nil || !strings.Contains(err.Error(), "1 records not written") {
				t.Errorf("Close = %v, want one record lost", err)
			}
			got := storedCalls(t, st)
			if _, ok := got[badID]; ok || len(got) != tc.n-1 {
				t.Errorf("store holds %d records (refused one stored: %v), want the %d others", len(got), ok, tc.n-1)
			}
			if s := w.Stats(); s.FailedRecords != 1 || s.Retries != 0 || !strings.Contains(s.LastError, "refused by the store") {
				t.Errorf("stats %+v, want 1 failed record, no retry, a refusal as last error", s)
			}
		})
	}
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// incompressible returns n pseudo-random letters (PostgreSQL compresses an
// index entry before checking its size).
func incompressible(n int) string {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = 'a' + byte(x%26)
	}
	return string(b)
}

// unavailableSink fails every insert with store.ErrUnavailable while down
// is set, or for its first failFirst inserts.
type unavailableSink struct {
	Sink
	failFirst int64
	down      atomic.Bool
	calls     atomic.Int64
}

var errDown = fmt.Errorf("postgres: insert calls: %w: connection refused", store.ErrUnavailable)

func (u *unavailableSink) InsertCalls(ctx context.Context, calls []domain.Call) error {
	if n := u.calls.Add(1); n <= u.failFirst || u.down.Load() {
		return errDown
	}
	return u.Sink.InsertCalls(ctx, calls)
}

// TestUnavailableStoreLosesNothing: a store that is down (PostgreSQL
// restarting, a network cut) loses no acknowledged record however long
// the outage lasts — the batch is retried whole, far past MaxRetries, and
// never split into single inserts against a dead store; only Close's
// deadline abandons what is still unwritten, counted and said.
func TestUnavailableStoreLosesNothing(t *testing.T) {
	const n, maxRetries = 300, 2
	t.Run("an outage longer than the retries", func(t *testing.T) {
		st := openStore(t)
		sink := &unavailableSink{Sink: st, failFirst: maxRetries + 6}
		w := New(sink, Options{FlushInterval: time.Hour, BatchSize: 100000, MaxRetries: maxRetries,
			RetryBackoff: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		for i := range n {
			c := newCall(t0, i)
			w.Record(&c)
		}
		if err := w.Close(context.Background()); err != nil {
			t.Fatalf("Close = %v, want every record written once the store was back", err)
		}
		if got := len(storedCalls(t, st)); got != n {
			t.Errorf("store holds %d records, want all %d", got, n)
		}
		s := w.Stats()
		if s.Written != n || s.FailedRecords != 0 || s.Retries != maxRetries+6 {
			t.Errorf("stats %+v, want Written %d, nothing failed, %d retries", s, n, maxRetries+6)
		}
		if c := sink.calls.Load(); c != maxRetries+7 {
			t.Errorf("%d inserts, want %d: the batch whole each time, never split", c, maxRetries+7)
		}
	})
	t.Run("Close's deadline gives up what the dead store never took", func(t *testing.T) {
		st := openStore(t)
		sink := &unavailableSink{Sink: st}
		sink.down.Store(true)
		var logs bytes.Buffer
		w := New(sink, Options{FlushInterval: time.Hour, BatchSize: 100000, MaxRetries: maxRetries,
			RetryBackoff: time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		for i := range n {
			c := newCall(t0, i)
			w.Record(&c)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		err := w.Close(ctx)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d records not written", n)) {
			t.Errorf("Close = %v, want an error counting the %d records", err, n)
		}
		if s := w.Stats(); s.FailedRecords != n || s.Retries <= maxRetries {
			t.Errorf("stats %+v, want %d failed after more than %d retries", s, n, maxRetries)
		}
		if !strings.Contains(logs.String(), "abandoned at shutdown") {
			t.Errorf("the log does not say the records were abandoned at shutdown:\n%s", logs.String())
		}
	})
}

// TestTimeoutIsNotAnOutage: a batch the store answers too slowly every
// time (its size, a lock) is not retried whole forever — that would wedge
// the writer and drop every later record — but MaxRetries times and then
// split, as a failure the store does not mark.
func TestTimeoutIsNotAnOutage(t *testing.T) {
	st := openStore(t)
	sink := &refusingSink{Sink: st, refuse: func(*domain.Call) bool { return true },
		err: fmt.Errorf("postgres: insert calls: %w: %w", store.ErrUnavailable, context.DeadlineExceeded)}
	w := New(sink, Options{FlushInterval: time.Hour, BatchSize: 100000, MaxRetries: 2, RetryBackoff: time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	for i := range 64 {
		c := newCall(t0, i)
		w.Record(&c)
	}
	done := make(chan error, 1)
	go func() { done <- w.Close(context.Background()) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "64 records not written") {
			t.Errorf("Close = %v, want the 64 records counted lost", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the writer is still retrying a batch that times out every time")
	}
	if s := w.Stats(); s.Retries != 2 {
		t.Errorf("%d retries, want MaxRetries (2) before the split", s.Retries)
	}
}

// scriptedSink answers its inserts from a script (nil: the store's own
// answer), then refuses any batch holding a poisoned record.
type scriptedSink struct {
	Sink
	mu       sync.Mutex
	script   []error
	poisoned string
}

func (s *scriptedSink) InsertCalls(ctx context.Context, calls []domain.Call) error {
	s.mu.Lock()
	var next error
	if len(s.script) > 0 {
		next, s.script = s.script[0], s.script[1:]
	}
	s.mu.Unlock()
	if next != nil {
		return next
	}
	for i := range calls {
		if calls[i].RequestID == s.poisoned {
			return fmt.Errorf("postgres: insert calls: %w: value too long", store.ErrRefused)
		}
	}
	return s.Sink.InsertCalls(ctx, calls)
}

// TestOutageDuringASplitLosesOnlyTheRefusedRecord: the store refuses a
// batch for one record and, while the writer splits it, goes away for a
// few inserts: the halves wait for it instead of being given up, and only
// the refused record is lost.
func TestOutageDuringASplitLosesOnlyTheRefusedRecord(t *testing.T) {
	const n = 64
	st := openStore(t)
	down := fmt.Errorf("postgres: insert calls: %w: connection refused", store.ErrUnavailable)
	var first []error
	first = append(first, nil) // the whole batch: refused for the poisoned record (below)
	for range 4 {
		first = append(first, down) // the first split's halves, and their first retries
	}
	sink := &scriptedSink{Sink: st, script: first}
	w := New(sink, Options{FlushInterval: time.Hour, BatchSize: 100000, MaxRetries: 2, RetryBackoff: time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	for i := range n {
		c := newCall(t0, i)
		if i == 40 {
			sink.poisoned = c.RequestID
		}
		w.Record(&c)
	}
	err := w.Close(context.Background())
	if err == nil || !strings.Contains(err.Error(), "1 records not written") {
		t.Errorf("Close = %v, want the one refused record counted", err)
	}
	if got := len(storedCalls(t, st)); got != n-1 {
		t.Errorf("store holds %d records, want %d: the outage during the split cost more than the refused one", got, n-1)
	}
}
