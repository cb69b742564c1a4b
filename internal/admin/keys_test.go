package admin

import (
	"context"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/keys"
)

func TestKeyCreate(t *testing.T) {
	e := newEnv(t)
	f := e.fixture("acme")

	t.Run("the key is shown once and stored as its hash", func(t *testing.T) {
		r := e.must(201, "POST", "/admin/v1/keys", map[string]any{"consumer": "acme/app", "scopes": []string{"orders:read"},
			"name": "ci", "ip_allow": []string{"198.51.100.7"}})
		k := r.JSON(t)
		full := k["key"].(string)
		p, perr := keys.Parse(full, "live")
		if perr != nil || p.ID != k["id"] || k["environment"] != "live" || k["status"] != "active" || k["consumer"] != f.consumerID {
			t.Fatalf("created %v (parse %v)", k, perr)
		}
		if fmtAny(k["scopes"]) != "[orders:read]" || k["last4"] != full[len(full)-4:] {
			t.Fatalf("created %v", k)
		}
		stored, err := getKey(e, p.ID)
		if err != nil || stored.Hash != keys.Hash(full) {
			t.Fatalf("stored hash %q, want sha256 of the key (%v)", stored.Hash, err)
		}
		for _, path := range []string{"/admin/v1/keys/" + p.ID, "/admin/v1/keys?consumer=" + f.consumerID, "/admin/v1/keys"} {
			body := string(e.must(200, "GET", path, nil).Body)
			if strings.Contains(body, full) || strings.Contains(body, stored.Hash) || strings.Contains(body, `"key"`) {
				t.Fatalf("GET %s shows the key or its hash: %s", path, body)
			}
		}
	})

	cases := []struct {
		desc   string
		body   map[string]any
		status int
		detail string
		check  func(t *testing.T, k map[string]any)
	}{
		{desc: "scopes default to the consumer's", body: map[string]any{"consumer": f.consumerID}, status: 201,
			check: func(t *testing.T, k map[string]any) { mustEq(t, fmtAny(k["scopes"]), "[orders:read orders:write]") }},
		{desc: "empty scopes stay empty", body: map[string]any{"consumer": f.consumerID, "scopes": []string{}}, status: 201,
			check: func(t *testing.T, k map[string]any) { mustEq(t, fmtAny(k["scopes"]), "[]") }},
		{desc: "scopes beyond the consumer's are refused, naming them", body: map[string]any{"consumer": f.consumerID,
			"scopes": []string{"orders:read", "admin", "refunds"}}, status: 400,
			detail: "scopes admin, refunds are not granted to consumer app (it has only orders:read, orders:write)"},
		{desc: "test environment", body: map[string]any{"consumer": f.consumerID, "environment": "test"}, status: 201,
			check: func(t *testing.T, k map[string]any) {
				if !strings.HasPrefix(k["key"].(string), "gk_test_") || k["environment"] != "test" {
					t.Fatalf("%v", k)
				}
			}},
		{desc: "unknown environment", body: map[string]any{"consumer": f.consumerID, "environment": "prod"}, status: 400, detail: `environment "prod" is not one of "live", "test"`},
		{desc: "expires_in in days", body: map[string]any{"consumer": f.consumerID, "expires_in": "90d"}, status: 201,
			check: func(t *testing.T, k map[string]any) {
				mustEq(t, k["expires_at"].(string), t0.Add(90*24*time.Hour).Format(time.RFC3339))
			}},
		{desc: "expires_at", body: map[string]any{"consumer": f.consumerID, "expires_at": "2027-01-31T00:00:00Z"}, status: 201,
			check: func(t *testing.T, k map[string]any) { mustEq(t, k["expires_at"].(string), "2027-01-31T00:00:00Z") }},
		{desc: "no expiry is null", body: map[string]any{"consumer": f.consumerID}, status: 201,
			check: func(t *testing.T, k map[string]any) {
				if v, ok := k["expires_at"]; !ok || v != nil {
					t.Fatalf("expires_at %v", v)
				}
			}},
		{desc: "expires_at in the past", body: map[string]any{"consumer": f.consumerID, "expires_at": "2020-01-01T00:00:00Z"}, status: 400, detail: "not in the future"},
		{desc: "both expiries", body: map[string]any{"consumer": f.consumerID, "expires_at": "2027-01-01T00:00:00Z", "expires_in": "1d"}, status: 400, detail: "not both"},
		{desc: "bad expires_in", body: map[string]any{"consumer": f.consumerID, "expires_in": "ninety days"}, status: 400, detail: "expires_in"},
		{desc: "consumer missing", body: map[string]any{}, status: 400, detail: "consumer is required"},
		{desc: "consumer unknown", body: map[string]any{"consumer": "acme/nobody"}, status: 404, detail: `consumer "nobody" not found in tenant acme`},
		{desc: "bad ip_allow", body: map[string]any{"consumer": f.consumerID, "ip_allow": []string{"localhost"}}, status: 400, detail: `ip_allow[0] "localhost"`},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			r := e.do(e.root, "POST", "/admin/v1/keys", c.body)
			if c.status != 201 {
				code := CodeInvalid
				if c.status == 404 {
					code = CodeNotFound
				}
				if d := problemOf(t, r, c.status, code); !strings.Contains(d, c.detail) {
					t.Fatalf("detail %q lacks %q", d, c.detail)
				}
				return
			}
			if r.Status != 201 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			c.check(t, r.JSON(t))
		})
	}

	t.Run("a whole key in the URL is refused", func(t *testing.T) {
		problemOf(t, e.do(e.root, "GET", "/admin/v1/keys/"+f.key, nil), 400, CodeInvalid)
	})
	t.Run("unknown key id", func(t *testing.T) {
		if d := problemOf(t, e.do(e.root, "GET", "/admin/v1/keys/AAAAAAAAAAAA", nil), 404, CodeNotFound); !strings.Contains(d, "gatehouse key list") {
			t.Fatal(d)
		}
	})
}

