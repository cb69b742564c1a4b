package snapshot

import (
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
)

func TestCORSMatch(t *testing.T) {
	p := compileCORS(&domain.CORS{AllowedOrigins: []string{"https://app.example.com", "http://localhost:3000",
		"https://*.example.org", "https://*.ports.example:8443"}}, nil, []string{domain.AuthAPIKey})
	cases := []struct {
		desc, origin string
		ok           bool
		acao         string
	}{
		{"exact origin", "https://app.example.com", true, "https://app.example.com"},
		{"exact origin sent in upper case", "HTTPS://APP.EXAMPLE.COM", true, "https://app.example.com"},
		{"exact origin with a port", "http://localhost:3000", true, "http://localhost:3000"},
		{"another port of an exact origin", "http://localhost:3001", false, ""},
		{"another scheme of an exact origin", "http://app.example.com", false, ""},
		{"a path is never part of an origin", "https://app.example.com/", false, ""},
		{"one label under the pattern", "https://shop.example.org", true, "https://shop.example.org"},
		{"several labels under the pattern", "https://a.b-c.example.org", true, "https://a.b-c.example.org"},
		{"the pattern's domain itself", "https://example.org", false, ""},
		{"the pattern with another scheme", "http://shop.example.org", false, ""},
		{"the pattern with a port it does not name", "https://shop.example.org:8443", false, ""},
		{"a look-alike suffix", "https://shop.example.org.evil.com", false, ""},
		{"a look-alike prefix", "https://evilexample.org", false, ""},
		{"a path smuggled before the domain", "https://evil.com/.example.org", false, ""},
		{"userinfo smuggled before the domain", "https://evil.com@x.example.org", false, ""},
		{"an empty label", "https://a..example.org", false, ""},
		{"a leading dot", "https://.example.org", false, ""},
		{"a pattern with a port", "https://x.ports.example:8443", true, "https://x.ports.example:8443"},
		{"a pattern with a port, without it", "https://x.ports.example", false, ""},
		{"the null origin", "null", false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			acao, detail, ok := p.Match(tc.origin)
			if ok != tc.ok {
				t.Fatalf("Match(%q) = %v, want %v", tc.origin, ok, tc.ok)
			}
			if ok && (len(acao) != 1 || acao[0] != tc.acao || detail == "") {
				t.Errorf("Match(%q) answers %q (%q), want %q", tc.origin, acao, detail, tc.acao)
			}
		})
	}
}

func TestCORSCompile(t *testing.T) {
	cases := []struct {
		desc                           string
		cors                           domain.CORS
		routeMethods, accepts          []string
		wantMethods                    []string // nil: echo
		allowsPUT                      bool
		header                         string // Access-Control-Request-Headers
		badHeader                      string
		wantCreds, wantStar            bool
		wantMaxAge, wantExposeContains string
	}{
		{desc: "defaults: any method, any header, no max age",
			cors: domain.CORS{AllowedOrigins: []string{"*"}}, allowsPUT: true, header: "x-anything, content-type", wantStar: true,
			wantExposeContains: "X-Request-Id"},
		{desc: "methods default to the route's",
			cors: domain.CORS{AllowedOrigins: []string{"https://a.example"}}, routeMethods: []string{"GET", "POST"},
			wantMethods: []string{"GET, POST"}},
		{desc: "explicit methods win over the route's",
			cors: domain.CORS{AllowedOrigins: []string{"https://a.example"}, AllowedMethods: []string{"PUT"}}, routeMethods: []string{"GET", "PUT"},
			wantMethods: []string{"PUT"}, allowsPUT: true},
		{desc: "explicit headers plus the credential headers of the route",
			cors:    domain.CORS{AllowedOrigins: []string{"https://a.example"}, AllowedHeaders: []string{"Content-Type"}},
			accepts: []string{domain.AuthAPIKey, domain.AuthHTTPSignature}, allowsPUT: true,
			header: "content-type, authorization, x-api-key, signature, signature-input, content-digest, x-debug", badHeader: "x-debug"},
		{desc: "a * among the headers allows any",
			cors: domain.CORS{AllowedOrigins: []string{"https://a.example"}, AllowedHeaders: []string{"*"}}, allowsPUT: true, header: "x-debug"},
		{desc: "credentials, max age and exposed headers",
			cors: domain.CORS{AllowedOrigins: []string{"https://a.example"}, AllowCredentials: true, MaxAge: domain.Duration(90 * time.Second),
				ExposedHeaders: []string{"X-Total", "x-request-id"}}, allowsPUT: true,
			wantCreds: true, wantMaxAge: "90", wantExposeContains: "X-Total"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			p := compileCORS(&tc.cors, tc.routeMethods, tc.accepts)
			if (tc.wantMethods == nil) != (p.AllowMethods == nil) || tc.wantMethods != nil && p.AllowMethods[0] != tc.wantMethods[0] {
				t.Errorf("Allow-Methods %q, want %q", p.AllowMethods, tc.wantMethods)
			}
			if p.AllowsMethod("PUT") != tc.allowsPUT {
				t.Errorf("AllowsMethod(PUT) = %v", !tc.allowsPUT)
			}
			if bad, found := p.DisallowedHeader([]string{tc.header}); bad != tc.badHeader || found != (tc.badHeader != "") {
				t.Errorf("DisallowedHeader(%q) = %q %v, want %q", tc.header, bad, found, tc.badHeader)
			}
			if (p.AllowCredentials != nil) != tc.wantCreds || p.Any != tc.wantStar {
				t.Errorf("credentials %q any %v", p.AllowCredentials, p.Any)
			}
			if got := ""; p.MaxAge != nil {
				got = p.MaxAge[0]
				if got != tc.wantMaxAge {
					t.Errorf("Max-Age %q, want %q", got, tc.wantMaxAge)
				}
			} else if tc.wantMaxAge != "" {
				t.Errorf("no Max-Age, want %q", tc.wantMaxAge)
			}
			if tc.wantExposeContains != "" && !containsWord(p.ExposeHeaders[0], tc.wantExposeContains) {
				t.Errorf("Expose-Headers %q lacks %s", p.ExposeHeaders, tc.wantExposeContains)
			}
			if n := countWord(p.ExposeHeaders[0], "X-Request-Id"); n != 1 {
				t.Errorf("Expose-Headers %q names X-Request-Id %d times", p.ExposeHeaders, n)
			}
		})
	}
	if compileCORS(nil, nil, nil) != nil {
		t.Error("a route without cors compiled a policy")
	}
}

func containsWord(list, w string) bool { return countWord(list, w) > 0 }

// countWord counts w in a ", "-separated field value, in any case.
func countWord(list, w string) int {
	n := 0
	for _, x := range strings.Split(list, ", ") {
		if strings.EqualFold(x, w) {
			n++
		}
	}
	return n
}
