package server

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/store/postgres/pgtest"
)

// TestStaleSnapshotMissIsTheGatewaysFault: a node cut off from PostgreSQL
// serves from its snapshot, which stops following the other nodes. A key
// created on another node meanwhile is missing from it — not the caller's
// fault (§5: auth.backend_unavailable, 503 with Retry-After, the outage
// named), where key.unknown would tell its owner to get a new key. Keys the
// snapshot holds keep working; once the store is back the new key does too.
// Meanwhile the node's status stays readable and admin changes answer 503.
func TestStaleSnapshotMissIsTheGatewaysFault(t *testing.T) {
	url := pgtest.Schema(t)
	relay := pgtest.NewRelay(t, pgtest.Target(t))
	getenv := func(k string) string {
		if k == "GATEHOUSE_MASTER_KEY" {
			return "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
		}
		return ""
	}
	a := newHarnessWith(t, Options{Getenv: getenv}, func(c *config.Config) { c.Database = url })
	b := newHarnessWith(t, Options{Getenv: getenv}, func(c *config.Config) { c.Database = pgtest.WithHost(t, url, relay.Addr()) })
	w := a.newWorld("acme", nil, nil)
	_, old := a.newKey(w.consumer, nil)
	a.mustAdmin("POST", "/admin/v1/credentials", map[string]any{"consumer": w.consumer, "type": "hmac", "key_id": "shop-1"})
	a.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/sig"}, "auth": []string{"http_signature"}})
	until := func(desc string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10 s", desc)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	until("node b admits the key made on node a", func() bool { return b.call("GET", "/acme/x", bearer(old)...).status == 200 })
	until("node b has node a's signature route and credential", func() bool {
		rt, _ := b.srv.snaps.Load().Match("", "/sig/x", "GET")
		return rt != nil
	})

	if code, _ := b.adminDo("GET", "/admin/v1/status", nil); code != 200 {
		t.Fatalf("node b's status before the outage: %d", code)
	}
	relay.Cut()
	until("node b notices the store is unreachable", func() bool {
		f := b.srv.follower.Load()
		_, down := f.Unreachable()
		return down
	})
	_, fresh := a.newKey(w.consumer, nil)
	r := b.call("GET", "/acme/x", bearer(fresh)...)
	if r.status != 503 || r.body["code"] != "auth.backend_unavailable" || r.header.Get("Retry-After") == "" ||
		!strings.Contains(r.body["detail"].(string), "store is unreachable since") {
		t.Errorf("a key made elsewhere during the outage: %d %s; want 503 auth.backend_unavailable naming the outage", r.status, r.raw)
	}
	if r := b.call("GET", "/acme/x", bearer(old)...); r.status != 200 {
		t.Errorf("a key the snapshot holds, during the outage: %d %s", r.status, r.raw)
	}
	// A signature that does not verify is the gateway's 503 as well, and
	// the answer shows no more for a keyid that exists than for one that
	// does not (§5): no credential id in either.
	for _, keyid := range []string{"shop-1", "nobody-1"} {
		r := b.call("GET", "/sig/x", "Signature-Input", `sig1=("@method" "@authority" "@path");created=`+
			strconv.FormatInt(b.clock.Now().Unix(), 10)+`;keyid="`+keyid+`";nonce="n-`+keyid+`"`,
			"Signature", "sig1=:"+strings.Repeat("A", 44)+":")
		if r.status != 503 || r.body["code"] != "auth.backend_unavailable" || r.body["credential_id"] != nil {
			t.Errorf("a signature with keyid %q during the outage: %d %s; want 503 without a credential id", keyid, r.status, r.raw)
		}
	}
	if r := b.call("GET", "/acme/x", bearer("gk_live_"+strings.Repeat("x", 51))...); r.body["code"] == "auth.backend_unavailable" {
		t.Errorf("a malformed key is the caller's fault whatever the store does: %s", r.raw)
	}

	// The operator still reads node b's status (its admin token was
	// checked before the outage); a change answers 503, not 500.
	if code, st := b.adminDo("GET", "/admin/v1/status", nil); code != 200 || !strings.HasPrefix(fmt.Sprint(st["store"]), "unreachable") {
		t.Errorf("node b's status during the outage: %d %v", code, st)
	}
	if code, out := b.adminDo("POST", "/admin/v1/tenants", map[string]any{"slug": "during-outage"}); code != 503 || out["code"] != "admin.unavailable" {
		t.Errorf("a change on node b during the outage: %d %v; want 503 admin.unavailable", code, out)
	}

	relay.Restore()
	until("node b admits the new key once the store is back", func() bool { return b.call("GET", "/acme/x", bearer(fresh)...).status == 200 })
	if _, down := b.srv.follower.Load().Unreachable(); down {
		t.Error("node b still reports the store unreachable")
	}
}
