package analytics

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"gatehouse/internal/calllog"
	"gatehouse/internal/domain"
)

type discardSink struct{}

func (discardSink) InsertCalls(context.Context, []domain.Call) error { return nil }

type discardStore struct{}

func (discardStore) UpsertRollups(context.Context, []domain.Rollup) error { return nil }
func (discardStore) DeleteRollupsBefore(context.Context, time.Time) (int64, error) {
	return 0, nil
}

// BenchmarkSink measures what the wrapper adds per record to the call-log
// writer goroutine: Sink over a sink that stores nothing, 512-record
// batches of the mixed traffic (12 consumers × 4 routes × 14 outcomes ×
// 3 credential types over 30 minutes: ~10k distinct keys), with a flush
// every 60 batches (~30k records, a minute at 500 records/s) to an
// upsert that stores nothing. ns/op and allocs/op are per record.
func BenchmarkSink(b *testing.B) {
	calls := mixedCalls(512*64, 30, 3)
	agg := NewAggregator(discardStore{}, Options{NoBackground: true, Logger: quiet()})
	s := Sink(discardSink{}, agg)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	defer reportCPU(b, cpu)
	batches := 0
	for i := 0; i < b.N; i += 512 {
		off := (batches % 64) * 512
		n := min(512, b.N-i)
		if err := s.InsertCalls(ctx, calls[off:off+n]); err != nil {
			b.Fatal(err)
		}
		batches++
		if batches%60 == 0 {
			if err := agg.Flush(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkWriterSQLite measures the call-log writer end to end into the
// real SQLite store, with and without the rollup Sink in front of it:
// b.N records handed to Record, then Flush. records/s is the writer's
// sustained rate; the difference between the two is what rollups cost the
// writer goroutine (the request path only ever pays Record).
func BenchmarkWriterSQLite(b *testing.B) {
	for _, withRollups := range []bool{false, true} {
		name := "plain"
		if withRollups {
			name = "rollups"
		}
		b.Run(name, func(b *testing.B) {
			st := openStore(b)
			agg := NewAggregator(st, Options{NoBackground: true, Logger: quiet()})
			var sink calllog.Sink = st
			if withRollups {
				sink = Sink(st, agg)
			}
			w := calllog.New(sink, calllog.Options{QueueSize: 1 << 20, Logger: quiet()})
			// Two minutes of traffic: the rows a flush writes depend on the
			// distinct keys per minute, not on the rate.
			calls := mixedCalls(50_000, 2, 5)
			// In time order, as a gateway writes them.
			slices.SortFunc(calls, func(a, b domain.Call) int { return a.Time.Compare(b.Time) })
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			start := time.Now()
			for i := range b.N {
				c := calls[i%len(calls)]
				c.RequestID = fmt.Sprintf("req_%09d", i)
				w.Record(&c)
			}
			if err := w.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			if err := agg.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
			reportCPU(b, cpu)
			b.StopTimer()
			if err := w.Close(ctx); err != nil {
				b.Fatal(err)
			}
			if s := w.Stats(); s.Dropped != 0 {
				b.Fatalf("%d records dropped", s.Dropped)
			}
		})
	}
}
