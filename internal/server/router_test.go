package server

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"gatehouse/internal/console"
)

// routerPair is the proxy listener's mux (as proxyHandler builds it, with a
// portal) behind proxyRouter, and the same mux alone.
func routerPair() (router, mux http.Handler) {
	named := func(name string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(name)) }
	}
	m := http.NewServeMux()
	m.HandleFunc("GET "+gatehousePaths+"/healthz", named("healthz"))
	m.HandleFunc("GET "+gatehousePaths+"/readyz", named("readyz"))
	m.Handle(console.DefaultPortalBase+"/", named("portal"))
	m.Handle("/", named("pipeline"))
	return proxyRouter{mux: m, pipe: named("pipeline")}, m
}

// answer is what a handler made of one request: status, Location, body.
func answer(h http.Handler, method, target string) [3]string {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return [3]string{http.StatusText(rec.Code), rec.Header().Get("Location"), rec.Body.String()}
}

// The router answers every request exactly as the ServeMux it bypasses —
// above all, a path with dot segments or doubled slashes is still
// redirected to its cleaned form instead of reaching the pipeline, where
// a route could be matched by one path and the upstream reach another.
func TestProxyRouterAgreesWithServeMux(t *testing.T) {
	router, mux := routerPair()
	for _, tc := range []struct{ desc, method, target, want string }{
		{"root", "GET", "/", "pipeline"},
		{"a route's path", "GET", "/policy", "pipeline"},
		{"trailing slash kept", "POST", "/v1/orders/", "pipeline"},
		{"query kept", "GET", "/v1/orders?id=7", "pipeline"},
		{"escaped slash", "GET", "/a%2Fb", "pipeline"},
		{"doubled slash: redirect", "GET", "/public//private", "Temporary Redirect"},
		{"dot segment: redirect", "GET", "/public/./private", "Temporary Redirect"},
		{"dot-dot segment: redirect", "GET", "/public/../admin", "Temporary Redirect"},
		{"trailing dot-dot: redirect", "GET", "/public/..", "Temporary Redirect"},
		{"trailing dot: redirect", "GET", "/public/.", "Temporary Redirect"},
		{"escaped dots are not segments", "GET", "/public/%2e%2e/admin", "pipeline"},
		{"health", "GET", "/.well-known/gatehouse/healthz", "healthz"},
		{"health, wrong method", "POST", "/.well-known/gatehouse/healthz", "pipeline"},
		{"readiness", "GET", "/.well-known/gatehouse/readyz", "readyz"},
		{"portal without its slash: redirect", "GET", "/.well-known/gatehouse/portal", "Temporary Redirect"},
		{"portal page", "GET", "/.well-known/gatehouse/portal/keys", "portal"},
		{"reason pages", "GET", "/.well-known/gatehouse/reasons/auth.missing", "pipeline"},
		{"asterisk", "OPTIONS", "*", ""},
		{"CONNECT", "CONNECT", "/", "pipeline"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, want := answer(router, tc.method, tc.target), answer(mux, tc.method, tc.target)
			if got != want {
				t.Fatalf("router %q, ServeMux %q", got, want)
			}
			if tc.want != "" && got[2] != tc.want && got[0] != tc.want {
				t.Errorf("answer %q, want %s", got, tc.want)
			}
		})
	}
}

// FuzzProxyRouter: for any request target the router and the ServeMux
// answer alike.
func FuzzProxyRouter(f *testing.F) {
	for _, s := range []string{"/", "/a", "/a/", "//", "/a/../b", "/./", "/..", "/a//", "/.well-known/gatehouse", "/.well-known/gatehouse/portal", "/%2e/", "/a/b/.",
		"/a/..;/b", "/a/.;x/b", `/a\..\b`, "/a/..%5Cb", "/a;x/b"} {
		f.Add("GET", s)
	}
	router, mux := routerPair()
	f.Fuzz(func(t *testing.T, method, target string) {
		if method != "GET" && method != "POST" && method != "CONNECT" {
			method = "GET"
		}
		r, err := http.NewRequest(method, "http://gw"+target, nil)
		if err != nil || r.URL.Host != "gw" {
			return
		}
		rec1, rec2 := httptest.NewRecorder(), httptest.NewRecorder()
		router.ServeHTTP(rec1, r.Clone(r.Context()))
		mux.ServeHTTP(rec2, r.Clone(r.Context()))
		if rec1.Code != rec2.Code || rec1.Body.String() != rec2.Body.String() || rec1.Header().Get("Location") != rec2.Header().Get("Location") {
			t.Fatalf("%s %q: router %d %q %q, ServeMux %d %q %q", method, target, rec1.Code, rec1.Header().Get("Location"),
				rec1.Body, rec2.Code, rec2.Header().Get("Location"), rec2.Body)
		}
	})
}

// A request for a route's path reaches the pipeline without an allocation
// of the router's (ServeMux made four for "/policy").
func TestProxyRouterAllocatesNothing(t *testing.T) {
	m := http.NewServeMux()
	m.HandleFunc("GET "+gatehousePaths+"/healthz", func(http.ResponseWriter, *http.Request) {})
	pipe := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	m.Handle("/", pipe)
	router := proxyRouter{mux: m, pipe: pipe}
	r := httptest.NewRequest("GET", "/policy/v1/orders", nil)
	if n := testing.AllocsPerRun(100, func() { router.ServeHTTP(nil, r) }); n != 0 {
		t.Errorf("%.1f allocations per request", n)
	}
}
