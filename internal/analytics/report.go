package analytics

import (
	"cmp"
	"math"
	"slices"
	"time"

	"gatehouse/internal/domain"
)

// Report is the answer of GET /admin/v1/stats: what happened between Since
// and Until, from the rollups.
type Report struct {
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// GroupBy is the width of the series' points: minute, hour or day.
	GroupBy string `json:"group_by"`
	Totals  Totals `json:"totals"`
	// Series has one point per GroupBy bucket from Since to Until, empty
	// buckets included, oldest first.
	Series []Point `json:"series"`
	// TopReasons are the most frequent reason codes (rejections by the
	// gateway), most frequent first.
	TopReasons []ReasonCount `json:"top_reasons"`
	// TopFailingConsumers are the identified consumers with the most
	// calls answered 400 or above, most failures first.
	TopFailingConsumers []ConsumerCount `json:"top_failing_consumers"`
	// TopModels are the AI models called (by the name clients ask for),
	// most calls first; empty when no AI route was called.
	TopModels []ModelCount `json:"top_models"`
	// Truncated is true when the rollups in range exceeded the rows one
	// report reads: narrow the range, filter, or group by a longer step.
	Truncated bool `json:"truncated,omitempty"`
}

// Totals sums the whole range.
type Totals struct {
	Requests int64 `json:"requests"`
	// Errors are the calls answered 400 or above (rejections by the
	// gateway and the upstream's own errors); ErrorRate = Errors/Requests.
	Errors    int64   `json:"errors"`
	ErrorRate float64 `json:"error_rate"`
	// ByClass counts calls per status class: "2xx" … "5xx".
	ByClass  map[string]int64 `json:"by_class"`
	BytesIn  int64            `json:"bytes_in"`
	BytesOut int64            `json:"bytes_out"`
	Latency  Latency          `json:"latency"`
}

// Latency summarises total latencies in microseconds. Quantiles are
// estimated from the rollup histogram (within one bucket step, see
// domain.LatencyBound); the mean and maximum are exact.
type Latency struct {
	MeanMicros int64 `json:"mean_us"`
	P50Micros  int64 `json:"p50_us"`
	P95Micros  int64 `json:"p95_us"`
	P99Micros  int64 `json:"p99_us"`
	MaxMicros  int64 `json:"max_us"`
}

// Point is one bucket of the series.
type Point struct {
	Time      time.Time `json:"time"`
	Requests  int64     `json:"requests"`
	Errors    int64     `json:"errors"`
	ErrorRate float64   `json:"error_rate"`
	P95Micros int64     `json:"p95_us"`
}

// ReasonCount is one reason code's count; Share is its part of all errors.
type ReasonCount struct {
	Code  string  `json:"code"`
	Count int64   `json:"count"`
	Share float64 `json:"share"`
}

// ConsumerCount is one consumer's failures.
type ConsumerCount struct {
	Consumer  string  `json:"consumer"`
	Tenant    string  `json:"tenant,omitempty"`
	Failures  int64   `json:"failures"`
	Requests  int64   `json:"requests"`
	ErrorRate float64 `json:"error_rate"`
	// TopReason is the consumer's most frequent reason code ("" when its
	// failures are all the upstream's own errors).
	TopReason string `json:"top_reason,omitempty"`
}

// ModelCount is one AI model's calls: how many, how many failed (status
// 400 or above) and their exact cost in millionths of the currency unit.
type ModelCount struct {
	Model      string  `json:"model"`
	Requests   int64   `json:"requests"`
	Errors     int64   `json:"errors"`
	ErrorRate  float64 `json:"error_rate"`
	CostMicros int64   `json:"cost_micros"`
}

// GroupStep returns the step of a group_by name: minute, hour or day.
func GroupStep(name string) (time.Duration, bool) {
	switch name {
	case "minute":
		return time.Minute, true
	case "hour":
		return time.Hour, true
	case "day":
		return 24 * time.Hour, true
	}
	return 0, false
}

// AutoGroup picks the finest grouping that keeps a range under maxPoints
// points: minute up to maxPoints minutes, then hour, then day.
func AutoGroup(since, until time.Time, maxPoints int) string {
	span := until.Sub(since)
	switch {
	case span <= time.Duration(maxPoints)*time.Minute:
		return "minute"
	case span <= time.Duration(maxPoints)*time.Hour:
		return "hour"
	}
	return "day"
}

// Points returns how many points a range has at step (partial buckets at
// either end count).
func Points(since, until time.Time, step time.Duration) int {
	start := floor(since, step)
	if !until.After(start) {
		return 0
	}
	return int((until.Sub(start) + step - 1) / step)
}

// floor aligns t down to step from the Unix epoch, as the store does.
func floor(t time.Time, step time.Duration) time.Time {
	s := int64(step / time.Second)
	u := t.Unix()
	return time.Unix(u-mod(u, s), 0).UTC()
}

