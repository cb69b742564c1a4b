package calllog

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/domain"
)

// countSink discards batches and counts their records. BenchmarkRecord uses
// it to measure the request-path cost alone; the store's throughput has its
// own benchmarks below.
type countSink struct{ n atomic.Int64 }

func (s *countSink) InsertCalls(_ context.Context, calls []domain.Call) error {
	s.n.Add(int64(len(calls)))
	return nil
}

// BenchmarkRecord is the cost Record adds to a proxied request, from
// parallel goroutines, with the writer running. The record is built on the
// caller's stack, as the pipeline will, so allocs/op is the whole path's.
//
// "steady": each goroutine yields every 16 records, as request goroutines
// park on network I/O many times per request, so the writer gets its share
// of the 2 cores; this is the normal hot path. "overload": the goroutines
// never yield, so they produce far faster than the writer is scheduled and
// the queue is mostly full: it measures the refusal path (dropped/op).
func BenchmarkRecord(b *testing.B) {
	for _, bc := range []struct {
		name       string
		yieldEvery int
	}{{"steady", 16}, {"overload", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			sink := &countSink{}
			w := New(sink, Options{Logger: slog.New(slog.DiscardHandler)})
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					c := domain.Call{
						RequestID: "01J0000000000000000000000", Time: benchTime, RouteID: "rt_1",
						ServiceID: "svc_1", TenantID: "t_1", ConsumerID: "c_1", CredentialID: "key_1",
						CredentialType: "api_key", Method: "GET", Path: "/v1/orders", Status: 200,
						ClientIP: "127.0.0.1", UserAgent: "wrk", LatencyMicros: int64(i), BytesOut: 512,
					}
					w.Record(&c)
					i++
					if bc.yieldEvery > 0 && i%bc.yieldEvery == 0 {
						runtime.Gosched()
					}
				}
			})
			b.StopTimer()
			if err := w.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			s := w.Stats()
			b.ReportMetric(float64(s.Dropped)/float64(b.N), "dropped/op")
			if s.Written+s.Dropped != int64(b.N) || sink.n.Load() != s.Written {
				b.Fatalf("written %d (sink saw %d) + dropped %d != %d recorded", s.Written, sink.n.Load(), s.Dropped, b.N)
			}
		})
	}
}

func benchCalls(n int) []domain.Call {
	calls := make([]domain.Call, n)
	for i := range calls {
		calls[i] = newCall(benchTime, i)
	}
	return calls
}

// BenchmarkSQLiteInsertBatch is the embedded store's InsertCalls throughput
// by batch size (a third of the records carry a two-step trace, as
// rejections do). One op is one batch; rows/s is the figure to compare with
// the proxy's request rate.
func BenchmarkSQLiteInsertBatch(b *testing.B) {
	for _, size := range []int{64, 512, 2048} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			st := openStore(b)
			calls := benchCalls(size)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range calls {
					// Fresh IDs, or ON CONFLICT DO NOTHING would skip them.
					calls[j].RequestID = fmt.Sprintf("%010d%016d", i, j)
				}
				if err := st.InsertCalls(ctx, calls); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkWriterSQLite is the whole path: b.N records through Record from
// parallel goroutines into the embedded store with the default options,
// ending with Close (so every record is committed inside the timing). When
// the queue is full a producer yields and retries instead of dropping, so
// rows/s is the sustained rate the call log can absorb without loss.
func BenchmarkWriterSQLite(b *testing.B) {
	st := openStore(b)
	w := New(st, Options{Logger: slog.New(slog.DiscardHandler)})
	var id atomic.Int64
	var fullWaits atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := id.Add(1)
			c := newCall(benchTime, int(n))
			c.RequestID = fmt.Sprintf("%026d", n)
			for !w.Record(&c) {
				fullWaits.Add(1)
				runtime.Gosched()
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := w.Close(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	s := w.Stats()
	if s.Written != int64(b.N) {
		b.Fatalf("written %d, want %d", s.Written, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(fullWaits.Load())/float64(b.N), "fullwaits/op")
}
