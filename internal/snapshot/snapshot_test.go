package snapshot

import (
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

func testData() *store.Data {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return &store.Data{
		Version:  7,
		Tenants:  []domain.Tenant{{ID: "t1", Slug: "acme", Status: domain.StatusActive}},
		Services: []domain.Service{{ID: "s1", TenantID: "t1", Name: "orders"}, {ID: "s2", TenantID: "t1", Name: "admin"}},
		Routes: []domain.Route{
			{ID: "r-root", ServiceID: "s1", Paths: []string{"/"}, CreatedAt: t0},
			{ID: "r-orders", ServiceID: "s1", Paths: []string{"/v1/orders/"}, Methods: []string{"GET"}, CreatedAt: t0.Add(1)},
			{ID: "r-orders-post", ServiceID: "s1", Paths: []string{"/v1/orders"}, Methods: []string{"post"}, CreatedAt: t0.Add(2)},
			{ID: "r-host", ServiceID: "s2", Paths: []string{"/v1"}, Hosts: []string{"Admin.Example.com"}, CreatedAt: t0.Add(3)},
		},
	}
}

func TestMatch(t *testing.T) {
	s, err := Build(testData(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		desc, host, path, method string
		want                     string // route id, or "405:<allow>", or "" for none
	}{
		{"longest prefix wins", "gw", "/v1/orders/42", "GET", "r-orders"},
		{"exact prefix", "gw", "/v1/orders", "GET", "r-orders"},
		{"trailing slash declared and requested", "gw", "/v1/orders/", "GET", "r-orders"},
		{"second route on the same prefix takes its method", "gw", "/v1/orders/42", "POST", "r-orders-post"},
		{"prefix matches on segment boundaries only", "gw", "/v1/ordersX", "GET", "r-root"},
		{"method not allowed lists the prefix's methods", "gw", "/v1/orders", "DELETE", "405:GET,post"},
		{"root catches the rest", "gw", "/anything/else", "PUT", "r-root"},
		{"host route, case and port ignored", "ADMIN.example.com:8443", "/v1/orders", "DELETE", "r-host"},
		{"host route falls back to any-host routes", "admin.example.com", "/other", "GET", "r-root"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r, allow := s.Match(tc.host, tc.path, tc.method)
			got := ""
			if r != nil {
				got = r.ID
			} else if allow != nil {
				got = "405:" + strings.Join(allow, ",")
			}
			if got != tc.want {
				t.Fatalf("Match(%q,%q,%q) = %q, want %q", tc.host, tc.path, tc.method, got, tc.want)
			}
		})
	}
}

func TestBuildRejectsDanglingReferences(t *testing.T) {
	d := testData()
	d.Routes = append(d.Routes, domain.Route{ID: "bad", ServiceID: "nope", Paths: []string{"/x"}})
	if _, err := Build(d, Options{}); err == nil || !strings.Contains(err.Error(), "missing service") {
		t.Fatalf("err = %v", err)
	}
}

func TestNoRoutes(t *testing.T) {
	s, _ := Build(&store.Data{}, Options{})
	if r, allow := s.Match("h", "/", "GET"); r != nil || allow != nil {
		t.Fatal("empty snapshot matched")
	}
}

// TestDescribeAccepts pins the words a rejection uses for what a route
// accepts (auth.missing, auth.scheme_unsupported, auth.method_not_allowed).
// A JWT route once read "accepts a bearer token", which an API key also is,
// so a caller sending a key could not tell that the route wants a JWT.
func TestDescribeAccepts(t *testing.T) {
	const key = "an API key in 'Authorization: Bearer gk_…', 'Authorization: ApiKey gk_…' or 'X-API-Key: gk_…'"
	for _, tc := range []struct {
		desc     string
		methods  []string
		queryKey bool
		want     string
	}{
		{desc: "API key", methods: []string{domain.AuthAPIKey}, want: key},
		{desc: "API key, query keys on", methods: []string{domain.AuthAPIKey}, queryKey: true, want: key + " or '?api_key=gk_…'"},
		{desc: "JWT is named a JWT, not a bearer token", methods: []string{domain.AuthJWT},
			want: "a JWT in 'Authorization: Bearer …'"},
		{desc: "introspection", methods: []string{domain.AuthIntrospection},
			want: "an opaque OAuth access token in 'Authorization: Bearer …'"},
		{desc: "JWT and introspection share one phrase, at the first one's place", methods: []string{domain.AuthBasic, domain.AuthIntrospection, domain.AuthJWT},
			want: "a user name and password in 'Authorization: Basic …'; or a JWT or an opaque OAuth access token in 'Authorization: Bearer …'"},
		{desc: "Basic", methods: []string{domain.AuthBasic}, want: "a user name and password in 'Authorization: Basic …'"},
		{desc: "several, in the route's order", methods: []string{domain.AuthJWT, domain.AuthAPIKey, domain.AuthMTLS, domain.AuthHTTPSignature},
			want: "a JWT in 'Authorization: Bearer …'; or " + key + "; or a client certificate; or an RFC 9421 signature (Signature-Input and Signature headers)"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := DescribeAccepts(tc.methods, tc.queryKey); got != tc.want {
				t.Errorf("DescribeAccepts(%q, %v)\n got %q\nwant %q", tc.methods, tc.queryKey, got, tc.want)
			}
		})
	}
}

func BenchmarkMatch(b *testing.B) {
	s, _ := Build(testData(), Options{})
	b.ReportAllocs()
	for b.Loop() {
		if r, _ := s.Match("gw:8080", "/v1/orders/42/items", "GET"); r == nil {
			b.Fatal("no match")
		}
	}
}
