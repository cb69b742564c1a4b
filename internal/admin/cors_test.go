package admin

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRouteCORS(t *testing.T) {
	e := newEnv(t)
	f := e.fixture("acme")
	cases := []struct {
		desc    string
		methods []string // the route's methods
		cors    any
		status  int
		want    string // the stored policy as JSON, or a detail fragment
	}{
		{"exact origins normalised: lower case, default port dropped", nil,
			map[string]any{"allowed_origins": []string{"HTTPS://App.Example.com:443", "http://localhost:3000", "http://localhost:3000"}}, 201,
			`{"allowed_origins":["https://app.example.com","http://localhost:3000"]}`},
		{"every field", []string{"GET", "POST"},
			map[string]any{"allowed_origins": []string{"https://*.example.com", "http://[::1]:8080"}, "allowed_methods": []string{"get"},
				"allowed_headers": []string{"Content-Type", "X-Trace"}, "exposed_headers": []string{"X-Total-Count"},
				"allow_credentials": true, "max_age": "10m"}, 201,
			`{"allowed_origins":["https://*.example.com","http://[::1]:8080"],"allowed_methods":["GET"],"allowed_headers":["content-type","x-trace"],` +
				`"exposed_headers":["X-Total-Count"],"allow_credentials":true,"max_age":"10m0s"}`},
		{"any origin", nil, map[string]any{"allowed_origins": []string{"*"}, "allowed_headers": []string{"*"}, "exposed_headers": []string{"*"}}, 201,
			`{"allowed_origins":["*"],"allowed_headers":["*"],"exposed_headers":["*"]}`},
		{"no origins", nil, map[string]any{"allowed_methods": []string{"GET"}}, 400, "cors.allowed_origins is required"},
		{"* with credentials: browsers refuse it", nil, map[string]any{"allowed_origins": []string{"*"}, "allow_credentials": true}, 400,
			"cors.allow_credentials cannot be true with the \"*\" origin: browsers refuse"},
		{"* next to other origins", nil, map[string]any{"allowed_origins": []string{"*", "https://a.example"}}, 400,
			"\"*\" already allows every origin"},
		{"a trailing slash: the fix is named", nil, map[string]any{"allowed_origins": []string{"https://app.example.com/"}}, 400,
			`cors.allowed_origins[0] "https://app.example.com/" has a path: an origin is scheme://host[:port] only, without a trailing slash; write "https://app.example.com"`},
		{"a path", nil, map[string]any{"allowed_origins": []string{"https://a.example", "https://app.example.com/v1"}}, 400,
			`cors.allowed_origins[1] "https://app.example.com/v1" has a path`},
		{"no scheme", nil, map[string]any{"allowed_origins": []string{"app.example.com"}}, 400,
			`cors.allowed_origins[0] "app.example.com" is not an origin: write scheme://host[:port]`},
		{"the null origin", nil, map[string]any{"allowed_origins": []string{"null"}}, 400, `cors.allowed_origins[0] "null" is refused`},
		{"a pattern over a top-level domain", nil, map[string]any{"allowed_origins": []string{"https://*.com"}}, 400,
			"a subdomain pattern needs a domain of at least two labels"},
		{"a star inside a label", nil, map[string]any{"allowed_origins": []string{"https://app-*.example.com"}}, 400,
			`only a leading "*." label is a pattern`},
		{"user information", nil, map[string]any{"allowed_origins": []string{"https://u@app.example.com"}}, 400, "has user information"},
		{"a bad port", nil, map[string]any{"allowed_origins": []string{"https://app.example.com:99999"}}, 400,
			"the port must be a number from 1 to 65535"},
		{"not a host name", nil, map[string]any{"allowed_origins": []string{"https://app_example.com"}}, 400, "is not a host name"},
		{"not an HTTP method", nil, map[string]any{"allowed_origins": []string{"*"}, "allowed_methods": []string{"FETCH"}}, 400,
			`cors.allowed_methods[0] "FETCH" is not an HTTP method`},
		{"a method the route does not serve", []string{"GET"}, map[string]any{"allowed_origins": []string{"*"}, "allowed_methods": []string{"DELETE"}}, 400,
			`cors.allowed_methods[0] "DELETE" is not one of the route's methods (GET)`},
		{"a header name with a space", nil, map[string]any{"allowed_origins": []string{"*"}, "allowed_headers": []string{"x trace"}}, 400,
			`cors.allowed_headers[0] "x trace" is not a header name`},
		{"exposed * with credentials", nil, map[string]any{"allowed_origins": []string{"https://a.example"}, "allow_credentials": true,
			"exposed_headers": []string{"*"}}, 400, `cors.exposed_headers[0] "*" does not work with allow_credentials`},
		{"max age beyond what browsers honour", nil, map[string]any{"allowed_origins": []string{"*"}, "max_age": "48h"}, 400,
			`cors.max_age "48h" must be from 0 to 24h`},
		{"max age in fractions of a second", nil, map[string]any{"allowed_origins": []string{"*"}, "max_age": "1.5s"}, 400,
			`cors.max_age "1.5s" must be whole seconds`},
		{"max age as a number", nil, map[string]any{"allowed_origins": []string{"*"}, "max_age": 600}, 400, `"cors.max_age" must be a string`},
		{"unknown member", nil, map[string]any{"allowed_origins": []string{"*"}, "origins": []string{"*"}}, 400, `unknown field "origins"`},
	}
	for i, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			r := e.do(e.root, "POST", "/admin/v1/routes", map[string]any{"service": f.serviceID, "paths": []string{"/cors" + string(rune('a'+i))},
				"methods": c.methods, "cors": c.cors})
			if c.status != 201 {
				if d := problemOf(t, r, 400, CodeInvalid); !strings.Contains(d, c.want) {
					t.Fatalf("detail %q lacks %q", d, c.want)
				}
				return
			}
			if r.Status != 201 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			var rt struct {
				ID   string          `json:"id"`
				CORS json.RawMessage `json:"cors"`
			}
			_ = json.Unmarshal(r.Body, &rt)
			if string(rt.CORS) != c.want {
				t.Fatalf("cors %s, want %s", rt.CORS, c.want)
			}
			// What the store kept is what the answer said.
			var got struct {
				CORS json.RawMessage `json:"cors"`
			}
			_ = json.Unmarshal(e.must(200, "GET", "/admin/v1/routes/"+rt.ID, nil).Body, &got)
			if string(got.CORS) != c.want {
				t.Fatalf("GET: cors %s, want %s", got.CORS, c.want)
			}
		})
	}
	t.Run("PATCH merges into the policy, keeps it unless named, null removes it", func(t *testing.T) {
		id := e.must(201, "POST", "/admin/v1/routes", map[string]any{"service": f.serviceID, "paths": []string{"/cors-patch"},
			"cors": map[string]any{"allowed_origins": []string{"https://a.example"}, "max_age": "1h"}}).str(t, "id")
		if c := e.must(200, "PATCH", "/admin/v1/routes/"+id, map[string]any{"scopes": []string{"x"}}).JSON(t)["cors"]; c == nil {
			t.Fatal("an unrelated PATCH dropped the CORS policy")
		}
		c := e.must(200, "PATCH", "/admin/v1/routes/"+id, map[string]any{"cors": map[string]any{"allowed_origins": []string{"https://b.example"}}}).JSON(t)["cors"]
		if b, _ := json.Marshal(c); string(b) != `{"allowed_origins":["https://b.example"],"max_age":"1h0m0s"}` {
			t.Fatalf("cors after a PATCH of its origins: %s", b)
		}
		r := e.do(e.root, "PATCH", "/admin/v1/routes/"+id, map[string]any{"cors": map[string]any{"allow_credentials": true, "allowed_origins": []string{"*"}}})
		problemOf(t, r, 400, CodeInvalid)
		if c := e.must(200, "PATCH", "/admin/v1/routes/"+id, `{"cors":null}`).JSON(t)["cors"]; c != nil {
			t.Fatalf("cors %v after null", c)
		}
	})
	t.Run("the OpenAPI document describes cors", func(t *testing.T) {
		doc := string(e.must(200, "GET", "/admin/v1/openapi.json", nil).Body)
		for _, s := range []string{`"cors"`, `"allowed_origins"`, `"allow_credentials"`, `"max_age"`, `"exposed_headers"`} {
			if !strings.Contains(doc, s) {
				t.Errorf("openapi.json lacks %s", s)
			}
		}
	})
}
