package server

import (
	"strings"
	"testing"
)

func TestWhoami(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", []string{"orders:read"}, nil)
	id, k := h.newKey(w.consumer, nil)
	cases := []struct {
		desc       string
		query      string
		hdr        []string
		wantStatus int
		check      func(t *testing.T, r response)
	}{
		{desc: "identity of a valid key", hdr: bearer(k), wantStatus: 200, check: func(t *testing.T, r response) {
			if r.body["tenant"] != "acme" || r.body["consumer"] != "acme-app" || r.body["credential_id"] != id ||
				r.body["credential_type"] != "api_key" || r.body["verdict"] != nil {
				t.Fatalf("answer %s", r.raw)
			}
		}},
		{desc: "no credential is the rejection itself", wantStatus: 401, check: func(t *testing.T, r response) {
			if r.body["code"] != "auth.missing" {
				t.Fatalf("answer %s", r.raw)
			}
		}},
		{desc: "dry run of an allowed route", query: "?method=GET&path=/acme/orders", hdr: bearer(k), wantStatus: 200, check: func(t *testing.T, r response) {
			v := r.body["verdict"].(map[string]any)
			if v["allow"] != true || !strings.Contains(r.raw, "the upstream was not called") {
				t.Fatalf("answer %s", r.raw)
			}
		}},
		{desc: "dry run with a wrong secret hides the operator-only step", query: "?path=/acme/x",
			hdr: bearer(fixChecksum(t, k[:len(k)-38]+strings.Repeat("Q", 32)+"000000")), wantStatus: 200,
			check: func(t *testing.T, r response) {
				v := r.body["verdict"].(map[string]any)
				if v["code"] != "key.unknown" || strings.Contains(r.raw, "secret does not match") || r.body["consumer"] != nil {
					t.Fatalf("answer %s", r.raw)
				}
			}},
		{desc: "a dry run without a credential names no route or service", query: "?method=GET&path=/acme/orders", wantStatus: 200,
			check: func(t *testing.T, r response) {
				v := r.body["verdict"].(map[string]any)
				if v["code"] != "auth.missing" || strings.Contains(r.raw, "acme-svc") || strings.Contains(r.raw, w.route) ||
					!strings.Contains(r.raw, "a route serves GET /acme/orders") {
					t.Fatalf("answer %s", r.raw)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := h.call("GET", "/.well-known/gatehouse/whoami"+tc.query, tc.hdr...)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			tc.check(t, r)
		})
	}
}
