package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/admin"
	"gatehouse/internal/clock"
	"gatehouse/internal/console"
	"gatehouse/internal/domain"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlite"
)

// countingStore is the real SQLite store with a count of the two ways to
// read traffic: the raw call log (QueryCalls) and the rollups
// (QueryRollups). Everything else is the store itself (promoted methods,
// so it still implements store.Analytics and store.AIStore).
type countingStore struct {
	*sqlite.Store
	calls, rollups atomic.Int64
}

func (s *countingStore) QueryCalls(ctx context.Context, f store.CallFilter) ([]domain.Call, string, error) {
	s.calls.Add(1)
	return s.Store.QueryCalls(ctx, f)
}

func (s *countingStore) QueryRollups(ctx context.Context, f store.RollupFilter) ([]domain.Rollup, error) {
	s.rollups.Add(1)
	return s.Store.QueryRollups(ctx, f)
}

var chartsRE = regexp.MustCompile(`data-charts="([^"]*)"`)

// chartsOf decodes the charts a dashboard page or fragment carries.
func chartsOf(t *testing.T, body string) map[string]map[string]float64 {
	t.Helper()
	out := map[string]map[string]float64{}
	for _, m := range chartsRE.FindAllStringSubmatch(body, -1) {
		var charts []struct {
			ID     string `json:"id"`
			X      []int64
			Series []struct {
				Label  string    `json:"label"`
				Values []float64 `json:"values"`
			} `json:"series"`
		}
		if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &charts); err != nil {
			t.Fatalf("charts: %v: %s", err, m[1])
		}
		for _, c := range charts {
			sums := map[string]float64{}
			for _, s := range c.Series {
				if len(s.Values) != len(c.X) {
					t.Errorf("chart %s, line %s: %d values for %d x", c.ID, s.Label, len(s.Values), len(c.X))
				}
				for _, v := range s.Values {
					sums[s.Label] += v
				}
			}
			out[c.ID] = sums
		}
	}
	return out
}

