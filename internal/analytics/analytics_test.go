package analytics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/calllog"
	"gatehouse/internal/clock"
	"gatehouse/internal/domain"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlite"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// outcome is one kind of call in the mix.
type outcome struct {
	status int
	code   string
}

var mixOutcomes = []outcome{
	{200, ""}, {200, ""}, {200, ""}, {201, ""}, {304, ""},
	{401, "key.unknown"}, {401, "jwt.expired"}, {401, "jwt.expired"}, {403, "scope.insufficient"},
	{429, "rate.exceeded"}, {404, "route.not_found"}, {502, "upstream.unavailable"}, {500, ""}, {404, ""},
}

// mixedCalls builds n calls spread over minutes minutes after t0, across 3
// tenants, 12 consumers (plus unidentified callers), 4 routes, the
// outcomes above and 3 credential types, with latencies from 20 µs to 20 s.
// Times are shuffled so records arrive out of order (late records).
func mixedCalls(n, minutes int, seed uint64) []domain.Call {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	credTypes := []string{"api_key", "jwt", "basic"}
	calls := make([]domain.Call, n)
	for i := range calls {
		o := mixOutcomes[rng.IntN(len(mixOutcomes))]
		c := domain.Call{
			RequestID:      fmt.Sprintf("req_%06d", i),
			Time:           t0.Add(time.Duration(rng.Int64N(int64(minutes) * int64(time.Minute)))).Truncate(time.Microsecond),
			RouteID:        fmt.Sprintf("rte_%d", rng.IntN(4)),
			Method:         "GET",
			Path:           "/v1/things",
			Status:         o.status,
			Code:           o.code,
			CredentialType: credTypes[rng.IntN(len(credTypes))],
			LatencyMicros:  int64(20 * math.Pow(10, rng.Float64()*6)),
			BytesIn:        rng.Int64N(2000),
			BytesOut:       rng.Int64N(20000),
		}
		if o.code != "key.unknown" && o.code != "route.not_found" {
			k := rng.IntN(12)
			c.ConsumerID = fmt.Sprintf("con_%02d", k)
			c.TenantID = fmt.Sprintf("ten_%d", k%3)
		}
		calls[i] = c
	}
	return calls
}

// flakySink fails every failEvery-th insert before writing anything, so
// the call-log writer retries those batches.
type flakySink struct {
	next      calllog.Sink
	n         atomic.Int64
	failEvery int64
}

func (f *flakySink) InsertCalls(ctx context.Context, calls []domain.Call) error {
	if f.failEvery > 0 && f.n.Add(1)%f.failEvery == 0 {
		return errors.New("injected insert failure")
	}
	return f.next.InsertCalls(ctx, calls)
}

// flakyRollups fails the first failFirst upserts.
type flakyRollups struct {
	Store
	failures atomic.Int64
}

func (f *flakyRollups) UpsertRollups(ctx context.Context, rs []domain.Rollup) error {
	if f.failures.Add(-1) >= 0 {
		return errors.New("injected upsert failure")
	}
	return f.Store.UpsertRollups(ctx, rs)
}

// rawCounts pages through the whole call log.
func rawCounts(t *testing.T, st store.Store) (total int64, byCode, byConsumer, failuresByConsumer, byClass map[string]int64) {
	t.Helper()
	byCode, byConsumer, failuresByConsumer, byClass = map[string]int64{}, map[string]int64{}, map[string]int64{}, map[string]int64{}
	f := store.CallFilter{Page: store.Page{Limit: 1000}}
	for {
		items, next, err := st.QueryCalls(t.Context(), f)
		if err != nil {
			t.Fatalf("QueryCalls: %v", err)
		}
		for _, c := range items {
			total++
			if c.Code != "" {
				byCode[c.Code]++
			}
			byClass[domain.StatusClass(c.Status)]++
			if c.ConsumerID != "" {
				byConsumer[c.ConsumerID]++
				if c.Status >= 400 {
					failuresByConsumer[c.ConsumerID]++
				}
			}
		}
		if next == "" {
			return
		}
		f.After = next
	}
}

