package cli

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
)

func TestTenantCommands(t *testing.T) {
	e := newTestEnv(t)
	e.check(t, []cliCase{
		{desc: "create prints the tenant", args: []string{"tenant", "create", "--slug", "acme", "--name", "Acme Corp"},
			out: []string{"Created tenant acme.", "Name:", "Acme Corp", "Status:", "active", "Created:", "2026-11-20T10:00:00Z (just now)"}},
		{desc: "create -o json prints the API's object", args: []string{"tenant", "create", "--slug", "beta", "-o", "json"},
			out: []string{`"slug": "beta"`, `"status": "active"`, `"id": "ten_`}},
		{desc: "a taken slug is the API's conflict, with its detail", args: []string{"tenant", "create", "--slug", "acme"}, fail: true,
			errOut: []string{"error: Conflict (409 admin.conflict): ", "already taken"}},
		{desc: "a missing required flag is named, with a pointer to --help", args: []string{"tenant", "create", "--name", "x"}, fail: true,
			errOut: []string{"missing required flag --slug", "Run 'gatehouse tenant create --help' for usage."}},
		{desc: "an unknown flag is reported once, with a pointer to --help", args: []string{"tenant", "create", "--slugg", "x"}, fail: true,
			errOut: []string{"unknown flag: --slugg", "--help"}},
		{desc: "list is a table", args: []string{"tenant", "list"},
			out: []string{"ID", "SLUG", "NAME", "STATUS", "CREATED", "acme", "Acme Corp", "beta"}},
		{desc: "get by slug", args: []string{"tenant", "get", "acme"}, out: []string{"Slug:", "acme", "Acme Corp"}},
		{desc: "get of an unknown tenant is not found", args: []string{"tenant", "get", "nope"}, fail: true,
			errOut: []string{"error: Not found (404 admin.not_found)", "nope"}},
		{desc: "too many arguments", args: []string{"tenant", "get", "a", "b"}, fail: true,
			errOut: []string{"too many arguments: expected <id|slug>, got 2"}},
		{desc: "a missing argument is named", args: []string{"tenant", "suspend"}, fail: true,
			errOut: []string{"missing argument <id|slug>"}},
		{desc: "suspend says what it does", args: []string{"tenant", "suspend", "acme"},
			out: []string{"Tenant acme suspended: every key of its consumers now answers tenant.suspended.", "suspended"}},
		{desc: "resume", args: []string{"tenant", "resume", "acme"}, out: []string{"Tenant acme resumed", "active"}},
		{desc: "an unknown verb lists the verbs", args: []string{"tenant", "frobnicate"}, fail: true,
			errOut: []string{`unknown verb "frobnicate" for "gatehouse tenant"`, "(verbs: create, get, list, resume, suspend)"}},
		{desc: "a group without a verb prints its help", args: []string{"tenant"}, out: []string{"Available Commands:", "suspend"}},
		{desc: "a page with more says how to get the next one", args: []string{"tenant", "list", "--limit", "1"},
			errOut: []string{"More tenants: rerun with --after "},
			outFunc: func(t *testing.T, out string) {
				if n := strings.Count(out, "\n"); n != 2 {
					t.Errorf("tenant list --limit 1 printed %d lines, want a header and one row:\n%s", n, out)
				}
			}},
		{desc: "--all follows the cursor; -o json joins the pages", args: []string{"tenant", "list", "--limit", "1", "--all", "-o", "json"},
			out: []string{`"slug": "acme"`, `"slug": "beta"`, `"next": ""`}},
		{desc: "an unknown output format is refused", args: []string{"tenant", "list", "-o", "yaml"}, fail: true,
			errOut: []string{`unknown output format "yaml": use -o table or -o json`}},
	})
}

