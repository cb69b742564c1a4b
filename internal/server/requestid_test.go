package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"gatehouse/internal/config"
)

// The client always receives the gateway's own request ID in X-Request-Id
// — the one that opens the call's record and decision trace (gatehouse
// explain) — even when the upstream answers with an X-Request-Id of its
// own: on both proxy listeners and both engines.
func TestUpstreamRequestIDDoesNotReplaceTheGateways(t *testing.T) {
	for _, tc := range listenerEngines {
		t.Run(tc.desc, func(t *testing.T) {
			h := newHarness(t, func(c *config.Config) { c.ProxyServer = tc.listener })
			seen := make(chan string, 1)
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen <- r.Header.Get("X-Request-Id")
				w.Header().Set("X-Request-Id", "upstream-id")
				_, _ = io.WriteString(w, "ok")
			}))
			t.Cleanup(up.Close)
			_, _, key := h.keyedRoute("/echo", map[string]any{"name": "echo", "targets": []string{up.URL}, "engine": tc.engine})

			r := h.call("GET", "/echo", bearer(key)...)
			if r.status != 200 || r.raw != "ok" {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
			gatewayID := <-seen
			if gatewayID == "" || gatewayID == "upstream-id" {
				t.Fatalf("the upstream received X-Request-Id %q, want the gateway's", gatewayID)
			}
			if got := r.header.Values("X-Request-Id"); !slices.Equal(got, []string{gatewayID}) {
				t.Errorf("client X-Request-Id = %q, want only the gateway's [%q]", got, gatewayID)
			}
			if rec := h.waitCall(gatewayID); rec["status"] != float64(200) || rec["engine"] != tc.engine {
				t.Errorf("call record of %s = %v, want status 200 by engine %s", gatewayID, rec, tc.engine)
			}
		})
	}
}
