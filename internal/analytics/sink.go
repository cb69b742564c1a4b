package analytics

import (
	"context"

	"gatehouse/internal/calllog"
	"gatehouse/internal/domain"
)

// Sink wraps the call log's sink: each batch is written by next first
// and, once next has committed it, added to agg. A batch next fails is not
// aggregated (the writer retries it, or gives it up and counts it), so the
// rollups count exactly the stored records. The wrapper adds one map
// lookup per record to the writer goroutine, never to the request path
// (BenchmarkSink).
func Sink(next calllog.Sink, agg *Aggregator) calllog.Sink {
	return &sink{next: next, agg: agg}
}

type sink struct {
	next calllog.Sink
	agg  *Aggregator
}

func (s *sink) InsertCalls(ctx context.Context, calls []domain.Call) error {
	if err := s.next.InsertCalls(ctx, calls); err != nil {
		return err
	}
	s.agg.Add(calls)
	return nil
}
