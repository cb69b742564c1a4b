package cli

import (
	"testing"
)

func TestSubscriptionCommands(t *testing.T) {
	e := newTestEnv(t)
	e.check(t, []cliCase{
		{desc: "setup acme", args: []string{"tenant", "create", "--slug", "acme"}},
		{desc: "setup globex", args: []string{"tenant", "create", "--slug", "globex"}},
		{desc: "setup consumer", args: []string{"consumer", "create", "--tenant", "acme", "--name", "shop"}},
		{desc: "setup own service", args: []string{"service", "create", "--tenant", "acme", "--name", "orders", "--target", "http://127.0.0.1:9"}},
		{desc: "setup published service", args: []string{"service", "create", "--tenant", "globex", "--name", "billing",
			"--target", "http://127.0.0.1:9", "--visibility", "published"}},
		{desc: "setup private service", args: []string{"service", "create", "--tenant", "globex", "--name", "ledger", "--target", "http://127.0.0.1:9"}},
		{desc: "own tenant's service: approved at once, and it says so", args: []string{"subscription", "request", "--consumer", "acme/shop", "--service", "orders"},
			out: []string{"Approved at once: service orders belongs to the consumer's own tenant acme and requires no approval.", "State:", "approved",
				"Decided:", "gatehouse (automatic)"}},
		{desc: "another tenant's private service is refused with the API's reason", args: []string{"subscription", "request", "--consumer", "acme/shop", "--service", "ledger"},
			fail: true, errOut: []string{"409 admin.conflict", "service ledger is private to tenant globex: it cannot be subscribed to"}},
		{desc: "a malformed rate limit is refused before sending", args: []string{"subscription", "request", "--consumer", "acme/shop", "--service", "billing",
			"--rate-limit", "100"}, fail: true, errOut: []string{`--rate-limit "100": write CALLS/PERIOD`}},
		{desc: "a counter without a limit is refused", args: []string{"subscription", "request", "--consumer", "acme/shop", "--service", "billing",
			"--rate-limit-by", "route"}, fail: true, errOut: []string{"--rate-limit-by needs --rate-limit"}},
		{desc: "missing --service", args: []string{"subscription", "request", "--consumer", "acme/shop"}, fail: true,
			errOut: []string{"missing required flag --service"}},
	})

	var sub struct {
		ID, State string
		Approvers []string
		Plan      struct {
			Name      string
			RateLimit struct {
				Limit      int
				Period, By string
			} `json:"rate_limit"`
		}
	}
	e.mustJSON(&sub, "subscription", "request", "--consumer", "acme/shop", "--service", "billing", "--note", "checkout",
		"--plan", "gold", "--rate-limit", "100/1m", "--rate-limit-by", "credential")
	if sub.State != "pending" || len(sub.Approvers) != 1 || sub.Plan.Name != "gold" || sub.Plan.RateLimit.Limit != 100 ||
		sub.Plan.RateLimit.Period != "1m0s" || sub.Plan.RateLimit.By != "credential" {
		t.Fatalf("request -o json = %+v", sub)
	}
	id := sub.ID
	e.check(t, []cliCase{
		{desc: "a second request names the pending one", args: []string{"subscription", "request", "--consumer", "acme/shop", "--service", "billing"},
			fail: true, errOut: []string{"already has a pending subscription to service billing: " + id}},
		{desc: "list pending", args: []string{"subscription", "list", "--state", "pending"},
			out: []string{"ID", "STATE", "PLAN", "DECIDED BY", id, "pending", "gold 100/1m0s per credential"}, notOut: []string{"approved"}},
		{desc: "list by service", args: []string{"subscription", "list", "--service", "orders"}, out: []string{"approved", "gatehouse (automatic)"},
			notOut: []string{id}},
		{desc: "list by an unknown state: the API's error", args: []string{"subscription", "list", "--state", "open"}, fail: true,
			errOut: []string{`state "open" is not one of`}},
		{desc: "get names who can approve and since when it waits", args: []string{"subscription", "get", id},
			out: []string{"pending", "Approvers:", "bootstrap", "Requested:", "2026-11-20T10:00:00Z (just now) by bootstrap", "Request note:", "checkout"}},
		{desc: "reject needs a note", args: []string{"subscription", "reject", id}, fail: true, errOut: []string{"missing required flag --note"}},
		{desc: "an empty reject note is refused before sending", args: []string{"subscription", "reject", id, "--note", " "}, fail: true,
			errOut: []string{"--note must not be empty"}},
		{desc: "revoking a pending one: the API says to reject it", args: []string{"subscription", "revoke", id}, fail: true,
			errOut: []string{"still pending", "gatehouse subscription reject " + id}},
		{desc: "approve with another plan", args: []string{"subscription", "approve", id, "--note", "welcome", "--plan", "silver"},
			out: []string{"Approved: consumer shop may call service billing from its next request.", "silver", "Decision note:", "welcome"}},
		{desc: "approve again", args: []string{"subscription", "approve", id}, fail: true, errOut: []string{"409", "already approved"}},
		{desc: "revoke", args: []string{"subscription", "revoke", id, "--note", "contract ended"},
			out: []string{"Revoked:", "answer subscription.revoked", "Revoke note:", "contract ended"}},
		{desc: "revoke -o json is the API's object", args: []string{"subscription", "get", id, "-o", "json"},
			out: []string{`"state": "revoked"`, `"revoke_note": "contract ended"`}},
		{desc: "a new request after the revocation, then rejected", args: []string{"subscription", "request", "--consumer", "acme/shop", "--service", "billing"},
			out: []string{"Pending: service billing belongs to another tenant (globex)."}},
		{desc: "an unknown subscription", args: []string{"subscription", "approve", "sub_nope"}, fail: true, errOut: []string{"404 admin.not_found"}},
		{desc: "the group lists its verbs", args: []string{"subscription", "frob"}, fail: true,
			errOut: []string{"(verbs: approve, get, list, reject, request, revoke)"}},
	})
}
