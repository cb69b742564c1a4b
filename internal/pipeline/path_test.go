package pipeline

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"gatehouse/internal/domain"
	"gatehouse/internal/snapshot"
)

// TestOtherReading: the path as an upstream more lenient than the gateway
// reads it (decoded, "\" as "/", ";" parameters dropped, slashes merged) —
// and no other reading at all for a plain path, which must stay free of
// allocations (every ordinary request goes through this check).
func TestOtherReading(t *testing.T) {
	for _, tc := range []struct {
		desc, target, want string
		has                bool
	}{
		{"plain path", "/v1/orders/7", "", false},
		{"escapes that decode to a clean path", "/pub/a%20b", "", false},
		{"an encoded slash that decodes to a clean path", "/pub/a%2Fb", "", false},
		{"encoded dot-dot", "/pub/%2e%2e/secret", "/pub/../secret", true},
		{"encoded doubled slash", "/pub%2F%2Fadmin", "/pub/admin", true},
		{"dot-dot with a path parameter", "/pub/..;/admin", "/pub/../admin", true},
		{"dot with a path parameter", "/pub/.;jsessionid=1/admin", "/pub/./admin", true},
		{"a matrix parameter", "/cars;color=red/2024", "/cars/2024", true},
		{"raw backslashes", `/pub\..\admin`, "/pub/../admin", true},
		{"encoded backslashes", "/pub%5C%5Cadmin", "/pub/admin", true},
		{"a parameter ends at a backslash", `/a;x\b`, "/a/b", true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, has := otherReading(httptest.NewRequest("GET", tc.target, nil))
			if got != tc.want || has != tc.has {
				t.Errorf("otherReading(%q) = %q, %v; want %q, %v", tc.target, got, has, tc.want, tc.has)
			}
		})
	}
	for _, target := range []string{"/v1/orders/7", "/pub/a%2Fb"} {
		r := httptest.NewRequest("GET", target, nil)
		if n := testing.AllocsPerRun(100, func() { _, _ = otherReading(r) }); n != 0 {
			t.Errorf("otherReading(%q): %.1f allocations", target, n)
		}
	}
}

// TestUpstreamPathStripsAnEscapedPrefix: the prefix strip_prefix removes is
// the one the route matched on the decoded path, found again in the
// escaped path however the client escaped it, and everything after it is
// forwarded exactly as sent; an encoded separator right after the prefix
// stays encoded, joined to the upstream path by a "/" of its own.
func TestUpstreamPathStripsAnEscapedPrefix(t *testing.T) {
	rt := &snapshot.Route{Route: domain.Route{Paths: []string{"/strip/x"}, StripPrefix: true, UpstreamPath: "/v2"}}
	for _, tc := range []struct{ desc, target, want string }{
		{"plain", "/strip/x/y", "/v2/y"},
		{"encoded slash inside the prefix", "/strip%2Fx/y", "/v2/y"},
		{"lower-case encoded slash inside the prefix", "/strip%2fx/y", "/v2/y"},
		{"escaped letter inside the prefix", "/str%69p/x/y", "/v2/y"},
		{"escapes after the prefix kept as sent", "/strip%2Fx/a%2Fb%2e", "/v2/a%2Fb%2e"},
		{"the whole path is the prefix", "/strip%2Fx", "/v2"},
		{"encoded separator after the prefix", "/strip/x%2Fy", "/v2/%2Fy"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := upstreamPath(rt, httptest.NewRequest("GET", tc.target, nil)); got != tc.want {
				t.Errorf("upstreamPath(%q) = %q, want %q", tc.target, got, tc.want)
			}
		})
	}
}

// TestUpstreamPathStripsTheLongestPrefix: a route with nested paths
// strips the one routing matched — the longest — whatever their order.
func TestUpstreamPathStripsTheLongestPrefix(t *testing.T) {
	for _, paths := range [][]string{{"/api", "/api/v2"}, {"/api/v2/", "/api/"}} {
		rt := &snapshot.Route{Route: domain.Route{Paths: paths, StripPrefix: true}}
		for _, tc := range []struct{ target, want string }{
			{"/api/v2/orders", "/orders"},
			{"/api/v2", "/"},
			{"/api/v1/orders", "/v1/orders"},
			{"/api/v2x/orders", "/v2x/orders"},
			{"/api%2Fv2/orders", "/orders"},
		} {
			if got := upstreamPath(rt, httptest.NewRequest("GET", tc.target, nil)); got != tc.want {
				t.Errorf("paths %q: upstreamPath(%q) = %q, want %q", paths, tc.target, got, tc.want)
			}
		}
	}
}

// FuzzEscapedPrefix: for any request path and any of its decoded path's
// segment prefixes, escapedPrefix finds a start of the escaped path that
// decodes to exactly that prefix.
func FuzzEscapedPrefix(f *testing.F) {
	for _, s := range []string{"/strip%2Fx/y", "/str%69p/x/a%2Fb", "/a/b", "/%2F%2F/x", "/a%5Cb/c", "/a;b%3B/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || u.Path == "" || u.RawQuery != "" || u.ForceQuery {
			return
		}
		ep := u.EscapedPath()
		for i := 1; i <= len(u.Path); i++ {
			if i < len(u.Path) && u.Path[i] != '/' {
				continue
			}
			pre := u.Path[:i]
			got := escapedPrefix(ep, pre)
			if dec, err := url.PathUnescape(got); err != nil || dec != pre || !strings.HasPrefix(ep, got) {
				t.Fatalf("escapedPrefix(%q, %q) = %q, which decodes to %q (%v)", ep, pre, got, dec, err)
			}
		}
	})
}
