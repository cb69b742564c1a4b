package metrics

import (
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/domain"
	"gatehouse/internal/reason"
)

// batch is n identical calls in a scripted mix.
type batch struct {
	n    int
	call domain.Call
}

func call(route string, status int, code, cred string) domain.Call {
	return domain.Call{RouteID: route, Status: status, Code: code, CredentialType: cred,
		LatencyMicros: 150, ConsumerID: "con_01", Path: "/v1/orders/42", ClientIP: "192.0.2.7"}
}

// TestCountersEqualTheMix is issue 7's acceptance item: after a scripted
// mix of calls, every counter by route/status/code and by reason/credential
// type equals the mix exactly, with no other series. The expectations are
// written out by hand, not derived with the code under test.
func TestCountersEqualTheMix(t *testing.T) {
	cases := []struct {
		desc     string
		mix      []batch
		requests map[string]float64 // gatehouse_requests_total
		auth     map[string]float64 // gatehouse_auth_failures_total
		perRoute map[string]uint64  // gatehouse_request_duration_seconds sample counts
	}{
		{
			desc: "passed calls are code ok, by the upstream's status",
			mix: []batch{
				{3, call("rt_a", 200, "", "apikey")},
				{1, call("rt_a", 503, "", "apikey")},
				{2, call("rt_b", 201, "", "jwt")},
			},
			requests: map[string]float64{
				"code=ok,route=rt_a,status=200": 3,
				"code=ok,route=rt_a,status=503": 1,
				"code=ok,route=rt_b,status=201": 2,
			},
			auth:     map[string]float64{},
			perRoute: map[string]uint64{"route=rt_a": 4, "route=rt_b": 2},
		},
		{
			desc: "auth failures by reason and credential type; none when no credential",
			mix: []batch{
				{4, call("rt_a", 401, reason.KeyUnknown, "apikey")},
				{2, call("rt_a", 401, "jwt.expired", "jwt")},
				{3, call("rt_b", 401, reason.AuthMissing, "")},
				{1, call("rt_b", 403, reason.ScopeInsufficient, "apikey")},
				{1, call("rt_a", 403, reason.IPNotAllowed, "apikey")},
				{2, call("rt_a", 403, "subscription.pending", "apikey")},
				{1, call("rt_a", 403, reason.ConsumerSuspended, "apikey")},
				{1, call("rt_a", 401, "sig.expired", "httpsig")},
			},
			requests: map[string]float64{
				"code=key.unknown,route=rt_a,status=401":          4,
				"code=jwt.expired,route=rt_a,status=401":          2,
				"code=auth.missing,route=rt_b,status=401":         3,
				"code=scope.insufficient,route=rt_b,status=403":   1,
				"code=ip.not_allowed,route=rt_a,status=403":       1,
				"code=subscription.pending,route=rt_a,status=403": 2,
				"code=consumer.suspended,route=rt_a,status=403":   1,
				"code=sig.expired,route=rt_a,status=401":          1,
			},
			auth: map[string]float64{
				"credential_type=apikey,reason=key.unknown":          4,
				"credential_type=jwt,reason=jwt.expired":             2,
				"credential_type=none,reason=auth.missing":           3,
				"credential_type=apikey,reason=scope.insufficient":   1,
				"credential_type=apikey,reason=ip.not_allowed":       1,
				"credential_type=apikey,reason=subscription.pending": 2,
				"credential_type=apikey,reason=consumer.suspended":   1,
				"credential_type=httpsig,reason=sig.expired":         1,
			},
			perRoute: map[string]uint64{"route=rt_a": 11, "route=rt_b": 4},
		},
		{
			desc: "other rejections are requests, not auth failures (400, 404, 429, 502, a 403 outside the auth families)",
			mix: []batch{
				{2, call("", 404, reason.RouteNotFound, "")},
				{3, call("rt_a", 429, reason.RateExceeded, "apikey")},
				{1, call("rt_a", 502, reason.UpstreamUnavailable, "apikey")},
				{1, call("rt_a", 400, reason.AuthMalformedHeader, "")},
				{1, call("rt_c", 403, "ai.model_not_allowed", "apikey")},
				{1, call("rt_c", 403, reason.CORSOriginNotAllowed, "")},
			},
			requests: map[string]float64{
				"code=route.not_found,route=,status=404":             2,
				"code=rate.exceeded,route=rt_a,status=429":           3,
				"code=upstream.unavailable,route=rt_a,status=502":    1,
				"code=auth.malformed_header,route=rt_a,status=400":   1,
				"code=ai.model_not_allowed,route=rt_c,status=403":    1,
				"code=cors.origin_not_allowed,route=rt_c,status=403": 1,
			},
			auth:     map[string]float64{},
			perRoute: map[string]uint64{"route=": 2, "route=rt_a": 5, "route=rt_c": 2},
		},
		{
			desc: "one reason on two routes: two request series, one auth series with the sum",
			mix: []batch{
				{2, call("rt_a", 401, reason.KeyRevoked, "apikey")},
				{5, call("rt_b", 401, reason.KeyRevoked, "apikey")},
			},
			requests: map[string]float64{
				"code=key.revoked,route=rt_a,status=401": 2,
				"code=key.revoked,route=rt_b,status=401": 5,
			},
			auth:     map[string]float64{"credential_type=apikey,reason=key.revoked": 7},
			perRoute: map[string]uint64{"route=rt_a": 2, "route=rt_b": 5},
		},
		{
			desc: "one reason with two credential types: one request series, two auth series",
			mix: []batch{
				{1, call("rt_a", 401, reason.AuthMethodNotAllowed, "jwt")},
				{2, call("rt_a", 401, reason.AuthMethodNotAllowed, "apikey")},
				{6, call("rt_a", 200, "", "apikey")},
			},
			requests: map[string]float64{
				"code=auth.method_not_allowed,route=rt_a,status=401": 3,
				"code=ok,route=rt_a,status=200":                      6,
			},
			auth: map[string]float64{
				"credential_type=jwt,reason=auth.method_not_allowed":    1,
				"credential_type=apikey,reason=auth.method_not_allowed": 2,
			},
			perRoute: map[string]uint64{"route=rt_a": 9},
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			m := New(Options{})
			url := serve(t, m)
			// Interleave the batches, as real traffic would, so a series
			// resolved early keeps counting after others are added.
			left := make([]int, len(tc.mix))
			for i, b := range tc.mix {
				left[i] = b.n
			}
			for more := true; more; {
				more = false
				for i := range tc.mix {
					if left[i] > 0 {
						c := tc.mix[i].call
						m.ObserveCall(&c)
						left[i]--
						more = true
					}
				}
			}
			got := scrape(t, url)
			equalMap(t, "gatehouse_requests_total", got.values("gatehouse_requests_total"), tc.requests)
			equalMap(t, "gatehouse_auth_failures_total", got.values("gatehouse_auth_failures_total"), tc.auth)
			equalMap(t, "gatehouse_request_duration_seconds count", got.histogramCounts("gatehouse_request_duration_seconds"), tc.perRoute)
			// No consumer, path or client IP ever becomes a label value.
			for name, f := range got {
				for _, s := range f.GetMetric() {
					for _, l := range s.GetLabel() {
						if v := l.GetValue(); v == "con_01" || strings.Contains(v, "/v1/orders") || v == "192.0.2.7" {
							t.Errorf("%s has label %s=%q: caller data must never be a label", name, l.GetName(), v)
						}
					}
				}
			}
		})
	}
}

