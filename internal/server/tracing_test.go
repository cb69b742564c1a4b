package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"gatehouse/internal/config"
	"gatehouse/internal/tracing"
)

// With tracing configured, the upstream receives the gateway's child
// trace context (same trace id, new parent) and the collector receives a
// span; without it, the caller's traceparent passes through unchanged.
func TestTraceContextPropagation(t *testing.T) {
	var exports atomic.Int32
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		exports.Add(1)
	}))
	defer collector.Close()
	seen := make(chan string, 4)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("Traceparent")
	}))
	defer up.Close()
	const inbound = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, on := range []bool{true, false} {
		h := newHarness(t, func(c *config.Config) {
			if on {
				c.Tracing = tracing.Settings{Endpoint: collector.URL}
			}
		})
		w := h.newWorld("acme", nil, nil)
		svc := h.mustAdmin("POST", "/admin/v1/services", map[string]any{"tenant": w.tenant, "name": "traced", "targets": []string{up.URL}})["id"].(string)
		h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": svc, "paths": []string{"/traced"}})
		_, k := h.newKey(w.consumer, nil)
		r := h.call("GET", "/traced/x", "Authorization", "Bearer "+k, "Traceparent", inbound)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		got := <-seen
		if on {
			if !strings.HasPrefix(got, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || got == inbound {
				t.Fatalf("tracing on: upstream saw %q", got)
			}
		} else if got != inbound {
			t.Fatalf("tracing off: upstream saw %q, want the caller's", got)
		}
		h.stop() // flushes the exporter
	}
	if exports.Load() == 0 {
		t.Fatal("the collector received no export")
	}
}
