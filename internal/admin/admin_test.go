package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlite"
)

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		desc   string
		header []string
		want   int
		detail string
	}{
		{"no Authorization header", nil, 401, "no admin token"},
		{"empty header", []string{""}, 401, "no admin token"},
		{"Basic scheme", []string{"Basic dXNlcjpwYXNz"}, 401, "Bearer scheme"},
		{"Bearer without token", []string{"Bearer "}, 401, "empty"},
		{"quoted token", []string{`Bearer "` + e.root + `"`}, 401, "quotes"},
		{"unknown token", []string{"Bearer gha_notarealtoken000000000000000000000000000"}, 401, "not recognised"},
		{"two headers", []string{"Bearer " + e.root, "Bearer " + e.root}, 401, "more than one"},
		{"valid token", []string{"Bearer " + e.root}, 200, ""},
		{"scheme is case-insensitive", []string{"bearer " + e.root}, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			req, _ := http.NewRequest("GET", e.srv.URL+"/admin/v1/tenants", nil)
			for _, h := range c.header {
				req.Header.Add("Authorization", h)
			}
			res, err := e.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(res.Body).Decode(&body)
			if res.StatusCode != c.want {
				t.Fatalf("status %d, want %d: %v", res.StatusCode, c.want, body)
			}
			if c.want != 401 {
				return
			}
			if res.Header.Get("Content-Type") != "application/problem+json" || body["code"] != CodeUnauthorized {
				t.Fatalf("not an admin.unauthorized problem: %v %v", res.Header, body)
			}
			if !strings.Contains(body["detail"].(string), c.detail) {
				t.Fatalf("detail %q does not say %q", body["detail"], c.detail)
			}
			if res.Header.Get("WWW-Authenticate") != `Bearer realm="gatehouse-admin"` {
				t.Fatalf("WWW-Authenticate %q", res.Header.Get("WWW-Authenticate"))
			}
			if strings.Contains(body["detail"].(string), e.root) {
				t.Fatal("the token is echoed in the error")
			}
		})
	}
}

func TestRoutingErrors(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		desc, method, path string
		body               any
		status             int
		code               string
		detail             string
	}{
		{"unknown path", "GET", "/admin/v1/nothing-here", nil, 404, CodeNotFound, "openapi.json"},
		{"method not allowed", "DELETE", "/admin/v1/tenants", nil, 405, CodeMethodNotAllowed, "use GET or POST"},
		{"unknown query parameter", "GET", "/admin/v1/keys?consumr=x", nil, 400, CodeInvalid, `"consumr"`},
		{"bad limit", "GET", "/admin/v1/tenants?limit=0", nil, 400, CodeInvalid, "limit"},
		{"bad cursor", "GET", "/admin/v1/audit?after=zz", nil, 400, CodeInvalid, "cursor"},
		{"empty body", "POST", "/admin/v1/tenants", "", 400, CodeInvalid, "body is empty"},
		{"invalid JSON", "POST", "/admin/v1/tenants", `{"slug":`, 400, CodeInvalid, "JSON"},
		{"unknown field", "POST", "/admin/v1/tenants", `{"slug":"a","nmae":"A"}`, 400, CodeInvalid, `"nmae"`},
		{"wrong type names the field", "POST", "/admin/v1/consumers", `{"tenant":"a","name":"b","scopes":"orders:read"}`, 400, CodeInvalid, `"scopes" must be an array of strings`},
		{"two objects", "POST", "/admin/v1/tenants", `{"slug":"a"}{"slug":"b"}`, 400, CodeInvalid, "after its JSON object"},
		{"too large", "POST", "/admin/v1/tenants", `{"slug":"` + strings.Repeat("a", maxBodyBytes) + `"}`, 413, CodeTooLarge, "larger than"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			r := e.do(e.root, c.method, c.path, c.body)
			d := problemOf(t, r, c.status, c.code)
			if !strings.Contains(d, c.detail) {
				t.Fatalf("detail %q does not contain %q", d, c.detail)
			}
			if c.status == 405 && r.Header.Get("Allow") != "GET, POST" {
				t.Fatalf("Allow %q", r.Header.Get("Allow"))
			}
		})
	}
}

func TestOpenAPIDocumentCoversEveryRoute(t *testing.T) {
	e := newEnv(t)
	r := e.do("", "GET", "/admin/v1/openapi.json", nil) // public: no token
	if r.Status != 200 || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("openapi.json: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatalf("document is not JSON: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	api := New(Config{Store: e.store})
	ops := map[string]bool{}
	documented := 0
	for _, ep := range api.endpoints {
		t.Run(ep.Method+" "+ep.Path, func(t *testing.T) {
			op, ok := doc.Paths[ep.Path][strings.ToLower(ep.Method)]
			if !ok {
				t.Fatalf("%s %s is served but not documented", ep.Method, ep.Path)
			}
			id, _ := op["operationId"].(string)
			if id == "" || ops[id] {
				t.Fatalf("operationId %q missing or duplicated", id)
			}
			ops[id] = true
			// The route is really served: a request to it is not the
			// mux's "no endpoint" answer.
			path := strings.ReplaceAll(ep.Path, "{id}", "x-missing")
			res := e.do(e.root, ep.Method, path, nil)
			if res.Status == 405 || (res.Status == 404 && strings.Contains(string(res.Body), "no admin API endpoint")) {
				t.Fatalf("%s %s is documented but not served: %d %s", ep.Method, path, res.Status, res.Body)
			}
		})
		documented++
	}
	n := 0
	for _, methods := range doc.Paths {
		n += len(methods)
	}
	if n != documented {
		t.Fatalf("document has %d operations, route table %d", n, documented)
	}
	// Every $ref resolves.
	for _, ref := range regexp.MustCompile(`"\$ref":\s*"([^"]+)"`).FindAllStringSubmatch(string(r.Body), -1) {
		name, ok := strings.CutPrefix(ref[1], "#/components/schemas/")
		if !ok {
			if ref[1] != "#/components/responses/Problem" {
				t.Errorf("unexpected $ref %s", ref[1])
			}
			continue
		}
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("$ref %s does not resolve", ref[1])
		}
	}
	for _, want := range []string{"KeyCreated", "KeyRequest", "Tenant", "Problem", "ServiceRequestPatch"} {
		if _, ok := doc.Components.Schemas[want]; !ok {
			t.Errorf("schema %s missing", want)
		}
	}
}