// Compute builds the report from rollups merged by step (as QueryRollups
// returns them for since..until), keeping top entries of each top list.
func Compute(rows []domain.Rollup, since, until time.Time, groupBy string, step time.Duration, top int) Report {
	rep := Report{Since: since.UTC(), Until: until.UTC(), GroupBy: groupBy,
		Totals: Totals{ByClass: map[string]int64{}}, Series: []Point{}, TopReasons: []ReasonCount{}, TopFailingConsumers: []ConsumerCount{},
		TopModels: []ModelCount{}}
	start := floor(since, step)
	n := Points(since, until, step)
	// One accumulator per series point: the merged rollup (for counts and
	// the histogram) and its errors.
	type point struct {
		r      domain.Rollup
		errors int64
	}
	points := make([]point, n)
	var all domain.Rollup
	reasons := map[string]int64{}
	type consumerAcc struct {
		tenant             string
		failures, requests int64
		reasons            map[string]int64
	}
	consumers := map[string]*consumerAcc{}
	models := map[string]*ModelCount{}
	for i := range rows {
		r := &rows[i]
		Merge(&all, r)
		failed := r.StatusClass == "4xx" || r.StatusClass == "5xx"
		rep.Totals.ByClass[r.StatusClass] += r.Count
		if failed {
			rep.Totals.Errors += r.Count
		}
		if r.Code != "" {
			reasons[r.Code] += r.Count
		}
		if j := int(r.Minute.Sub(start) / step); j >= 0 && j < n {
			Merge(&points[j].r, r)
			if failed {
				points[j].errors += r.Count
			}
		}
		if r.Model != "" {
			m := models[r.Model]
			if m == nil {
				m = &ModelCount{Model: r.Model}
				models[r.Model] = m
			}
			m.Requests += r.Count
			m.CostMicros += r.CostMicros
			if failed {
				m.Errors += r.Count
			}
		}
		if r.ConsumerID != "" {
			c := consumers[r.ConsumerID]
			if c == nil {
				c = &consumerAcc{tenant: r.TenantID, reasons: map[string]int64{}}
				consumers[r.ConsumerID] = c
			}
			c.requests += r.Count
			if failed {
				c.failures += r.Count
				if r.Code != "" {
					c.reasons[r.Code] += r.Count
				}
			}
		}
	}
	t := &rep.Totals
	t.Requests, t.BytesIn, t.BytesOut = all.Count, all.BytesIn, all.BytesOut
	t.ErrorRate = ratio(t.Errors, t.Requests)
	if all.Count > 0 {
		t.Latency = Latency{
			MeanMicros: all.LatencySumMicros / all.Count,
			P50Micros:  Quantile(&all, 0.50),
			P95Micros:  Quantile(&all, 0.95),
			P99Micros:  Quantile(&all, 0.99),
			MaxMicros:  all.LatencyMaxMicros,
		}
	}
	for i := range points {
		p := &points[i]
		rep.Series = append(rep.Series, Point{Time: start.Add(time.Duration(i) * step), Requests: p.r.Count, Errors: p.errors,
			ErrorRate: ratio(p.errors, p.r.Count), P95Micros: Quantile(&p.r, 0.95)})
	}
	for code, c := range reasons {
		rep.TopReasons = append(rep.TopReasons, ReasonCount{Code: code, Count: c, Share: ratio(c, t.Errors)})
	}
	slices.SortFunc(rep.TopReasons, func(a, b ReasonCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Code, b.Code))
	})
	for id, c := range consumers {
		if c.failures == 0 {
			continue
		}
		cc := ConsumerCount{Consumer: id, Tenant: c.tenant, Failures: c.failures, Requests: c.requests,
			ErrorRate: ratio(c.failures, c.requests)}
		var best int64
		for code, n := range c.reasons {
			if n > best || (n == best && code < cc.TopReason) {
				cc.TopReason, best = code, n
			}
		}
		rep.TopFailingConsumers = append(rep.TopFailingConsumers, cc)
	}
	slices.SortFunc(rep.TopFailingConsumers, func(a, b ConsumerCount) int {
		return cmp.Or(cmp.Compare(b.Failures, a.Failures), cmp.Compare(a.Consumer, b.Consumer))
	})
	for _, m := range models {
		m.ErrorRate = ratio(m.Errors, m.Requests)
		rep.TopModels = append(rep.TopModels, *m)
	}
	slices.SortFunc(rep.TopModels, func(a, b ModelCount) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), cmp.Compare(a.Model, b.Model))
	})
	if top > 0 {
		rep.TopReasons = rep.TopReasons[:min(top, len(rep.TopReasons))]
		rep.TopFailingConsumers = rep.TopFailingConsumers[:min(top, len(rep.TopFailingConsumers))]
		rep.TopModels = rep.TopModels[:min(top, len(rep.TopModels))]
	}
	return rep
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return math.Round(float64(a)/float64(b)*1e6) / 1e6
}

// Quantile estimates the q-quantile (0 < q ≤ 1) of r's latencies in
// microseconds: it finds the histogram bucket holding the rank q·Count and
// interpolates linearly inside it, the open last bucket ending at the
// maximum; the answer never exceeds LatencyMaxMicros. 0 when r is empty.
func Quantile(r *domain.Rollup, q float64) int64 {
	if r.Count == 0 {
		return 0
	}
	rank := q * float64(r.Count)
	var cum float64
	for i, n := range r.Latency {
		if n == 0 {
			continue
		}
		if cum+float64(n) >= rank {
			var lower float64
			if b, ok := domain.LatencyBound(i - 1); ok {
				lower = float64(b)
			}
			upper := float64(r.LatencyMaxMicros)
			if b, ok := domain.LatencyBound(i); ok && float64(b) < upper {
				upper = float64(b)
			}
			if upper < lower {
				return r.LatencyMaxMicros
			}
			v := lower + (rank-cum)/float64(n)*(upper-lower)
			return min(int64(math.Round(v)), r.LatencyMaxMicros)
		}
		cum += float64(n)
	}
	return r.LatencyMaxMicros
}
