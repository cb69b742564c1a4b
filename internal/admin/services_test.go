package admin

import (
	"context"
	"strings"
	"testing"

	"gatehouse/internal/domain"
)

func TestServices(t *testing.T) {
	e := newEnv(t)
	tenant := e.must(201, "POST", "/admin/v1/tenants", map[string]any{"slug": "acme"}).str(t, "id")
	s := e.must(201, "POST", "/admin/v1/services", map[string]any{"tenant": "acme", "name": "orders",
		"targets":  []any{"http://10.0.0.5:8080", map[string]any{"url": "https://orders.internal/base", "weight": 3}},
		"timeouts": map[string]any{"connect": "2s", "response": "30s"}}).JSON(t)
	id := s["id"].(string)
	if !strings.HasPrefix(id, prefixService) || s["tenant"] != tenant || s["visibility"] != "private" ||
		fmtAny(s["targets"]) != "[map[url:http://10.0.0.5:8080 weight:1] map[url:https://orders.internal/base weight:3]]" ||
		fmtAny(s["timeouts"]) != "map[connect:2s response:30s]" {
		t.Fatalf("created %v", s)
	}

	svc := func(over map[string]any) map[string]any {
		b := map[string]any{"tenant": "acme", "name": "svc2", "targets": []string{"http://127.0.0.1:9000"}}
		for k, v := range over {
			b[k] = v
		}
		return b
	}
	cases := []struct {
		desc   string
		body   map[string]any
		status int
		code   string
		detail string
	}{
		{"ftp target", svc(map[string]any{"targets": []string{"ftp://files:21"}}), 400, CodeInvalid, `targets[0] "ftp://files:21" must start with http:// or https://`},
		{"target without scheme", svc(map[string]any{"targets": []string{"10.0.0.5:8080"}}), 400, CodeInvalid, "targets[0]"},
		{"target without host", svc(map[string]any{"targets": []string{"http://"}}), 400, CodeInvalid, "has no host"},
		{"target with credentials", svc(map[string]any{"targets": []string{"http://u:p@h"}}), 400, CodeInvalid, "credentials"},
		{"second target bad", svc(map[string]any{"targets": []any{"http://a", map[string]any{"url": "gopher://b"}}}), 400, CodeInvalid, "targets[1].url"},
		{"bad weight", svc(map[string]any{"targets": []any{map[string]any{"url": "http://a", "weight": 0}}}), 400, CodeInvalid, "targets[0].weight"},
		{"target of the wrong shape", svc(map[string]any{"targets": []any{42}}), 400, CodeInvalid, "must be a URL string"},
		{"no targets", svc(map[string]any{"targets": []string{}}), 400, CodeInvalid, "targets is required"},
		{"bad visibility", svc(map[string]any{"visibility": "public"}), 400, CodeInvalid, `visibility "public" is not one of "private", "published"`},
		{"bad timeout", svc(map[string]any{"timeouts": map[string]any{"read": "forever"}}), 400, CodeInvalid, "timeouts.read"},
		{"name taken", svc(map[string]any{"name": "orders"}), 409, CodeConflict, `"orders" is already taken`},
		{"unknown tenant", svc(map[string]any{"tenant": "nope"}), 404, CodeNotFound, `tenant "nope"`},
	}
	for _, c := range cases {
		t.Run("create: "+c.desc, func(t *testing.T) {
			if d := problemOf(t, e.do(e.root, "POST", "/admin/v1/services", c.body), c.status, c.code); !strings.Contains(d, c.detail) {
				t.Fatalf("detail %q lacks %q", d, c.detail)
			}
		})
	}

	t.Run("get by id and by name", func(t *testing.T) {
		mustEq(t, e.must(200, "GET", "/admin/v1/services/orders", nil).str(t, "id"), id)
		mustEq(t, e.must(200, "GET", "/admin/v1/services/"+id, nil).str(t, "name"), "orders")
		problemOf(t, e.do(e.root, "GET", "/admin/v1/services/nope", nil), 404, CodeNotFound)
		if n := len(e.must(200, "GET", "/admin/v1/services?tenant=acme", nil).items(t)); n != 1 {
			t.Fatalf("%d services", n)
		}
	})
	t.Run("patch replaces only the fields sent", func(t *testing.T) {
		r := e.must(200, "PATCH", "/admin/v1/services/orders", map[string]any{"targets": []string{"http://10.0.0.6:8080"},
			"visibility": "published", "timeouts": map[string]any{"read": "1m"}}).JSON(t)
		if fmtAny(r["targets"]) != "[map[url:http://10.0.0.6:8080 weight:1]]" || r["visibility"] != "published" ||
			fmtAny(r["timeouts"]) != "map[connect:2s read:1m0s response:30s]" || r["name"] != "orders" || r["id"] != id {
			t.Fatalf("patched %v", r)
		}
		problemOf(t, e.do(e.root, "PATCH", "/admin/v1/services/orders", map[string]any{"targets": []string{"nope"}}), 400, CodeInvalid)
		e.must(201, "POST", "/admin/v1/tenants", map[string]any{"slug": "globex"})
		if d := problemOf(t, e.do(e.root, "PATCH", "/admin/v1/services/orders", map[string]any{"tenant": "globex"}), 400, CodeInvalid); !strings.Contains(d, "tenant cannot change") {
			t.Fatal(d)
		}
	})
	t.Run("a service with routes cannot be deleted", func(t *testing.T) {
		rt := e.must(201, "POST", "/admin/v1/routes", map[string]any{"service": "orders", "paths": []string{"/orders"}}).str(t, "id")
		if d := problemOf(t, e.do(e.root, "DELETE", "/admin/v1/services/"+id, nil), 409, CodeConflict); !strings.Contains(d, rt) {
			t.Fatalf("detail %q does not name route %s", d, rt)
		}
		e.must(204, "DELETE", "/admin/v1/routes/"+rt, nil)
		e.must(204, "DELETE", "/admin/v1/services/"+id, nil)
		problemOf(t, e.do(e.root, "GET", "/admin/v1/services/"+id, nil), 404, CodeNotFound)
	})
}