func TestStatus(t *testing.T) {
	e := newEnv(t)
	r := e.must(200, "GET", "/admin/v1/status", nil).JSON(t)
	if r["version"] != "test-1" || r["environment"] != "live" || r["store_version"] == nil {
		t.Fatalf("status: %v", r)
	}
	if cl, _ := r["calllog"].(map[string]any); cl["written"] != float64(7) {
		t.Fatalf("runtime status not merged: %v", r)
	}
}

func TestBootstrap(t *testing.T) {
	ctx := context.Background()
	const envTok = "env-admin-token-0123456789"
	open := func(t *testing.T) (*sqlite.Store, string) {
		path := filepath.Join(t.TempDir(), "g.db")
		st, err := sqlite.Open(ctx, "sqlite://"+path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st, path
	}
	admins := func(t *testing.T, st store.Store) []domain.Admin {
		items, _, err := st.ListAdmins(ctx, store.ListFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return items
	}
	works := func(t *testing.T, st store.Store, token string) bool {
		a, err := st.AdminByTokenHash(ctx, hashToken(token))
		return err == nil && a.Role == domain.RoleAdmin
	}
	cases := []struct {
		desc string
		run  func(t *testing.T, st *sqlite.Store, path string)
	}{
		{"empty store, no env token: a token is generated, printed once, stored as hash", func(t *testing.T, st *sqlite.Store, path string) {
			tok, err := Bootstrap(ctx, st, "")
			if err != nil || !strings.HasPrefix(tok, tokenPrefix) || len(tok) != len(tokenPrefix)+tokenRandomLen {
				t.Fatalf("generated %q, %v", tok, err)
			}
			if !works(t, st, tok) || len(admins(t, st)) != 1 {
				t.Fatal("generated token does not authenticate one admin")
			}
			st.Close()
			raw, _ := os.ReadFile(path)
			wal, _ := os.ReadFile(path + "-wal")
			if strings.Contains(string(raw)+string(wal), tok) {
				t.Fatal("the token itself is in the database")
			}
			st2, err := sqlite.Open(ctx, "sqlite://"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer st2.Close()
			again, err := Bootstrap(ctx, st2, "")
			if err != nil || again != "" || len(admins(t, st2)) != 1 {
				t.Fatalf("second start generated %q (%v) or added an admin", again, err)
			}
		}},
		{"empty store, env token: it becomes the admin, nothing is generated", func(t *testing.T, st *sqlite.Store, _ string) {
			tok, err := Bootstrap(ctx, st, envTok)
			if err != nil || tok != "" || !works(t, st, envTok) || len(admins(t, st)) != 1 {
				t.Fatalf("got %q %v", tok, err)
			}
		}},
		{"admins exist, new env token: added as another admin, once", func(t *testing.T, st *sqlite.Store, _ string) {
			first, _ := Bootstrap(ctx, st, "")
			for range 2 {
				if tok, err := Bootstrap(ctx, st, envTok); err != nil || tok != "" {
					t.Fatalf("got %q %v", tok, err)
				}
			}
			if !works(t, st, first) || !works(t, st, envTok) || len(admins(t, st)) != 2 {
				t.Fatalf("want both tokens working and 2 admins, have %d", len(admins(t, st)))
			}
		}},
		{"short env token is refused", func(t *testing.T, st *sqlite.Store, _ string) {
			if _, err := Bootstrap(ctx, st, "short"); err == nil || !strings.Contains(err.Error(), "16 characters") {
				t.Fatalf("err %v", err)
			}
			if len(admins(t, st)) != 0 {
				t.Fatal("an admin was stored")
			}
		}},
		{"bootstrap is audited without the token", func(t *testing.T, st *sqlite.Store, _ string) {
			tok, _ := Bootstrap(ctx, st, "")
			items, _, _ := st.ListAudit(ctx, store.ListFilter{})
			if len(items) != 1 || items[0].Action != "admin.bootstrap" {
				t.Fatalf("audit %v", items)
			}
			b, _ := json.Marshal(items)
			if strings.Contains(string(b), tok) || strings.Contains(string(b), hashToken(tok)) {
				t.Fatal("audit holds the token or its hash")
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			st, path := open(t)
			c.run(t, st, path)
		})
	}
}