// TestRollupsEqualCallLog is the acceptance test: 10 000 mixed records go
// through the real call-log writer, whose sink is Sink(real SQLite store)
// — with a third of the inserts failing once and retried, and the first
// rollup flush failing — while the aggregator flushes in the middle of the
// stream (so late records land in minutes already written). The stats
// report's totals then equal the call log's own counts by code, by
// consumer and by status class.
func TestRollupsEqualCallLog(t *testing.T) {
	const n, minutes = 10_000, 30
	st := openStore(t)
	ctx := t.Context()
	rollupStore := &flakyRollups{Store: st}
	rollupStore.failures.Store(1)
	agg := NewAggregator(rollupStore, Options{NoBackground: true, Logger: quiet()})
	w := calllog.New(Sink(&flakySink{next: st, failEvery: 3}, agg),
		calllog.Options{BatchSize: 256, FlushInterval: time.Millisecond, RetryBackoff: time.Millisecond, Logger: quiet()})
	calls := mixedCalls(n, minutes, 7)
	flushErrs := 0
	for i := range calls {
		if !w.Record(&calls[i]) {
			t.Fatalf("record %d refused", i)
		}
		if i%2500 == 2499 {
			if err := w.Flush(ctx); err != nil {
				t.Fatalf("call log flush: %v", err)
			}
			if err := agg.Flush(ctx); err != nil {
				flushErrs++
			}
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatalf("call log close: %v", err)
	}
	if err := agg.Close(ctx); err != nil {
		t.Fatalf("aggregator close: %v", err)
	}
	if flushErrs != 1 {
		t.Errorf("%d rollup flushes failed, want the 1 injected", flushErrs)
	}
	ws, as := w.Stats(), agg.Stats()
	if ws.Written != n || ws.Retries == 0 || ws.FailedRecords != 0 {
		t.Fatalf("call log stats %+v: want %d written, some retries, none lost", ws, n)
	}
	if as.Records != n || as.DroppedRecords != 0 || as.Pending != 0 || as.FailedFlushes != 1 {
		t.Errorf("aggregator stats %+v: want %d records, none dropped or pending, 1 failed flush", as, n)
	}

	total, byCode, byConsumer, failures, byClass := rawCounts(t, st)
	if total != n {
		t.Fatalf("call log holds %d calls, want %d", total, n)
	}
	since, until := t0, t0.Add(minutes*time.Minute)
	for _, group := range []string{"minute", "hour", "day"} {
		t.Run("grouped by "+group, func(t *testing.T) {
			step, _ := GroupStep(group)
			rows, err := st.QueryRollups(ctx, store.RollupFilter{Since: floor(since, step), Until: until, Step: step})
			if err != nil {
				t.Fatal(err)
			}
			rep := Compute(rows, since, until, group, step, 0)
			if rep.Totals.Requests != total {
				t.Errorf("stats requests %d, call log %d", rep.Totals.Requests, total)
			}
			gotCode := map[string]int64{}
			for _, r := range rep.TopReasons {
				gotCode[r.Code] = r.Count
			}
			sameCounts(t, "by reason code", gotCode, byCode)
			sameCounts(t, "by status class", rep.Totals.ByClass, byClass)
			gotReq, gotFail := map[string]int64{}, map[string]int64{}
			for _, c := range rep.TopFailingConsumers {
				gotReq[c.Consumer], gotFail[c.Consumer] = c.Requests, c.Failures
			}
			sameCounts(t, "requests by consumer", gotReq, byConsumer)
			sameCounts(t, "failures by consumer", gotFail, failures)
			var series, seriesErr int64
			for _, p := range rep.Series {
				series += p.Requests
				seriesErr += p.Errors
			}
			if series != total || seriesErr != rep.Totals.Errors {
				t.Errorf("series sums %d requests / %d errors, totals %d / %d", series, seriesErr, total, rep.Totals.Errors)
			}
		})
	}
	t.Run("per consumer and minute, the rollups equal the call log", func(t *testing.T) {
		// A narrower cross-check: every minute of one consumer.
		rows, err := st.QueryRollups(ctx, store.RollupFilter{ConsumerID: "con_05"})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, r := range rows {
			got[r.Minute.Format("15:04")] += r.Count
		}
		want := map[string]int64{}
		for _, c := range calls {
			if c.ConsumerID == "con_05" {
				want[c.Time.Truncate(time.Minute).Format("15:04")]++
			}
		}
		sameCounts(t, "con_05 per minute", got, want)
	})
}

func sameCounts(t *testing.T, what string, got, want map[string]int64) {
	t.Helper()
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	var diffs []string
	for k := range keys {
		if got[k] != want[k] {
			diffs = append(diffs, fmt.Sprintf("%s: stats %d, call log %d", k, got[k], want[k]))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("%s differ: %v", what, diffs)
	}
	if len(keys) == 0 {
		t.Errorf("%s: nothing counted", what)
	}
}

func TestQuantiles(t *testing.T) {
	gen := func(n int, f func(i int) int64) domain.Rollup {
		var r domain.Rollup
		for i := range n {
			addCall(&r, &domain.Call{LatencyMicros: f(i)})
		}
		return r
	}
	exact := func(n int, f func(i int) int64, q float64) int64 {
		v := make([]int64, n)
		for i := range v {
			v[i] = f(i)
		}
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
		return v[max(0, int(math.Ceil(q*float64(n)))-1)]
	}
	rng := rand.New(rand.NewPCG(1, 2))
	logNormal := make([]int64, 20000)
	for i := range logNormal {
		logNormal[i] = int64(math.Exp(8 + rng.NormFloat64())) // median ~3 ms
	}
	cases := []struct {
		desc string
		n    int
		f    func(i int) int64
	}{
		{"uniform 1 µs - 100 ms", 10000, func(i int) int64 { return int64(i)*10 + 1 }},
		{"constant 4 ms", 500, func(int) int64 { return 4000 }},
		{"log-normal around 3 ms", len(logNormal), func(i int) int64 { return logNormal[i] }},
		{"bimodal: 95% at 800 µs, 5% at 12 s (open bucket)", 1000, func(i int) int64 {
			if i%20 == 0 {
				return 12_000_000
			}
			return 800
		}},
		{"a single call", 1, func(int) int64 { return 123 }},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := gen(tc.n, tc.f)
			var prev int64
			for _, q := range []float64{0.5, 0.95, 0.99} {
				got, want := Quantile(&r, q), exact(tc.n, tc.f, q)
				// Sane: in the same histogram bucket as the exact value (or
				// at the bucket edge below it), never above the maximum,
				// and non-decreasing in q.
				b := domain.LatencyBucket(want)
				lo, hi := int64(0), r.LatencyMaxMicros
				if v, ok := domain.LatencyBound(b - 1); ok {
					lo = v
				}
				if v, ok := domain.LatencyBound(b); ok {
					hi = min(v, hi)
				}
				if got < lo || got > hi {
					t.Errorf("p%g = %d µs, exact %d µs: outside its bucket [%d, %d]", q*100, got, want, lo, hi)
				}
				if got < prev {
					t.Errorf("p%g = %d µs is below the previous quantile %d", q*100, got, prev)
				}
				prev = got
			}
			if got := Quantile(&r, 1); got != r.LatencyMaxMicros {
				t.Errorf("p100 = %d, want the maximum %d", got, r.LatencyMaxMicros)
			}
		})
	}
	if got := Quantile(&domain.Rollup{}, 0.5); got != 0 {
		t.Errorf("quantile of nothing = %d, want 0", got)
	}
}

