package server

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/store"
)

// TestMetricsSwitch: metrics.enabled decides whether requests are observed
// and /metrics is served. Off, nothing observes requests (the pipeline
// records straight into the call log) and /metrics is a 404 that says why;
// the call records are written either way.
func TestMetricsSwitch(t *testing.T) {
	cases := []struct {
		desc       string
		enabled    bool
		wantStatus int
		wantBody   string
	}{
		{desc: "on (the default): the requests are counted", enabled: true, wantStatus: 200,
			wantBody: `gatehouse_requests_total{`},
		{desc: "off: no observation, and /metrics says it is off", enabled: false, wantStatus: 404,
			wantBody: "metrics are off on this gateway (metrics.enabled: false"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			h := newHarness(t, func(c *config.Config) { c.Metrics.Enabled = tc.enabled })
			if (h.srv.met != nil) != tc.enabled {
				t.Fatalf("metrics built: %v, want %v", h.srv.met != nil, tc.enabled)
			}
			w := h.newWorld("acme", nil, nil)
			_, k := h.newKey(w.consumer, nil)
			for i := 0; i < 3; i++ {
				if r := h.call("GET", "/acme/x", bearer(k)...); r.status != 200 {
					t.Fatalf("call: %d %s", r.status, r.raw)
				}
			}
			resp, err := http.Get(h.admin + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || !strings.Contains(string(body), tc.wantBody) {
				t.Fatalf("/metrics: %d, want %d containing %q:\n%.600s", resp.StatusCode, tc.wantStatus, tc.wantBody, body)
			}
			if tc.enabled {
				// The pipeline records a call after answering it: poll.
				deadline := time.Now().Add(2 * time.Second)
				for n := 0.0; n != 3; {
					if n = sum(h.scrape(t), "gatehouse_requests_total", `code="ok"`, `status="200"`); n != 3 && time.Now().After(deadline) {
						t.Fatalf("gatehouse_requests_total for the admitted calls: %v, want 3", n)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			_, st := h.adminDo("GET", "/admin/v1/status", nil)
			if m, _ := st["metrics"].(map[string]any); m["enabled"] != tc.enabled {
				t.Errorf("status metrics: %v, want enabled %v", st["metrics"], tc.enabled)
			}
			h.stop()
			calls, _, err := reopenStore(t, h).QueryCalls(context.Background(), store.CallFilter{Page: store.Page{Limit: 100}})
			if err != nil {
				t.Fatal(err)
			}
			if len(calls) != 3 {
				t.Errorf("%d call records, want 3", len(calls))
			}
		})
	}
}

// TestAnalyticsSwitch: analytics.enabled decides whether the per-minute
// rollups are computed. Off, the call records are still written, no
// rollup row appears, and /admin/v1/stats says rollups are off instead of
// reporting zeros.
func TestAnalyticsSwitch(t *testing.T) {
	cases := []struct {
		desc      string
		enabled   bool
		wantRows  int64 // calls counted in the rollups
		wantStats int
	}{
		{desc: "on (the default): every call is in the rollups", enabled: true, wantRows: 4, wantStats: 200},
		{desc: "off: records written, no rollup, stats says so", enabled: false, wantRows: 0, wantStats: 409},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			h := newHarness(t, func(c *config.Config) { c.Analytics.Enabled = tc.enabled })
			if (h.srv.rollups != nil) != tc.enabled || h.srv.alerts == nil {
				t.Fatalf("rollups built: %v (want %v), alerts built: %v (want true)", h.srv.rollups != nil, tc.enabled, h.srv.alerts != nil)
			}
			w := h.newWorld("acme", nil, nil)
			_, k := h.newKey(w.consumer, nil)
			for i := 0; i < 3; i++ {
				h.call("GET", "/acme/x", bearer(k)...)
			}
			h.call("GET", "/acme/x") // auth.missing
			code, stats := h.adminDo("GET", "/admin/v1/stats?since=1h", nil)
			if code != tc.wantStats {
				t.Fatalf("stats: %d %v, want %d", code, stats, tc.wantStats)
			}
			if !tc.enabled {
				if d, _ := stats["detail"].(string); !strings.Contains(d, "rollups are off") || !strings.Contains(d, "analytics.enabled") {
					t.Errorf("stats detail %q does not say rollups are off and how to turn them on", d)
				}
			}
			_, st := h.adminDo("GET", "/admin/v1/status", nil)
			if a, _ := st["analytics"].(map[string]any); tc.enabled == (a["enabled"] == false) {
				t.Errorf("status analytics: %v", st["analytics"])
			}
			h.stop() // flushes the call log, then the rollups (when on)
			db := reopenStore(t, h)
			calls, _, err := db.QueryCalls(context.Background(), store.CallFilter{Page: store.Page{Limit: 100}})
			if err != nil {
				t.Fatal(err)
			}
			if len(calls) != 4 {
				t.Errorf("%d call records, want 4", len(calls))
			}
			rows, err := db.(store.Analytics).QueryRollups(context.Background(), store.RollupFilter{})
			if err != nil {
				t.Fatal(err)
			}
			var counted int64
			for _, r := range rows {
				counted += r.Count
			}
			if counted != tc.wantRows {
				t.Errorf("rollups count %d calls, want %d", counted, tc.wantRows)
			}
		})
	}
}