func TestKeyRevoke(t *testing.T) {
	e := newEnv(t)
	f := e.fixture("acme")
	path := "/admin/v1/keys/" + f.keyID + "/revoke"
	cases := []struct {
		desc   string
		body   any
		status int
		code   string
		detail string
	}{
		{"no body", nil, 400, CodeInvalid, "reason is required"},
		{"empty reason", map[string]any{"reason": "  "}, 400, CodeInvalid, "reason is required"},
		{"multi-line reason", map[string]any{"reason": "a\nb"}, 400, CodeInvalid, "one line"},
		{"revoked", map[string]any{"reason": "compromised"}, 200, "", ""},
		{"revoked twice", map[string]any{"reason": "again"}, 409, CodeConflict, "already revoked at 2026-11-20T10:00:00Z (compromised)"},
		{"unknown key", nil, 404, CodeNotFound, "not found"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			p := path
			if c.status == 404 {
				p = "/admin/v1/keys/AAAAAAAAAAAA/revoke"
				c.body = map[string]any{"reason": "x"}
			}
			r := e.do(e.root, "POST", p, c.body)
			if c.code != "" {
				if d := problemOf(t, r, c.status, c.code); !strings.Contains(d, c.detail) {
					t.Fatalf("detail %q lacks %q", d, c.detail)
				}
				return
			}
			k := r.JSON(t)
			if r.Status != 200 || k["status"] != "revoked" || k["revoked_reason"] != "compromised" || k["revoked_at"] != "2026-11-20T10:00:00Z" {
				t.Fatalf("%d %v", r.Status, k)
			}
		})
	}
}

