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

func BenchmarkMatch(b *testing.B) {
	s, _ := Build(testData(), Options{})
	b.ReportAllocs()
	for b.Loop() {
		if r, _ := s.Match("gw:8080", "/v1/orders/42/items", "GET"); r == nil {
			b.Fatal("no match")
		}
	}
}