// TestHistogramBuckets checks where latencies land (bounds are inclusive),
// the sums, and that only calls that reached an upstream are in the
// upstream histogram.
func TestHistogramBuckets(t *testing.T) {
	m := New(Options{Buckets: []float64{0.001, 0.01, 0.1}})
	url := serve(t, m)
	for _, c := range []domain.Call{
		{RouteID: "rt_a", Status: 401, Code: reason.KeyUnknown, LatencyMicros: 500},
		{RouteID: "rt_a", Status: 200, LatencyMicros: 1000, UpstreamMicros: 800},
		{RouteID: "rt_a", Status: 200, LatencyMicros: 5000, UpstreamMicros: 4000},
		{RouteID: "rt_a", Status: 200, LatencyMicros: 50_000, UpstreamMicros: 20_000},
		{RouteID: "rt_a", Status: 504, Code: reason.UpstreamTimeout, LatencyMicros: 2_000_000, UpstreamMicros: 2_000_000},
		{RouteID: "rt_b", Status: 200, LatencyMicros: -3}, // a clock step back counts as 0
	} {
		m.ObserveCall(&c)
	}
	got := scrape(t, url)
	cases := []struct {
		desc, name, labels string
		count              uint64
		sum                float64
		cumulative         []uint64 // per bound 0.001, 0.01, 0.1
	}{
		{"total latency, every call of the route", "gatehouse_request_duration_seconds", "route=rt_a",
			5, 0.0005 + 0.001 + 0.005 + 0.05 + 2, []uint64{2, 3, 4}},
		{"negative latency is clamped to zero", "gatehouse_request_duration_seconds", "route=rt_b",
			1, 0, []uint64{1, 1, 1}},
		{"upstream latency, only calls that reached the upstream", "gatehouse_upstream_duration_seconds", "route=rt_a",
			4, 0.0008 + 0.004 + 0.02 + 2, []uint64{1, 2, 3}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			h := got.histogram(t, tc.name, tc.labels)
			if h.GetSampleCount() != tc.count {
				t.Errorf("count %d, want %d", h.GetSampleCount(), tc.count)
			}
			if math.Abs(h.GetSampleSum()-tc.sum) > 1e-9 {
				t.Errorf("sum %v, want %v", h.GetSampleSum(), tc.sum)
			}
			var bounds []float64
			var cum []uint64
			for _, b := range h.GetBucket() {
				if !math.IsInf(b.GetUpperBound(), 1) {
					bounds = append(bounds, b.GetUpperBound())
					cum = append(cum, b.GetCumulativeCount())
				}
			}
			if len(bounds) != 3 || bounds[0] != 0.001 || bounds[1] != 0.01 || bounds[2] != 0.1 {
				t.Fatalf("bounds %v, want [0.001 0.01 0.1]", bounds)
			}
			for i := range cum {
				if cum[i] != tc.cumulative[i] {
					t.Errorf("le=%v: %d, want %d", bounds[i], cum[i], tc.cumulative[i])
				}
			}
		})
	}
	if _, ok := got.histogramCounts("gatehouse_upstream_duration_seconds")["route=rt_b"]; ok {
		// The series exists (resolved with the route) but must be empty.
		if n := got.histogram(t, "gatehouse_upstream_duration_seconds", "route=rt_b").GetSampleCount(); n != 0 {
			t.Errorf("upstream histogram of a route that never reached its upstream: %d samples", n)
		}
	}
}

