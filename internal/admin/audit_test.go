package admin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/keys"
)

// TestEveryChangeIsAuditedOnceAndApplied walks every kind of change: each
// writes exactly one audit entry naming the actor, and calls OnChange once,
// after the commit (OnChange sees the new store version) and before the
// answer (the count is already up when the answer arrives).
func TestEveryChangeIsAuditedOnceAndApplied(t *testing.T) {
	e := newEnv(t)
	f := e.fixture("acme")
	rootID := e.auditAll()[0]["resource_id"].(string)
	var newKey, newConsumer, newAdmin, newRoute, newService, newSub, newCred string
	steps := []struct {
		desc, method string
		path         func() string
		body         any
		action       string
		after        func(r resp)
	}{
		{"create tenant", "POST", fixed("/admin/v1/tenants"), map[string]any{"slug": "globex"}, "tenant.create", nil},
		{"suspend tenant", "POST", fixed("/admin/v1/tenants/globex/suspend"), nil, "tenant.suspend", nil},
		{"resume tenant", "POST", fixed("/admin/v1/tenants/globex/resume"), nil, "tenant.resume", nil},
		{"create consumer", "POST", fixed("/admin/v1/consumers"), map[string]any{"tenant": "acme", "name": "web", "scopes": []string{"a"}}, "consumer.create",
			func(r resp) { newConsumer = r.str(t, "id") }},
		{"update consumer", "PATCH", func() string { return "/admin/v1/consumers/" + newConsumer }, map[string]any{"scopes": []string{"a", "b"}}, "consumer.update", nil},
		{"suspend consumer", "POST", func() string { return "/admin/v1/consumers/" + newConsumer + "/suspend" }, nil, "consumer.suspend", nil},
		{"resume consumer", "POST", func() string { return "/admin/v1/consumers/" + newConsumer + "/resume" }, nil, "consumer.resume", nil},
		{"create key", "POST", fixed("/admin/v1/keys"), map[string]any{"consumer": "acme/web"}, "key.create", func(r resp) { newKey = r.str(t, "id") }},
		{"import key", "POST", fixed("/admin/v1/keys/import"), map[string]any{"consumer": "acme/web", "key": "legacy-opaque-key-000111"}, "key.import", nil},
		{"rotate key", "POST", func() string { return "/admin/v1/keys/" + newKey + "/rotate" }, map[string]any{"grace": "1h"}, "key.rotate", nil},
		{"revoke key", "POST", func() string { return "/admin/v1/keys/" + newKey + "/revoke" }, map[string]any{"reason": "done"}, "key.revoke", nil},
		{"create service", "POST", fixed("/admin/v1/services"), map[string]any{"tenant": "acme", "name": "s2", "targets": []string{"http://x"}}, "service.create",
			func(r resp) { newService = r.str(t, "id") }},
		{"update service", "PATCH", func() string { return "/admin/v1/services/" + newService }, map[string]any{"version": "2"}, "service.update", nil},
		{"create route", "POST", fixed("/admin/v1/routes"), map[string]any{"service": "s2", "paths": []string{"/s2"}}, "route.create",
			func(r resp) { newRoute = r.str(t, "id") }},
		{"update route", "PATCH", func() string { return "/admin/v1/routes/" + newRoute }, map[string]any{"methods": []string{"GET"}}, "route.update", nil},
		{"request subscription", "POST", fixed("/admin/v1/subscriptions"), map[string]any{"consumer": "acme/web", "service": "s2"}, "subscription.request",
			func(r resp) { newSub = r.str(t, "id") }},
		{"revoke subscription", "POST", func() string { return "/admin/v1/subscriptions/" + newSub + "/revoke" }, nil, "subscription.revoke", nil},
		{"create issuer", "POST", fixed("/admin/v1/issuers"), map[string]any{"name": "okta", "issuer": "https://okta.example.com/",
			"jwks_url": "https://okta.example.com/keys"}, "issuer.create", nil},
		{"update issuer", "PATCH", fixed("/admin/v1/issuers/okta"), map[string]any{"audiences": []string{"api"}}, "issuer.update", nil},
		{"create credential", "POST", fixed("/admin/v1/credentials"), map[string]any{"consumer": "acme/web", "type": "jwt_binding", "issuer": "okta",
			"subject": "u1"}, "credential.create", func(r resp) { newCred = r.str(t, "id") }},
		{"revoke credential", "POST", func() string { return "/admin/v1/credentials/" + newCred + "/revoke" }, map[string]any{"reason": "x"},
			"credential.revoke", nil},
		{"delete issuer", "DELETE", fixed("/admin/v1/issuers/okta"), nil, "issuer.delete", nil},
		{"delete route", "DELETE", func() string { return "/admin/v1/routes/" + newRoute }, nil, "route.delete", nil},
		{"delete service", "DELETE", func() string { return "/admin/v1/services/" + newService }, nil, "service.delete", nil},
		{"delete consumer", "DELETE", func() string { return "/admin/v1/consumers/" + newConsumer }, nil, "consumer.delete", nil},
		{"create admin", "POST", fixed("/admin/v1/admins"), map[string]any{"name": "ops", "role": "viewer"}, "admin.create", func(r resp) { newAdmin = r.str(t, "id") }},
		{"delete admin", "DELETE", func() string { return "/admin/v1/admins/" + newAdmin }, nil, "admin.delete", nil},
	}
	for _, s := range steps {
		t.Run(s.desc, func(t *testing.T) {
			audits, changes := len(e.auditAll()), e.changeCount()
			r := e.do(e.root, s.method, s.path(), s.body)
			if r.Status/100 != 2 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			if got := e.changeCount(); got != changes+1 {
				t.Fatalf("OnChange called %d times, want once, before the answer", got-changes)
			}
			v, _ := e.store.Version(context.Background())
			e.mu.Lock()
			seen := e.versions[len(e.versions)-1]
			e.mu.Unlock()
			if seen != v {
				t.Fatalf("OnChange saw version %d, the committed change is %d", seen, v)
			}
			all := e.auditAll()
			if len(all) != audits+1 {
				t.Fatalf("%d audit entries written, want 1", len(all)-audits)
			}
			last := all[len(all)-1]
			if last["action"] != s.action || last["actor"] != "bootstrap ("+rootID+")" || last["at"] != "2026-11-20T10:00:00Z" {
				t.Fatalf("audit entry %v", last)
			}
			if s.after != nil {
				s.after(r)
			}
		})
	}
	t.Run("failed and refused requests change nothing", func(t *testing.T) {
		audits, changes := len(e.auditAll()), e.changeCount()
		for _, r := range []struct{ method, path string }{
			{"POST", "/admin/v1/keys/" + f.keyID + "/revoke"},      // no reason
			{"POST", "/admin/v1/tenants/acme/resume"},              // already active: no-op
			{"GET", "/admin/v1/consumers"},                         // a read
			{"POST", "/admin/v1/consumers/" + f.consumerID + "/x"}, // no such endpoint
		} {
			e.do(e.root, r.method, r.path, nil)
		}
		if len(e.auditAll()) != audits || e.changeCount() != changes {
			t.Fatal("a request that changed nothing was audited or applied")
		}
	})
	t.Run("a failing OnChange is reported after the commit", func(t *testing.T) {
		e.mu.Lock()
		e.changeErr = errors.New("snapshot rebuild failed")
		e.mu.Unlock()
		d := problemOf(t, e.do(e.root, "POST", "/admin/v1/tenants", map[string]any{"slug": "initech"}), 500, CodeInternal)
		if !strings.Contains(d, "saved") || !strings.Contains(d, "snapshot rebuild failed") {
			t.Fatal(d)
		}
		e.mu.Lock()
		e.changeErr = nil
		e.mu.Unlock()
		e.must(200, "GET", "/admin/v1/tenants/initech", nil)
	})
}

