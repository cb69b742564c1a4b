package pipeline

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"gatehouse/internal/authheader"
	"gatehouse/internal/clock"
	"gatehouse/internal/credential"
	"gatehouse/internal/credential/apikey"
	"gatehouse/internal/domain"
	"gatehouse/internal/keys"
	"gatehouse/internal/policy"
	"gatehouse/internal/proxy"
	"gatehouse/internal/ratelimit"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/store"
	"gatehouse/internal/trace"
)

var now = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// fixture builds a snapshot with one tenant, consumer, key, service and
// route, without a store: the pipeline's unit tests and benchmarks need
// nothing else. (The black-box tests in internal/server use the real
// store.)
func fixture(tb testing.TB) (*snapshot.Snapshot, string) {
	tb.Helper()
	k, err := keys.Generate("live")
	if err != nil {
		tb.Fatal(err)
	}
	d := &store.Data{
		Tenants:   []domain.Tenant{{ID: "t1", Slug: "acme", Status: domain.StatusActive}},
		Consumers: []domain.Consumer{{ID: "c1", TenantID: "t1", Name: "app", Status: domain.StatusActive, Scopes: []string{"a", "b"}}},
		Keys:      []domain.APIKey{{ID: k.ID, ConsumerID: "c1", Environment: "live", Hash: keys.Hash(k.Full)}},
		Services:  []domain.Service{{ID: "s1", TenantID: "t1", Name: "svc"}},
		Routes:    []domain.Route{{ID: "r1", ServiceID: "s1", Paths: []string{"/api"}, Scopes: []string{"a"}}},
	}
	s, err := snapshot.Build(d, snapshot.Options{Now: now})
	if err != nil {
		tb.Fatal(err)
	}
	return s, k.Full
}

func TestNoSnapshotIsBackendUnavailable(t *testing.T) {
	p := New(Options{Snapshots: &snapshot.Holder{}, Clock: clock.NewFake(now)})
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest("GET", "/api", nil))
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	cases := []struct {
		desc, remote, xff, want, source string
	}{
		{"untrusted peer: socket, XFF ignored", "203.0.113.9:1234", "1.2.3.4", "203.0.113.9", "socket"},
		{"trusted peer: rightmost untrusted XFF", "10.0.0.2:1", "198.51.100.7, 10.0.0.5", "198.51.100.7", "X-Forwarded-For"},
		{"trusted peer, forged left entries ignored", "10.0.0.2:1", "6.6.6.6, 198.51.100.7", "198.51.100.7", "X-Forwarded-For"},
		{"trusted peer, garbage XFF: socket", "10.0.0.2:1", "nonsense", "10.0.0.2", "socket"},
		{"IPv6 peer", "[2001:db8::1]:443", "", "2001:db8::1", "socket"},
		{"IPv4-mapped IPv6 peer: unmapped", "[::ffff:192.0.2.4]:80", "", "192.0.2.4", "socket"},
	}
	p := New(Options{TrustedProxies: trusted})
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			ip, src := p.clientIP(r)
			if ip.String() != tc.want || src != tc.source {
				t.Fatalf("got %s from %s, want %s from %s", ip, src, tc.want, tc.source)
			}
			if s := ipString(ip, src, r.RemoteAddr); s != tc.want {
				t.Errorf("ipString = %q, want %q", s, tc.want)
			}
		})
	}
	// The call record's address of an IPv4 peer is the connection's text,
	// not a new string.
	if n := testing.AllocsPerRun(100, func() {
		_ = ipString(netip.AddrFrom4([4]byte{203, 0, 113, 9}), "socket", "203.0.113.9:1234")
	}); n != 0 {
		t.Errorf("ipString of an IPv4 peer: %.1f allocations", n)
	}
}

