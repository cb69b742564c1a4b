package admin

import (
	"context"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/reqid"
)

func TestCalls(t *testing.T) {
	e := newEnv(t)
	a := e.fixture("acme")
	b := e.fixture("globex")
	mk := func(ago time.Duration, f fixture, status int, code string) domain.Call {
		at := t0.Add(-ago)
		c := domain.Call{RequestID: reqid.New(at), Time: at, RouteID: f.routeID, ServiceID: f.serviceID, TenantID: f.tenantID,
			ConsumerID: f.consumerID, CredentialID: f.keyID, CredentialType: "api_key", Method: "GET", Path: "/" + f.slug, Status: status, Code: code}
		if code != "" {
			c.Trace = []domain.TraceStep{
				{Stage: "route", Check: "match", Outcome: domain.OutcomePass, Detail: "route " + f.routeID},
				{Stage: "verify", Check: "revocation", Outcome: domain.OutcomeFail, Detail: "revoked: compromised"},
			}
		}
		return c
	}
	calls := []domain.Call{
		mk(10*time.Minute, a, 200, ""),
		mk(20*time.Minute, a, 401, "key.revoked"),
		mk(3*time.Hour, a, 401, "key.revoked"),
		mk(30*time.Minute, b, 403, "consumer.suspended"),
		mk(40*time.Minute, b, 200, ""),
	}
	if err := e.store.InsertCalls(context.Background(), calls); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		desc   string
		query  string
		want   []string // request ids, newest first
		status int
		detail string
	}{
		{desc: "everything, newest first", query: "", want: ids(calls[0], calls[1], calls[3], calls[4], calls[2])},
		{desc: "by reason", query: "?reason=key.revoked", want: ids(calls[1], calls[2])},
		{desc: "by reason since 1h", query: "?reason=key.revoked&since=1h", want: ids(calls[1])},
		{desc: "since as RFC 3339", query: "?since=" + t0.Add(-25*time.Minute).Format(time.RFC3339), want: ids(calls[0], calls[1])},
		{desc: "until", query: "?until=35m", want: ids(calls[4], calls[2])},
		{desc: "by consumer name", query: "?consumer=globex%2Fapp", want: ids(calls[3], calls[4])},
		{desc: "by tenant", query: "?tenant=acme", want: ids(calls[0], calls[1], calls[2])},
		{desc: "by route", query: "?route=" + b.routeID, want: ids(calls[3], calls[4])},
		{desc: "by status", query: "?status=403", want: ids(calls[3])},
		{desc: "paged", query: "?limit=2", want: ids(calls[0], calls[1])},
		{desc: "unknown reason", query: "?reason=key.revokd", status: 400, detail: `reason "key.revokd" is not a reason code`},
		{desc: "bad since", query: "?since=yesterday", status: 400, detail: "since"},
		{desc: "until before since", query: "?since=1h&until=2h", status: 400, detail: "before since"},
		{desc: "bad status", query: "?status=abc", status: 400, detail: "status"},
		{desc: "unknown consumer", query: "?consumer=ghost", status: 404, detail: "ghost"},
		{desc: "a path where a route id belongs is a mistake, not 'no calls'", query: "?route=/acme", status: 400, detail: `route "/acme" is a path; route takes a route id (rte_…)`},
		{desc: "a route id no route has now (a deleted route's calls remain)", query: "?route=rte_0000000000000000", want: nil},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			r := e.do(e.root, "GET", "/admin/v1/calls"+c.query, nil)
			if c.status != 0 {
				code := CodeInvalid
				if c.status == 404 {
					code = CodeNotFound
				}
				if d := problemOf(t, r, c.status, code); !strings.Contains(d, c.detail) {
					t.Fatalf("detail %q lacks %q", d, c.detail)
				}
				return
			}
			if r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			var got []string
			for _, it := range r.items(t) {
				got = append(got, it["request_id"].(string))
			}
			if fmtAny(got) != fmtAny(c.want) {
				t.Fatalf("got %v\nwant %v", got, c.want)
			}
		})
	}

	t.Run("one call with its trace", func(t *testing.T) {
		r := e.must(200, "GET", "/admin/v1/calls/"+calls[1].RequestID, nil).JSON(t)
		if r["request_id"] != calls[1].RequestID || r["status"] != float64(401) || r["code"] != "key.revoked" ||
			r["consumer"] != a.consumerID || r["credential_id"] != a.keyID || r["route"] != a.routeID || r["path"] != "/acme" {
			t.Fatalf("call %v", r)
		}
		tr, _ := r["trace"].([]any)
		if len(tr) != 2 || fmtAny(tr[1]) != "map[check:revocation detail:revoked: compromised outcome:fail stage:verify]" {
			t.Fatalf("trace %v", r["trace"])
		}
		// A call without a trace still has the member.
		if tr, ok := e.must(200, "GET", "/admin/v1/calls/"+calls[0].RequestID, nil).JSON(t)["trace"].([]any); !ok || len(tr) != 0 {
			t.Fatalf("trace %v", tr)
		}
		// Appendix A's shape: consumer is there even when no consumer was
		// identified (an unknown key).
		anon := domain.Call{RequestID: reqid.New(t0), Time: t0, Method: "GET", Path: "/x", Status: 401, Code: "key.unknown"}
		if err := e.store.InsertCalls(context.Background(), []domain.Call{anon}); err != nil {
			t.Fatal(err)
		}
		if c, ok := e.must(200, "GET", "/admin/v1/calls/"+anon.RequestID, nil).JSON(t)["consumer"]; !ok || c != "" {
			t.Fatalf("consumer member %v (present %v)", c, ok)
		}
		if d := problemOf(t, e.do(e.root, "GET", "/admin/v1/calls/01JD3VXXXXXXXXXXXXXXXXXXXX", nil), 404, CodeNotFound); !strings.Contains(d, "X-Request-Id") ||
			!strings.Contains(d, "dry runs are not calls") {
			t.Fatal(d)
		}
		// A request id retyped in lower case is the same id; something that
		// is no request id at all is told so, not "not found".
		if r := e.must(200, "GET", "/admin/v1/calls/"+strings.ToLower(anon.RequestID), nil).JSON(t); r["request_id"] != anon.RequestID {
			t.Errorf("a lower-case id: %v", r)
		}
		if d := problemOf(t, e.do(e.root, "GET", "/admin/v1/calls/not-a-request-id", nil), 400, CodeInvalid); !strings.Contains(d, "is not a request id") {
			t.Errorf("a malformed id: %s", d)
		}
	})
}

func ids(cs ...domain.Call) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.RequestID
	}
	return out
}
