package analytics

import (
	"context"
	"testing"
	"time"

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