// TestDefaultBuckets pins the default bounds the docs describe: they start
// at 100 µs (rejections) and are strictly increasing.
func TestDefaultBuckets(t *testing.T) {
	b := DefaultBuckets()
	if b[0] != 0.0001 || b[len(b)-1] != 10 || len(b) != 16 {
		t.Fatalf("DefaultBuckets() = %v", b)
	}
	if !sort.Float64sAreSorted(b) {
		t.Fatalf("DefaultBuckets() not sorted: %v", b)
	}
	b[0] = 42 // a caller's edit must not leak into the next gateway
	if DefaultBuckets()[0] != 0.0001 {
		t.Fatal("DefaultBuckets shares its slice")
	}
}

// source is a component's state the collectors read; tests change it
// between scrapes.
type source struct {
	mu        sync.Mutex
	queued    int
	written   int64
	dropped   int64
	failed    int64
	version   int64
	builtAt   time.Time
	targets   []TargetHealth
	caches    []CacheStat
	keySets   []KeySetStat
	deps      []DependencyStat
	callsSeen atomic.Int64 // how many times any func was called
}

func (s *source) options(clk clock.Clock) Options {
	return Options{
		Clock: clk,
		CallLog: func() CallLogStat {
			s.callsSeen.Add(1)
			s.mu.Lock()
			defer s.mu.Unlock()
			return CallLogStat{Queued: s.queued, Written: s.written, Dropped: s.dropped, Failed: s.failed}
		},
		Snapshot: func() (int64, time.Time) {
			s.callsSeen.Add(1)
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.version, s.builtAt
		},
		Upstreams: func() []TargetHealth {
			s.callsSeen.Add(1)
			s.mu.Lock()
			defer s.mu.Unlock()
			return append([]TargetHealth(nil), s.targets...)
		},
		Caches: func() []CacheStat {
			s.callsSeen.Add(1)
			s.mu.Lock()
			defer s.mu.Unlock()
			return append([]CacheStat(nil), s.caches...)
		},
		KeySets: func() []KeySetStat {
			s.callsSeen.Add(1)
			s.mu.Lock()
			defer s.mu.Unlock()
			return append([]KeySetStat(nil), s.keySets...)
		},
		Dependencies: func() []DependencyStat {
			s.callsSeen.Add(1)
			s.mu.Lock()
			defer s.mu.Unlock()
			return append([]DependencyStat(nil), s.deps...)
		},
	}
}