func TestKeyRotate(t *testing.T) {
	e := newEnv(t)
	f := e.fixture("acme")
	exp := e.must(201, "POST", "/admin/v1/keys", map[string]any{"consumer": f.consumerID, "expires_in": "30d", "scopes": []string{"orders:read"}}).str(t, "id")

	t.Run("default grace is 24h and the successor is shown once", func(t *testing.T) {
		r := e.must(201, "POST", "/admin/v1/keys/"+f.keyID+"/rotate", nil).JSON(t)
		succ, full := r["id"].(string), r["key"].(string)
		if r["predecessor"] != f.keyID || !strings.HasPrefix(full, "gk_live_"+succ+"_") || r["status"] != "active" {
			t.Fatalf("successor %v", r)
		}
		old := e.must(200, "GET", "/admin/v1/keys/"+f.keyID, nil).JSON(t)
		if old["successor"] != succ || old["grace_until"] != t0.Add(24*time.Hour).Format(time.RFC3339) || old["status"] != "rotating" {
			t.Fatalf("old key %v", old)
		}
		e.clock.Advance(25 * time.Hour)
		defer e.clock.Set(t0)
		mustEq(t, e.must(200, "GET", "/admin/v1/keys/"+f.keyID, nil).str(t, "status"), "rotated")
	})
	t.Run("explicit grace in days; the successor keeps scopes and lifetime", func(t *testing.T) {
		r := e.must(201, "POST", "/admin/v1/keys/"+exp+"/rotate", map[string]any{"grace": "2d"}).JSON(t)
		if fmtAny(r["scopes"]) != "[orders:read]" || r["expires_at"] != t0.Add(30*24*time.Hour).Format(time.RFC3339) {
			t.Fatalf("successor %v", r)
		}
		mustEq(t, e.must(200, "GET", "/admin/v1/keys/"+exp, nil).str(t, "grace_until"), t0.Add(48*time.Hour).Format(time.RFC3339))
	})
	errCases := []struct {
		desc, id string
		body     any
		status   int
		detail   string
	}{
		{"already rotated", f.keyID, nil, 409, "already rotated to"},
		{"bad grace", f.keyID, map[string]any{"grace": "soon"}, 400, "grace"},
		{"negative grace", f.keyID, map[string]any{"grace": "-1h"}, 400, "between 0s and 365d"},
		{"unknown key", "AAAAAAAAAAAA", nil, 404, "not found"},
	}
	for _, c := range errCases {
		t.Run(c.desc, func(t *testing.T) {
			code := map[int]string{400: CodeInvalid, 404: CodeNotFound, 409: CodeConflict}[c.status]
			if d := problemOf(t, e.do(e.root, "POST", "/admin/v1/keys/"+c.id+"/rotate", c.body), c.status, code); !strings.Contains(d, c.detail) {
				t.Fatalf("detail %q lacks %q", d, c.detail)
			}
		})
	}
	t.Run("a whole key where its id belongs is refused, named by its id only", func(t *testing.T) {
		secret := f.key[21:]
		for _, path := range []string{"/admin/v1/keys/" + f.key, "/admin/v1/keys/" + f.key + "/revoke", "/admin/v1/nowhere/" + f.key} {
			r := e.do(e.root, "POST", path, map[string]any{"reason": "leaked"})
			d := problemOf(t, r, 400, CodeInvalid)
			if !strings.Contains(d, "whole API key") || !strings.Contains(d, f.keyID) {
				t.Errorf("%s: detail %q does not name the mistake and the id", path[:20], d)
			}
			if strings.Contains(string(r.Body), secret) {
				t.Errorf("%s: the answer echoes the key's secret: %s", path[:20], r.Body)
			}
		}
		if got := e.must(200, "GET", "/admin/v1/keys/"+f.keyID, nil).str(t, "status"); got == "revoked" {
			t.Error("the refused request revoked the key")
		}
		// A key-like value whose id cannot be read, where a key id
		// belongs: refused alike, echoed nowhere.
		mangled := "gk_live_" + strings.Repeat("!", 12) + f.key[20:]
		r := e.do(e.root, "GET", "/admin/v1/keys/"+mangled, nil)
		problemOf(t, r, 400, CodeInvalid)
		if strings.Contains(string(r.Body), secret) {
			t.Errorf("the answer echoes the secret: %s", r.Body)
		}
	})
	t.Run("a name that merely starts like a key is not taken for one", func(t *testing.T) {
		e.must(201, "POST", "/admin/v1/tenants", map[string]any{"slug": "gk-payments-integration-team"})
		e.must(200, "GET", "/admin/v1/tenants/gk-payments-integration-team", nil)
	})
	t.Run("a revoked key cannot be rotated", func(t *testing.T) {
		k := e.must(201, "POST", "/admin/v1/keys", map[string]any{"consumer": f.consumerID}).str(t, "id")
		e.must(200, "POST", "/admin/v1/keys/"+k+"/revoke", map[string]any{"reason": "gone"})
		problemOf(t, e.do(e.root, "POST", "/admin/v1/keys/"+k+"/rotate", nil), 409, CodeConflict)
	})
}

