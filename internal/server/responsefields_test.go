package server

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
)

// An upstream cannot speak for the gateway in its response: whatever
// Gatehouse-* fields it sends (mixed case, '_' for '-', repeated, under
// the gateway's exact names) the client sees only the gateway's —
// Gatehouse-Credential-Rotated for a key in its rotation grace period,
// Gatehouse-Credential-Expires for one near expiry, none for an ordinary
// key. On a rate-limited route the gateway's RateLimit fields replace the
// upstream's; on a route without one the upstream's pass through, as does
// its Retry-After. On both proxy listeners and both engines, with real
// keys through the whole pipeline.
func TestUpstreamCannotSetGatewayResponseFields(t *testing.T) {
	const (
		upLimit  = `"upstream";r=0;t=60`
		upPolicy = `"upstream";q=10;w=60`
		// A fresh credential's first call on a 1000/min route (the fake
		// clock does not move): 999 left, the next unit back within 1 s.
		gwLimit  = `"route";r=999;t=1`
		gwPolicy = `"route";q=1000;w=60`
	)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Gatehouse-Credential-Rotated"] = []string{`successor="upstream"; grace-until="2000-01-01T00:00:00Z"`}
		h["gatehouse-credential-expires"] = []string{"2000-01-01T00:00:00Z", "2000-01-02T00:00:00Z"}
		h["GATEHOUSE_CREDENTIAL_ROTATED"] = []string{`successor="cgi"`}
		h["Ratelimit"] = []string{upLimit}
		h["RateLimit-Policy"] = []string{upPolicy}
		h["Retry-After"] = []string{"30"}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	for _, le := range listenerEngines {
		t.Run(le.desc, func(t *testing.T) {
			h := newHarness(t, func(c *config.Config) { c.ProxyServer = le.listener })
			tenant := h.mustAdmin("POST", "/admin/v1/tenants", map[string]any{"slug": "acme", "name": "Acme"})["id"].(string)
			consumer := h.mustAdmin("POST", "/admin/v1/consumers", map[string]any{"tenant": tenant, "name": "shop"})["id"].(string)
			svc := h.mustAdmin("POST", "/admin/v1/services", map[string]any{"tenant": tenant, "name": "spoof",
				"targets": []string{up.URL}, "engine": le.engine})["id"].(string)
			h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": svc, "paths": []string{"/open"}, "auth": []string{"api_key"}})
			h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": svc, "paths": []string{"/limited"}, "auth": []string{"api_key"},
				"rate_limit": map[string]any{"limit": 1000, "period": "1m", "by": "credential"}})

			_, plain := h.newKey(consumer, nil)
			oldID, old := h.newKey(consumer, nil)
			succID := h.mustAdmin("POST", "/admin/v1/keys/"+oldID+"/rotate", map[string]any{"grace": "24h"})["id"].(string)
			rotated := `successor="` + succID + `"; grace-until="` + t0.Add(24*time.Hour).Format(time.RFC3339) + `"`
			exp := t0.Add(13 * 24 * time.Hour) // inside the 14-day warning window
			_, expiring := h.newKey(consumer, map[string]any{"expires_at": exp.Format(time.RFC3339)})

			upstreamLimits := map[string][]string{"Ratelimit": {upLimit}, "Ratelimit-Policy": {upPolicy}}
			gatewayLimits := map[string][]string{"Ratelimit": {gwLimit}, "Ratelimit-Policy": {gwPolicy}}
			cases := []struct {
				desc, key, path string
				want            map[string][]string
			}{
				{"ordinary key, route without a limit", plain, "/open", upstreamLimits},
				{"ordinary key, rate-limited route", plain, "/limited", gatewayLimits},
				{"key in its rotation grace period, route without a limit", old, "/open",
					with(upstreamLimits, "Gatehouse-Credential-Rotated", rotated)},
				{"key in its rotation grace period, rate-limited route", old, "/limited",
					with(gatewayLimits, "Gatehouse-Credential-Rotated", rotated)},
				{"key near expiry, route without a limit", expiring, "/open",
					with(upstreamLimits, "Gatehouse-Credential-Expires", exp.Format(time.RFC3339))},
				{"key near expiry, rate-limited route", expiring, "/limited",
					with(gatewayLimits, "Gatehouse-Credential-Expires", exp.Format(time.RFC3339))},
			}
			for _, tc := range cases {
				t.Run(tc.desc, func(t *testing.T) {
					r := h.call("GET", tc.path, bearer(tc.key)...)
					if r.status != 200 || r.raw != "ok" {
						t.Fatalf("got %d %s", r.status, r.raw)
					}
					if got := responseNamespace(r.header); !maps.EqualFunc(got, tc.want, slices.Equal) {
						t.Errorf("client's Gatehouse-* and RateLimit fields:\n got %q\nwant %q", got, tc.want)
					}
					if got := r.header.Values("Retry-After"); !slices.Equal(got, []string{"30"}) {
						t.Errorf("Retry-After = %q, want the upstream's [30]", got)
					}
				})
			}
		})
	}
}

// responseNamespace returns a response's fields named Gatehouse-*,
// RateLimit or RateLimit-Policy in any case or with '_' for '-', under
// the names the Go client gave them.
func responseNamespace(h http.Header) map[string][]string {
	out := map[string][]string{}
	for k, vv := range h {
		n := strings.ReplaceAll(strings.ToLower(k), "_", "-")
		if strings.HasPrefix(n, "gatehouse-") || n == "ratelimit" || n == "ratelimit-policy" {
			out[k] = vv
		}
	}
	return out
}

// with is m plus the field k: v.
func with(m map[string][]string, k, v string) map[string][]string {
	out := maps.Clone(m)
	out[k] = []string{v}
	return out
}