// TestScrapeTimeCollectors: the funcs are read when scraped, every time,
// and their values come out under the documented names and labels.
func TestScrapeTimeCollectors(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	src := &source{}
	m := New(src.options(clk))
	url := serve(t, m)
	if n := src.callsSeen.Load(); n != 0 {
		t.Fatalf("funcs called %d times before any scrape: they must be read at scrape time only", n)
	}

	type want struct {
		name   string
		values map[string]float64
	}
	steps := []struct {
		desc   string
		change func()
		want   []want
	}{
		{
			desc:   "before the first snapshot: call log at zero, no snapshot series, nothing listed",
			change: func() {},
			want: []want{
				{"gatehouse_call_log_queue_depth", map[string]float64{"": 0}},
				{"gatehouse_call_log_written_total", map[string]float64{"": 0}},
				{"gatehouse_call_log_dropped_total", map[string]float64{"": 0}},
				{"gatehouse_call_log_failed_total", map[string]float64{"": 0}},
				{"gatehouse_snapshot_version", map[string]float64{}},
				{"gatehouse_snapshot_age_seconds", map[string]float64{}},
				{"gatehouse_upstream_healthy", map[string]float64{}},
				{"gatehouse_cache_hits_total", map[string]float64{}},
				{"gatehouse_jwks_refresh_ok", map[string]float64{}},
				{"gatehouse_dependency_up", map[string]float64{}},
			},
		},
		{
			desc: "serving: values of the moment, duplicates listed once",
			change: func() {
				src.queued, src.written, src.dropped, src.failed = 17, 1200, 3, 512
				src.version, src.builtAt = 42, t0
				clk.Advance(90 * time.Second)
				src.targets = []TargetHealth{
					{Service: "svc_orders", Target: "http://10.0.0.1:8080", Healthy: true},
					{Service: "svc_orders", Target: "http://10.0.0.2:8080", Healthy: false, ConsecutiveFailures: 5},
					{Service: "svc_users", Target: "http://10.0.0.9:80", Healthy: true, ConsecutiveFailures: 1},
					{Service: "svc_orders", Target: "http://10.0.0.1:8080", Healthy: false}, // listed twice
				}
				src.caches = []CacheStat{{Name: "jwt_tokens", Hits: 90, Misses: 10}, {Name: "introspection", Hits: 0, Misses: 4}}
				src.keySets = []KeySetStat{
					{Issuer: "https://idp.example", FetchedAt: t0.Add(30 * time.Second)},
					{Issuer: "https://down.example", FetchedAt: t0, Failing: true},
					{Issuer: "https://never.example", Failing: true},
				}
				src.deps = []DependencyStat{{Name: "store", Up: true}, {Name: "redis", Up: false}, {Name: "redis", Up: true}}
			},
			want: []want{
				{"gatehouse_call_log_queue_depth", map[string]float64{"": 17}},
				{"gatehouse_call_log_written_total", map[string]float64{"": 1200}},
				{"gatehouse_call_log_dropped_total", map[string]float64{"": 3}},
				{"gatehouse_call_log_failed_total", map[string]float64{"": 512}},
				{"gatehouse_snapshot_version", map[string]float64{"": 42}},
				{"gatehouse_snapshot_age_seconds", map[string]float64{"": 90}},
				{"gatehouse_upstream_healthy", map[string]float64{
					"service=svc_orders,target=http://10.0.0.1:8080": 1,
					"service=svc_orders,target=http://10.0.0.2:8080": 0,
					"service=svc_users,target=http://10.0.0.9:80":    1,
				}},
				{"gatehouse_upstream_consecutive_failures", map[string]float64{
					"service=svc_orders,target=http://10.0.0.1:8080": 0,
					"service=svc_orders,target=http://10.0.0.2:8080": 5,
					"service=svc_users,target=http://10.0.0.9:80":    1,
				}},
				{"gatehouse_cache_hits_total", map[string]float64{"cache=jwt_tokens": 90, "cache=introspection": 0}},
				{"gatehouse_cache_misses_total", map[string]float64{"cache=jwt_tokens": 10, "cache=introspection": 4}},
				{"gatehouse_jwks_refresh_ok", map[string]float64{
					"issuer=https://idp.example": 1, "issuer=https://down.example": 0, "issuer=https://never.example": 0,
				}},
				{"gatehouse_jwks_age_seconds", map[string]float64{
					"issuer=https://idp.example": 60, "issuer=https://down.example": 90,
				}},
				{"gatehouse_dependency_up", map[string]float64{"dependency=store": 1, "dependency=redis": 0}},
			},
		},
		{
			desc: "a reload and a recovered target show on the next scrape, with no call in between",
			change: func() {
				src.version, src.builtAt = 43, clk.Now()
				clk.Advance(2 * time.Second)
				src.written, src.queued = 1300, 0
				src.targets = src.targets[:3]
				src.targets[1].Healthy, src.targets[1].ConsecutiveFailures = true, 0
			},
			want: []want{
				{"gatehouse_call_log_queue_depth", map[string]float64{"": 0}},
				{"gatehouse_call_log_written_total", map[string]float64{"": 1300}},
				{"gatehouse_snapshot_version", map[string]float64{"": 43}},
				{"gatehouse_snapshot_age_seconds", map[string]float64{"": 2}},
				{"gatehouse_upstream_healthy", map[string]float64{
					"service=svc_orders,target=http://10.0.0.1:8080": 1,
					"service=svc_orders,target=http://10.0.0.2:8080": 1,
					"service=svc_users,target=http://10.0.0.9:80":    1,
				}},
			},
		},
	}
	for i, st := range steps {
		t.Run(st.desc, func(t *testing.T) {
			src.mu.Lock()
			st.change()
			src.mu.Unlock()
			before := src.callsSeen.Load()
			got := scrape(t, url)
			if n := src.callsSeen.Load() - before; n != 6 {
				t.Errorf("scrape %d called the funcs %d times, want 6 (each once)", i, n)
			}
			for _, w := range st.want {
				equalMap(t, w.name, got.values(w.name), w.values)
			}
		})
	}
}

