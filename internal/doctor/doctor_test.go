package doctor

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDecide: the gateway's answer is the verdict; the fix comes from the
// local finding that explains it, then the doctor's own wording, then the
// gateway's hint, then the catalogue.
func TestDecide(t *testing.T) {
	cases := []struct {
		desc     string
		keyEnv   string
		jwtKid   string
		jwtIss   string
		findings []*finding
		a        answer
		verdict  string
		fix      string
	}{
		{desc: "admitted by the dry run", a: answer{answered: true},
			verdict: VerdictOK, fix: "Nothing to fix: the gateway would accept this request."},
		{desc: "admitted by the real request", a: answer{answered: true, real: true},
			verdict: VerdictOK, fix: "Nothing to fix: the gateway accepted the request."},
		{desc: "admitted, but the caller's client sends whitespace the doctor's client trimmed",
			findings: []*finding{{code: "auth.malformed_header", blocking: true, hidden: true, fix: "A space after the token: remove it."}},
			a:        answer{answered: true}, verdict: "auth.malformed_header", fix: "A space after the token: remove it."},
		{desc: "admitted despite a non-hidden local worry (e.g. a JWT within the gateway's leeway)",
			findings: []*finding{{code: "jwt.expired", blocking: true, fix: "get a fresh token"}},
			a:        answer{answered: true}, verdict: VerdictOK},
		{desc: "the local finding explains the gateway's code",
			findings: []*finding{{code: "auth.scheme_unsupported", blocking: true, fix: "Send 'Authorization: Bearer <key>' instead of 'Token <key>'."}},
			a:        answer{answered: true, code: "auth.scheme_unsupported", hint: "Use one of the schemes named in the detail."},
			verdict:  "auth.scheme_unsupported", fix: "Send 'Authorization: Bearer <key>' instead of 'Token <key>'."},
		{desc: "a finding's other codes count too",
			findings: []*finding{{code: "key.malformed", explains: []string{"key.unknown"}, blocking: true, fix: "Send the JWT as 'Authorization: Bearer <token>'"}},
			a:        answer{answered: true, code: "key.unknown"}, verdict: "key.unknown", fix: "Send the JWT as"},
		{desc: "wrong environment learnt only from the real request", keyEnv: "test",
			a:       answer{answered: true, real: true, code: "key.wrong_environment", hint: "Use a key of this gateway's environment (the detail names both)."},
			verdict: "key.wrong_environment", fix: "This is a test key and the gateway serves live: use a gk_live_ key"},
		{desc: "upstream down",
			a:       answer{answered: true, real: true, code: "upstream.unavailable", requestID: "01RID"},
			verdict: "upstream.unavailable", fix: "The gateway accepted the credential but the service behind it is down: tell the API owner, quoting request ID 01RID."},
		{desc: "upstream timeout",
			a:       answer{answered: true, real: true, code: "upstream.timeout", requestID: "01RID"},
			verdict: "upstream.timeout", fix: "did not answer in time: tell the API owner, quoting request ID 01RID."},
		{desc: "a 404 of the service itself",
			a:       answer{answered: true, real: true, code: ServiceError, status: 404, requestID: "01RID"},
			verdict: ServiceError, fix: "refused it (404): check the request against the API's documentation, or ask the API owner, quoting request ID 01RID."},
		{desc: "the gateway's hint otherwise",
			a:       answer{answered: true, code: "key.revoked", hint: "Ask the owner of application 'shop' for a new key."},
			verdict: "key.revoked", fix: "Ask the owner of application 'shop' for a new key."},
		{desc: "missing scopes are named",
			a:       answer{answered: true, code: "scope.insufficient", hint: "Create a key with the missing scopes.", detail: "This route requires scope(s) a:b; credential X lacks a:b."},
			verdict: "scope.insufficient", fix: "The key lacks a:b: use a key with those scopes (its application must be granted them first)."},
		{desc: "a credential type the route does not take: what it accepts",
			a: answer{answered: true, code: "auth.method_not_allowed", hint: "Use one of the credential types named in the detail.",
				detail: "The request carries an API key in the X-API-Key header, which this route does not accept. This route accepts a JWT in 'Authorization: Bearer …'; or a user name and password in 'Authorization: Basic …'."},
			verdict: "auth.method_not_allowed", fix: "This route does not take this kind of credential: it accepts a JWT in 'Authorization: Bearer …'; or a user name and password in 'Authorization: Basic …'."},
		{desc: "a credential type the route does not take, in an older gateway's wording",
			a: answer{answered: true, code: "auth.method_not_allowed", hint: "Use one of the credential types named in the detail.",
				detail: "The request carries a JWT bearer token, which this route does not accept. It accepts an API key in 'X-API-Key: gk_…'."},
			verdict: "auth.method_not_allowed", fix: "This route does not take this kind of credential: it accepts an API key in 'X-API-Key: gk_…'."},
		{desc: "IP not allowed names the address the gateway saw",
			a: answer{answered: true, code: "ip.not_allowed", hint: "Call from an allowed network, or ask the operator to add the address shown.",
				detail: "The gateway saw client address 203.0.113.9 (from X-Forwarded-For), which is not in the allow-list of credential X."},
			verdict: "ip.not_allowed", fix: "The gateway sees this machine as 203.0.113.9, which the credential's IP allow-list does not include: call from an allowed network, or ask the operator to allow 203.0.113.9."},
		{desc: "IP not allowed by the application's list, with an X-Forwarded-For the gateway did not trust",
			a: answer{answered: true, code: "ip.not_allowed", hint: "Call from an allowed network, or ask the operator to add the address shown.",
				detail: "The gateway saw client address 10.0.0.7 (from the connection; the request's X-Forwarded-For was not used: the peer is not one of the gateway's trusted_proxies, or the field names no address outside them), which is not in the allow-list of application 'shop'."},
			verdict: "ip.not_allowed", fix: "The gateway sees this machine as 10.0.0.7, which the application's IP allow-list does not include: call from an allowed network, or ask the operator to allow 10.0.0.7. (Behind a proxy: the gateway does not trust it for X-Forwarded-For; its operator lists trusted proxies in trusted_proxies.)"},
		{desc: "a hint that points at the detail gets the detail",
			a:       answer{answered: true, code: "subscription.pending", hint: "Ask the approver named in the detail to approve the request.", detail: "Approver: ops@acme."},
			verdict: "subscription.pending", fix: "Ask the approver named in the detail to approve the request: Approver: ops@acme."},
		{desc: "a JWT signed by a key the issuer does not publish: the kid and issuer are named", jwtKid: "2023-k9", jwtIss: "https://idp.example/",
			a: answer{answered: true, code: "jwt.unknown_kid", requestID: "01RID", hint: "Get a fresh token; if it persists the issuer's keys have changed.",
				detail: `No signing key of issuer "https://idp.example/" has kid "2023-k9".`},
			verdict: "jwt.unknown_kid", fix: "The token is signed with key '2023-k9', which issuer https://idp.example/ does not publish (no such kid in its key set): get a fresh token from https://idp.example/"},
		{desc: "unknown kid without a kid (the issuer has several keys): the gateway's hint and detail",
			a: answer{answered: true, code: "jwt.unknown_kid", hint: "Get a fresh token; if it persists the issuer's keys have changed.",
				detail: "The token has no kid and the issuer has 2 keys for RS256; the token must name its key."},
			verdict: "jwt.unknown_kid", fix: "Get a fresh token; if it persists the issuer's keys have changed."},
		{desc: "the issuer's key set never fetched: the gateway cannot reach the keys, the token is not blamed",
			a: answer{answered: true, code: "auth.backend_unavailable", requestID: "01RID", hint: "Retry later; if it persists, tell the API operator and quote the request ID.",
				detail: `The gateway has not been able to fetch the signing keys of issuer "https://idp.example/".`},
			verdict: "auth.backend_unavailable", fix: "The gateway cannot fetch the signing keys (JWKS) of issuer https://idp.example/, so it cannot check any token of that issuer: your token is not at fault. Tell the API operator that the issuer's key set is unreachable from the gateway, quoting request ID 01RID; retry later."},
		{desc: "another backend unavailable (introspection, store): its detail, and not the caller's fault",
			a:       answer{answered: true, code: "auth.backend_unavailable", requestID: "01RID", detail: "The token introspection endpoint of issuer 'okta' did not answer."},
			verdict: "auth.backend_unavailable", fix: "The gateway cannot reach what it needs to check the credential (The token introspection endpoint of issuer 'okta' did not answer): your credential is not at fault. Retry later; if it persists, tell the API operator, quoting request ID 01RID."},
		{desc: "no hint: the catalogue's",
			a:       answer{answered: true, code: "consumer.suspended"},
			verdict: "consumer.suspended", fix: "Contact the API operator to resume the application."},
		{desc: "an unknown code (a minimal-disclosure family) and no hint",
			a:       answer{answered: true, code: "key", requestID: "01RID"},
			verdict: "key", fix: "Quote request ID 01RID to the API operator."},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r, err := newRun(Options{URL: "http://gw.example/"})
			if err != nil {
				t.Fatal(err)
			}
			r.keyEnv, r.findings, r.jwtKid, r.jwtIss = tc.keyEnv, tc.findings, tc.jwtKid, tc.jwtIss
			rep := r.decide(tc.a)
			if rep.Verdict != tc.verdict || !strings.Contains(rep.Fix, tc.fix) {
				t.Errorf("got %s / %q, want %s / %q", rep.Verdict, rep.Fix, tc.verdict, tc.fix)
			}
			if rep.OK() != (tc.verdict == VerdictOK) {
				t.Errorf("OK() = %v for verdict %s", rep.OK(), rep.Verdict)
			}
		})
	}
}

