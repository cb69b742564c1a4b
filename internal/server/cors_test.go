package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestCORSEndToEnd: a CORS policy set through the admin API is stored,
// reaches the snapshot and governs the proxy at once — preflight answered
// without a credential and recorded in the call log, rejections readable
// by an allowed page, a disallowed origin refused with the allowed list
// shown to the operator only — and removing it brings back the refusal of
// every preflight.
func TestCORSEndToEnd(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("shop", nil, nil)
	const app, evil = "https://app.example.com", "https://evil.example"
	h.mustAdmin("PATCH", "/admin/v1/routes/"+w.route, map[string]any{"cors": map[string]any{
		"allowed_origins": []string{app}, "allowed_headers": []string{"content-type"}, "allow_credentials": true, "max_age": "5m"}})
	_, key := h.newKey(w.consumer, nil)
	revokedID, revoked := h.newKey(w.consumer, nil)
	h.mustAdmin("POST", "/admin/v1/keys/"+revokedID+"/revoke", map[string]any{"reason": "compromised"})

	cases := []struct {
		desc        string
		method      string
		hdr         []string
		status      int
		code        string
		acao        string
		maxAge      string
		credType    string
		opTraceHas  string // in GET /admin/v1/calls/{id}
		bodyHasNot  string
		allowHeader string
	}{
		{desc: "preflight: 204 from the gateway, no credential needed", method: "OPTIONS",
			hdr:    []string{"Origin", app, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "x-api-key"},
			status: 204, acao: app, maxAge: "300", allowHeader: "x-api-key"},
		{desc: "the actual call with a good key", method: "GET", hdr: []string{"Origin", app, "X-API-Key", key},
			status: 200, acao: app, credType: "api_key"},
		{desc: "a revoked key: the 401 is readable by the page", method: "GET", hdr: []string{"Origin", app, "X-API-Key", revoked},
			status: 401, code: "key.revoked", acao: app, credType: "api_key"},
		{desc: "a disallowed origin: refused, the list shown to the operator only", method: "GET", hdr: []string{"Origin", evil, "X-API-Key", key},
			status: 403, code: "cors.origin_not_allowed", opTraceHas: "allowed origins: " + app, bodyHasNot: app},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := h.call(tc.method, "/shop/orders", tc.hdr...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if code, _ := r.body["code"].(string); code != tc.code {
				t.Errorf("code %q, want %q", code, tc.code)
			}
			if got := r.header.Get("Access-Control-Allow-Origin"); got != tc.acao {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tc.acao)
			}
			if got := r.header.Get("Access-Control-Max-Age"); got != tc.maxAge {
				t.Errorf("Access-Control-Max-Age %q, want %q", got, tc.maxAge)
			}
			if got := r.header.Get("Access-Control-Allow-Headers"); got != tc.allowHeader {
				t.Errorf("Access-Control-Allow-Headers %q, want %q", got, tc.allowHeader)
			}
			if tc.bodyHasNot != "" && strings.Contains(r.raw, tc.bodyHasNot) {
				t.Errorf("the caller is told %q: %s", tc.bodyHasNot, r.raw)
			}
			c := h.waitCall(r.header.Get("X-Request-Id"))
			if c["status"] != float64(tc.status) || str(c["code"]) != tc.code || str(c["credential_type"]) != tc.credType ||
				c["method"] != tc.method || c["route"] != w.route {
				t.Errorf("call record %v", c)
			}
			if tc.opTraceHas != "" {
				tr, _ := json.Marshal(c["trace"])
				if !strings.Contains(string(tr), tc.opTraceHas) {
					t.Errorf("operator trace lacks %q: %s", tc.opTraceHas, tr)
				}
			}
		})
	}

	t.Run("whoami with ?origin= answers as the page would meet it", func(t *testing.T) {
		for origin, want := range map[string]string{app: "", evil: "cors.origin_not_allowed"} {
			r := h.call("GET", "/.well-known/gatehouse/whoami?path=/shop/orders&origin="+origin, "X-API-Key", key)
			v, _ := r.body["verdict"].(map[string]any)
			if v == nil || str(v["code"]) != want {
				t.Errorf("origin %s: verdict %v, want code %q", origin, v, want)
			}
		}
	})

	t.Run("removing the policy: every preflight is refused as CORS, not as a missing credential", func(t *testing.T) {
		h.mustAdmin("PATCH", "/admin/v1/routes/"+w.route, json.RawMessage(`{"cors":null}`))
		r := h.call("OPTIONS", "/shop/orders", "Origin", app, "Access-Control-Request-Method", "GET")
		if r.status != http.StatusForbidden || str(r.body["code"]) != "cors.origin_not_allowed" || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("%d %v %v", r.status, r.header, r.body)
		}
		if d := str(r.body["detail"]); !strings.Contains(d, "no CORS policy") {
			t.Errorf("detail %q", d)
		}
	})
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