func TestDeclaredObjectsAreReadOnly(t *testing.T) {
	e := newEnv(t)
	tenant := e.must(201, "POST", "/admin/v1/tenants", map[string]any{"slug": "acme"}).str(t, "id")
	ctx := context.Background()
	err := e.store.Update(ctx, func(tx storeTx) error {
		if err := tx.PutService(ctx, domain.Service{ID: "svc_declared000000001", TenantID: tenant, Name: "billing",
			Targets: []domain.Target{{URL: "http://b", Weight: 1}}, Visibility: "private", Declared: true, CreatedAt: t0, UpdatedAt: t0}); err != nil {
			return err
		}
		return tx.PutRoute(ctx, domain.Route{ID: "rte_declared000000001", ServiceID: "svc_declared000000001", Paths: []string{"/billing"},
			Auth: []string{"api_key"}, Declared: true, CreatedAt: t0, UpdatedAt: t0})
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		desc, method, path string
		body               any
	}{
		{"patch service", "PATCH", "/admin/v1/services/billing", map[string]any{"visibility": "published"}},
		{"delete service", "DELETE", "/admin/v1/services/billing", nil},
		{"patch route", "PATCH", "/admin/v1/routes/rte_declared000000001", map[string]any{"paths": []string{"/x"}}},
		{"delete route", "DELETE", "/admin/v1/routes/rte_declared000000001", nil},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			if d := problemOf(t, e.do(e.root, c.method, c.path, c.body), 409, CodeDeclared); !strings.Contains(d, "declared in gatehouse.yaml") {
				t.Fatal(d)
			}
		})
	}
	// Reading them is fine.
	e.must(200, "GET", "/admin/v1/services/billing", nil)
	e.must(200, "GET", "/admin/v1/routes/rte_declared000000001", nil)
}

