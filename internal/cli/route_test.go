package cli

import "testing"

// TestRouteCORSFlags: route create's --cors-* flags reach the admin API,
// whose validation errors name the field; route get shows the policy.
func TestRouteCORSFlags(t *testing.T) {
	e := newTestEnv(t)
	e.check(t, []cliCase{
		{desc: "setup tenant", args: []string{"tenant", "create", "--slug", "acme"}},
		{desc: "setup service", args: []string{"service", "create", "--tenant", "acme", "--name", "orders", "--target", "http://127.0.0.1:9000"}},
		{desc: "a trailing slash in --cors-origin: the API names the fix", args: []string{"route", "create", "--service", "orders", "--path", "/v1/orders",
			"--method", "GET", "--method", "POST", "--cors-origin", "https://Shop.example.com/", "--cors-origin", "https://*.example.org"},
			fail: true, errOut: []string{`cors.allowed_origins[0] "https://Shop.example.com/" has a path`, `write "https://shop.example.com"`}},
		{desc: "every --cors-* flag", args: []string{"route", "create", "--service", "orders", "--path", "/v1/orders",
			"--method", "GET", "--method", "POST", "--cors-origin", "https://Shop.example.com", "--cors-origin", "https://*.example.org",
			"--cors-method", "get", "--cors-header", "content-type", "--cors-expose", "X-Total-Count", "--cors-credentials", "--cors-max-age", "10m"},
			out: []string{"Created route rte_", "CORS:", "https://shop.example.com,https://*.example.org (methods GET; headers content-type; exposes X-Total-Count; credentials; max age 10m0s)"}},
		{desc: "* with credentials is refused by the API, naming the field", args: []string{"route", "create", "--service", "orders", "--path", "/v2",
			"--cors-origin", "*", "--cors-credentials"},
			fail: true, errOut: []string{"cors.allow_credentials cannot be true with the \"*\" origin"}},
		{desc: "a --cors-* flag without --cors-origin is refused before sending", args: []string{"route", "create", "--service", "orders", "--path", "/v3",
			"--cors-max-age", "10m"},
			fail: true, errOut: []string{"need --cors-origin"}},
		{desc: "a route without CORS shows none", args: []string{"route", "create", "--service", "orders", "--path", "/v4"},
			out: []string{"Created route rte_"}, notOut: []string{"CORS:"}},
	})
}