// TestReportJSONShape pins Appendix A: exactly verdict, fix, checks, and
// each check exactly name, ok, detail.
func TestReportJSONShape(t *testing.T) {
	rep := Report{Verdict: "key.revoked", Fix: "x", Checks: []Check{{Name: "n", OK: false, Detail: "d", Level: Fail, Group: GroupLocal, Notes: []string{"trace"}}}}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	if keysOf(top) != "checks,fix,verdict" {
		t.Fatalf("top-level fields %s", keysOf(top))
	}
	var checks []map[string]json.RawMessage
	if err := json.Unmarshal(top["checks"], &checks); err != nil {
		t.Fatal(err)
	}
	if keysOf(checks[0]) != "detail,name,ok" {
		t.Fatalf("check fields %s", keysOf(checks[0]))
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back.Checks[0], Check{Name: "n", Detail: "d"}) {
		t.Fatalf("round trip %+v %v", back, err)
	}
}

func keysOf[V any](m map[string]V) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ",")
}

func TestHuman(t *testing.T) {
	cases := []struct {
		d    time.Duration
		want string
	}{
		{450 * time.Millisecond, "450 ms"},
		{45 * time.Second, "45 s"},
		{2 * time.Minute, "2 min"},
		{2*time.Minute + 5*time.Second, "2 min 5 s"},
		{-3 * time.Hour, "3 h"},
		{26*time.Hour + 20*time.Minute, "26 h 20 min"},
		{12 * 24 * time.Hour, "12 days"},
	}
	for _, tc := range cases {
		if got := human(tc.d); got != tc.want {
			t.Errorf("human(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
