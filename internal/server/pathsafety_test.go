package server

import (
	"net/http"
	"net/http/httptest"
	"path"
	"sync"
	"testing"

	"gatehouse/internal/reason"
)

// TestEncodedDotSegmentsNeverForwarded: routes are matched on the decoded
// path, and an upstream that decodes and normalises paths (nginx, most
// frameworks; here path.Clean after Go's decoding) reads "/pub/%2e%2e/secret"
// as "/secret". Such a path must not pass /pub's checks and reach /secret
// (a route with a scope the caller lacks), nor leave a route's
// upstream_path, nor reach another route once its doubled slashes merge;
// a path that only looks similar, or whose encoded slashes stay within
// its route (a URL as a segment), still passes.
func TestEncodedDotSegmentsNeverForwarded(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	var reached []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reached = append(reached, path.Clean(r.URL.Path))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(up.Close)
	ten := h.mustAdmin("POST", "/admin/v1/tenants", map[string]any{"slug": "paths", "name": "paths"})["id"].(string)
	con := h.mustAdmin("POST", "/admin/v1/consumers", map[string]any{"tenant": ten, "name": "paths-app", "scopes": []string{"read"}})["id"].(string)
	svc := h.mustAdmin("POST", "/admin/v1/services", map[string]any{"tenant": ten, "name": "paths-svc", "targets": []string{up.URL}})["id"].(string)
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": svc, "paths": []string{"/pub"}, "auth": []string{"api_key"}})
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": svc, "paths": []string{"/secret"}, "auth": []string{"api_key"},
		"scopes": []string{"admin"}})
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": svc, "paths": []string{"/pub/admin"}, "auth": []string{"api_key"},
		"scopes": []string{"admin"}})
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": svc, "paths": []string{"/api"}, "auth": []string{"api_key"},
		"strip_prefix": true, "upstream_path": "/base"})
	_, key := h.newKey(con, nil)

	if got := h.call("GET", "/secret/data", bearer(key)...); got.status != http.StatusForbidden {
		t.Fatalf("the guarded route itself answered %d, want 403 (the test needs a route the key cannot reach)", got.status)
	}
	for _, tc := range []struct {
		desc, target string
		status       int
		reached      string // what the upstream saw, normalised; "" when it must see nothing
	}{
		{"encoded dot-dot", "/pub/%2e%2e/secret/data", 400, ""},
		{"encoded dot-dot, upper case", "/pub/%2E%2E/secret/data", 400, ""},
		{"dot-dot before an encoded slash", "/pub/..%2Fsecret/data", 400, ""},
		{"encoded slashes around dot-dot", "/pub%2F..%2Fsecret/data", 400, ""},
		{"encoded dot", "/pub/%2e/data", 400, ""},
		{"encoded doubled slash that merges into another route", "/pub%2F%2Fadmin/x", 400, ""},
		{"encoded doubled slash within the route", "/pub%2F%2Fdata", 204, "/pub/data"},
		{"a URL as a path segment", "/pub/https%3A%2F%2Fcdn.example.com%2Fa.png", 204, "/pub/https:/cdn.example.com/a.png"},
		{"a value that starts with a slash", "/pub/files/%2Fetc%2Fhosts", 204, "/pub/files/etc/hosts"},
		{"out of upstream_path", "/api/..%2F..%2Fadmin", 400, ""},
		{"out of upstream_path, encoded dots", "/api/%2e%2e/admin", 400, ""},
		{"an encoded slash inside a segment passes", "/pub/a%2Fb", 204, "/pub/a/b"},
		{"dots inside a name pass", "/pub/report%2e%2ejson", 204, "/pub/report..json"},
		{"an encoded tilde passes", "/pub/%7Euser", 204, "/pub/~user"},
		{"upstream_path with an escape passes", "/api/a%20b", 204, "/base/a b"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			mu.Lock()
			reached = nil
			mu.Unlock()
			got := h.call("GET", tc.target, bearer(key)...)
			if got.status != tc.status {
				t.Fatalf("status %d, want %d: %s", got.status, tc.status, got.raw)
			}
			if tc.status == 400 {
				if code, _ := got.body["code"].(string); code != reason.RequestPathAmbiguous {
					t.Errorf("code %q, want %s", code, reason.RequestPathAmbiguous)
				}
				if got.header.Get("X-Request-Id") == "" {
					t.Error("no X-Request-Id on the rejection")
				}
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case tc.reached == "" && len(reached) > 0:
				t.Errorf("the upstream was reached at %v", reached)
			case tc.reached != "" && (len(reached) != 1 || reached[0] != tc.reached):
				t.Errorf("the upstream saw %v, want [%s]", reached, tc.reached)
			}
		})
	}
}