func TestRoutes(t *testing.T) {
	e := newEnv(t)
	e.must(201, "POST", "/admin/v1/tenants", map[string]any{"slug": "acme"})
	svc := e.must(201, "POST", "/admin/v1/services", map[string]any{"tenant": "acme", "name": "orders", "targets": []string{"http://127.0.0.1:9"}}).str(t, "id")

	r := e.must(201, "POST", "/admin/v1/routes", map[string]any{"service": "orders", "paths": []string{"/v1/orders"},
		"methods": []string{"get", "Post", "GET"}, "hosts": []string{"API.example.com"}, "scopes": []string{"orders:read"}}).JSON(t)
	id := r["id"].(string)
	if !strings.HasPrefix(id, prefixRoute) || r["service"] != svc || fmtAny(r["auth"]) != "[api_key]" ||
		fmtAny(r["methods"]) != "[GET POST]" || fmtAny(r["hosts"]) != "[api.example.com]" {
		t.Fatalf("created %v", r)
	}
	route := func(over map[string]any) map[string]any {
		b := map[string]any{"service": svc, "paths": []string{"/x"}}
		for k, v := range over {
			b[k] = v
		}
		return b
	}
	cases := []struct {
		desc   string
		body   map[string]any
		status int
		code   string
		detail string
	}{
		{"all options", route(map[string]any{"auth": []string{"jwt", "api_key"}, "error_format": "openai", "disclosure": "minimal",
			"strip_prefix": true, "upstream_path": "/internal", "query_key": true, "max_body": 1024, "type": "ai"}), 201, "", ""},
		{"service missing", map[string]any{"paths": []string{"/x"}}, 400, CodeInvalid, "service is required"},
		{"service unknown", route(map[string]any{"service": "nope"}), 404, CodeNotFound, `service "nope" not found`},
		{"no paths", route(map[string]any{"paths": []string{}}), 400, CodeInvalid, "paths is required"},
		{"path without slash", route(map[string]any{"paths": []string{"v1/x"}}), 400, CodeInvalid, `paths[0] "v1/x" must start with "/"`},
		{"path with query", route(map[string]any{"paths": []string{"/x?y"}}), 400, CodeInvalid, "'?'"},
		{"bad method", route(map[string]any{"methods": []string{"FETCH"}}), 400, CodeInvalid, `methods[0] "FETCH" is not an HTTP method`},
		{"bad auth", route(map[string]any{"auth": []string{"apikey"}}), 400, CodeInvalid, `auth[0] "apikey" is not an auth method: use api_key, jwt`},
		{"bad error format", route(map[string]any{"error_format": "json"}), 400, CodeInvalid, `error_format "json"`},
		{"bad disclosure", route(map[string]any{"disclosure": "none"}), 400, CodeInvalid, `disclosure "none"`},
		{"bad type", route(map[string]any{"type": "grpc"}), 400, CodeInvalid, `type "grpc"`},
		{"query key without api_key", route(map[string]any{"auth": []string{"jwt"}, "query_key": true}), 400, CodeInvalid, "query_key needs"},
		{"negative max_body", route(map[string]any{"max_body": -1}), 400, CodeInvalid, "max_body"},
		{"bad host", route(map[string]any{"hosts": []string{"http://api.example.com"}}), 400, CodeInvalid, "hosts[0]"},
		{"bad upstream path", route(map[string]any{"upstream_path": "internal"}), 400, CodeInvalid, "upstream_path"},
		// Two routes serving the same requests leave the choice to the
		// router's order: the second is refused, naming the first.
		{"the same path as another route, all hosts and methods", route(nil), 409, CodeConflict, "already serves these requests (paths /x"},
		{"the same path and a method in common", route(map[string]any{"paths": []string{"/v1/orders"}, "methods": []string{"POST", "PUT"}}),
			409, CodeConflict, "route " + id + " already serves"},
		{"the same path on another method", route(map[string]any{"paths": []string{"/v1/orders"}, "methods": []string{"DELETE"}}), 201, "", ""},
		{"the same path and method on another host", route(map[string]any{"paths": []string{"/v1/orders"}, "methods": []string{"GET"},
			"hosts": []string{"other.example.com"}}), 201, "", ""},
	}
	for _, c := range cases {
		t.Run("create: "+c.desc, func(t *testing.T) {
			res := e.do(e.root, "POST", "/admin/v1/routes", c.body)
			if c.code == "" {
				if res.Status != c.status {
					t.Fatalf("status %d: %s", res.Status, res.Body)
				}
				return
			}
			if d := problemOf(t, res, c.status, c.code); !strings.Contains(d, c.detail) {
				t.Fatalf("detail %q lacks %q", d, c.detail)
			}
		})
	}
	t.Run("get, list, patch, delete", func(t *testing.T) {
		mustEq(t, e.must(200, "GET", "/admin/v1/routes/"+id, nil).str(t, "id"), id)
		if n := len(e.must(200, "GET", "/admin/v1/routes?service=orders", nil).items(t)); n != 4 {
			t.Fatalf("%d routes", n)
		}
		if d := problemOf(t, e.do(e.root, "PATCH", "/admin/v1/routes/"+id, map[string]any{"methods": []string{"delete"}}), 409, CodeConflict); !strings.Contains(d, "already serves") {
			t.Fatalf("a patch into a clash: %q", d)
		}
		p := e.must(200, "PATCH", "/admin/v1/routes/"+id, map[string]any{"methods": []string{"put"}, "auth": []string{"basic"}}).JSON(t)
		if fmtAny(p["methods"]) != "[PUT]" || fmtAny(p["auth"]) != "[basic]" || fmtAny(p["paths"]) != "[/v1/orders]" || fmtAny(p["scopes"]) != "[orders:read]" {
			t.Fatalf("patched %v", p)
		}
		problemOf(t, e.do(e.root, "PATCH", "/admin/v1/routes/"+id, map[string]any{"paths": []string{"nope"}}), 400, CodeInvalid)
		e.must(204, "DELETE", "/admin/v1/routes/"+id, nil)
		problemOf(t, e.do(e.root, "GET", "/admin/v1/routes/"+id, nil), 404, CodeNotFound)
		problemOf(t, e.do(e.root, "DELETE", "/admin/v1/routes/"+id, nil), 404, CodeNotFound)
	})
}
