package admin

import (
	"strings"
	"testing"
)

func TestConsumers(t *testing.T) {
	e := newEnv(t)
	acme := e.must(201, "POST", "/admin/v1/tenants", map[string]any{"slug": "acme"}).str(t, "id")
	e.must(201, "POST", "/admin/v1/tenants", map[string]any{"slug": "globex"})

	c := e.must(201, "POST", "/admin/v1/consumers", map[string]any{"tenant": "acme", "name": "shop-mobile",
		"scopes": []string{"orders:read", "orders:read", "orders:write"}, "ip_allow": []string{"203.0.113.0/24", "2001:db8::1"},
		"labels": map[string]string{"team": "mobile"}}).JSON(t)
	id := c["id"].(string)
	if !strings.HasPrefix(id, prefixConsumer) || c["tenant"] != acme || c["status"] != "active" || fmtAny(c["scopes"]) != "[orders:read orders:write]" {
		t.Fatalf("created %v", c)
	}

	errCases := []struct {
		desc   string
		body   map[string]any
		status int
		code   string
		detail string
	}{
		{"tenant missing", map[string]any{"name": "x"}, 400, CodeInvalid, "tenant is required"},
		{"tenant unknown", map[string]any{"tenant": "initech", "name": "x"}, 404, CodeNotFound, `tenant "initech" not found`},
		{"name missing", map[string]any{"tenant": "acme"}, 400, CodeInvalid, "name is required"},
		{"name with a space", map[string]any{"tenant": "acme", "name": "shop mobile"}, 400, CodeInvalid, `"shop mobile"`},
		{"name like an id", map[string]any{"tenant": "acme", "name": "con_abc"}, 400, CodeInvalid, "generated id"},
		{"name taken in tenant", map[string]any{"tenant": "acme", "name": "shop-mobile"}, 409, CodeConflict, `"shop-mobile" already exists in tenant acme`},
		{"bad IP", map[string]any{"tenant": "acme", "name": "x", "ip_allow": []string{"10.0.0.300"}}, 400, CodeInvalid, `ip_allow[0] "10.0.0.300"`},
		{"prefix with host bits", map[string]any{"tenant": "acme", "name": "x", "ip_allow": []string{"10.0.0.1/24"}}, 400, CodeInvalid, `did you mean "10.0.0.0/24"`},
		{"bad scope", map[string]any{"tenant": "acme", "name": "x", "scopes": []string{"orders read"}}, 400, CodeInvalid, `scopes[0] "orders read"`},
		{"bad label", map[string]any{"tenant": "acme", "name": "x", "labels": map[string]string{"bad key": "v"}}, 400, CodeInvalid, `label key "bad key"`},
	}
	for _, c := range errCases {
		t.Run("create: "+c.desc, func(t *testing.T) {
			r := e.do(e.root, "POST", "/admin/v1/consumers", c.body)
			if d := problemOf(t, r, c.status, c.code); !strings.Contains(d, c.detail) {
				t.Fatalf("detail %q lacks %q", d, c.detail)
			}
		})
	}

	// The same name in another tenant makes the bare name ambiguous.
	other := e.must(201, "POST", "/admin/v1/consumers", map[string]any{"tenant": "globex", "name": "shop-mobile"}).str(t, "id")
	refCases := []struct {
		desc, ref string
		status    int
		wantID    string
		detail    string
	}{
		{"by id", id, 200, id, ""},
		{"by tenant/name", "acme%2Fshop-mobile", 200, id, ""},
		{"by tenant id/name", acme + "%2Fshop-mobile", 200, id, ""},
		{"other tenant/name", "globex%2Fshop-mobile", 200, other, ""},
		{"ambiguous name", "shop-mobile", 409, "", "acme/shop-mobile or globex/shop-mobile"},
		{"unknown name", "shop-mobil", 404, "", "gatehouse consumer list"},
		{"unknown in tenant", "acme%2Fshop-mobil", 404, "", `consumer "shop-mobil" not found in tenant acme; list them with gatehouse consumer list --tenant acme`},
	}
	for _, c := range refCases {
		t.Run("reference: "+c.desc, func(t *testing.T) {
			r := e.do(e.root, "GET", "/admin/v1/consumers/"+c.ref, nil)
			if c.status != 200 {
				code := CodeNotFound
				if c.status == 409 {
					code = CodeAmbiguous
				}
				if d := problemOf(t, r, c.status, code); !strings.Contains(d, c.detail) {
					t.Fatalf("detail %q lacks %q", d, c.detail)
				}
				if c.status == 409 && fmtAny(r.JSON(t)["candidates"]) != "[acme/shop-mobile globex/shop-mobile]" {
					t.Fatalf("candidates %v", r.JSON(t)["candidates"])
				}
				return
			}
			mustEq(t, r.str(t, "id"), c.wantID)
		})
	}

	t.Run("list filters", func(t *testing.T) {
		if n := len(e.must(200, "GET", "/admin/v1/consumers?tenant=acme", nil).items(t)); n != 1 {
			t.Fatalf("acme has %d consumers, want 1", n)
		}
		if n := len(e.must(200, "GET", "/admin/v1/consumers?name=shop-mobile", nil).items(t)); n != 2 {
			t.Fatalf("%d consumers named shop-mobile, want 2", n)
		}
		problemOf(t, e.do(e.root, "GET", "/admin/v1/consumers?tenant=nope", nil), 404, CodeNotFound)
	})

	t.Run("patch", func(t *testing.T) {
		r := e.must(200, "PATCH", "/admin/v1/consumers/"+id, map[string]any{"scopes": []string{"orders:read", "orders:write", "refunds"},
			"labels": map[string]string{"cost-center": "42"}}).JSON(t)
		if fmtAny(r["scopes"]) != "[orders:read orders:write refunds]" || fmtAny(r["labels"]) != "map[cost-center:42]" || r["name"] != "shop-mobile" {
			t.Fatalf("patched %v", r)
		}
		problemOf(t, e.do(e.root, "PATCH", "/admin/v1/consumers/"+id, map[string]any{"tenant": "globex"}), 400, CodeInvalid)
		// A scope a live key holds cannot be taken away.
		k := e.must(201, "POST", "/admin/v1/keys", map[string]any{"consumer": id, "scopes": []string{"refunds"}}).str(t, "id")
		d := problemOf(t, e.do(e.root, "PATCH", "/admin/v1/consumers/"+id, map[string]any{"scopes": []string{"orders:read"}}), 409, CodeConflict)
		if !strings.Contains(d, k) || !strings.Contains(d, "refunds") {
			t.Fatalf("detail %q should name key %s and scope refunds", d, k)
		}
		e.must(200, "POST", "/admin/v1/keys/"+k+"/revoke", map[string]any{"reason": "narrowing"})
		e.must(200, "PATCH", "/admin/v1/consumers/"+id, map[string]any{"scopes": []string{"orders:read", "orders:write"}})
	})

	t.Run("suspend, resume, delete", func(t *testing.T) {
		key := e.must(201, "POST", "/admin/v1/keys", map[string]any{"consumer": "acme/shop-mobile"}).str(t, "id")
		mustEq(t, e.must(200, "POST", "/admin/v1/consumers/"+id+"/suspend", nil).str(t, "status"), "suspended")
		mustEq(t, e.must(200, "POST", "/admin/v1/consumers/"+id+"/resume", nil).str(t, "status"), "active")
		before := e.changeCount()
		e.must(204, "DELETE", "/admin/v1/consumers/"+id, nil)
		if e.changeCount() != before+1 {
			t.Fatal("delete did not call OnChange once")
		}
		got := e.must(200, "GET", "/admin/v1/consumers/"+id, nil).JSON(t)
		if got["status"] != "deleted" || got["deleted_at"] != "2026-11-20T10:00:00Z" {
			t.Fatalf("deleted consumer %v", got)
		}
		// Its keys stay, so the gateway can answer consumer.deleted.
		e.must(200, "GET", "/admin/v1/keys/"+key, nil)
		e.must(204, "DELETE", "/admin/v1/consumers/"+id, nil) // again: no-op
		if e.changeCount() != before+1 {
			t.Fatal("repeated delete changed something")
		}
		problemOf(t, e.do(e.root, "POST", "/admin/v1/consumers/"+id+"/resume", nil), 409, CodeConflict)
		problemOf(t, e.do(e.root, "POST", "/admin/v1/keys", map[string]any{"consumer": id}), 409, CodeConflict)
		// The name is free again and now resolves to the live consumer.
		fresh := e.must(201, "POST", "/admin/v1/consumers", map[string]any{"tenant": "acme", "name": "shop-mobile"}).str(t, "id")
		mustEq(t, e.must(200, "GET", "/admin/v1/consumers/acme%2Fshop-mobile", nil).str(t, "id"), fresh)
	})
}
