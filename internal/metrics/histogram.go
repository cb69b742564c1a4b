package metrics

import (
	"math"
	"slices"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// histogram is a fixed-bucket latency histogram counted in whole
// microseconds, the call record's resolution, and exposed through the
// client library's const histograms at scrape time.
//
// Why not prometheus.Histogram: its Observe does four atomic operations
// (hot/cold index, bucket, a compare-and-swap loop on the float sum, count)
// so that a scrape sees count, sum and buckets from the same instant. This
// one does two integer adds (bucket, sum) and derives the count from the
// buckets. Measured, one observation, 16 buckets, 2-core VM, CPU time,
// median of 5 (BenchmarkHistogram): 44 ns for prometheus.Histogram against
// 17 ns here (parallel: 44 against 19); with two histograms per proxied
// call, prometheus.Histogram was over half of ObserveCall's cost. The price: a scrape racing an observation may see
// the sum without that observation's bucket or the reverse — off by one
// request, never drifting.
type histogram struct {
	bounds *bounds
	// counts[i] counts observations ≤ bounds.micros[i] and above the
	// previous bound; the last one is +Inf.
	counts    []atomic.Uint64
	sumMicros atomic.Int64
}

// bounds are a histogram family's upper bounds, shared by its series.
type bounds struct {
	micros  []int64
	seconds []float64
}

// newBounds rounds upper bounds (seconds) to whole microseconds and
// returns them sorted and distinct; non-finite and negative ones are
// dropped (+Inf is always implied).
func newBounds(secs []float64) *bounds {
	var us []int64
	for _, s := range secs {
		if math.IsNaN(s) || math.IsInf(s, 0) || s < 0 {
			continue
		}
		us = append(us, int64(math.Round(s*1e6)))
	}
	slices.Sort(us)
	us = slices.Compact(us)
	b := &bounds{micros: us, seconds: make([]float64, len(us))}
	for i, u := range us {
		b.seconds[i] = float64(u) / 1e6
	}
	return b
}

func newHistogram(b *bounds) *histogram {
	return &histogram{bounds: b, counts: make([]atomic.Uint64, len(b.micros)+1)}
}

// observe records one latency in microseconds (clamped at 0). A linear
// scan beats a binary search over 16 bounds, and typical latencies stop
// within the first few.
func (h *histogram) observe(us int64) {
	us = max(us, 0)
	i, n := 0, len(h.bounds.micros)
	for i < n && us > h.bounds.micros[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumMicros.Add(us)
}

// metric snapshots the histogram as a const metric (allocates; scrape
// time only).
func (h *histogram) metric(desc *prometheus.Desc, labels ...string) prometheus.Metric {
	cumulative := make(map[float64]uint64, len(h.bounds.seconds))
	var n uint64
	for i, le := range h.bounds.seconds {
		n += h.counts[i].Load()
		cumulative[le] = n
	}
	n += h.counts[len(h.counts)-1].Load()
	return prometheus.MustNewConstHistogram(desc, n, float64(h.sumMicros.Load())/1e6, cumulative, labels...)
}