// TestDashboardReadsRollups: every dashboard page and its over-time
// charts are drawn from the rollups — one QueryRollups per request, never
// a read of the raw call log — and the per-reason and per-consumer lines
// are exact (a reason with more calls than any sample would hold counts
// every call). Not timed: BenchmarkPages measures the time.
func TestDashboardReadsRollups(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cs := &countingStore{Store: st}
	root, err := admin.Bootstrap(ctx, cs, "")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: st, clock: clock.NewFake(t0), root: root}
	e.api = admin.New(admin.Config{Store: cs, Clock: e.clock})
	if e.console, err = console.New(console.Config{Admin: e.api, Store: cs, Clock: e.clock}); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)

	ten := e.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "dash"})["id"].(string)
	cons := map[string]string{}
	for _, n := range []string{"alpha", "beta", "gamma"} {
		cons[n] = e.mustAPI("POST", "/admin/v1/consumers", map[string]any{"tenant": ten, "name": n})["id"].(string)
	}
	// Per reason: how many calls, and whose. key.revoked has more calls
	// than the old per-reason sample (300) held.
	seed := []struct {
		code, consumer string
		n              int
	}{
		{"key.revoked", "alpha", 450},
		{"scope.insufficient", "beta", 120},
		{"rate.exceeded", "beta", 60},
		{"jwt.expired", "gamma", 30},
		{"", "gamma", 500},
	}
	now := e.clock.Now()
	var calls []domain.Call
	for _, s := range seed {
		for i := range s.n {
			c := domain.Call{RequestID: fmt.Sprintf("01JDRR%s%06d", s.consumer, len(calls)), Time: now.Add(-time.Duration(i%50+1) * time.Minute),
				TenantID: ten, ConsumerID: cons[s.consumer], RouteID: "rte_dash", Method: "GET", Path: "/x", Status: 200, LatencyMicros: 900,
				CredentialType: domain.AuthAPIKey, Code: s.code}
			if s.code != "" {
				c.Status = 403
			}
			calls = append(calls, c)
		}
	}
	// AI calls: a chart of models over time.
	for i := range 40 {
		calls = append(calls, domain.Call{RequestID: fmt.Sprintf("01JDRRai%06d", i), Time: now.Add(-time.Duration(i%50+1) * time.Minute),
			TenantID: ten, ConsumerID: cons["gamma"], RouteID: "rte_dash", Method: "POST", Path: "/v1/chat/completions", Status: 200,
			LatencyMicros: 900, CredentialType: domain.AuthAPIKey, AI: &domain.CallAI{Alias: "chat", Model: "gpt-4o-mini", CostMicros: 3}})
	}
	e.insertCalls(calls, true)
	cookie := e.benchLogin(t)

	get := func(path string) string {
		t.Helper()
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Cookie", cookie)
		rec := httptest.NewRecorder()
		e.console.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body.String())
		}
		return rec.Body.String()
	}
	wantReasons := map[string]float64{"key.revoked": 450, "scope.insufficient": 120, "rate.exceeded": 60, "jwt.expired": 30}
	wantFailing := map[string]float64{"alpha": 450, "beta": 180, "gamma": 30}
	for _, tc := range []struct {
		desc, path string
		charts     []string
	}{
		{"dashboard, 1h", "/console/dashboard?window=1h", []string{"traffic", "errors"}},
		{"dashboard, 24h", "/console/dashboard?window=24h", []string{"traffic", "errors"}},
		{"trends fragment, 1h", "/console/dashboard/trends?window=1h", []string{"reasons", "failing", "models"}},
		{"trends fragment, 24h", "/console/dashboard/trends?window=24h", []string{"reasons", "failing", "models"}},
		{"trends fragment, 15m", "/console/dashboard/trends?window=15m", []string{"reasons", "failing", "models"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cs.calls.Store(0)
			cs.rollups.Store(0)
			charts := chartsOf(t, get(tc.path))
			if n := cs.calls.Load(); n != 0 {
				t.Errorf("%d raw call-log queries, want 0 (the rollups answer)", n)
			}
			if n := cs.rollups.Load(); n != 1 {
				t.Errorf("%d rollup queries, want exactly 1", n)
			}
			for _, id := range tc.charts {
				if charts[id] == nil {
					t.Errorf("no %s chart: %v", id, charts)
				}
			}
			if tc.desc == "trends fragment, 15m" {
				return // a part of the calls: checked for the query count only
			}
			if r := charts["reasons"]; r != nil && fmt.Sprint(r) != fmt.Sprint(wantReasons) {
				t.Errorf("reason lines sum to %v, want %v", r, wantReasons)
			}
			if f := charts["failing"]; f != nil && fmt.Sprint(f) != fmt.Sprint(wantFailing) {
				t.Errorf("failing consumer lines sum to %v, want %v", f, wantFailing)
			}
			if tr := charts["traffic"]; tr != nil && tr["all calls"] != 1200 {
				t.Errorf("traffic line sums to %v, want 1200 calls", tr)
			}
			if m := charts["models"]; m != nil && fmt.Sprint(m) != fmt.Sprint(map[string]float64{"chat": 40}) {
				t.Errorf("model lines sum to %v, want chat 40", m)
			}
		})
	}
}

// TestRollupsOff: with analytics.enabled: false the admin API answers
// /stats 409; the dashboard then draws from the call log and says so, and
// a budget page says its spend is not recorded, instead of failing.
func TestRollupsOff(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	root, err := admin.Bootstrap(ctx, st, "")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, store: st, clock: clock.NewFake(t0), root: root}
	e.api = admin.New(admin.Config{Store: st, Clock: e.clock, RollupsOff: true})
	if e.console, err = console.New(console.Config{Admin: e.api, Store: st, Clock: e.clock}); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	ten := e.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "off"})["id"].(string)
	con := e.mustAPI("POST", "/admin/v1/consumers", map[string]any{"tenant": ten, "name": "app"})["id"].(string)
	bid := e.mustAPI("POST", "/admin/v1/budgets", map[string]any{"scope": "consumer", "scope_id": con, "amount": "5", "period": "day"})["id"].(string)
	e.insertCalls([]domain.Call{{RequestID: "01JOFF00000000000000000001", Time: e.clock.Now().Add(-time.Minute), TenantID: ten, ConsumerID: con,
		Method: "GET", Path: "/x", Status: 403, Code: "scope.insufficient"}}, false)
	cookie := e.benchLogin(t)
	for _, tc := range []struct{ path, want string }{
		{"/console/dashboard?window=1h", "computes no rollups (analytics.enabled: false)"},
		{"/console/budgets", "not recorded"},
		{"/console/budgets/" + bid, "spend is not recorded here; the budget is still enforced"},
	} {
		req := httptest.NewRequest("GET", tc.path, nil)
		req.Header.Set("Cookie", cookie)
		rec := httptest.NewRecorder()
		e.console.ServeHTTP(rec, req)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("GET %s: %d, want 200 with %q:\n%s", tc.path, rec.Code, tc.want, rec.Body.String())
		}
	}
}
