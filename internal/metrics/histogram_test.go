package metrics

import (
	"math"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestNewBounds(t *testing.T) {
	cases := []struct {
		desc   string
		in     []float64
		micros []int64
	}{
		{"defaults round to whole microseconds", DefaultBuckets(),
			[]int64{100, 250, 500, 1000, 2500, 5000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000}},
		{"unsorted input is sorted", []float64{0.1, 0.001, 0.01}, []int64{1000, 10_000, 100_000}},
		{"bounds equal after rounding are merged", []float64{0.001, 0.0010001, 0.0009999}, []int64{1000}},
		{"NaN, ±Inf and negative bounds are dropped", []float64{math.NaN(), math.Inf(1), math.Inf(-1), -0.5, 0.002}, []int64{2000}},
		{"zero is a valid bound", []float64{0, 0.001}, []int64{0, 1000}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			b := newBounds(tc.in)
			if !slices.Equal(b.micros, tc.micros) {
				t.Fatalf("micros %v, want %v", b.micros, tc.micros)
			}
			for i, u := range b.micros {
				if b.seconds[i] != float64(u)/1e6 {
					t.Errorf("seconds[%d] = %v, want %v", i, b.seconds[i], float64(u)/1e6)
				}
			}
		})
	}
}

// TestHistogramMatchesClientLibrary uses prometheus.Histogram as the
// oracle: the same observations must give the same buckets, count and sum.
func TestHistogramMatchesClientLibrary(t *testing.T) {
	cases := []struct {
		desc    string
		buckets []float64
		obs     []int64 // microseconds
	}{
		{"default buckets, values on, below and between the bounds", DefaultBuckets(),
			[]int64{0, 1, 99, 100, 101, 250, 999, 1000, 1001, 49_999, 50_000, 9_999_999, 10_000_000, 10_000_001, 60_000_000}},
		{"a spread of typical latencies", DefaultBuckets(), spread(5000)},
		{"three buckets", []float64{0.001, 0.01, 0.1}, spread(700)},
		{"no observations", DefaultBuckets(), nil},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			own := newHistogram(newBounds(tc.buckets))
			ref := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ref", Buckets: tc.buckets})
			for _, us := range tc.obs {
				own.observe(us)
				ref.Observe(float64(us) / 1e6)
			}
			desc := prometheus.NewDesc("own", "h", []string{"route"}, nil)
			var got, want dto.Metric
			if err := own.metric(desc, "rt").Write(&got); err != nil {
				t.Fatal(err)
			}
			if err := ref.Write(&want); err != nil {
				t.Fatal(err)
			}
			g, w := got.GetHistogram(), want.GetHistogram()
			if g.GetSampleCount() != w.GetSampleCount() {
				t.Errorf("count %d, want %d", g.GetSampleCount(), w.GetSampleCount())
			}
			if math.Abs(g.GetSampleSum()-w.GetSampleSum()) > 1e-6 {
				t.Errorf("sum %v, want %v", g.GetSampleSum(), w.GetSampleSum())
			}
			if len(g.GetBucket()) != len(w.GetBucket()) {
				t.Fatalf("%d buckets, want %d", len(g.GetBucket()), len(w.GetBucket()))
			}
			for i := range w.GetBucket() {
				gb, wb := g.GetBucket()[i], w.GetBucket()[i]
				if gb.GetUpperBound() != wb.GetUpperBound() || gb.GetCumulativeCount() != wb.GetCumulativeCount() {
					t.Errorf("bucket %d: le=%v %d, want le=%v %d", i,
						gb.GetUpperBound(), gb.GetCumulativeCount(), wb.GetUpperBound(), wb.GetCumulativeCount())
				}
			}
		})
	}
}

// spread returns n latencies from 0 to ~20 s on a rough log scale
// (deterministic, no randomness to reproduce).
func spread(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(math.Pow(10, float64(i%73)/10)) + int64(i%7)
	}
	return out
}
