package analytics

import (
	"reflect"
	"testing"
	"time"

	"gatehouse/internal/domain"
)

func row(m time.Duration, consumer, tenant string, status int, code string, n int64) domain.Rollup {
	r := domain.Rollup{Minute: t0.Add(m), ConsumerID: consumer, TenantID: tenant, StatusClass: domain.StatusClass(status), Code: code}
	for range n {
		addCall(&r, &domain.Call{LatencyMicros: 1000})
	}
	return r
}

func TestCompute(t *testing.T) {
	rows := []domain.Rollup{
		row(0, "con_a", "ten_1", 200, "", 6),
		row(0, "con_a", "ten_1", 401, "jwt.expired", 3),
		row(0, "", "", 401, "key.unknown", 1),
		row(2*time.Minute, "con_b", "ten_2", 403, "scope.insufficient", 4),
		row(2*time.Minute, "con_b", "ten_2", 401, "jwt.expired", 2),
		row(2*time.Minute, "con_c", "ten_2", 502, "", 1),
		row(3*time.Minute, "con_c", "ten_2", 200, "", 3),
	}
	// Since falls inside minute 0: the first point starts at the minute.
	rep := Compute(rows, t0.Add(10*time.Second), t0.Add(4*time.Minute), "minute", time.Minute, 2)
	cases := []struct {
		desc      string
		got, want any
	}{
		{"totals", []int64{rep.Totals.Requests, rep.Totals.Errors}, []int64{20, 11}},
		{"error rate rounded to 6 places", rep.Totals.ErrorRate, 0.55},
		{"by class", rep.Totals.ByClass, map[string]int64{"2xx": 9, "4xx": 10, "5xx": 1}},
		{"series has every minute, the empty one too", len(rep.Series), 4},
		{"series requests", []int64{rep.Series[0].Requests, rep.Series[1].Requests, rep.Series[2].Requests, rep.Series[3].Requests}, []int64{10, 0, 7, 3}},
		{"series error rates", []float64{rep.Series[0].ErrorRate, rep.Series[1].ErrorRate, rep.Series[2].ErrorRate, rep.Series[3].ErrorRate}, []float64{0.4, 0, 1, 0}},
		{"series times are bucket starts", rep.Series[1].Time, t0.Add(time.Minute)},
		{"top reasons: most first, ties by code, cut at top", rep.TopReasons, []ReasonCount{
			{Code: "jwt.expired", Count: 5, Share: 0.454545}, {Code: "scope.insufficient", Count: 4, Share: 0.363636}}},
		{"top failing consumers: unidentified callers left out, cut at top", rep.TopFailingConsumers, []ConsumerCount{
			{Consumer: "con_b", Tenant: "ten_2", Failures: 6, Requests: 6, ErrorRate: 1, TopReason: "scope.insufficient"},
			{Consumer: "con_a", Tenant: "ten_1", Failures: 3, Requests: 9, ErrorRate: 0.333333, TopReason: "jwt.expired"}}},
		{"latency from the histogram, capped by the maximum", rep.Totals.Latency,
			// All at 1 ms, the top of bucket (500 µs, 1 ms]: interpolation
			// spreads them over the bucket.
			Latency{MeanMicros: 1000, P50Micros: 750, P95Micros: 975, P99Micros: 995, MaxMicros: 1000}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %#v\nwant %#v", tc.got, tc.want)
			}
		})
	}
	t.Run("an empty range still has its points and empty lists", func(t *testing.T) {
		rep := Compute(nil, t0, t0.Add(time.Hour), "hour", time.Hour, 10)
		if len(rep.Series) != 1 || rep.TopReasons == nil || rep.TopFailingConsumers == nil || rep.Totals.ByClass == nil {
			t.Errorf("empty report %+v", rep)
		}
	})
}

func TestGrouping(t *testing.T) {
	cases := []struct {
		desc         string
		since, until time.Time
		want         string
		points       int
		step         time.Duration
	}{
		{"an hour is minutes", t0, t0.Add(time.Hour), "minute", 60, time.Minute},
		{"a day is hours", t0, t0.Add(24 * time.Hour), "hour", 24, time.Hour},
		{"90 days are days", t0.Truncate(24 * time.Hour), t0.Truncate(24 * time.Hour).Add(90 * 24 * time.Hour), "day", 90, 24 * time.Hour},
		{"a partial bucket at each end counts", t0.Add(30 * time.Second), t0.Add(2*time.Minute + time.Second), "minute", 3, time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := AutoGroup(tc.since, tc.until, 500); got != tc.want {
				t.Errorf("AutoGroup = %s, want %s", got, tc.want)
			}
			if got := Points(tc.since, tc.until, tc.step); got != tc.points {
				t.Errorf("Points = %d, want %d", got, tc.points)
			}
		})
	}
}
