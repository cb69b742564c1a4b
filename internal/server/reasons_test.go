package server

import (
	"fmt"
	"hash/crc32"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/keys"
	"gatehouse/internal/reason"
)

// TestReasonCodes is the black-box table of issue 2: for every reason code
// in scope, a real request through a real server gives the status, code,
// WWW-Authenticate and X-Request-Id of the contract, and no body, header or
// log line contains a secret or its hash.
func TestReasonCodes(t *testing.T) {
	h := newHarness(t)
	acme := h.newWorld("acme", []string{"orders:read", "orders:write"}, nil)
	other := h.newWorld("other", nil, nil)
	scoped := h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": acme.service, "paths": []string{"/acme-write"},
		"methods": []string{"POST"}, "auth": []string{"api_key"}, "scopes": []string{"orders:write"}})
	_ = scoped
	// A JWT-only route on a gateway with no JWT issuer configured: an API
	// key sent to it was called "a JWT bearer token" in Authorization and
	// "a  credential" (no type at all) in X-API-Key.
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": acme.service, "paths": []string{"/acme-jwt"}, "auth": []string{"jwt"}})

	var secrets []string
	key := func(consumer string, extra map[string]any) (string, string) {
		id, k := h.newKey(consumer, extra)
		secrets = append(secrets, k, keys.Hash(k), k[len(k)-38:len(k)-6]) // whole key, hash, secret part
		return id, k
	}
	_, good := key(acme.consumer, nil)
	_, readOnly := key(acme.consumer, map[string]any{"scopes": []string{"orders:read"}})
	revokedID, revoked := key(acme.consumer, nil)
	h.mustAdmin("POST", "/admin/v1/keys/"+revokedID+"/revoke", map[string]any{"reason": "compromised"})
	_, expiring := key(acme.consumer, map[string]any{"expires_at": t0.Add(time.Hour).Format(time.RFC3339)})
	rotatedID, rotated := key(acme.consumer, nil)
	succ := h.mustAdmin("POST", "/admin/v1/keys/"+rotatedID+"/rotate", map[string]any{"grace": "1m"})
	secrets = append(secrets, succ["key"].(string))
	testKey, _ := key(acme.consumer, map[string]any{"environment": "test"})
	_ = testKey
	var testFull string
	{
		out := h.mustAdmin("POST", "/admin/v1/keys", map[string]any{"consumer": acme.consumer, "environment": "test"})
		testFull = out["key"].(string)
		secrets = append(secrets, testFull, keys.Hash(testFull))
	}
	susp := h.mustAdmin("POST", "/admin/v1/consumers", map[string]any{"tenant": acme.tenant, "name": "suspended-app"})["id"].(string)
	_, suspKey := key(susp, nil)
	h.mustAdmin("POST", "/admin/v1/consumers/"+susp+"/suspend", nil)
	del := h.mustAdmin("POST", "/admin/v1/consumers", map[string]any{"tenant": acme.tenant, "name": "deleted-app"})["id"].(string)
	_, delKey := key(del, nil)
	h.adminDo("DELETE", "/admin/v1/consumers/"+del, nil)
	gone := h.newWorld("gone", nil, nil)
	_, goneKey := key(gone.consumer, nil)
	h.mustAdmin("POST", "/admin/v1/tenants/"+gone.tenant+"/suspend", nil)
	_, otherKey := key(other.consumer, nil)
	unknown, _ := keys.Generate("live")
	typo := []byte(good)
	if typo[30] == 'x' { // one character changed, still in the alphabet
		typo[30] = 'y'
	} else {
		typo[30] = 'x'
	}
	wrongSecret := good[:len(good)-38] + strings.Repeat("A", 32) + "000000"
	wrongSecret = fixChecksum(t, wrongSecret)

	// Upstream failure services.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := ln.Addr().String()
	ln.Close()
	deadSvc := h.mustAdmin("POST", "/admin/v1/services", map[string]any{"tenant": acme.tenant, "name": "dead", "targets": []string{"http://" + deadAddr}})["id"].(string)
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": deadSvc, "paths": []string{"/dead"}})
	slow := newSlowUpstream(t)
	slowSvc := h.mustAdmin("POST", "/admin/v1/services", map[string]any{"tenant": acme.tenant, "name": "slow", "targets": []string{slow},
		"timeouts": map[string]any{"response": "100ms"}})["id"].(string)
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": slowSvc, "paths": []string{"/slow"}})

	h.clock.Advance(2 * time.Hour) // the expiring key is now expired; the rotated key's grace is over

	cases := []struct {
		desc       string
		method     string
		path       string
		hdr        []string
		wantStatus int
		wantCode   string
		wantWWW    string // substring; "-" means header must be absent
		wantDetail string // substring of detail
		noDetail   bool
	}{
		{desc: "passes", path: "/acme/x", hdr: bearer(good), wantStatus: 200, wantWWW: "-"},
		{desc: "no route", path: "/nowhere", hdr: bearer(good), wantStatus: 404, wantCode: "route.not_found", wantWWW: "-"},
		{desc: "method not allowed", method: "GET", path: "/acme-write", hdr: bearer(good), wantStatus: 405, wantCode: "method.not_allowed", wantWWW: "-"},
		{desc: "no credential", path: "/acme/x", wantStatus: 401, wantCode: "auth.missing", wantWWW: `Bearer realm="gatehouse"`, wantDetail: "X-API-Key"},
		{desc: "key in the query of a route without query keys", path: "/acme/x?api_key=" + good, wantStatus: 401, wantCode: "auth.missing", wantDetail: "in the URL"},
		{desc: "Token scheme", path: "/acme/x", hdr: []string{"Authorization", "Token " + good}, wantStatus: 401, wantCode: "auth.scheme_unsupported", wantDetail: "the Authorization scheme 'Token' is not supported here; this route accepts "},
		{desc: "doubled scheme", path: "/acme/x", hdr: []string{"Authorization", "Bearer Bearer " + good}, wantStatus: 400, wantCode: "auth.malformed_header", wantWWW: `error="invalid_request"`},
		{desc: "two different keys", path: "/acme/x", hdr: []string{"Authorization", "Bearer " + good, "X-API-Key", revoked}, wantStatus: 400, wantCode: "auth.ambiguous", wantWWW: `error="invalid_request"`},
		{desc: "basic on an api-key route", path: "/acme/x", hdr: []string{"Authorization", "Basic dXNlcjpwYXNz"}, wantStatus: 401, wantCode: "auth.method_not_allowed", wantWWW: `error="invalid_token"`},
		{desc: "jwt on an api-key route", path: "/acme/x", hdr: bearer("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"), wantStatus: 401, wantCode: "auth.method_not_allowed", wantDetail: "JWT"},
		{desc: "api key as Bearer on a jwt-only route", path: "/acme-jwt/x", hdr: bearer(good), wantStatus: 401, wantCode: "auth.method_not_allowed", wantWWW: `error="invalid_token"`,
			wantDetail: "The request carries an API key in 'Authorization: Bearer …', which this route does not accept. This route accepts a JWT in 'Authorization: Bearer …'."},
		{desc: "api key in X-API-Key on a jwt-only route", path: "/acme-jwt/x", hdr: []string{"X-API-Key", good}, wantStatus: 401, wantCode: "auth.method_not_allowed", wantWWW: `error="invalid_token"`,
			wantDetail: "The request carries an API key in the X-API-Key header, which this route does not accept. This route accepts a JWT in 'Authorization: Bearer …'."},
		{desc: "truncated key", path: "/acme/x", hdr: bearer(good[:50]), wantStatus: 401, wantCode: "key.malformed", wantWWW: `error="invalid_token", error_description="key.malformed"`, wantDetail: "short"},
		{desc: "typo", path: "/acme/x", hdr: bearer(string(typo)), wantStatus: 401, wantCode: "key.checksum_mismatch", wantWWW: `error="invalid_token"`},
		{desc: "test key on live gateway", path: "/acme/x", hdr: bearer(testFull), wantStatus: 401, wantCode: "key.wrong_environment", wantDetail: "test"},
		{desc: "unknown key", path: "/acme/x", hdr: bearer(unknown.Full), wantStatus: 401, wantCode: "key.unknown", wantWWW: `error_description="key.unknown"`},
		{desc: "right id, wrong secret is unknown to the caller", path: "/acme/x", hdr: bearer(wrongSecret), wantStatus: 401, wantCode: "key.unknown"},
		{desc: "revoked with its right secret", path: "/acme/x", hdr: bearer(revoked), wantStatus: 401, wantCode: "key.revoked", wantDetail: "compromised", wantWWW: `error_description="key.revoked"`},
		{desc: "expired", path: "/acme/x", hdr: bearer(expiring), wantStatus: 401, wantCode: "key.expired", wantDetail: "expired at 2026-11-20T11:00:00Z"},
		{desc: "rotated after grace", path: "/acme/x", hdr: bearer(rotated), wantStatus: 401, wantCode: "key.rotated", wantDetail: succ["id"].(string)},
		{desc: "consumer suspended", path: "/acme/x", hdr: bearer(suspKey), wantStatus: 403, wantCode: "consumer.suspended", wantWWW: "-", wantDetail: "suspended-app"},
		{desc: "consumer deleted", path: "/acme/x", hdr: bearer(delKey), wantStatus: 401, wantCode: "consumer.deleted", wantDetail: "deleted-app"},
		{desc: "tenant suspended", path: "/gone/x", hdr: bearer(goneKey), wantStatus: 403, wantCode: "tenant.suspended", wantDetail: "gone"},
		{desc: "other tenant's key", path: "/acme/x", hdr: bearer(otherKey), wantStatus: 403, wantCode: "tenant.mismatch", wantDetail: "'other'"},
		{desc: "missing scope", method: "POST", path: "/acme-write", hdr: bearer(readOnly), wantStatus: 403, wantCode: "scope.insufficient",
			wantWWW: `error="insufficient_scope", error_description="scope.insufficient", scope="orders:write"`, wantDetail: "orders:write"},
		{desc: "upstream refuses", path: "/dead/x", hdr: bearer(good), wantStatus: 502, wantCode: "upstream.unavailable", wantWWW: "-"},
		{desc: "upstream too slow", path: "/slow/x", hdr: bearer(good), wantStatus: 504, wantCode: "upstream.timeout", wantWWW: "-"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			m := tc.method
			if m == "" {
				m = "GET"
			}
			r := h.call(m, tc.path, tc.hdr...)
			if r.status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.status, tc.wantStatus, r.raw)
			}
			rid := r.header.Get("X-Request-Id")
			if len(rid) != 26 {
				t.Errorf("X-Request-Id %q", rid)
			}
			www := r.header.Get("WWW-Authenticate")
			switch {
			case tc.wantWWW == "-" && www != "":
				t.Errorf("WWW-Authenticate %q, want none", www)
			case tc.wantWWW != "" && tc.wantWWW != "-" && !strings.Contains(www, tc.wantWWW):
				t.Errorf("WWW-Authenticate %q, want %q", www, tc.wantWWW)
			}
			if tc.wantCode != "" {
				if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("content type %q", ct)
				}
				if r.body["code"] != tc.wantCode || r.body["request_id"] != rid {
					t.Errorf("body %s", r.raw)
				}
				if !strings.HasSuffix(r.body["type"].(string), "/.well-known/gatehouse/errors/"+tc.wantCode) {
					t.Errorf("type %v", r.body["type"])
				}
				if tc.wantStatus == 401 && www == "" {
					t.Errorf("a 401 without WWW-Authenticate")
				}
				if tc.wantDetail != "" && !strings.Contains(r.body["detail"].(string), tc.wantDetail) {
					t.Errorf("detail %q lacks %q", r.body["detail"], tc.wantDetail)
				}
			}
			// Nothing secret in the answer.
			all := r.raw
			for k, vs := range r.header {
				all += k + ": " + strings.Join(vs, ",") + "\n"
			}
			for _, s := range secrets {
				if strings.Contains(all, s) {
					t.Errorf("response contains a secret or hash: %s", all)
				}
			}
			// whoami's dry run of the same request gives the same verdict
			// (the upstream is not called, so upstream failures are the
			// only codes it cannot foresee).
			if !strings.HasPrefix(tc.wantCode, "upstream.") && !strings.Contains(tc.path, "?") {
				wr := h.call("GET", "/.well-known/gatehouse/whoami?method="+m+"&path="+tc.path, tc.hdr...)
				v, _ := wr.body["verdict"].(map[string]any)
				if wr.status != 200 || v == nil {
					t.Fatalf("whoami: %d %s", wr.status, wr.raw)
				}
				wantAllow := tc.wantCode == ""
				if v["allow"] != wantAllow || (!wantAllow && v["code"] != tc.wantCode) {
					t.Errorf("whoami verdict %v, real request %d %s", v, r.status, tc.wantCode)
				}
				for _, s := range secrets {
					if strings.Contains(wr.raw, s) {
						t.Errorf("whoami answer contains a secret")
					}
				}
			}
			// The call record has the code.
			if tc.wantCode != "" {
				rec := h.waitCall(rid)
				if rec["code"] != tc.wantCode || int(rec["status"].(float64)) != tc.wantStatus {
					t.Errorf("call record %v", rec)
				}
			}
		})
	}
	// No log line contains a secret or hash.
	logs := h.logs.String()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Fatalf("log contains a secret or hash %q", s)
		}
	}
	if !strings.Contains(logs, "key.revoked") {
		t.Errorf("rejections are not logged with their code")
	}
	// The catalogue walk: every code has a page on the proxy listener, and
	// so does every family (the `type` of a minimal-disclosure rejection).
	for _, e := range reason.All() {
		for _, c := range []string{e.Code, reason.Family(e.Code)} {
			resp, err := http.Get(h.proxy + reason.ErrorsPath + c)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("error page for %s: %v %v", c, err, resp)
			}
			resp.Body.Close()
		}
	}
	_ = domain.StatusActive
}

