package console_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
)

// benchCalls is the size of the call log the page benchmarks run against.
const benchCalls = 100_000

// seedCalls writes n call records over the hour before the env's clock:
// 70% passed, the rest spread over six reason codes and 50 consumers,
// each rejected one with a four-step trace.
func (e *env) seedCalls(tb testing.TB, n int) []string {
	tb.Helper()
	ten := e.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "bench"})["id"].(string)
	var consumers []string
	for i := range 50 {
		consumers = append(consumers, e.mustAPI("POST", "/admin/v1/consumers", map[string]any{"tenant": ten, "name": fmt.Sprintf("app-%02d", i)})["id"].(string))
	}
	codes := []string{"key.revoked", "key.unknown", "scope.insufficient", "subscription.pending", "rate.exceeded", "jwt.expired"}
	now := e.clock.Now()
	batch := make([]domain.Call, 0, 1000)
	for i := range n {
		c := domain.Call{RequestID: fmt.Sprintf("01JBENCH%018d", i), Time: now.Add(-time.Duration(n-i) * time.Hour / time.Duration(n)),
			TenantID: ten, ConsumerID: consumers[i%len(consumers)], CredentialID: fmt.Sprintf("key%09d", i%500), CredentialType: "api_key",
			RouteID: "rte_bench", Method: "GET", Path: fmt.Sprintf("/orders/%d", i), Status: 200, LatencyMicros: int64(200 + i%3000),
			BytesIn: 120, BytesOut: 900, ClientIP: "10.0.0.1", UserAgent: "bench/1.0"}
		if i%10 >= 7 {
			c.Code = codes[i%len(codes)]
			c.Status = 401
			c.Trace = []domain.TraceStep{{Stage: "route", Check: "match", Outcome: "pass", Detail: "/orders"},
				{Stage: "extract", Check: "credential", Outcome: "pass", Detail: "api_key from authorization"},
				{Stage: "verify", Check: "key.secret", Outcome: "pass", Detail: "secret matches"},
				{Stage: "verify", Check: c.Code, Outcome: "fail", Detail: "rejected for the benchmark"}}
		}
		batch = append(batch, c)
		if len(batch) == cap(batch) || i == n-1 {
			e.insertCalls(batch, true)
			batch = batch[:0]
		}
	}
	return consumers
}

// BenchmarkPages renders the console's heaviest pages against a real
// SQLite store holding 100 000 call records (target: under 200 ms each;
// reported as ms/op, never asserted).
func BenchmarkPages(b *testing.B) {
	e := newEnv(b)
	consumers := e.seedCalls(b, benchCalls)
	cookie := e.benchLogin(b)
	pages := []struct{ name, path string }{
		{"dashboard_1h", "/console/dashboard?window=1h"},
		{"dashboard_24h", "/console/dashboard?window=24h"},
		{"dashboard_trends_1h", "/console/dashboard/trends?window=1h"},
		{"dashboard_trends_24h", "/console/dashboard/trends?window=24h"},
		{"calls", "/console/calls"},
		{"calls_by_reason", "/console/calls?reason=key.revoked&since=1h"},
		{"calls_by_consumer", "/console/calls?consumer=" + url.QueryEscape(consumers[7])},
		{"call_detail", "/console/calls/01JBENCH000000000000099999"},
	}
	// The admin API's own /stats, for attribution: the dashboard is one
	// such call plus the page's own work.
	b.Run("api_stats_1h", func(b *testing.B) {
		b.ReportAllocs()
		var total time.Duration
		for b.Loop() {
			req := httptest.NewRequest(http.MethodGet, "/admin/v1/stats?since=1h&top=10", nil)
			req.Header.Set("Authorization", "Bearer "+e.root)
			rec := httptest.NewRecorder()
			start := time.Now()
			e.api.ServeHTTP(rec, req)
			total += time.Since(start)
			if rec.Code != http.StatusOK {
				b.Fatalf("stats: %d %s", rec.Code, rec.Body.String())
			}
		}
		b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/op")
	})
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			var total time.Duration
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, p.path, nil)
				req.Header.Set("Cookie", cookie)
				rec := httptest.NewRecorder()
				start := time.Now()
				e.console.ServeHTTP(rec, req)
				total += time.Since(start)
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d %s", p.path, rec.Code, rec.Body.String())
				}
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
}

// benchLogin logs in through the console handler and returns the Cookie
// header of the session.
func (e *env) benchLogin(tb testing.TB) string {
	tb.Helper()
	get := httptest.NewRequest(http.MethodGet, "/console/login", nil)
	rec := httptest.NewRecorder()
	e.console.ServeHTTP(rec, get)
	lc := find(tb, loginCSRFRE, rec.Body.String())
	var loginCookie string
	for _, c := range rec.Result().Cookies() {
		loginCookie = c.Name + "=" + c.Value
	}
	post := httptest.NewRequest(http.MethodPost, "/console/login", strings.NewReader(form("token", e.root, "login_csrf", lc).Encode()))
	post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	post.Header.Set("Cookie", loginCookie)
	rec = httptest.NewRecorder()
	e.console.ServeHTTP(rec, post)
	for _, c := range rec.Result().Cookies() {
		if c.Name == "gh_console" && c.Value != "" {
			return c.Name + "=" + c.Value
		}
	}
	tb.Fatalf("bench login failed: %d %s", rec.Code, rec.Body.String())
	return ""
}