// TestUnwiredSourcesExportNothing: a nil func means "not wired", which
// must not read as a zero queue or an unhealthy upstream.
func TestUnwiredSourcesExportNothing(t *testing.T) {
	got := scrape(t, serve(t, New(Options{})))
	for _, name := range []string{
		"gatehouse_call_log_queue_depth", "gatehouse_call_log_written_total", "gatehouse_call_log_dropped_total",
		"gatehouse_call_log_failed_total", "gatehouse_snapshot_version", "gatehouse_snapshot_age_seconds",
		"gatehouse_upstream_healthy", "gatehouse_upstream_consecutive_failures",
		"gatehouse_cache_hits_total", "gatehouse_cache_misses_total",
		"gatehouse_jwks_refresh_ok", "gatehouse_jwks_age_seconds",
	} {
		if _, ok := got[name]; ok {
			t.Errorf("%s exported without its source", name)
		}
	}
	if _, ok := got["go_goroutines"]; !ok {
		t.Error("go_goroutines missing: the runtime collector is not registered")
	}
}

// TestConcurrentObserveCall: 32 goroutines start together on a fresh
// Metrics (so they race to resolve the same tuples) while a scraper reads
// the handler; the totals are exact and never go backwards between
// scrapes. Run with -race.
func TestConcurrentObserveCall(t *testing.T) {
	mix := []domain.Call{
		call("rt_a", 200, "", "apikey"),
		call("rt_a", 401, reason.KeyUnknown, "apikey"),
		call("rt_b", 200, "", "jwt"),
		call("rt_b", 401, "jwt.expired", "jwt"),
		call("", 404, reason.RouteNotFound, ""),
		call("rt_c", 403, reason.ScopeInsufficient, "apikey"),
		call("rt_c", 429, reason.RateExceeded, "apikey"),
	}
	const goroutines, perG = 32, 700 // 100 of each tuple per goroutine
	m := New(Options{})
	url := serve(t, m)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range perG {
				c := mix[(i+g)%len(mix)]
				c.UpstreamMicros = int64(c.Status/100) * 100 // every call has some upstream time
				m.ObserveCall(&c)
			}
		}()
	}
	done := make(chan struct{})
	type result struct {
		totals []float64
		err    error
	}
	scraped := make(chan result)
	go func() {
		var r result
		defer func() { scraped <- r }()
		for {
			select {
			case <-done:
				return
			default:
			}
			s, err := scrapeErr(url)
			if err != nil {
				r.err = err
				return
			}
			var sum float64
			for _, v := range s.values("gatehouse_requests_total") {
				sum += v
			}
			r.totals = append(r.totals, sum)
		}
	}()
	close(start)
	wg.Wait()
	close(done)
	r := <-scraped
	if r.err != nil {
		t.Fatalf("scrape during the run: %v", r.err)
	}
	totals := r.totals
	for i := 1; i < len(totals); i++ {
		if totals[i] < totals[i-1] {
			t.Errorf("scrape %d: requests total %v after %v: a counter went backwards", i, totals[i], totals[i-1])
		}
	}
	const each = goroutines * perG / 7
	got := scrape(t, url)
	equalMap(t, "gatehouse_requests_total", got.values("gatehouse_requests_total"), map[string]float64{
		"code=ok,route=rt_a,status=200":                 each,
		"code=key.unknown,route=rt_a,status=401":        each,
		"code=ok,route=rt_b,status=200":                 each,
		"code=jwt.expired,route=rt_b,status=401":        each,
		"code=route.not_found,route=,status=404":        each,
		"code=scope.insufficient,route=rt_c,status=403": each,
		"code=rate.exceeded,route=rt_c,status=429":      each,
	})
	equalMap(t, "gatehouse_auth_failures_total", got.values("gatehouse_auth_failures_total"), map[string]float64{
		"credential_type=apikey,reason=key.unknown":        each,
		"credential_type=jwt,reason=jwt.expired":           each,
		"credential_type=apikey,reason=scope.insufficient": each,
	})
	equalMap(t, "request duration counts", got.histogramCounts("gatehouse_request_duration_seconds"), map[string]uint64{
		"route=rt_a": 2 * each, "route=rt_b": 2 * each, "route=": each, "route=rt_c": 2 * each,
	})
	equalMap(t, "upstream duration counts", got.histogramCounts("gatehouse_upstream_duration_seconds"), map[string]uint64{
		"route=rt_a": 2 * each, "route=rt_b": 2 * each, "route=": each, "route=rt_c": 2 * each,
	})
}

