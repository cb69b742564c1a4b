package domain

import "time"

// RollupBuckets is the number of latency histogram buckets in a Rollup.
const RollupBuckets = 24

// rollupBounds are the inclusive upper bounds, in microseconds, of the
// first RollupBuckets-1 latency buckets; the last bucket holds everything
// slower. Steps of 1.5-2.5× from 50 µs to 10 s: a quantile read from them
// (interpolated inside its bucket) is within one step of the truth, which
// is what a p50/p95/p99 chart needs, while the histogram stays a fixed set
// of integer columns that SQL can add up (the store merges rollups with
// plain SUMs, on SQLite and PostgreSQL alike). The bounds are part of the
// stored format: changing them needs a migration.
var rollupBounds = [RollupBuckets - 1]int64{
	50, 100, 250, 500,
	1_000, 2_000, 3_000, 5_000, 7_500,
	10_000, 15_000, 20_000, 30_000, 50_000, 75_000,
	100_000, 150_000, 250_000, 500_000,
	1_000_000, 2_500_000, 5_000_000, 10_000_000,
}

// LatencyBound returns the inclusive upper bound in microseconds of
// histogram bucket i, and false for the last (open) bucket.
func LatencyBound(i int) (int64, bool) {
	if i < 0 || i >= len(rollupBounds) {
		return 0, false
	}
	return rollupBounds[i], true
}

// LatencyBucket returns the histogram bucket a latency falls in.
func LatencyBucket(us int64) int {
	// Linear scan: 23 comparisons at most, branch-predictable, and faster
	// than a binary search at this size for the mostly-fast latencies of a
	// gateway.
	for i, b := range rollupBounds {
		if us <= b {
			return i
		}
	}
	return RollupBuckets - 1
}

// StatusClass returns the rollup status class of an HTTP status: "2xx" …
// "5xx", or "other" for anything outside 100-599 (a call recorded without a
// status).
func StatusClass(status int) string {
	switch status / 100 {
	case 1:
		return "1xx"
	case 2:
		return "2xx"
	case 3:
		return "3xx"
	case 4:
		return "4xx"
	case 5:
		return "5xx"
	}
	return "other"
}

// Rollup aggregates the calls of one minute (or, in a query, one bucket of
// several minutes) that share a tenant, consumer, route, status class,
// reason code, credential type and AI model (§6, §12). Rollups are additive: two
// rollups of the same key merge by adding every counter (and taking the
// larger LatencyMaxMicros).
type Rollup struct {
	// Minute is the start of the minute (or of the query bucket), UTC.
	Minute         time.Time `json:"minute"`
	TenantID       string    `json:"tenant,omitempty"`
	ConsumerID     string    `json:"consumer,omitempty"`
	RouteID        string    `json:"route,omitempty"`
	StatusClass    string    `json:"status_class"`
	Code           string    `json:"code,omitempty"`
	CredentialType string    `json:"credential_type,omitempty"`
	// Model is the AI model the calls asked for, by its catalogue name
	// (the call record's ai.alias); empty for calls on other routes.
	Model string `json:"model,omitempty"`
	// Count is the number of calls.
	Count    int64 `json:"count"`
	BytesIn  int64 `json:"bytes_in"`
	BytesOut int64 `json:"bytes_out"`
	// LatencySumMicros is the sum of the calls' total latencies (mean =
	// sum / count); LatencyMaxMicros the largest.
	LatencySumMicros int64 `json:"latency_sum_us"`
	LatencyMaxMicros int64 `json:"latency_max_us"`
	// Latency counts calls per histogram bucket (LatencyBucket).
	Latency [RollupBuckets]int64 `json:"latency_buckets"`
	// CostMicros is the exact AI cost of the calls in millionths of the
	// currency unit (0 for calls on other routes), so spend over time
	// reads from the rollups, not the call log.
	CostMicros int64 `json:"cost_micros,omitempty"`
}
