package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Revoke, suspend and delete take effect on the very next request: the
// admin API answers only after the snapshot is swapped.
func TestChangesEffectiveOnNextRequest(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	cases := []struct {
		desc     string
		change   func(keyID string) // applied after one passing call
		wantCode string
		undo     func()
	}{
		{desc: "revoke", wantCode: "key.revoked", change: func(id string) {
			h.mustAdmin("POST", "/admin/v1/keys/"+id+"/revoke", map[string]any{"reason": "rotation drill"})
		}},
		{desc: "consumer suspend", wantCode: "consumer.suspended", change: func(string) {
			h.mustAdmin("POST", "/admin/v1/consumers/"+w.consumer+"/suspend", nil)
		}, undo: func() { h.mustAdmin("POST", "/admin/v1/consumers/"+w.consumer+"/resume", nil) }},
		{desc: "tenant suspend cascades to every key", wantCode: "tenant.suspended", change: func(string) {
			h.mustAdmin("POST", "/admin/v1/tenants/"+w.tenant+"/suspend", nil)
		}, undo: func() { h.mustAdmin("POST", "/admin/v1/tenants/"+w.tenant+"/resume", nil) }},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			id, k := h.newKey(w.consumer, nil)
			_, k2 := h.newKey(w.consumer, nil)
			if r := h.call("GET", "/acme/x", bearer(k)...); r.status != 200 {
				t.Fatalf("before: %d %s", r.status, r.raw)
			}
			tc.change(id)
			if r := h.call("GET", "/acme/x", bearer(k)...); r.body["code"] != tc.wantCode {
				t.Fatalf("next request: %d %s", r.status, r.raw)
			}
			if tc.undo != nil {
				if r := h.call("GET", "/acme/x", bearer(k2)...); r.body["code"] != tc.wantCode {
					t.Fatalf("a second key of the same owner: %d %s", r.status, r.raw)
				}
				tc.undo()
				if r := h.call("GET", "/acme/x", bearer(k2)...); r.status != 200 {
					t.Fatalf("after undo: %d %s", r.status, r.raw)
				}
			}
		})
	}
	t.Run("delete consumer: its keys answer consumer.deleted, never succeed", func(t *testing.T) {
		c := h.mustAdmin("POST", "/admin/v1/consumers", map[string]any{"tenant": w.tenant, "name": "doomed"})["id"].(string)
		_, k := h.newKey(c, nil)
		if r := h.call("GET", "/acme/x", bearer(k)...); r.status != 200 {
			t.Fatalf("before: %s", r.raw)
		}
		h.adminDo("DELETE", "/admin/v1/consumers/"+c, nil)
		if r := h.call("GET", "/acme/x", bearer(k)...); r.body["code"] != "consumer.deleted" || r.status != 401 {
			t.Fatalf("after delete: %d %s", r.status, r.raw)
		}
	})
}

// Rotation: during grace both keys work and the old one carries
// Gatehouse-Credential-Rotated; after grace the old one answers key.rotated
// naming the successor and the successor keeps working.
func TestRotation(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	id, old := h.newKey(w.consumer, nil)
	succ := h.mustAdmin("POST", "/admin/v1/keys/"+id+"/rotate", map[string]any{"grace": "24h"})
	newKey, newID := succ["key"].(string), succ["id"].(string)
	if succ["predecessor"] != id {
		t.Errorf("successor's predecessor = %v", succ["predecessor"])
	}

	r := h.call("GET", "/acme/x", bearer(old)...)
	want := `successor="` + newID + `"; grace-until="` + t0.Add(24*time.Hour).Format(time.RFC3339) + `"`
	if r.status != 200 || r.header.Get("Gatehouse-Credential-Rotated") != want {
		t.Fatalf("old key during grace: %d %q %s", r.status, r.header.Get("Gatehouse-Credential-Rotated"), r.raw)
	}
	if r := h.call("GET", "/acme/x", bearer(newKey)...); r.status != 200 || r.header.Get("Gatehouse-Credential-Rotated") != "" {
		t.Fatalf("new key during grace: %d %s", r.status, r.raw)
	}
	h.clock.Advance(24 * time.Hour)
	r = h.call("GET", "/acme/x", bearer(old)...)
	if r.status != 401 || r.body["code"] != "key.rotated" || !strings.Contains(r.body["detail"].(string), newID) {
		t.Fatalf("old key after grace: %d %s", r.status, r.raw)
	}
	if r := h.call("GET", "/acme/x", bearer(newKey)...); r.status != 200 {
		t.Fatalf("new key after grace: %d %s", r.status, r.raw)
	}
}