// sink is the next recorder behind Wrap: it keeps what it was given and
// answers like a call log (false = refused).
type sink struct {
	accept bool
	got    []domain.Call
}

func (s *sink) Record(c *domain.Call) bool {
	s.got = append(s.got, *c)
	return s.accept
}

func TestWrap(t *testing.T) {
	cases := []struct {
		desc     string
		next     *sink
		wantBool bool
	}{
		{"the call log accepts: counted and recorded", &sink{accept: true}, true},
		{"the call log refuses (queue full): still counted, refusal passed through", &sink{accept: false}, false},
		{"no call log: counted, reported as accepted", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			m := New(Options{})
			var rec Recorder
			if tc.next != nil {
				rec = m.Wrap(tc.next)
			} else {
				rec = m.Wrap(nil)
			}
			c := call("rt_a", 401, reason.KeyExpired, "apikey")
			if got := rec.Record(&c); got != tc.wantBool {
				t.Errorf("Record = %v, want %v", got, tc.wantBool)
			}
			if tc.next != nil && (len(tc.next.got) != 1 || tc.next.got[0].Code != reason.KeyExpired) {
				t.Errorf("next recorder got %+v, want the call", tc.next.got)
			}
			got := scrape(t, serve(t, m))
			equalMap(t, "auth failures", got.values("gatehouse_auth_failures_total"),
				map[string]float64{"credential_type=apikey,reason=key.expired": 1})
		})
	}
}