// fixChecksum recomputes a key's check characters (CRC32-IEEE of
// everything before them, base62 0-9A-Za-z, 6 characters zero-padded,
// computed here independently of internal/keys) so that a changed secret
// passes the offline checks and reaches the lookup.
func fixChecksum(t *testing.T, k string) string {
	t.Helper()
	body := k[:len(k)-6]
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	n := crc32.ChecksumIEEE([]byte(body))
	var c [6]byte
	for i := 5; i >= 0; i-- {
		c[i] = alphabet[n%62]
		n /= 62
	}
	return body + string(c[:])
}

func newSlowUpstream(t *testing.T) string {
	t.Helper()
	release := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { close(release); srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestMinimalDisclosureTellsTheOperatorWhatTheCallerSaw: a route with
// minimal disclosure answers the code family only; the stored call keeps
// the real code and an operator-only trace step saying the caller saw the
// family, so explain does not claim the caller was told more.
func TestMinimalDisclosureTellsTheOperatorWhatTheCallerSaw(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/km"}, "disclosure": "minimal"})
	keyID, key := h.newKey(w.consumer, nil)
	h.mustAdmin("POST", "/admin/v1/keys/"+keyID+"/revoke", map[string]any{"reason": "demo"})
	r := h.call("GET", "/km/x", bearer(key)...)
	if r.status != 401 || r.body["code"] != "key" || strings.Contains(r.raw, "revoked") {
		t.Fatalf("minimal answer: %d %s", r.status, r.raw)
	}
	call := h.waitCall(r.header.Get("X-Request-Id"))
	if call["code"] != "key.revoked" {
		t.Errorf("stored code %v, want key.revoked", call["code"])
	}
	steps, _ := call["trace"].([]any)
	var last map[string]any
	if len(steps) > 0 {
		last, _ = steps[len(steps)-1].(map[string]any)
	}
	if last["check"] != "disclosure" || last["private"] != true || !strings.Contains(fmt.Sprint(last["detail"]), "only the code family 'key'") {
		t.Errorf("the trace does not end with the operator-only disclosure step: %v", last)
	}
	// A route with full disclosure has no such step.
	r = h.call("GET", "/acme/x", bearer(key)...)
	for _, s := range h.waitCall(r.header.Get("X-Request-Id"))["trace"].([]any) {
		if s.(map[string]any)["check"] == "disclosure" {
			t.Errorf("a disclosure step on a route with full disclosure: %v", s)
		}
	}
}

// TestUpstreamTargetIsOperatorOnly: the trace of a call whose service
// could not be reached says so in a step the caller may see, and names the
// target (an internal address) only in an operator-only step — explain
// said such a trace could be shared with the caller.
func TestUpstreamTargetIsOperatorOnly(t *testing.T) {
	h := newHarness(t)
	_, _, key := h.keyedRoute("/down", map[string]any{"name": "down", "targets": []string{"http://127.0.0.1:1"}})
	r := h.call("GET", "/down/x", bearer(key)...)
	if r.status != 502 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	var public, private []string
	for _, s := range h.waitCall(r.header.Get("X-Request-Id"))["trace"].([]any) {
		step := s.(map[string]any)
		if step["private"] == true {
			private = append(private, fmt.Sprint(step["detail"]))
		} else {
			public = append(public, fmt.Sprint(step["detail"]))
		}
	}
	if strings.Contains(strings.Join(public, "\n"), "127.0.0.1:1") {
		t.Errorf("a step the caller may see names the target:\n%s", strings.Join(public, "\n"))
	}
	if !strings.Contains(strings.Join(public, "\n"), "could not reach the service") {
		t.Errorf("no step the caller may see says the service was not reached:\n%s", strings.Join(public, "\n"))
	}
	if !strings.Contains(strings.Join(private, "\n"), "127.0.0.1:1") {
		t.Errorf("the operator-only steps do not name the target:\n%s", strings.Join(private, "\n"))
	}
}

// TestWhoamiListsSubscriptions: §6's whoami says who the caller is,
// subscriptions included — which service, of which tenant, in which state.
func TestWhoamiListsSubscriptions(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	beta := h.mustAdmin("POST", "/admin/v1/tenants", map[string]any{"slug": "beta", "name": "Beta"})["id"].(string)
	h.mustAdmin("POST", "/admin/v1/services", map[string]any{"tenant": beta, "name": "ledger", "targets": []string{h.upstream.URL},
		"visibility": "published", "approval_required": true})
	sub := h.mustAdmin("POST", "/admin/v1/subscriptions", map[string]any{"consumer": w.consumer, "service": "ledger",
		"plan": map[string]any{"name": "gold"}})["id"].(string)
	_, key := h.newKey(w.consumer, nil)
	r := h.call("GET", "/.well-known/gatehouse/whoami", bearer(key)...)
	subs, _ := r.body["subscriptions"].([]any)
	if r.status != 200 || len(subs) != 1 {
		t.Fatalf("whoami: %d %s; want one subscription", r.status, r.raw)
	}
	s := subs[0].(map[string]any)
	if s["id"] != sub || s["service"] != "ledger" || s["tenant"] != "beta" || s["state"] != "pending" || s["plan"] != "gold" || s["since"] == nil {
		t.Errorf("subscription %v", s)
	}
	// A caller with no subscription gets an empty list, not null.
	other := h.mustAdmin("POST", "/admin/v1/consumers", map[string]any{"tenant": w.tenant, "name": "lonely"})["id"].(string)
	_, k2 := h.newKey(other, nil)
	if r := h.call("GET", "/.well-known/gatehouse/whoami", bearer(k2)...); !strings.Contains(r.raw, `"subscriptions":[]`) {
		t.Errorf("no subscriptions: %s", r.raw)
	}
}

// TestWhoamiWithoutARouteStillSaysWhoYouAre: whoami's dry run of a path no
// route serves answers route.not_found, and still tells a caller whose
// credential is good who it is (it lost the identity before); a credential
// that proves nothing gets no identity.
func TestWhoamiWithoutARouteStillSaysWhoYouAre(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	_, key := h.newKey(w.consumer, nil)
	r := h.call("GET", "/.well-known/gatehouse/whoami?method=GET&path=/nope", bearer(key)...)
	v, _ := r.body["verdict"].(map[string]any)
	if r.status != 200 || v["code"] != "route.not_found" || r.body["consumer"] != "acme-app" || r.body["tenant"] != "acme" {
		t.Errorf("a good key, no route: %d %s", r.status, r.raw)
	}
	r = h.call("GET", "/.well-known/gatehouse/whoami?method=GET&path=/nope", bearer("gk_live_"+strings.Repeat("x", 51))...)
	if r.status != 200 || r.body["consumer"] != nil || r.body["tenant"] != nil {
		t.Errorf("a garbage key, no route: %d %s", r.status, r.raw)
	}
}
