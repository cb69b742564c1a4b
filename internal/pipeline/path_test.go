package pipeline

import (
	"net/http/httptest"
	"testing"
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