func TestKeyImport(t *testing.T) {
	e := newEnv(t)
	f := e.fixture("acme")
	const opaque = "legacy-7f3a9c2e5b1d4f608a2c"
	gen, err := keys.Generate("test")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		desc   string
		body   map[string]any
		status int
		code   string
		detail string
		check  func(t *testing.T, k map[string]any)
	}{
		{desc: "opaque key", body: map[string]any{"consumer": f.consumerID, "key": opaque, "scopes": []string{"orders:read"}}, status: 201,
			check: func(t *testing.T, k map[string]any) {
				id := k["id"].(string)
				if k["imported"] != true || len(id) != keys.IDLength || k["last4"] != "4f608a2c"[4:] || k["environment"] != "live" {
					t.Fatalf("%v", k)
				}
				stored, err := getKey(e, id)
				if err != nil || stored.Hash != keys.Hash(opaque) {
					t.Fatalf("stored %v %v", stored, err)
				}
			}},
		{desc: "the same key twice", body: map[string]any{"consumer": f.consumerID, "key": opaque}, status: 409, code: CodeConflict, detail: "already stored"},
		{desc: "a gk_ key keeps its own id and environment", body: map[string]any{"consumer": f.consumerID, "key": gen.Full}, status: 201,
			check: func(t *testing.T, k map[string]any) {
				if k["id"] != gen.ID || k["environment"] != "test" || k["imported"] != nil {
					t.Fatalf("%v", k)
				}
			}},
		{desc: "a gk_ key with a typo", body: map[string]any{"consumer": f.consumerID, "key": gen.Full[:58] + typo(gen.Full[58])}, status: 400, code: CodeInvalid, detail: "not a valid one"},
		{desc: "a gk_ key against its environment", body: map[string]any{"consumer": f.consumerID, "key": mustGen(t, "live"), "environment": "test"}, status: 400, code: CodeInvalid, detail: "does not match the key"},
		{desc: "too short", body: map[string]any{"consumer": f.consumerID, "key": "abc"}, status: 400, code: CodeInvalid, detail: "16-512 characters"},
		{desc: "with whitespace", body: map[string]any{"consumer": f.consumerID, "key": "abcdefghijklmnop qrs"}, status: 400, code: CodeInvalid, detail: "position 17"},
		{desc: "key missing", body: map[string]any{"consumer": f.consumerID}, status: 400, code: CodeInvalid, detail: "key is required"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			r := e.do(e.root, "POST", "/admin/v1/keys/import", c.body)
			if c.code != "" {
				d := problemOf(t, r, c.status, c.code)
				if !strings.Contains(d, c.detail) {
					t.Fatalf("detail %q lacks %q", d, c.detail)
				}
				if k, _ := c.body["key"].(string); k != "" && strings.Contains(string(r.Body), k) {
					t.Fatal("the key is echoed in the error")
				}
				return
			}
			if r.Status != 201 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			if strings.Contains(string(r.Body), c.body["key"].(string)) {
				t.Fatal("the imported key is echoed back")
			}
			c.check(t, r.JSON(t))
		})
	}
}

func mustGen(t *testing.T, env string) string {
	g, err := keys.Generate(env)
	if err != nil {
		t.Fatal(err)
	}
	return g.Full
}

func getKey(e *testEnv, id string) (k struct{ Hash string }, err error) {
	err = e.store.View(context.Background(), func(tx storeTx) error {
		got, err := tx.GetKey(context.Background(), id)
		k.Hash = got.Hash
		return err
	})
	return k, err
}

// typo returns a character other than c: replacing a key's last character
// by a fixed one was no typo when the key already ended in it (one run in
// 62 was a 409 for importing the same key twice).
func typo(c byte) string {
	if c == 'x' {
		return "y"
	}
	return "x"
}
