package server

import (
	"net"
	"strings"
	"testing"

	"gatehouse/internal/config"
)

// IP allow-lists with IPv4, IPv6, trusted and untrusted X-Forwarded-For;
// ip.not_allowed shows the address the gateway saw and where it came from.
func TestIPAllowLists(t *testing.T) {
	cases := []struct {
		desc       string
		trusted    []string
		xff        string
		wantStatus int
		wantDetail string
	}{
		{desc: "trusted proxy, allowed IPv4 client", trusted: []string{"127.0.0.1/32"}, xff: "198.51.100.7", wantStatus: 200},
		{desc: "trusted proxy, allowed IPv6 client", trusted: []string{"127.0.0.1"}, xff: "2001:db8::5", wantStatus: 200},
		{desc: "trusted proxy, client outside the list", trusted: []string{"127.0.0.1/32"}, xff: "203.0.113.1",
			wantStatus: 403, wantDetail: "203.0.113.1 (from X-Forwarded-For, sent by a trusted proxy), which is not in the allow-list of application 'acme-app'."},
		{desc: "forged left-most entry is not believed", trusted: []string{"127.0.0.1/32"}, xff: "198.51.100.7, 203.0.113.1",
			wantStatus: 403, wantDetail: "203.0.113.1 (from X-Forwarded-For, sent by a trusted proxy)"},
		{desc: "untrusted peer: X-Forwarded-For ignored, and the detail says so", xff: "198.51.100.7",
			wantStatus: 403, wantDetail: "127.0.0.1 (from the connection; the request's X-Forwarded-For was not used: the peer is not one of the gateway's trusted_proxies, or the field names no address outside them), which is not in the allow-list of application 'acme-app'."},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			h := newHarness(t, func(c *config.Config) { c.TrustedProxies = tc.trusted })
			w := h.newWorld("acme", nil, nil)
			h.mustAdmin("PATCH", "/admin/v1/consumers/"+w.consumer, map[string]any{"ip_allow": []string{"198.51.100.0/24", "2001:db8::/32"}})
			_, k := h.newKey(w.consumer, nil)
			r := h.call("GET", "/acme/x", "Authorization", "Bearer "+k, "X-Forwarded-For", tc.xff)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			if tc.wantDetail != "" && (r.body["code"] != "ip.not_allowed" || !strings.Contains(r.body["detail"].(string), tc.wantDetail)) {
				t.Fatalf("answer %s", r.raw)
			}
		})
	}
	t.Run("IPv6 socket and a key's own allow-list", func(t *testing.T) {
		if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
			t.Skipf("no IPv6 loopback on this machine: %v", err)
		} else {
			ln.Close()
		}
		h := newHarness(t, func(c *config.Config) { c.ProxyAddr = "[::1]:0" })
		w := h.newWorld("acme", nil, nil)
		_, ok := h.newKey(w.consumer, map[string]any{"ip_allow": []string{"::1/128"}})
		_, no := h.newKey(w.consumer, map[string]any{"ip_allow": []string{"2001:db8::/32"}})
		if r := h.call("GET", "/acme/x", bearer(ok)...); r.status != 200 {
			t.Fatalf("allowed ::1: %d %s", r.status, r.raw)
		}
		r := h.call("GET", "/acme/x", bearer(no)...)
		if r.status != 403 || !strings.Contains(r.body["detail"].(string), "::1 (from the connection), which is not in the allow-list of credential ") {
			t.Fatalf("key allow-list: %d %s", r.status, r.raw)
		}
	})
}

// A gateway serving both environments pins them service by service: a
// test key on a live-pinned service is key.wrong_environment, and the
// other way round; an unpinned service takes both.
func TestEnvironmentPinning(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Environment = "both" })
	w := h.newWorld("acme", nil, nil)
	live := h.mustAdmin("POST", "/admin/v1/services", map[string]any{"tenant": w.tenant, "name": "live-svc",
		"targets": []string{h.upstream.URL}, "environment": "live"})["id"].(string)
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": live, "paths": []string{"/live"}})
	_, liveKey := h.newKey(w.consumer, map[string]any{"environment": "live"})
	_, testKey := h.newKey(w.consumer, map[string]any{"environment": "test"})
	cases := []struct {
		desc, path, key string
		wantStatus      int
	}{
		{"live key, live service", "/live/x", liveKey, 200},
		{"test key, live service", "/live/x", testKey, 401},
		{"test key, unpinned service", "/acme/x", testKey, 200},
		{"live key, unpinned service", "/acme/x", liveKey, 200},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := h.call("GET", tc.path, bearer(tc.key)...)
			if r.status != tc.wantStatus || (tc.wantStatus == 401 && r.body["code"] != "key.wrong_environment") {
				t.Fatalf("%d %s", r.status, r.raw)
			}
		})
	}
}