// Within the warning window of expiry, responses carry
// Gatehouse-Credential-Expires; at expiry the key answers key.expired.
func TestExpiryWarning(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	exp := t0.Add(20 * 24 * time.Hour)
	_, k := h.newKey(w.consumer, map[string]any{"expires_at": exp.Format(time.RFC3339)})
	if r := h.call("GET", "/acme/x", bearer(k)...); r.status != 200 || r.header.Get("Gatehouse-Credential-Expires") != "" {
		t.Fatalf("20 days out: %d %q", r.status, r.header.Get("Gatehouse-Credential-Expires"))
	}
	h.clock.Advance(7 * 24 * time.Hour) // 13 days left: inside the 14-day window
	if r := h.call("GET", "/acme/x", bearer(k)...); r.status != 200 || r.header.Get("Gatehouse-Credential-Expires") != exp.Format(time.RFC3339) {
		t.Fatalf("13 days out: %d %q", r.status, r.header.Get("Gatehouse-Credential-Expires"))
	}
	h.clock.Set(exp)
	if r := h.call("GET", "/acme/x", bearer(k)...); r.body["code"] != "key.expired" {
		t.Fatalf("at expiry: %d %s", r.status, r.raw)
	}
}

// The operator's trace tells what the caller was not told: the id exists
// but the secret does not match.
func TestWrongSecretTrace(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	_, k := h.newKey(w.consumer, nil)
	forged := fixChecksum(t, k[:len(k)-38]+strings.Repeat("Z", 32)+"000000")
	r := h.call("GET", "/acme/x", bearer(forged)...)
	if r.body["code"] != "key.unknown" {
		t.Fatalf("caller got %s", r.raw)
	}
	if strings.Contains(r.raw, "secret") || strings.Contains(r.raw, "exists") {
		t.Fatalf("caller learned that the id exists: %s", r.raw)
	}
	rec := h.waitCall(r.header.Get("X-Request-Id"))
	trace, _ := rec["trace"].([]any)
	var found bool
	for _, s := range trace {
		st := s.(map[string]any)
		if d, _ := st["detail"].(string); strings.Contains(d, "id exists, but the secret does not match") {
			found = true
		}
	}
	if !found {
		t.Fatalf("operator trace lacks the secret-mismatch step: %v", trace)
	}
}

// A body over the route's max_body is refused with request.too_large —
// before the upstream sees it when its length is declared, and as soon as
// it goes over when it is chunked — never as an upstream failure.
func TestMaxBody(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/small"}, "max_body": 10})
	_, k := h.newKey(w.consumer, nil)
	cases := []struct {
		desc    string
		chunked bool
	}{
		{"declared length over the limit", false},
		{"chunked body over the limit", true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			req, _ := http.NewRequest("POST", h.proxy+"/small/x", strings.NewReader(strings.Repeat("x", 100)))
			if tc.chunked {
				req.ContentLength = -1 // unknown: sent chunked
			}
			req.Header.Set("Authorization", "Bearer "+k)
			resp, err := h.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 413 || !strings.Contains(string(raw), `"code":"request.too_large"`) || !strings.Contains(string(raw), "at most 10") {
				t.Fatalf("%d %s", resp.StatusCode, raw)
			}
		})
	}
}
