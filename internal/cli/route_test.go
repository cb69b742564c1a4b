package cli

import (
	"testing"

	"gatehouse/internal/domain"
)

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

// TestRouteUpdate: route update changes the fields whose flags are given
// (PATCH) and leaves the rest; limits are written calls/period and removed
// with none; mistakes are named before anything is sent.
func TestRouteUpdate(t *testing.T) {
	e := newTestEnv(t)
	e.check(t, []cliCase{
		{desc: "setup tenant", args: []string{"tenant", "create", "--slug", "acme"}},
		{desc: "setup service", args: []string{"service", "create", "--tenant", "acme", "--name", "orders", "--target", "http://127.0.0.1:9000"}},
		{desc: "setup route", args: []string{"route", "create", "--service", "orders", "--path", "/v1/orders", "--scopes", "orders:read"}},
	})
	var routes []domain.Route
	e.mustJSON(&struct {
		Items *[]domain.Route `json:"items"`
	}{&routes}, "route", "list")
	id := routes[0].ID
	e.check(t, []cliCase{
		{desc: "limits, body and disclosure", args: []string{"route", "update", id, "--rate-limit", "600/1m", "--rate-limit-by", "credential",
			"--quota", "100000/month", "--max-body", "1048576", "--disclosure", "minimal"},
			out: []string{"Updated route " + id, "Rate limit:", "600 per 1m0s per credential", "Quota:", "100000 per month per consumer",
				"Max body:", "1048576 bytes", "Disclosure:", "minimal", "orders:read", "/v1/orders"}},
		{desc: "none removes a limit, the rest stays", args: []string{"route", "update", id, "--rate-limit", "none"},
			out: []string{"Quota:", "100000 per month"}, notOut: []string{"Rate limit:"}},
		{desc: "a limit without a period is refused before sending", args: []string{"route", "update", id, "--rate-limit", "600"},
			fail: true, errOut: []string{`--rate-limit "600": write calls/period, e.g. 100/1m`}},
		{desc: "--quota-by alone is refused", args: []string{"route", "update", id, "--quota-by", "route"},
			fail: true, errOut: []string{"--quota-by goes with --quota"}},
		{desc: "the API names a bad period", args: []string{"route", "update", id, "--quota", "5/week"},
			fail: true, errOut: []string{"quota.period"}},
		{desc: "nothing to change", args: []string{"route", "update", id}, fail: true, errOut: []string{"nothing to change"}},
		{desc: "create takes the limits too", args: []string{"route", "create", "--service", "orders", "--path", "/v2/orders",
			"--rate-limit", "10/1s", "--quota", "500/day", "--quota-by", "route"},
			out: []string{"Created route rte_", "Rate limit:", "10 per 1s per consumer", "Quota:", "500 per day per route"}},
	})
}
