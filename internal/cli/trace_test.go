package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test ./internal/cli -run %s -update to create it): %v", t.Name(), err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (rerun with -update if the change is intended)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

var traceTime = time.Date(2026, 11, 20, 10, 0, 0, 123456000, time.UTC)

// traceCases are the calls explain and quickstart must render; each has a
// golden file testdata/trace_<name>.golden.
var traceCases = []struct {
	name string
	desc string
	call domain.Call
	// must lists fragments the rendering has to contain whatever the
	// golden file says, so a careless -update cannot bless a regression.
	must []string
	// mustNot lists fragments that must never appear.
	mustNot []string
}{
	{
		name: "secret_mismatch",
		desc: "a key whose id exists but whose secret is wrong: the caller was told key.unknown, the operator sees why",
		call: domain.Call{
			RequestID: "01JD3V8X2K9P4QW7M5N6R3T1YZ", Time: traceTime,
			RouteID: "rt_orders", ServiceID: "svc_orders", TenantID: "tn_acme",
			CredentialID: "7Hq2xK9pLm3Q", CredentialType: "api_key",
			Method: "GET", Path: "/v1/orders", Status: 401, Code: "key.unknown",
			ClientIP: "203.0.113.7", UserAgent: "curl/8.5.0", LatencyMicros: 412, BytesIn: 0, BytesOut: 389,
			Trace: []domain.TraceStep{
				{Stage: "route", Check: "match", Outcome: "pass", Detail: "GET /v1/orders matched route rt_orders (service svc_orders)"},
				{Stage: "extract", Check: "api_key", Outcome: "pass", Detail: "Authorization: Bearer gk_live_7Hq2xK9pLm3Q_…"},
				{Stage: "verify", Check: "format", Outcome: "pass", Detail: "well-formed live key, checksum ok"},
				{Stage: "verify", Check: "secret", Outcome: "fail", Detail: "id 7Hq2xK9pLm3Q exists, secret does not match: an old secret of a rotated key?", Private: true},
				{Stage: "identify", Check: "consumer", Outcome: "skip"},
				{Stage: "authorize", Check: "scopes", Outcome: "skip"},
				{Stage: "limit", Check: "rate", Outcome: "skip"},
				{Stage: "forward", Check: "upstream", Outcome: "skip"},
			},
		},
		must: []string{
			" 1. ✓ route", " 4. ✗ verify", "secret does not match", "(operator only)", " 5. – identify",
			"The caller was told: 401 key.unknown", "Step 4 is for the operator only",
		},
	},
	{
		name: "revoked",
		desc: "a revoked key presented with its right secret: everything may be told, nothing is operator-only",
		call: domain.Call{
			RequestID: "01JD3V9A0B1C2D3E4F5G6H7J8K", Time: traceTime,
			RouteID: "rt_orders", ServiceID: "svc_orders", TenantID: "tn_acme", ConsumerID: "cn_shop",
			CredentialID: "7Hq2xK9pLm3Q", CredentialType: "api_key",
			Method: "POST", Path: "/v1/orders", Status: 401, Code: "key.revoked",
			ClientIP: "203.0.113.7", LatencyMicros: 1530, BytesIn: 120, BytesOut: 402,
			Trace: []domain.TraceStep{
				{Stage: "route", Check: "match", Outcome: "pass", Detail: "POST /v1/orders matched route rt_orders"},
				{Stage: "extract", Check: "api_key", Outcome: "pass", Detail: "X-API-Key"},
				{Stage: "verify", Check: "secret", Outcome: "pass", Detail: "secret matches"},
				{Stage: "verify", Check: "revocation", Outcome: "fail", Detail: "revoked at 2026-11-20T09:00:00Z: compromised"},
			},
		},
		must:    []string{"✗ verify", "revoked at 2026-11-20T09:00:00Z: compromised", "The caller was told: 401 key.revoked — API key revoked", "No step is operator-only"},
		mustNot: []string{"(operator only)"},
	},
	{
		name: "two_private",
		desc: "several operator-only steps are all listed",
		call: domain.Call{
			RequestID: "01JD3VA", Method: "GET", Path: "/x", Status: 401, Code: "key.unknown",
			Trace: []domain.TraceStep{
				{Stage: "verify", Check: "lookup", Outcome: "pass", Detail: "id found", Private: true},
				{Stage: "verify", Check: "secret", Outcome: "fail", Detail: "mismatch", Private: true},
			},
		},
		must: []string{"Steps 1, 2 are for the operator only", "Route:       none matched"},
	},
	{
		name: "minimal",
		desc: "a rejection on a route with minimal disclosure: the caller saw only the family, and is not to be shown the trace",
		call: domain.Call{
			RequestID: "01JD3VD", Method: "GET", Path: "/km", Status: 401, Code: "key.revoked", CredentialID: "Fa1TeEAeTYbQ",
			Trace: []domain.TraceStep{
				{Stage: "verify", Check: "revocation", Outcome: "fail", Detail: "revoked at 2026-11-20T09:00:00Z: compromised"},
				{Stage: "route", Check: "disclosure", Outcome: "skip", Private: true,
					Detail: "this route's disclosure is minimal: the caller was told only the code family 'key' and its title, not the code, detail or hint"},
			},
		},
		must:    []string{"The caller was told only: 401 key (this route's disclosure is minimal", "share no more of this trace with the caller than the code family"},
		mustNot: []string{"The caller was told: 401 key.revoked", "may be shared with the caller"},
	},
	{
		name: "allowed",
		desc: "an allowed call keeps no trace and says so",
		call: domain.Call{
			RequestID: "01JD3VB", Time: traceTime, RouteID: "rt_orders", ServiceID: "svc_orders", TenantID: "tn_acme",
			ConsumerID: "cn_shop", CredentialID: "7Hq2xK9pLm3Q", CredentialType: "api_key",
			Method: "GET", Path: "/v1/orders", Status: 200, LatencyMicros: 2_450_000, UpstreamMicros: 2_400_000,
			BytesOut: 1 << 20, Engine: "httputil",
		},
		must:    []string{"→ 200 OK", "none recorded", "2.45s total, 2.40s upstream", "The caller was told: 200 OK"},
		mustNot: []string{"Step", "operator only"},
	},
	{
		name: "hostile",
		desc: "a caller-chosen path and user agent with terminal escapes are printed inert",
		call: domain.Call{
			RequestID: "01JD3VC", Method: "GET", Path: "/v1/\x1b[2Jx\ny", Status: 404, Code: "route.not_found",
			UserAgent: "evil\x1b]0;pwned\x07",
			Trace:     []domain.TraceStep{{Stage: "route", Check: "match", Outcome: "fail", Detail: "no route for /v1/\x1b[2Jx"}},
		},
		must:    []string{`/v1/\x1b[2Jx\ny`, `"evil\x1b]0;pwned\a"`},
		mustNot: []string{"\x1b", "\x07"},
	},
}

func TestRenderTrace(t *testing.T) {
	for _, tc := range traceCases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			RenderTrace(&buf, tc.call)
			out := buf.String()
			for _, m := range tc.must {
				if !strings.Contains(out, m) {
					t.Errorf("%s: output lacks %q:\n%s", tc.desc, m, out)
				}
			}
			for _, m := range tc.mustNot {
				if strings.Contains(out, m) {
					t.Errorf("%s: output contains %q:\n%s", tc.desc, m, out)
				}
			}
			golden(t, "trace_"+tc.name+".golden", buf.Bytes())
		})
	}
}

// TestRenderTraceDeterministic: quickstart prints the same call the same way
// whatever the clock says, so RenderTrace must not depend on the time.
func TestRenderTraceDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	RenderTrace(&a, traceCases[0].call)
	RenderTrace(&b, traceCases[0].call)
	if a.String() != b.String() {
		t.Fatalf("two renderings differ:\n%s\n%s", a.String(), b.String())
	}
	if strings.Contains(a.String(), "ago") {
		t.Fatalf("rendering contains a relative time:\n%s", a.String())
	}
}