func TestUpstreamPathAndQuery(t *testing.T) {
	r := &snapshot.Route{Route: domain.Route{Paths: []string{"/demo/"}, StripPrefix: true, UpstreamPath: "/v2/"}}
	for in, want := range map[string]string{"/demo": "/v2", "/demo/x/y": "/v2/x/y", "/demox": "/v2/demox", "/demo/a%2Fb": "/v2/a%2Fb"} {
		if got := upstreamPath(r, httptest.NewRequest("GET", in, nil)); got != want {
			t.Errorf("upstreamPath(%q) = %q, want %q", in, got, want)
		}
	}
	if got := stripQueryKey("a=1&api_key=gk_secret&b=2", true); got != "a=1&b=2" {
		t.Errorf("stripQueryKey = %q", got)
	}
	if got := stripQueryKey("api_key=x", false); got != "api_key=x" {
		t.Errorf("stripQueryKey touched a query the key did not come from: %q", got)
	}
}

// BenchmarkAuthStage measures extract → verify → identify → authorize for
// a valid key: the acceptance bound is ≤ 3 allocations per request.
func BenchmarkAuthStage(b *testing.B) {
	snap, key := fixture(b)
	route, _ := snap.Match("gw", "/api/x", "GET")
	h := http.Header{"Authorization": {"Bearer " + key}}
	v := apikey.Verifier{}
	var tr trace.Trace
	ip := netip.MustParseAddr("127.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		tr.Reset()
		pres, rerr := authheader.FromRequest(h, "", false)
		if rerr != nil {
			b.Fatal(rerr)
		}
		in := credential.Input{Snap: snap, Presented: pres, Env: "live", Now: now, Trace: &tr}
		id, rerr := v.Verify(&in)
		if rerr != nil {
			b.Fatal(rerr)
		}
		if rerr := identify(&id, &tr); rerr != nil {
			b.Fatal(rerr)
		}
		if rerr := policy.Authorize(&policy.Input{Route: route, Identity: &id, ClientIP: ip, IPSource: "socket", Trace: &tr}); rerr != nil {
			b.Fatal(rerr)
		}
	}
}

// BenchmarkGarbageKey measures the rejection of a garbage key, the flood
// case: offline checks only, no lookup.
func BenchmarkGarbageKey(b *testing.B) {
	snap, _ := fixture(b)
	h := http.Header{"Authorization": {"Bearer gk_live_garbage_garbage"}}
	v := apikey.Verifier{}
	var tr trace.Trace
	b.ReportAllocs()
	for b.Loop() {
		tr.Reset()
		pres, _ := authheader.FromRequest(h, "", false)
		in := credential.Input{Snap: snap, Presented: pres, Env: "live", Now: now, Trace: &tr}
		if _, rerr := v.Verify(&in); rerr == nil {
			b.Fatal("accepted garbage")
		}
	}
}

// okForwarder answers 200 itself: the benchmarks below measure the
// pipeline, not an upstream.
type okForwarder struct{}

func (okForwarder) Forward(w http.ResponseWriter, r *http.Request, out *proxy.Outbound) (proxy.Result, error) {
	w.WriteHeader(200)
	return proxy.Result{Status: 200, Engine: "bench", Target: "none"}, nil
}

type nopRecorder struct{}

func (nopRecorder) Record(*domain.Call) bool { return true }

func benchServe(b *testing.B, header string) {
	snap, key := fixture(b)
	var h snapshot.Holder
	h.Store(snap)
	p := New(Options{Snapshots: &h, Verifiers: []credential.Verifier{apikey.Verifier{}}, Forwarder: okForwarder{},
		Calls: nopRecorder{}, Environment: "live", Logger: slog.New(slog.DiscardHandler)})
	if header == "good" {
		header = "Bearer " + key
	}
	req := httptest.NewRequest("GET", "/api/x", nil)
	req.Header.Set("Authorization", header)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			p.ServeHTTP(w, req)
		}
	})
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

func BenchmarkServeAllowed(b *testing.B) { benchServe(b, "good") }
func BenchmarkServeGarbage(b *testing.B) { benchServe(b, "Bearer garbage") }
func BenchmarkServeUnknown(b *testing.B) {
	k, _ := keys.Generate("live")
	benchServe(b, "Bearer "+k.Full)
}