// TestNilMetrics: with metrics off the pipeline may hold a nil *Metrics.
func TestNilMetrics(t *testing.T) {
	var m *Metrics
	c := call("rt_a", 200, "", "apikey")
	m.ObserveCall(&c) // must not panic
	next := &sink{accept: true}
	if rec := m.Wrap(next); rec != Recorder(next) {
		t.Errorf("nil Metrics Wrap = %T, want the next recorder itself", rec)
	}
	New(Options{}).ObserveCall(nil) // a nil record is ignored
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("nil Metrics handler: status %d, want 404", resp.StatusCode)
	}
}

// TestLabelValueHygiene: odd inputs never panic the request path and never
// produce an unparseable exposition.
func TestLabelValueHygiene(t *testing.T) {
	m := New(Options{})
	url := serve(t, m)
	for _, c := range []domain.Call{
		{RouteID: "rt_\xff\xfe", Status: 200, LatencyMicros: 1}, // one run of bad bytes → one U+FFFD
		{RouteID: "rt_a", Status: 401, Code: "key.unknown", CredentialType: "api\xffkey", LatencyMicros: 1},
		{RouteID: `rt_"quoted"\n`, Status: 0, LatencyMicros: 1},
	} {
		m.ObserveCall(&c)
	}
	got := scrape(t, url)
	equalMap(t, "gatehouse_requests_total", got.values("gatehouse_requests_total"), map[string]float64{
		"code=ok,route=rt_\uFFFD,status=200":     1,
		"code=key.unknown,route=rt_a,status=401": 1,
		`code=ok,route=rt_"quoted"\n,status=0`:   1,
	})
	equalMap(t, "gatehouse_auth_failures_total", got.values("gatehouse_auth_failures_total"), map[string]float64{
		"credential_type=api\uFFFDkey,reason=key.unknown": 1,
	})
}

func TestIsAuthFailure(t *testing.T) {
	cases := []struct {
		desc   string
		status int
		code   string
		want   bool
	}{
		{"unknown key", 401, reason.KeyUnknown, true},
		{"missing credential", 401, reason.AuthMissing, true},
		{"expired JWT", 401, "jwt.expired", true},
		{"inactive token", 401, "token.inactive", true},
		{"bad signature", 401, "sig.invalid", true},
		{"untrusted client certificate", 401, "mtls.certificate_untrusted", true},
		{"basic credentials", 401, "basic.invalid_credentials", true},
		{"suspended consumer", 403, reason.ConsumerSuspended, true},
		{"suspended tenant", 403, reason.TenantSuspended, true},
		{"unmapped identity", 403, "identity.unmapped", true},
		{"missing scope", 403, reason.ScopeInsufficient, true},
		{"pending subscription", 403, "subscription.pending", true},
		{"IP not allowed", 403, reason.IPNotAllowed, true},
		{"malformed header is 400, not 401/403", 400, reason.AuthMalformedHeader, false},
		{"auth backend down is 503", 503, reason.AuthBackendUnavailable, false},
		{"AI model refused is 403 but not auth", 403, "ai.model_not_allowed", false},
		{"CORS is 403 but not auth", 403, reason.CORSOriginNotAllowed, false},
		{"an upstream's own 401 (no code)", 401, "", false},
		{"a family prefix alone is not a code", 401, "key", false},
		{"family must match whole: keys. is not key.", 401, "keys.unknown", false},
		{"rate limit", 429, reason.RateExceeded, false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if got := IsAuthFailure(tc.status, tc.code); got != tc.want {
				t.Errorf("IsAuthFailure(%d, %q) = %v, want %v", tc.status, tc.code, got, tc.want)
			}
		})
	}
}

// TestCatalogueAuthCodesCount walks the reason catalogue: every 401/403
// code of an auth family counts as an auth failure at its own status, and
// every such code's family is one the docs list.
func TestCatalogueAuthCodesCount(t *testing.T) {
	documented := map[string]bool{}
	for _, f := range strings.Fields("auth key jwt token sig mtls basic consumer tenant identity scope subscription ip") {
		documented[f] = true
	}
	for _, e := range reason.All() {
		family, _, _ := strings.Cut(e.Code, ".")
		want := (e.Status == 401 || e.Status == 403) && documented[family]
		if got := IsAuthFailure(e.Status, e.Code); got != want {
			t.Errorf("%s (%d): IsAuthFailure = %v, want %v", e.Code, e.Status, got, want)
		}
	}
}

