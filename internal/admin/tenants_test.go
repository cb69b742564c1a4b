package admin

import (
	"net/url"
	"strings"
	"testing"
)

func TestTenants(t *testing.T) {
	e := newEnv(t)
	created := e.must(201, "POST", "/admin/v1/tenants", map[string]any{"slug": "acme", "name": "Acme Corp"}).JSON(t)
	id := created["id"].(string)
	if !strings.HasPrefix(id, prefixTenant) || len(id) != len(prefixTenant)+idRandomLen || created["status"] != "active" || created["name"] != "Acme Corp" {
		t.Fatalf("created %v", created)
	}

	cases := []struct {
		desc, method, path string
		body               any
		status             int
		code, detail       string
		check              func(t *testing.T, r resp)
	}{
		{desc: "get by id", method: "GET", path: "/admin/v1/tenants/" + id, status: 200,
			check: func(t *testing.T, r resp) { mustEq(t, r.str(t, "slug"), "acme") }},
		{desc: "get by slug", method: "GET", path: "/admin/v1/tenants/acme", status: 200,
			check: func(t *testing.T, r resp) { mustEq(t, r.str(t, "id"), id) }},
		{desc: "unknown tenant", method: "GET", path: "/admin/v1/tenants/nope", status: 404, code: CodeNotFound, detail: `tenant "nope" not found`},
		{desc: "slug taken", method: "POST", path: "/admin/v1/tenants", body: map[string]any{"slug": "acme"}, status: 409, code: CodeConflict, detail: `"acme" is already taken`},
		{desc: "slug missing", method: "POST", path: "/admin/v1/tenants", body: map[string]any{"name": "X"}, status: 400, code: CodeInvalid, detail: "slug is required"},
		{desc: "slug upper case", method: "POST", path: "/admin/v1/tenants", body: map[string]any{"slug": "Acme2"}, status: 400, code: CodeInvalid, detail: "lower-case"},
		{desc: "name defaults to slug", method: "POST", path: "/admin/v1/tenants", body: map[string]any{"slug": "globex"}, status: 201,
			check: func(t *testing.T, r resp) { mustEq(t, r.str(t, "name"), "globex") }},
		{desc: "suspend", method: "POST", path: "/admin/v1/tenants/acme/suspend", status: 200,
			check: func(t *testing.T, r resp) {
				mustEq(t, r.str(t, "status"), "suspended")
				mustEq(t, r.str(t, "suspended_at"), t0.Format("2006-01-02T15:04:05Z"))
			}},
		{desc: "suspend again is a no-op", method: "POST", path: "/admin/v1/tenants/" + id + "/suspend", status: 200,
			check: func(t *testing.T, r resp) { mustEq(t, r.str(t, "status"), "suspended") }},
		{desc: "resume", method: "POST", path: "/admin/v1/tenants/acme/resume", status: 200,
			check: func(t *testing.T, r resp) {
				mustEq(t, r.str(t, "status"), "active")
				if _, ok := r.JSON(t)["suspended_at"]; ok {
					t.Fatal("suspended_at kept after resume")
				}
			}},
		{desc: "suspend unknown", method: "POST", path: "/admin/v1/tenants/nope/suspend", status: 404, code: CodeNotFound, detail: "gatehouse tenant list"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			r := e.do(e.root, c.method, c.path, c.body)
			if c.code != "" {
				if d := problemOf(t, r, c.status, c.code); !strings.Contains(d, c.detail) {
					t.Fatalf("detail %q lacks %q", d, c.detail)
				}
				return
			}
			if r.Status != c.status {
				t.Fatalf("status %d want %d: %s", r.Status, c.status, r.Body)
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
	}
	// Changes: create acme, create globex, suspend, resume (the repeated
	// suspend changed nothing).
	if n := e.changeCount(); n != 4 {
		t.Fatalf("OnChange called %d times, want 4", n)
	}
}

func TestPagination(t *testing.T) {
	e := newEnv(t)
	want := map[string]bool{}
	for _, s := range []string{"a1", "a2", "a3", "a4", "a5"} {
		want[e.must(201, "POST", "/admin/v1/tenants", map[string]any{"slug": s}).str(t, "id")] = true
	}
	seen := map[string]bool{}
	after, pages := "", 0
	for {
		r := e.must(200, "GET", "/admin/v1/tenants?limit=2&after="+url.QueryEscape(after), nil)
		items := r.items(t)
		pages++
		if len(items) > 2 {
			t.Fatalf("page of %d items with limit 2", len(items))
		}
		for _, it := range items {
			id := it["id"].(string)
			if seen[id] {
				t.Fatalf("%s seen twice", id)
			}
			seen[id] = true
		}
		after = r.str(t, "next")
		if after == "" {
			break
		}
	}
	if len(seen) != 5 || pages != 3 {
		t.Fatalf("saw %d tenants in %d pages, want 5 in 3", len(seen), pages)
	}
	for id := range want {
		if !seen[id] {
			t.Fatalf("%s missing", id)
		}
	}
}

func mustEq(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