func fixed(p string) func() string { return func() string { return p } }

// TestAuditMasksSecrets creates every kind of secret the API handles and
// then greps the audit log (through the API and straight from the store)
// for each secret and its hash, and the database file for each secret.
func TestAuditMasksSecrets(t *testing.T) {
	e := newEnv(t)
	f := e.fixture("acme")
	secrets := []string{e.root, f.key}
	secrets = append(secrets, e.must(201, "POST", "/admin/v1/keys", map[string]any{"consumer": f.consumerID}).str(t, "key"))
	secrets = append(secrets, e.must(201, "POST", "/admin/v1/keys/"+f.keyID+"/rotate", nil).str(t, "key"))
	const opaque = "opaque-imported-secret-9f8e7d"
	e.must(201, "POST", "/admin/v1/keys/import", map[string]any{"consumer": f.consumerID, "key": opaque})
	gk := mustGen(t, "live")
	e.must(201, "POST", "/admin/v1/keys/import", map[string]any{"consumer": f.consumerID, "key": gk})
	secrets = append(secrets, opaque, gk)
	_, tok := e.newAdmin("ops", "admin", "")
	secrets = append(secrets, tok)
	// Refused and failed attempts carrying secrets are not logged with them.
	e.do(e.root, "POST", "/admin/v1/keys/import", map[string]any{"consumer": f.consumerID, "key": opaque})
	e.do(tok, "POST", "/admin/v1/keys/"+f.keyID+"/revoke", map[string]any{"reason": "rotated"})

	var hashes []string
	for _, s := range secrets {
		hashes = append(hashes, keys.Hash(s)) // same SHA-256 hex as admin tokens
	}
	viaAPI := string(e.must(200, "GET", "/admin/v1/audit?limit=1000", nil).Body)
	viaStore := fmtAny(e.auditAll())
	if !strings.Contains(viaAPI, "key.rotate") || !strings.Contains(viaAPI, "admin.create") || !strings.Contains(viaAPI, "key.import") {
		t.Fatalf("audit log incomplete: %s", viaAPI)
	}
	for i, s := range secrets {
		for _, where := range []struct{ name, text string }{{"API", viaAPI}, {"store", viaStore}} {
			if strings.Contains(where.text, s) {
				t.Errorf("secret %d appears in the audit log (%s)", i, where.name)
			}
			if strings.Contains(where.text, hashes[i]) {
				t.Errorf("hash of secret %d appears in the audit log (%s)", i, where.name)
			}
		}
	}
	db, _ := filepath.Glob(filepath.Join(filepath.Dir(e.store.Path()), "*"))
	for _, file := range db {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("secret %d is stored in %s", i, filepath.Base(file))
			}
		}
	}
}