func TestConsumerCommands(t *testing.T) {
	e := newTestEnv(t)
	e.check(t, []cliCase{
		{desc: "setup", args: []string{"tenant", "create", "--slug", "acme"}},
		{desc: "create with scopes and IP allow-list", args: []string{"consumer", "create", "--tenant", "acme", "--name", "shop-mobile",
			"--scopes", "orders:read,orders:write", "--ip-allow", "10.0.0.0/8"},
			out: []string{"Created consumer shop-mobile. Give it a key with: gatehouse key create --consumer con_", "orders:read,orders:write", "10.0.0.0/8"}},
		{desc: "create -o json", args: []string{"consumer", "create", "--tenant", "acme", "--name", "web", "-o", "json"},
			out: []string{`"name": "web"`, `"status": "active"`, `"scopes": []`}},
		{desc: "create in an unknown tenant", args: []string{"consumer", "create", "--tenant", "nope", "--name", "x"}, fail: true,
			errOut: []string{"admin.not_found", "nope"}},
		{desc: "create without --name", args: []string{"consumer", "create", "--tenant", "acme"}, fail: true,
			errOut: []string{"missing required flag --name"}},
		{desc: "list filtered by tenant", args: []string{"consumer", "list", "--tenant", "acme"},
			out: []string{"TENANT", "SCOPES", "shop-mobile", "orders:read,orders:write", "web"}},
		{desc: "list filtered by name", args: []string{"consumer", "list", "--name", "web"}, out: []string{"web"}, notOut: []string{"shop-mobile"}},
		{desc: "get by tenant-slug/name (escaped as one path segment)", args: []string{"consumer", "get", "acme/shop-mobile"},
			out: []string{"Name:", "shop-mobile", "IP allow:", "10.0.0.0/8"}},
		{desc: "suspend says what it does to the keys", args: []string{"consumer", "suspend", "shop-mobile"},
			out: []string{"Consumer shop-mobile suspended: its keys now answer consumer.suspended.", "suspended"}},
		{desc: "resume", args: []string{"consumer", "resume", "shop-mobile"}, out: []string{"Consumer shop-mobile resumed"}},
		{desc: "delete", args: []string{"consumer", "delete", "acme/web"},
			out: []string{"Consumer acme/web deleted: its keys are revoked and answer consumer.deleted."}},
		{desc: "delete -o json prints nothing (204) and succeeds", args: []string{"consumer", "delete", "acme/shop-mobile", "-o", "json"},
			outFunc: func(t *testing.T, out string) {
				if out != "" {
					t.Errorf("delete -o json printed %q", out)
				}
			}},
		{desc: "a deleted consumer keeps its record", args: []string{"consumer", "get", "acme/web"}, out: []string{"deleted", "Deleted:"}},
		{desc: "get of an unknown consumer", args: []string{"consumer", "get", "ghost"}, fail: true, errOut: []string{"404 admin.not_found"}},
	})
}

var keyRE = regexp.MustCompile(`gk_(live|test)_[0-9A-Za-z]{12}_[0-9A-Za-z]+`)

