package server

import "testing"

// TestBasicChallenge: every 401 carries WWW-Authenticate, and on a route
// that takes Basic only it challenges with Basic (RFC 7617 §2), not with
// the Bearer scheme the route would refuse.
func TestBasicChallenge(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/basic"}, "auth": []string{"basic"}})
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/either"}, "auth": []string{"api_key", "basic"}})
	h.mustAdmin("POST", "/admin/v1/credentials", map[string]any{"consumer": w.consumer, "type": "basic", "username": "billing", "password": "correct horse battery"})
	const basic, bearer = `Basic realm="gatehouse", charset="UTF-8"`, `Bearer realm="gatehouse"`
	cases := []struct {
		desc     string
		path     string
		hdr      []string
		wantCode string
		wantWWW  string
	}{
		{"no credential on a Basic-only route", "/basic/x", nil, "auth.missing", basic},
		{"wrong password", "/basic/x", []string{"Authorization", basicAuth("billing", "wrong")}, "basic.invalid_credentials", basic},
		{"unknown user", "/basic/x", []string{"Authorization", basicAuth("nobody", "wrong")}, "basic.invalid_credentials", basic},
		{"no credential on a route that also takes keys: Bearer", "/either/x", nil, "auth.missing", bearer},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			r := h.call("GET", c.path, c.hdr...)
			if r.status != 401 || r.body["code"] != c.wantCode {
				t.Fatalf("%d %s, want 401 %s", r.status, r.raw, c.wantCode)
			}
			if got := r.header.Get("WWW-Authenticate"); got != c.wantWWW {
				t.Errorf("WWW-Authenticate %q, want %q", got, c.wantWWW)
			}
		})
	}
}
