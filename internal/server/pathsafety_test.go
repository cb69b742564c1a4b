package server

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/reason"
)

// rawCall sends target exactly as written in the request line (a Go client
// would re-escape a raw backslash as %5C) and reads the answer.
func rawCall(t *testing.T, h *harness, target, key string) response {
	t.Helper()
	c, err := net.Dial("tcp", h.srv.ProxyAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer "+key+"\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// TestAmbiguousPathsNeverForwarded: routes are matched on the decoded
// path, and an upstream may read the path it is sent as another: it
// decodes and normalises (nginx, most frameworks; here path.Clean after
// Go's decoding) so "/pub/%2e%2e/secret" is "/secret"; it drops ";" path
// parameters (Tomcat, Jetty, Spring) so "/pub/..;/secret" is "/secret"; it
// takes "\" for "/" (IIS, some Node and Python frameworks) so
// "/pub\..\secret" is "/secret". Such a path must not pass /pub's checks
// and reach /secret (a route with a scope the caller lacks), nor leave a
// route's upstream_path, nor reach another route once its doubled slashes
// merge, its parameters drop or its backslashes turn into slashes. A path
// that only looks similar, or whose encoded slashes, matrix parameters or
// backslashes stay within its route, still passes. With strip_prefix, a
// prefix matched through escapes ("/strip%2Fx") is stripped, and what
// follows it reaches the upstream exactly as sent. On both listeners (they
// parse request targets differently: the fast one takes a plain path as
// it is) and both engines (they build the upstream request line
// differently).
func TestAmbiguousPathsNeverForwarded(t *testing.T) {
	for _, le := range listenerEngines {
		t.Run(le.desc, func(t *testing.T) {
			h := newHarness(t, func(c *config.Config) { c.ProxyServer = le.listener })
			var mu sync.Mutex
			var reached, rawReached []string
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				reached = append(reached, path.Clean(r.URL.Path))
				rawReached = append(rawReached, r.RequestURI)
				mu.Unlock()
				w.WriteHeader(http.StatusNoContent)
			}))
			t.Cleanup(up.Close)
			ten := h.mustAdmin("POST", "/admin/v1/tenants", map[string]any{"slug": "paths", "name": "paths"})["id"].(string)
			con := h.mustAdmin("POST", "/admin/v1/consumers", map[string]any{"tenant": ten, "name": "paths-app", "scopes": []string{"read"}})["id"].(string)
			svc := h.mustAdmin("POST", "/admin/v1/services", map[string]any{"tenant": ten, "name": "paths-svc", "targets": []string{up.URL},
				"engine": le.engine})["id"].(string)
			h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": svc, "paths": []string{"/pub"}, "auth": []string{"api_key"}})
			h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": svc, "paths": []string{"/secret"}, "auth": []string{"api_key"},
				"scopes": []string{"admin"}})
			h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": svc, "paths": []string{"/pub/admin"}, "auth": []string{"api_key"},
				"scopes": []string{"admin"}})
			h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": svc, "paths": []string{"/api"}, "auth": []string{"api_key"},
				"strip_prefix": true, "upstream_path": "/base"})
			h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": svc, "paths": []string{"/strip/x"}, "auth": []string{"api_key"},
				"strip_prefix": true})
			_, key := h.newKey(con, nil)

			if got := h.call("GET", "/secret/data", bearer(key)...); got.status != http.StatusForbidden {
				t.Fatalf("the guarded route itself answered %d, want 403 (the test needs a route the key cannot reach)", got.status)
			}
			for _, tc := range []struct {
				desc, target string
				status       int
				reached      string // what the upstream saw, normalised; "" when it must see nothing
				raw          string // the upstream's request target as it came, when it matters
			}{
				{"encoded dot-dot", "/pub/%2e%2e/secret/data", 400, "", ""},
				{"encoded dot-dot, upper case", "/pub/%2E%2E/secret/data", 400, "", ""},
				{"dot-dot before an encoded slash", "/pub/..%2Fsecret/data", 400, "", ""},
				{"encoded slashes around dot-dot", "/pub%2F..%2Fsecret/data", 400, "", ""},
				{"encoded dot", "/pub/%2e/data", 400, "", ""},
				{"encoded doubled slash that merges into another route", "/pub%2F%2Fadmin/x", 400, "", ""},
				{"encoded doubled slash within the route", "/pub%2F%2Fdata", 204, "/pub/data", ""},
				{"a URL as a path segment", "/pub/https%3A%2F%2Fcdn.example.com%2Fa.png", 204, "/pub/https:/cdn.example.com/a.png", ""},
				{"a value that starts with a slash", "/pub/files/%2Fetc%2Fhosts", 204, "/pub/files/etc/hosts", ""},
				{"out of upstream_path", "/api/..%2F..%2Fadmin", 400, "", ""},
				{"out of upstream_path, encoded dots", "/api/%2e%2e/admin", 400, "", ""},
				{"an encoded slash inside a segment passes", "/pub/a%2Fb", 204, "/pub/a/b", ""},
				{"dots inside a name pass", "/pub/report%2e%2ejson", 204, "/pub/report..json", ""},
				{"an encoded tilde passes", "/pub/%7Euser", 204, "/pub/~user", ""},
				{"upstream_path with an escape passes", "/api/a%20b", 204, "/base/a b", ""},

				{"dot-dot with an empty path parameter", "/pub/..;/secret/data", 400, "", ""},
				{"dot-dot with a path parameter", "/pub/..;jsessionid=1/secret/data", 400, "", ""},
				{"dot with a path parameter", "/pub/.;x/data", 400, "", ""},
				{"encoded dot-dot with a path parameter", "/pub/%2e%2e;/secret/data", 400, "", ""},
				{"dot-dot with an encoded semicolon", "/pub/..%3B/secret/data", 400, "", ""},
				{"out of upstream_path with a path parameter", "/api/..;/..;/admin", 400, "", ""},
				{"a path parameter that moves the path into another route", "/pub/admin;x/data", 400, "", ""},
				{"a matrix parameter within the route passes", "/pub/cars;color=red/2024", 204, "/pub/cars;color=red/2024", ""},
				{"a dot-dot inside a parameter value passes", "/pub/a;v=../data", 204, "/pub/a;v=../data", ""},

				{"raw backslashes around dot-dot", `/pub\..\secret/data`, 400, "", ""},
				{"encoded backslash after dot-dot", "/pub/..%5Csecret/data", 400, "", ""},
				{"encoded backslashes around dot-dot, lower case", "/pub%5c..%5csecret/data", 400, "", ""},
				{"raw backslash into another route", `/pub/admin\x`, 400, "", ""},
				{"encoded doubled backslash into another route", "/pub/admin%5C%5Cx", 400, "", ""},
				{"a backslash that leaves the route is not a route", `/pub\admin/x`, 404, "", ""},
				{"out of upstream_path through a backslash", "/api/..%5C..%5Cadmin", 400, "", ""},
				{"a backslash within a name passes", "/pub/CORP%5Cjane", 204, `/pub/CORP\jane`, "/pub/CORP%5Cjane"},

				{"strip_prefix with an encoded slash inside the prefix", "/strip%2Fx/y", 204, "/y", "/y"},
				{"strip_prefix with an escaped letter inside the prefix", "/str%69p/x/a%2Fb", 204, "/a/b", "/a%2Fb"},
				{"strip_prefix, escapes after the prefix kept", "/strip/x/a%2Fb%20c", 204, "/a/b c", "/a%2Fb%20c"},
				{"strip_prefix with the separator after the prefix encoded", "/strip/x%2Fy", 204, "/y", "/%2Fy"},
				{"upstream_path with the separator after the prefix encoded", "/api%2Fv", 204, "/base/v", "/base/%2Fv"},
			} {
				t.Run(tc.desc, func(t *testing.T) {
					mu.Lock()
					reached, rawReached = nil, nil
					mu.Unlock()
					got := rawCall(t, h, tc.target, key)
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
						t.Errorf("the upstream was reached at %v", rawReached)
					case tc.reached != "" && (len(reached) != 1 || reached[0] != tc.reached):
						t.Errorf("the upstream saw %v, want [%s]", reached, tc.reached)
					case tc.raw != "" && rawReached[0] != tc.raw:
						t.Errorf("the upstream's request target was %s, want %s", rawReached[0], tc.raw)
					}
				})
			}
		})
	}
}