func TestKeyCommands(t *testing.T) {
	e := newTestEnv(t)
	e.check(t, []cliCase{
		{desc: "setup tenant", args: []string{"tenant", "create", "--slug", "acme"}},
		{desc: "setup consumer", args: []string{"consumer", "create", "--tenant", "acme", "--name", "shop-mobile", "--scopes", "orders:read,orders:write"}},
	})

	// Create: the key appears exactly once, with the shown-once line.
	r := e.run("key", "create", "--consumer", "acme/shop-mobile", "--scopes", "orders:read", "--expires", "90d", "--name", "ci")
	if r.e != nil {
		t.Fatalf("key create: %v\n%s", r.e, r.err)
	}
	full := keyRE.FindString(r.out)
	if full == "" {
		t.Fatalf("key create printed no key:\n%s", r.out)
	}
	if n := strings.Count(r.out, full); n != 1 {
		t.Errorf("key create printed the key %d times, want once:\n%s", n, r.out)
	}
	for _, f := range []string{"shown once — store it now", "expires 2027-02-18T10:00:00Z (in 90d)", "scopes orders:read", "\n    " + full + "\n"} {
		if !strings.Contains(r.out, f) {
			t.Errorf("key create output lacks %q:\n%s", f, r.out)
		}
	}
	id := strings.Split(full, "_")[2]

	var created struct {
		ID, Key, Status, Environment string
		Scopes                       []string
	}
	e.mustJSON(&created, "key", "create", "--consumer", "acme/shop-mobile", "--env", "test")
	if !keyRE.MatchString(created.Key) || created.Status != "active" || created.Environment != "test" || len(created.Scopes) != 2 {
		t.Errorf("key create -o json = %+v: want the full key, status active, env test and the consumer's two scopes", created)
	}
	var rot struct{ ID, Key string }
	e.mustJSON(&rot, "key", "create", "--consumer", "acme/shop-mobile")

	dir := t.TempDir()
	importFile := filepath.Join(dir, "old-key.txt")
	const imported = "legacy-system-key-0123456789abcdef"
	if err := os.WriteFile(importFile, []byte(imported+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyFile := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(emptyFile, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	twoLines := filepath.Join(dir, "two.txt")
	if err := os.WriteFile(twoLines, []byte("a-key-1234567890\nanother-key-12345\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := []string{full, created.Key, rot.Key, imported}

	e.check(t, []cliCase{
		{desc: "list shows metadata, never a key", args: []string{"key", "list", "--consumer", "acme/shop-mobile"},
			out: []string{"ENDS WITH", "STATE", id, "…" + full[len(full)-4:], "active", "2027-02-18T10:00:00Z (in 90d)", "never"}, notOut: secrets},
		{desc: "list -o json never has a key either", args: []string{"key", "list", "-o", "json"}, out: []string{`"last4"`}, notOut: secrets},
		{desc: "get", args: []string{"key", "get", id}, out: []string{"State:", "active", "Name:", "ci", "Scopes:", "orders:read"}, notOut: secrets},
		{desc: "get with the whole key pasted: its id is used, the secret neither sent nor printed", args: []string{"key", "get", full},
			out: []string{"State:", "active"}, errOut: []string{"that is a whole API key; using its id " + id}, notOut: secrets},
		{desc: "a whole key whose id cannot be read is refused without echoing it", args: []string{"key", "revoke", "gk_live_" + strings.Repeat("!", 12) + full[20:], "--reason", "leaked"},
			fail: true, errOut: []string{"looks like a whole API key, but its id cannot be read"}, notOut: []string{full[21:]}},
		{desc: "revoke needs a reason", args: []string{"key", "revoke", id}, fail: true, errOut: []string{"missing required flag --reason"}},
		{desc: "an empty reason is refused before sending", args: []string{"key", "revoke", id, "--reason", " "}, fail: true,
			errOut: []string{"--reason must not be empty"}},
		{desc: "revoke", args: []string{"key", "revoke", id, "--reason", "compromised"},
			out: []string{"Key " + id + " revoked: it now answers key.revoked.", "revoked", "compromised"}},
		{desc: "a revoked key cannot be rotated: the API's conflict detail is shown", args: []string{"key", "rotate", id}, fail: true,
			errOut: []string{"409 admin.conflict", "revoked"}},
		{desc: "rotate with a grace in days prints the successor once", args: []string{"key", "rotate", rot.ID, "--grace", "2d"},
			out: []string{"Rotated key " + rot.ID + "; created successor key ", "shown once — store it now"},
			outFunc: func(t *testing.T, out string) {
				k := keyRE.FindAllString(out, -1)
				if len(k) != 1 || k[0] == rot.Key {
					t.Errorf("rotate printed keys %q, want exactly one new key", k)
				}
			}},
		{desc: "the rotated key shows its successor and grace", args: []string{"key", "get", rot.ID},
			out: []string{"rotating", "Successor:", "Grace until:", "2026-11-22T10:00:00Z (in 2d)"}},
		{desc: "an invalid grace is refused before sending", args: []string{"key", "rotate", rot.ID, "--grace", "soon"}, fail: true,
			errOut: []string{"--grace: duration \"soon\""}},
		{desc: "import reads the key from a file and never prints it", args: []string{"key", "import", "--consumer", "acme/shop-mobile", "--key-file", importFile},
			out: []string{"Imported key ", "ends with …cdef", "The key itself was not printed.", "Imported:"}, notOut: secrets},
		{desc: "import of the same key again is a conflict", args: []string{"key", "import", "--consumer", "acme/shop-mobile", "--key-file", importFile},
			fail: true, errOut: []string{"409"}, notOut: secrets},
		{desc: "import reads stdin with --key-file -", args: []string{"key", "import", "--consumer", "acme/shop-mobile", "--key-file", "-", "-o", "json"},
			inv: invocation{stdin: "  piped-legacy-key-9876543210\r\n"}, out: []string{`"imported": true`, `"last4": "3210"`}, notOut: []string{"piped-legacy-key"}},
		{desc: "import without --key-file: the key never comes from argv", args: []string{"key", "import", "--consumer", "acme/shop-mobile"}, fail: true,
			errOut: []string{"missing required flag --key-file"}},
		{desc: "import refuses a key as an argument", args: []string{"key", "import", "--consumer", "acme/shop-mobile", "--key-file", importFile, imported}, fail: true,
			errOut: []string{"the key must not be an argument", "--key-file -"}, notOut: []string{imported}},
		{desc: "an unexpected argument is not echoed (it may be a secret)", args: []string{"key", "list", "gk_live_secretish"}, fail: true,
			errOut: []string{"unexpected argument (1 given): this command takes flags only"}, notOut: []string{"secretish"}},
		{desc: "import of an empty file", args: []string{"key", "import", "--consumer", "acme/shop-mobile", "--key-file", emptyFile}, fail: true,
			errOut: []string{"is empty: put the key in it"}},
		{desc: "import of a file with two keys", args: []string{"key", "import", "--consumer", "acme/shop-mobile", "--key-file", twoLines}, fail: true,
			errOut: []string{"more than one line"}, notOut: []string{"a-key-1234567890"}},
		{desc: "import of a missing file", args: []string{"key", "import", "--consumer", "acme/shop-mobile", "--key-file", filepath.Join(dir, "nope")}, fail: true,
			errOut: []string{"reading the key: open ", "no such file"}},
		{desc: "import's help says why the key is never an argument", args: []string{"key", "import", "--help"},
			out: []string{"never from an argument", "ps", "shell", "history"}},
		{desc: "an unknown environment is refused before sending", args: []string{"key", "create", "--consumer", "acme/shop-mobile", "--env", "prod"}, fail: true,
			errOut: []string{`--env "prod": use live or test`}},
		{desc: "an unreadable expiry is refused before sending", args: []string{"key", "create", "--consumer", "acme/shop-mobile", "--expires", "tomorrow"}, fail: true,
			errOut: []string{`--expires "tomorrow" is neither a duration`}},
		{desc: "an RFC 3339 expiry is sent as is", args: []string{"key", "create", "--consumer", "acme/shop-mobile", "--expires", "2027-01-31T00:00:00Z", "-o", "json"},
			out: []string{`"expires_at": "2027-01-31T00:00:00Z"`}},
		{desc: "scopes the consumer lacks: the API's detail", args: []string{"key", "create", "--consumer", "acme/shop-mobile", "--scopes", "admin:all"}, fail: true,
			errOut: []string{"400 admin.invalid", "admin:all", "not granted"}},
		{desc: "--scopes '' asks for a key without scopes", args: []string{"key", "create", "--consumer", "acme/shop-mobile", "--scopes", "", "-o", "json"},
			out: []string{`"scopes": []`}},
		{desc: "a key for an unknown consumer", args: []string{"key", "create", "--consumer", "ghost"}, fail: true, errOut: []string{"admin.not_found"}},
		{desc: "the audit log records the changes and no key", args: []string{"audit", "--resource", "key"},
			out: []string{"ACTION", "key.create", "key.revoke", "key.rotate", "key.import"}, notOut: secrets},
		{desc: "audit -o json: before/after with secrets masked", args: []string{"audit", "--action", "key.", "-o", "json"},
			out: []string{`"action": "key.create"`}, notOut: secrets},
	})
}

func TestServiceAndRouteCommands(t *testing.T) {
	e := newTestEnv(t)
	e.check(t, []cliCase{
		{desc: "setup", args: []string{"tenant", "create", "--slug", "acme"}},
		{desc: "create a service with two targets", args: []string{"service", "create", "--tenant", "acme", "--name", "orders",
			"--target", "http://127.0.0.1:9000", "--target", "http://127.0.0.1:9001", "--visibility", "published", "--approval-required"},
			out: []string{"Created service orders. Expose it with: gatehouse route create --service svc_", "http://127.0.0.1:9000, http://127.0.0.1:9001", "published", "required"}},
		{desc: "a target that is not a URL is refused before sending", args: []string{"service", "create", "--tenant", "acme", "--name", "x", "--target", "127.0.0.1:9000"},
			fail: true, errOut: []string{`--target "127.0.0.1:9000" is not an http(s) URL`}},
		{desc: "an unknown visibility", args: []string{"service", "create", "--tenant", "acme", "--name", "x", "--target", "http://a", "--visibility", "public"},
			fail: true, errOut: []string{`--visibility "public": use private or published`}},
		{desc: "a service needs a target", args: []string{"service", "create", "--tenant", "acme", "--name", "x"}, fail: true,
			errOut: []string{"missing required flag --target"}},
		{desc: "list", args: []string{"service", "list", "--tenant", "acme"}, out: []string{"TARGETS", "orders", "published"}},
		{desc: "get by name", args: []string{"service", "get", "orders"}, out: []string{"Targets:", "http://127.0.0.1:9001"}},
		{desc: "create a route", args: []string{"route", "create", "--service", "orders", "--path", "/v1/orders", "--method", "get", "--method", "POST",
			"--scopes", "orders:read", "--strip-prefix"},
			out: []string{"Created route rte_", "takes effect on the next request", "/v1/orders", "GET,POST", "api_key", "orders:read", "Strip prefix:  yes"}},
		{desc: "a path without a leading slash is refused before sending", args: []string{"route", "create", "--service", "orders", "--path", "v1"}, fail: true,
			errOut: []string{`--path "v1" must start with /`}},
		{desc: "a route for an unknown service", args: []string{"route", "create", "--service", "ghost", "--path", "/g"}, fail: true,
			errOut: []string{"admin.not_found"}},
		{desc: "list routes", args: []string{"route", "list", "--service", "orders"}, out: []string{"PATHS", "/v1/orders", "GET,POST", "any"}},
	})
	var routes page[domain.Route]
	e.mustJSON(&routes, "route", "list")
	if len(routes.Items) != 1 {
		t.Fatalf("route list -o json: %d items, want 1", len(routes.Items))
	}
	rid := routes.Items[0].ID
	e.check(t, []cliCase{
		{desc: "get a route", args: []string{"route", "get", rid}, out: []string{"ID:", rid, "Methods:", "GET,POST"}},
		{desc: "a service with routes cannot be deleted: the API says why", args: []string{"service", "delete", "orders"}, fail: true,
			errOut: []string{"409"}},
		{desc: "delete the route", args: []string{"route", "delete", rid}, out: []string{"Route " + rid + " deleted."}},
		{desc: "the deleted route is gone", args: []string{"route", "get", rid}, fail: true, errOut: []string{"404 admin.not_found"}},
		{desc: "delete the service", args: []string{"service", "delete", "orders"}, out: []string{"Service orders deleted."}},
		{desc: "no services left", args: []string{"service", "list"}, out: []string{"No services found."}},
	})
}

// explainCall is a rejected call with an operator-only step, as the
// pipeline records it.
var explainCall = domain.Call{
	RequestID: "01JD3V8X2K9P4QW7M5N6R3T1YZ", Time: t0.Add(-10 * time.Minute),
	RouteID: "rte_orders", ServiceID: "svc_orders", TenantID: "ten_acme",
	CredentialID: "7Hq2xK9pLm3Q", CredentialType: "api_key",
	Method: "GET", Path: "/v1/orders", Status: 401, Code: "key.unknown",
	ClientIP: "203.0.113.7", UserAgent: "curl/8.5.0", LatencyMicros: 412, BytesOut: 389,
	Trace: []domain.TraceStep{
		{Stage: "route", Check: "match", Outcome: "pass", Detail: "GET /v1/orders matched route rte_orders"},
		{Stage: "extract", Check: "api_key", Outcome: "pass", Detail: "Authorization: Bearer"},
		{Stage: "verify", Check: "format", Outcome: "pass", Detail: "well-formed live key, checksum ok"},
		{Stage: "verify", Check: "secret", Outcome: "fail", Detail: "id 7Hq2xK9pLm3Q exists, secret does not match: an old secret of a rotated key?", Private: true},
		{Stage: "identify", Check: "consumer", Outcome: "skip"},
	},
}

func TestCallsAndExplain(t *testing.T) {
	e := newTestEnv(t)
	calls := []domain.Call{
		explainCall,
		{RequestID: "01JD3V9A0B1C2D3E4F5G6H7J8K", Time: t0.Add(-5 * time.Minute), Method: "POST", Path: "/v1/orders", Status: 401, Code: "key.revoked",
			CredentialID: "AAAAbbbbCCCC", LatencyMicros: 900, Trace: []domain.TraceStep{{Stage: "verify", Check: "revocation", Outcome: "fail", Detail: "revoked: compromised"}}},
		{RequestID: "01JD3VOLD0000000000000000", Time: t0.Add(-3 * time.Hour), Method: "GET", Path: "/v1/old", Status: 200, LatencyMicros: 2500},
		{RequestID: "01JD3VEVIL", Time: t0.Add(-time.Minute), Method: "GET", Path: "/x\x1b[2J", UserAgent: "evil\x1b]0;pwned\x07", Status: 404, Code: "route.not_found"},
	}
	if err := e.store.InsertCalls(context.Background(), calls); err != nil {
		t.Fatalf("insert calls: %v", err)
	}
	e.check(t, []cliCase{
		{desc: "calls lists the log newest first", args: []string{"calls"},
			out: []string{"REQUEST ID", "REASON", "01JD3V8X2K9P4QW7M5N6R3T1YZ", "key.unknown", "(10m ago)", "412µs", "01JD3VOLD", "(3h ago)"},
			outFunc: func(t *testing.T, out string) {
				if strings.Index(out, "01JD3V9A0B") > strings.Index(out, "01JD3V8X2K") {
					t.Errorf("calls are not newest first:\n%s", out)
				}
			}},
		{desc: "--since 1h drops older calls", args: []string{"calls", "--since", "1h"}, out: []string{"01JD3V8X2K"}, notOut: []string{"01JD3VOLD"}},
		{desc: "--reason filters by code", args: []string{"calls", "--reason", "key.revoked"}, out: []string{"01JD3V9A0B"}, notOut: []string{"01JD3V8X2K", "01JD3VOLD"}},
		{desc: "--status filters by status", args: []string{"calls", "--status", "200"}, out: []string{"01JD3VOLD"}, notOut: []string{"key.unknown"}},
		{desc: "an unknown reason code: the API's detail", args: []string{"calls", "--reason", "key.nope"}, fail: true,
			errOut: []string{"400 admin.invalid", "is not a reason code"}},
		{desc: "an unreadable --since is refused before sending", args: []string{"calls", "--since", "yesterday"}, fail: true,
			errOut: []string{"--since: \"yesterday\" is neither a duration"}},
		{desc: "a hostile path or user agent cannot reach the terminal raw", args: []string{"calls"},
			out: []string{`/x\x1b[2J`}, notOut: []string{"\x1b"}},
		{desc: "-o json is the API's page", args: []string{"calls", "--limit", "2", "-o", "json"},
			out: []string{`"items": [`, `"request_id": "01JD3VEVIL"`, `"next": "`}},
		{desc: "--limit pages, and says how to continue", args: []string{"calls", "--limit", "1"}, errOut: []string{"More calls: rerun with --after"}},
		{desc: "explain of an unknown request id: the API's detail", args: []string{"explain", "01JD3VNOPE"}, fail: true,
			errOut: []string{"404 admin.not_found", "no call with request id"}},
		{desc: "explain -o json is Appendix A's record", args: []string{"explain", "01JD3V9A0B1C2D3E4F5G6H7J8K", "-o", "json"},
			out: []string{`"request_id": "01JD3V9A0B1C2D3E4F5G6H7J8K"`, `"code": "key.revoked"`, `"trace": [`, `"outcome": "fail"`}},
		{desc: "explain of an allowed call says no trace was kept", args: []string{"explain", "01JD3VOLD0000000000000000"},
			out: []string{"200 OK", "Decision trace: none recorded"}},
	})

	r := e.run("explain", explainCall.RequestID)
	if r.e != nil {
		t.Fatalf("explain: %v\n%s", r.e, r.err)
	}
	for _, f := range []string{"Decision trace:", "  4. ✗ verify", "secret does not match", "(operator only)", "  5. – identify",
		"The caller was told: 401 key.unknown", "Step 4 is for the operator only"} {
		if !strings.Contains(r.out, f) {
			t.Errorf("explain output lacks %q:\n%s", f, r.out)
		}
	}
	golden(t, "explain_command.golden", []byte(r.out))
}

func TestAdminStatusAndAuth(t *testing.T) {
	e := newTestEnv(t)
	e.check(t, []cliCase{{desc: "setup", args: []string{"tenant", "create", "--slug", "acme"}}})

	r := e.run("admin", "create", "--name", "vera", "--role", "viewer")
	if r.e != nil {
		t.Fatalf("admin create: %v\n%s", r.e, r.err)
	}
	viewer := regexp.MustCompile(`gha_[0-9A-Za-z]+`).FindString(r.out)
	if viewer == "" || !strings.Contains(r.out, "This token is shown once — store it now.") || strings.Count(r.out, viewer) != 1 {
		t.Fatalf("admin create should print the new token once with the shown-once line:\n%s", r.out)
	}
	var admins page[domain.Admin]
	e.mustJSON(&admins, "admin", "list")
	var vid string
	for _, a := range admins.Items {
		if a.Name == "vera" {
			vid = a.ID
		}
	}
	asViewer := invocation{vars: map[string]string{EnvAdminToken: viewer}}
	noToken := invocation{vars: map[string]string{EnvAdminToken: ""}}
	wrong := "gha_wrongwrongwrongwrongwrong"
	e.check(t, []cliCase{
		{desc: "admin list never shows tokens", args: []string{"admin", "list"}, out: []string{"ROLE", "vera", "viewer", "bootstrap"}, notOut: []string{viewer}},
		{desc: "tenant-admin needs a tenant", args: []string{"admin", "create", "--name", "t", "--role", "tenant-admin"}, fail: true,
			errOut: []string{"--role tenant-admin needs --tenant"}},
		{desc: "an unknown role", args: []string{"admin", "create", "--name", "t", "--role", "boss"}, fail: true,
			errOut: []string{`--role "boss": use admin, tenant-admin or viewer`}},
		{desc: "a viewer may read", args: []string{"tenant", "list"}, inv: asViewer, out: []string{"acme"}},
		{desc: "a viewer may not write: 403 says so", args: []string{"tenant", "create", "--slug", "x"}, inv: asViewer, fail: true,
			errOut: []string{"your admin token's role does not allow this (403)", "viewer"}},
		{desc: "--token overrides the environment", args: []string{"tenant", "create", "--slug", "y", "--token", viewer}, fail: true,
			errOut: []string{"(403)"}, notOut: []string{viewer}},
		{desc: "no token: say where it comes from", args: []string{"tenant", "list"}, inv: noToken, fail: true,
			errOut: []string{"no admin token was sent", "GATEHOUSE_ADMIN_TOKEN", "--token", "printed once on its first start"}},
		{desc: "a wrong token: say it is wrong, never echo it", args: []string{"tenant", "list", "--token", wrong}, fail: true,
			errOut: []string{"the admin API rejected the token (401)", "GATEHOUSE_ADMIN_TOKEN"}, notOut: []string{wrong}},
		{desc: "status shows the gateway's state", args: []string{"status"},
			out: []string{"version:", "test-1", "environment:", "live", "store_version:", "calllog.dropped:", "2", "time:"}},
		{desc: "status -o json", args: []string{"status", "-o", "json"}, out: []string{`"version": "test-1"`, `"calllog": {`}},
		{desc: "the audit log names the admin created", args: []string{"audit", "--resource", "admin"}, out: []string{"admin.create", vid, "bootstrap (adm_"}, notOut: []string{viewer}},
		{desc: "the audit log records the refused write", args: []string{"audit", "--action", "tenant.create.denied", "-o", "json"},
			out: []string{`"action": "tenant.create.denied"`}, notOut: []string{viewer}},
		{desc: "delete an admin", args: []string{"admin", "delete", vid}, out: []string{"Admin " + vid + " deleted; its token no longer works."}},
		{desc: "the deleted admin's token is refused", args: []string{"tenant", "list"}, inv: asViewer, fail: true,
			errOut: []string{"the admin API rejected the token (401)"}},
	})
}

func TestUnreachableAndBadURL(t *testing.T) {
	e := newTestEnv(t)
	down := closedURL(t)
	e.check(t, []cliCase{
		{desc: "connection refused: say where and how to set the URL", args: []string{"tenant", "list"},
			inv: invocation{vars: map[string]string{EnvAdminURL: down}}, fail: true,
			errOut: []string{"the admin API isn't reachable at " + down, "connection refused", "export GATEHOUSE_ADMIN_URL=http://127.0.0.1:8081"}},
		{desc: "--admin-url overrides the environment", args: []string{"status", "--admin-url", down}, fail: true,
			errOut: []string{"isn't reachable at " + down}},
		{desc: "a URL that is not http(s)", args: []string{"status", "--admin-url", "ftp://host"}, fail: true,
			errOut: []string{`admin URL "ftp://host" is not an http(s) URL`}},
		{desc: "a URL carrying credentials is refused, not echoed", args: []string{"status", "--admin-url", "http://u:hunter2hunter2@127.0.0.1:1"}, fail: true,
			errOut: []string{"must not carry credentials"}, notOut: []string{"hunter2"}},
		{desc: "the proxy port or another server: the 404 says which URL to check", args: []string{"status", "--admin-url", e.url + "/not-admin"}, fail: true,
			errOut: []string{"404"}},
	})
}

// TestDefaultURL: with neither flag nor variable the CLI goes to the
// documented default.
func TestDefaultURL(t *testing.T) {
	a := &app{io: IO{Getenv: func(string) string { return "" }}.withDefaults(), g: globals{output: outTable}}
	c, err := a.client()
	if err != nil {
		t.Fatal(err)
	}
	if got := c.base.String(); got != DefaultAdminURL {
		t.Errorf("default admin URL = %q, want %q", got, DefaultAdminURL)
	}
}