func TestRetention(t *testing.T) {
	st := openStore(t)
	ctx := t.Context()
	clk := clock.NewFake(t0)
	agg := NewAggregator(st, Options{NoBackground: true, Clock: clk, Logger: quiet()})
	days := []int{-200, -91, -90, -89, -1, 0}
	var calls []domain.Call
	for i, d := range days {
		calls = append(calls, domain.Call{RequestID: fmt.Sprint(i), Time: t0.Add(time.Duration(d) * 24 * time.Hour), Status: 200})
	}
	agg.Add(calls)
	if err := agg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := agg.Prune(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Prune = %d, %v; want the 2 minutes older than 90 days", n, err)
	}
	rows, err := st.QueryRollups(ctx, store.RollupFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || !rows[0].Minute.Equal(t0.Add(-90*24*time.Hour)) {
		t.Errorf("kept %d rows starting %v; want 4 from exactly 90 days back", len(rows), rows[0].Minute)
	}
	if agg.Stats().Pruned != 2 {
		t.Errorf("Stats.Pruned = %d", agg.Stats().Pruned)
	}
	if err := agg.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := agg.Flush(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Flush after Close: %v, want ErrClosed", err)
	}
}

func TestMaxPendingCountsDrops(t *testing.T) {
	st := openStore(t)
	agg := NewAggregator(st, Options{NoBackground: true, MaxPending: 3, Logger: quiet()})
	var calls []domain.Call
	for i := range 5 {
		calls = append(calls, domain.Call{ConsumerID: fmt.Sprint("con_", i), Time: t0, Status: 200},
			domain.Call{ConsumerID: fmt.Sprint("con_", i), Time: t0, Status: 200})
	}
	agg.Add(calls)
	s := agg.Stats()
	if s.Records != 6 || s.DroppedRecords != 4 || s.Pending != 3 {
		t.Errorf("stats %+v: want 6 aggregated (3 keys × 2), 4 dropped, 3 pending", s)
	}
}

// TestCloseFlushes checks Close writes what is pending with the background
// loops running (no sleeps: Close is the synchronisation point).
func TestCloseFlushes(t *testing.T) {
	st := openStore(t)
	agg := NewAggregator(st, Options{FlushEvery: time.Hour, Logger: quiet()})
	agg.Add(mixedCalls(100, 3, 1))
	if err := agg.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	rows, err := st.QueryRollups(t.Context(), store.RollupFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, r := range rows {
		n += r.Count
	}
	if n != 100 {
		t.Errorf("after Close the rollups count %d calls, want 100", n)
	}
}