func TestMaskedJSON(t *testing.T) {
	cases := []struct {
		desc string
		in   any
		want string
	}{
		{"nil stays empty", nil, ""},
		{"secret members are masked at any depth", map[string]any{"id": "k1", "key": "gk_live_x", "nested": []any{map[string]any{"Token": "t", "token_hash": "h", "ok": 1}}},
			`{"id":"k1","key":"[masked]","nested":[{"Token":"[masked]","ok":1,"token_hash":"[masked]"}]}`},
		{"other members pass", map[string]any{"query_key": true, "keys": 2}, `{"keys":2,"query_key":true}`},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			got, err := maskedJSON(c.in)
			if err != nil || string(got) != c.want {
				t.Fatalf("got %s (%v), want %s", got, err, c.want)
			}
		})
	}
}

func TestAuditFilters(t *testing.T) {
	e := newEnv(t)
	f := e.fixture("acme")
	e.fixture("globex")
	e.must(200, "POST", "/admin/v1/keys/"+f.keyID+"/revoke", map[string]any{"reason": "x"})
	cases := []struct {
		query string
		check func(t *testing.T, items []map[string]any)
	}{
		{"?action=key.revoke", func(t *testing.T, items []map[string]any) {
			if len(items) != 1 || items[0]["resource_id"] != f.keyID {
				t.Fatalf("%v", items)
			}
		}},
		{"?action=key.", func(t *testing.T, items []map[string]any) { wantAll(t, items, 3, "resource", "key") }},
		{"?resource=route", func(t *testing.T, items []map[string]any) { wantAll(t, items, 2, "resource", "route") }},
		{"?resource_id=" + f.consumerID, func(t *testing.T, items []map[string]any) { wantAll(t, items, 1, "action", "consumer.create") }},
		{"?tenant=acme", func(t *testing.T, items []map[string]any) { wantAll(t, items, 6, "tenant", f.tenantID) }},
		{"?actor=bootstrap&limit=3", func(t *testing.T, items []map[string]any) {
			if len(items) != 3 || items[0]["action"] != "key.revoke" {
				t.Fatalf("%v", items)
			}
		}},
		{"?actor=nobody", func(t *testing.T, items []map[string]any) { wantAll(t, items, 0, "", "") }},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) { c.check(t, e.must(200, "GET", "/admin/v1/audit"+c.query, nil).items(t)) })
	}
}

func wantAll(t *testing.T, items []map[string]any, n int, field, value string) {
	t.Helper()
	if len(items) != n {
		t.Fatalf("%d items, want %d: %v", len(items), n, items)
	}
	for _, it := range items {
		if it[field] != value {
			t.Fatalf("%s = %v, want %s", field, it[field], value)
		}
	}
}