// BenchmarkServePolicy is BenchmarkServeAllowed's request on the policy
// bench row's configuration (issue 5: ≥ 0.95× the API-key path): the
// consumer belongs to another tenant and reaches the published service
// through an approved subscription, the route requires a scope and has a
// rate limit per consumer (in memory) that the loop never exhausts.
func BenchmarkServePolicy(b *testing.B) {
	k, err := keys.Generate("live")
	if err != nil {
		b.Fatal(err)
	}
	d := &store.Data{
		Tenants: []domain.Tenant{{ID: "t1", Slug: "acme", Status: domain.StatusActive},
			{ID: "t2", Slug: "beta", Status: domain.StatusActive}},
		Consumers: []domain.Consumer{{ID: "c1", TenantID: "t2", Name: "app", Status: domain.StatusActive, Scopes: []string{"a", "b"}}},
		Keys:      []domain.APIKey{{ID: k.ID, ConsumerID: "c1", Environment: "live", Hash: keys.Hash(k.Full), Scopes: []string{"a"}}},
		Services:  []domain.Service{{ID: "s1", TenantID: "t1", Name: "svc", Visibility: domain.VisibilityPublished}},
		Routes: []domain.Route{{ID: "r1", ServiceID: "s1", Paths: []string{"/api"}, Scopes: []string{"a"},
			RateLimit: &domain.RateLimit{Limit: 1_000_000_000, Period: domain.Duration(time.Hour)}}},
		Subscriptions: []domain.Subscription{{ID: "sub1", ConsumerID: "c1", ServiceID: "s1", ConsumerTenantID: "t2",
			ServiceTenantID: "t1", State: domain.SubscriptionApproved}},
	}
	snap, err := snapshot.Build(d, snapshot.Options{Now: now})
	if err != nil {
		b.Fatal(err)
	}
	var h snapshot.Holder
	h.Store(snap)
	p := New(Options{Snapshots: &h, Verifiers: []credential.Verifier{apikey.Verifier{}}, Forwarder: okForwarder{},
		Calls: nopRecorder{}, Environment: "live", Logger: slog.New(slog.DiscardHandler),
		Limiter: ratelimit.NewMemory(ratelimit.MemoryOptions{})})
	req := httptest.NewRequest("GET", "/api/x", nil)
	req.Header.Set("Authorization", "Bearer "+k.Full)
	w := &discardWriter{h: http.Header{}}
	p.ServeHTTP(w, req)
	if w.h.Get("RateLimit") == "" {
		b.Fatalf("not limited: %v", w.h)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			p.ServeHTTP(w, req)
		}
	})
}

// The rate-limit key a pooled state keeps is rebuilt whenever any part
// differs from the request before: a stale key would count one client's
// calls against another's limit.
func TestLimitKeyFollowsItsParts(t *testing.T) {
	var k limitKey
	for _, tc := range []struct{ route, kind, id, want string }{
		{"r1", ":c:", "c_a", "rl:r1:c:c_a"},
		{"r1", ":c:", "c_a", "rl:r1:c:c_a"},
		{"r1", ":c:", "c_b", "rl:r1:c:c_b"},
		{"r2", ":c:", "c_b", "rl:r2:c:c_b"},
		{"r2", ":k:", "c_b", "rl:r2:k:c_b"},
		{"r2", "", "", "rl:r2"},
		{"r2:c:c_b", "", "", "rl:r2:c:c_b"},
	} {
		if got := k.get(tc.route, tc.kind, tc.id); got != tc.want {
			t.Errorf("get(%q, %q, %q) = %q, want %q", tc.route, tc.kind, tc.id, got, tc.want)
		}
	}
	k.get("r1", ":c:", "c_a")
	if n := testing.AllocsPerRun(100, func() { k.get("r1", ":c:", "c_a") }); n != 0 {
		t.Errorf("a repeated key: %.1f allocations, want none", n)
	}
}