// TestDocsListEverySeries keeps docs/metrics.md and the package doc honest:
// every gatehouse_ family exported with all sources wired is documented in
// both, with its labels, and nothing documented is missing.
func TestDocsListEverySeries(t *testing.T) {
	src := &source{builtAt: time.Unix(1, 0),
		targets: []TargetHealth{{Service: "s", Target: "t"}},
		caches:  []CacheStat{{Name: "c"}},
		keySets: []KeySetStat{{Issuer: "i", FetchedAt: time.Unix(1, 0)}},
		deps:    []DependencyStat{{Name: "redis", Up: true}}}
	m := New(src.options(clock.NewFake(time.Unix(2, 0))))
	for _, c := range []domain.Call{
		{RouteID: "r", Status: 401, Code: reason.KeyUnknown, CredentialType: "apikey", LatencyMicros: 1, UpstreamMicros: 1},
		{RouteID: "ai", Status: 200, CredentialType: "apikey", LatencyMicros: 1,
			AI: &domain.CallAI{Provider: "p", Model: "m", PromptTokens: 1, CompletionTokens: 1, CostMicros: 1}},
	} {
		m.ObserveCall(&c)
	}
	got := scrape(t, serve(t, m))
	exported := map[string]string{} // name → sorted label names
	for name, f := range got {
		if !strings.HasPrefix(name, "gatehouse_") {
			continue
		}
		var labels []string
		for _, l := range f.GetMetric()[0].GetLabel() {
			labels = append(labels, l.GetName())
		}
		sort.Strings(labels)
		exported[name] = strings.Join(labels, ",")
	}

	md, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatalf("docs/metrics.md: %v", err)
	}
	pkgDoc, err := os.ReadFile("metrics.go")
	if err != nil {
		t.Fatal(err)
	}
	// docs/metrics.md rows: | `name` | type | `label`, `label` | …
	row := regexp.MustCompile("(?m)^\\| `(gatehouse_[a-z_]+)` \\| [a-z]+ \\| ([^|]*)\\|")
	documented := map[string]string{}
	for _, mm := range row.FindAllStringSubmatch(string(md), -1) {
		var labels []string
		for _, l := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(mm[2], -1) {
			labels = append(labels, l[1])
		}
		sort.Strings(labels)
		documented[mm[1]] = strings.Join(labels, ",")
	}
	equalMap(t, "docs/metrics.md series table vs exported (name → labels)", documented, exported)
	for name := range exported {
		if !strings.Contains(string(pkgDoc), "//\t"+name+" ") {
			t.Errorf("%s missing from the package doc's series table", name)
		}
	}
}

// §12: /metrics carries AI tokens and cost, by the provider and model
// that answered; a call that is not an AI call adds nothing to them.
func TestAITokensAndCost(t *testing.T) {
	m := New(Options{})
	ai := func(provider, model string, prompt, completion, cost int64) domain.Call {
		c := call("rt_ai", 200, "", "apikey")
		c.AI = &domain.CallAI{Provider: provider, Model: model, PromptTokens: prompt, CompletionTokens: completion, CostMicros: cost}
		return c
	}
	for _, c := range []domain.Call{ai("oai", "gpt-4o", 1000, 200, 270), ai("oai", "gpt-4o", 500, 0, 75), ai("ant", "claude", 10, 5, 0),
		call("rt_plain", 200, "", "apikey")} {
		m.ObserveCall(&c)
	}
	got := scrape(t, serve(t, m))
	equalMap(t, "AI tokens", got.values("gatehouse_ai_tokens_total"), map[string]float64{
		"kind=prompt,model=gpt-4o,provider=oai": 1500, "kind=completion,model=gpt-4o,provider=oai": 200,
		"kind=prompt,model=claude,provider=ant": 10, "kind=completion,model=claude,provider=ant": 5})
	equalMap(t, "AI cost", got.values("gatehouse_ai_cost_total"), map[string]float64{"model=gpt-4o,provider=oai": 0.000345})
}
