package server

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/config"
)

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// basicStep is one request of a lockout scenario through the real proxy
// listener.
type basicStep struct {
	desc       string
	advance    time.Duration // the harness clock moves this much first
	user, pass string
	xff        string // X-Forwarded-For, believed from 127.0.0.1 when trusted
	wantStatus int
	wantCode   string
	wantRetry  string // Retry-After
}

// TestBasicLockout drives the lockout through the whole pipeline: the
// sixth wrong password for a username is refused with basic.locked_out
// and Retry-After, the right password too while the lockout lasts, and
// accepted once it ends; per address, the client the pipeline resolved
// from a trusted X-Forwarded-For is what counts.
func TestBasicLockout(t *testing.T) {
	const right = "correct horse battery"
	wrongs := func(n int, user, xff string) []basicStep {
		out := make([]basicStep, n)
		for i := range out {
			out[i] = basicStep{desc: "wrong password", user: user, pass: "guess" + string(rune('a'+i)), xff: xff,
				wantStatus: 401, wantCode: "basic.invalid_credentials"}
		}
		return out
	}
	cases := []struct {
		desc     string
		mutate   func(*config.Config)
		steps    []basicStep
		operator []string // in the gateway's log
	}{
		{
			desc: "per username: the 6th wrong attempt is locked out, the right password too, until the lockout ends",
			steps: append(wrongs(5, "billing", ""),
				basicStep{desc: "6th wrong password", user: "billing", pass: "guessf", wantStatus: 429, wantCode: "basic.locked_out", wantRetry: "900"},
				basicStep{desc: "right password while locked", user: "billing", pass: right, wantStatus: 429, wantCode: "basic.locked_out", wantRetry: "900"},
				basicStep{desc: "right password a minute before the end", advance: 14 * time.Minute, user: "billing", pass: right,
					wantStatus: 429, wantCode: "basic.locked_out", wantRetry: "60"},
				basicStep{desc: "right password after the lockout", advance: time.Minute, user: "billing", pass: right, wantStatus: 200},
				basicStep{desc: "counter was reset by the success", user: "billing", pass: "guessg", wantStatus: 401, wantCode: "basic.invalid_credentials"},
			),
			operator: []string{`username \"billing\" is locked out until 2026-11-20T10:15:00Z after 5 failed attempts within 15m0s`,
				"basic: username locked out after repeated failures"},
		},
		{
			desc: "per client address resolved from a trusted X-Forwarded-For, across usernames",
			mutate: func(c *config.Config) {
				c.TrustedProxies = []string{"127.0.0.1/32"}
				c.BasicAuth.MaxFailuresPerIP = 3
			},
			steps: append(append(wrongs(1, "nobody", "198.51.100.7"), append(wrongs(1, "someone", "198.51.100.7"), wrongs(1, "billing", "198.51.100.7")...)...),
				basicStep{desc: "right password from the locked address", user: "billing", pass: right, xff: "198.51.100.7",
					wantStatus: 429, wantCode: "basic.locked_out", wantRetry: "900"},
				basicStep{desc: "right password from another client behind the same proxy", user: "billing", pass: right, xff: "198.51.100.8", wantStatus: 200},
			),
			operator: []string{"client address 198.51.100.7 is locked out until 2026-11-20T10:15:00Z after 3 failed attempts"},
		},
		{
			desc:   "lockout off",
			mutate: func(c *config.Config) { c.BasicAuth.Lockout = false },
			steps: append(wrongs(6, "billing", ""),
				basicStep{desc: "right password after 6 failures", user: "billing", pass: right, wantStatus: 200}),
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			var mutate []func(*config.Config)
			if tc.mutate != nil {
				mutate = append(mutate, tc.mutate)
			}
			h := newHarness(t, mutate...)
			w := h.newWorld("acme", nil, nil)
			h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/basic"}, "auth": []string{"basic"}})
			h.mustAdmin("POST", "/admin/v1/credentials", map[string]any{"consumer": w.consumer, "type": "basic", "username": "billing", "password": right})
			for i, s := range tc.steps {
				h.clock.Advance(s.advance)
				hdr := []string{"Authorization", basicAuth(s.user, s.pass)}
				if s.xff != "" {
					hdr = append(hdr, "X-Forwarded-For", s.xff)
				}
				r := h.call("GET", "/basic/x", hdr...)
				if r.status != s.wantStatus || (s.wantCode != "" && r.body["code"] != s.wantCode) {
					t.Fatalf("step %d (%s): %d %s, want %d %s", i+1, s.desc, r.status, r.raw, s.wantStatus, s.wantCode)
				}
				if got := r.header.Get("Retry-After"); got != s.wantRetry {
					t.Fatalf("step %d (%s): Retry-After %q, want %q", i+1, s.desc, got, s.wantRetry)
				}
				// §5: every 429 carries RateLimit-Policy and RateLimit; the
				// same policy whichever counter locked.
				if r.status == 429 {
					pol, rl := r.header.Get("RateLimit-Policy"), r.header.Get("RateLimit")
					if !strings.HasPrefix(pol, `"basic-lockout";q=`) || rl != `"basic-lockout";r=0;t=`+s.wantRetry {
						t.Fatalf("step %d (%s): RateLimit-Policy %q, RateLimit %q", i+1, s.desc, pol, rl)
					}
				}
				if s.wantCode == "basic.locked_out" && (strings.Contains(r.raw, s.user) || strings.Contains(r.raw, "198.51.100")) {
					t.Fatalf("step %d (%s): the caller is told which counter locked: %s", i+1, s.desc, r.raw)
				}
			}
			logs := h.logs.String()
			for _, want := range tc.operator {
				if !strings.Contains(logs, want) {
					t.Errorf("gateway log lacks %q", want)
				}
			}
		})
	}
}
