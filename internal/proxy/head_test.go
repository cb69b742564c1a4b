package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"gatehouse/internal/domain"
)

// headState is a fast engine's request state for r, as Forward prepares it.
func headState(t testing.TB, opts Options, svc domain.Service, r *http.Request, out *Outbound) *fastState {
	t.Helper()
	if len(svc.Targets) == 0 {
		svc.Targets = []domain.Target{{URL: "http://10.0.0.9:8080", Weight: 1}}
	}
	svc.ID, svc.Name = "svc", "svc"
	up := NewUpstreams(UpstreamOptions{}).For(svc)
	if up.Err() != nil {
		t.Fatal(up.Err())
	}
	out.Upstream = up
	st := NewFast(opts).get()
	st.up, st.r, st.out, st.t = up, r, out, up.pick(nil)
	return st
}

// viaFastHTTP is what build and fasthttp's Request.Write send for st.
func viaFastHTTP(t testing.TB, st *fastState) []byte {
	t.Helper()
	st.build()
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	if err := st.req.Write(bw); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// headLines splits a request head into its request line, its first field
// (Host) and the other fields sorted by name — stably, so repeated fields
// keep their order: Go's map iteration gives the client's fields in a
// different order in each walk, and only the order of a name's values is
// the engine's promise.
func headLines(t testing.TB, head []byte) (first, host string, fields []string) {
	t.Helper()
	s, ok := strings.CutSuffix(string(head), "\r\n\r\n")
	if !ok {
		t.Fatalf("head does not end with an empty line: %q", head)
	}
	lines := strings.Split(s, "\r\n")
	if len(lines) < 2 {
		t.Fatalf("head without fields: %q", head)
	}
	fields = lines[2:]
	slices.SortStableFunc(fields, func(a, b string) int {
		ka, _, _ := strings.Cut(a, ":")
		kb, _, _ := strings.Cut(b, ":")
		return strings.Compare(ka, kb)
	})
	return lines[0], lines[1], fields
}

// sameHead reports whether buildHead's head equals fasthttp's for r: byte
// for byte when the client sent at most one field name (a map walk then has
// one order), else line for line with the client's fields compared per
// name (headLines).
func sameHead(t testing.TB, r *http.Request, head, want []byte) bool {
	t.Helper()
	if len(r.Header) <= 1 {
		return bytes.Equal(head, want)
	}
	gFirst, gHost, gFields := headLines(t, head)
	wFirst, wHost, wFields := headLines(t, want)
	return gFirst == wFirst && gHost == wHost && slices.Equal(gFields, wFields)
}

// TestRequestHeadMatchesFastHTTP holds buildHead, the fast engine's writer
// for requests without a body, to what fasthttp's raw mode (build) sends for
// the same request: the same request line, Host first, the same fields with
// the same values in the same order per name, Content-Length: 0 where
// fasthttp sends it, CR and LF in values made spaces.
func TestRequestHeadMatchesFastHTTP(t *testing.T) {
	identity := Identity{Tenant: "t_acme", Consumer: "c_shop", Credential: "7Hq2xK9pLm3Q",
		Scopes: "orders:read", RequestID: "01JD3V0000000000000000TEST"}
	for _, tc := range []struct {
		desc   string
		method string
		url    string
		header http.Header
		svc    domain.Service
		opts   Options
		out    Outbound
		want   []string // fields the head must hold, among others
		reject []string // substrings it must not hold
	}{
		{desc: "a plain GET with identity", method: "GET", url: "http://api.example.com/v1/orders?id=7",
			header: http.Header{"User-Agent": {"wrk/4.2"}, "Accept": {"*/*"}, "Authorization": {"Bearer gk_live_x"}},
			out:    Outbound{Path: "/v1/orders", RawQuery: "id=7", Identity: identity, DropHeaders: []string{"Authorization"}, ClientIP: "203.0.113.7"},
			want:   []string{"Host: 10.0.0.9:8080", "X-Gatehouse-Consumer: c_shop", "X-Request-Id: 01JD3V0000000000000000TEST", "X-Forwarded-For: 203.0.113.7"},
			reject: []string{"Authorization", "Content-Length"}},
		{desc: "HEAD sends no Content-Length", method: "HEAD", url: "http://api.example.com/x",
			out: Outbound{Path: "/x", Identity: identity}, reject: []string{"Content-Length"}},
		{desc: "DELETE without a body says Content-Length: 0", method: "DELETE", url: "http://api.example.com/orders/7",
			out: Outbound{Path: "/orders/7", Identity: identity}, want: []string{"Content-Length: 0"}},
		{desc: "POST with an empty body says Content-Length: 0", method: "POST", url: "http://api.example.com/orders",
			header: http.Header{"Content-Type": {"application/json"}},
			out:    Outbound{Path: "/orders", Identity: identity}, want: []string{"Content-Length: 0", "Content-Type: application/json"}},
		{desc: "repeated fields keep their order", method: "GET", url: "http://api.example.com/",
			header: http.Header{"Accept": {"text/html", "application/json", "*/*"}, "X-Trace-Hop": {"a", "b"}},
			out:    Outbound{Path: "/", Identity: identity},
			want:   []string{"Accept: text/html", "Accept: application/json", "Accept: */*", "X-Trace-Hop: a"}},
		{desc: "hop-by-hop fields, and those Connection names, stay behind", method: "GET", url: "http://api.example.com/",
			header: http.Header{"Connection": {"keep-alive, X-Secret"}, "X-Secret": {"s"}, "Keep-Alive": {"timeout=5"},
				"Te": {"trailers, gzip"}, "Upgrade-Insecure-Requests": {"1"}, "X-Gatehouse-Consumer": {"forged"}},
			out:    Outbound{Path: "/", Identity: identity},
			want:   []string{"Te: trailers", "Upgrade-Insecure-Requests: 1", "X-Gatehouse-Consumer: c_shop"},
			reject: []string{"X-Secret", "Keep-Alive", "forged", "Connection"}},
		{desc: "the client's request ID goes on when the gateway sets none", method: "GET", url: "http://api.example.com/",
			header: http.Header{"X-Request-Id": {"client-7"}}, out: Outbound{Path: "/"}, want: []string{"X-Request-Id: client-7"}},
		{desc: "trace context replaced by the gateway's", method: "GET", url: "http://api.example.com/",
			header: http.Header{"Traceparent": {"00-client-01"}, "Tracestate": {"k=v"}},
			out:    Outbound{Path: "/", Traceparent: "00-gateway-01", Tracestate: "g=1"},
			want:   []string{"Traceparent: 00-gateway-01", "Tracestate: g=1"}, reject: []string{"client", "k=v"}},
		{desc: "CR and LF in a value become spaces", method: "GET", url: "http://api.example.com/",
			header: http.Header{"X-Note": {"a\r\nX-Injected: 1"}},
			out:    Outbound{Path: "/", Identity: Identity{Consumer: "c\nX-Evil: 1"}},
			want:   []string{"X-Note: a  X-Injected: 1", "X-Gatehouse-Consumer: c X-Evil: 1"}},
		{desc: "CR and LF in a field name become spaces (no listener hands one on)", method: "GET", url: "http://api.example.com/",
			header: http.Header{"X-A\r\nX-Injected": {"1"}}, out: Outbound{Path: "/"},
			want: []string{"X-A  X-Injected: 1"}},
		{desc: "Host preserved, Forwarded sent", method: "GET", url: "http://api.example.com/p",
			svc: domain.Service{HostHeader: "preserve"}, opts: Options{Forwarded: true},
			out:  Outbound{Path: "/p", ClientIP: "203.0.113.7"},
			want: []string{"Host: api.example.com", `Forwarded: for="203.0.113.7";host="api.example.com";proto=http`, "X-Forwarded-Host: api.example.com"}},
		{desc: "an escaped path and a query", method: "GET", url: "http://api.example.com/a%2Fb?q=1&r=%20",
			svc: domain.Service{Targets: []domain.Target{{URL: "http://10.0.0.9:8080/base", Weight: 1}}},
			out: Outbound{Path: "/a%2Fb", RawQuery: "q=1&r=%20"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.url, nil)
			for k, vv := range tc.header {
				r.Header[k] = vv
			}
			out := tc.out
			st := headState(t, tc.opts, tc.svc, r, &out)
			if !bodyless(r) {
				t.Fatal("the request has a body")
			}
			st.buildHead()
			head := append([]byte(nil), st.head...)
			want := viaFastHTTP(t, st)
			if !sameHead(t, r, head, want) {
				t.Errorf("buildHead:\n%s\nfasthttp:\n%s", head, want)
			}
			for _, f := range tc.want {
				if !bytes.Contains(head, []byte("\r\n"+f+"\r\n")) {
					t.Errorf("head lacks %q:\n%s", f, head)
				}
			}
			for _, s := range tc.reject {
				if bytes.Contains(head, []byte(s)) {
					t.Errorf("head holds %q:\n%s", s, head)
				}
			}
			if n := bytes.Count(head, []byte("\r\n")); n != bytes.Count(want, []byte("\r\n")) {
				t.Errorf("%d lines, fasthttp %d", n, bytes.Count(want, []byte("\r\n")))
			}
		})
	}
}

// TestRequestHeadAllocatesNothing: once st.head has grown, a request
// without a body is serialised without an allocation.
func TestRequestHeadAllocatesNothing(t *testing.T) {
	r := httptest.NewRequest("GET", "http://api.example.com/v1/orders?id=7", nil)
	r.Header.Set("User-Agent", "wrk/4.2")
	r.Header.Set("Accept", "application/json")
	out := &Outbound{Path: "/v1/orders", RawQuery: "id=7", ClientIP: "203.0.113.7",
		Identity: Identity{Tenant: "t_acme", Consumer: "c_shop", Credential: "7Hq2xK9pLm3Q", RequestID: "01JD3V0000000000000000TEST"}}
	st := headState(t, Options{Forwarded: true}, domain.Service{}, r, out)
	if n := testing.AllocsPerRun(100, st.buildHead); n != 0 {
		t.Errorf("buildHead: %.1f allocations per request, want 0", n)
	}
}

// BenchmarkRequestHead compares the two ways of producing a small GET's
// head: buildHead, and build plus fasthttp's Request.Write.
func BenchmarkRequestHead(b *testing.B) {
	r := httptest.NewRequest("GET", "http://api.example.com/v1/orders?id=7", nil)
	r.Header.Set("User-Agent", "wrk/4.2")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("Authorization", "Bearer gk_live_x")
	out := &Outbound{Path: "/v1/orders", RawQuery: "id=7", ClientIP: "203.0.113.7", DropHeaders: []string{"Authorization", "X-Api-Key"},
		Identity: Identity{Tenant: "t_acme", Consumer: "c_shop", Credential: "7Hq2xK9pLm3Q", Scopes: "orders:read", RequestID: "01JD3V0000000000000000TEST"}}
	st := headState(b, Options{}, domain.Service{}, r, out)
	bw := bufio.NewWriter(io.Discard)
	b.Run("buildHead", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			st.buildHead()
			_, _ = bw.Write(st.head)
			_ = bw.Flush()
		}
	})
	b.Run("fasthttp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			st.build()
			_ = st.req.Write(bw)
			_ = bw.Flush()
		}
	})
}

// FuzzRequestHead holds buildHead to fasthttp's raw-mode bytes for
// arbitrary methods, hosts, client fields and identity values: as a client
// or an operator could send them, CR, LF and all.
func FuzzRequestHead(f *testing.F) {
	f.Add("GET", "api.example.com", false, "/v1/orders", "id=7", "Accept", "*/*", "X-Note", "a\r\nX-Injected: 1", "c_shop", false)
	f.Add("DELETE", "h", true, "/", "", "Connection", "x-a, close", "X-A", "1", "", true)
	f.Add("POST", "h\r\nX: 1", true, "/p%2Fq", "a=%20", "Te", "trailers", "X-Request-Id", "client", "c\n", false)
	f.Add("HEAD", "", false, "", "", "Content-Length", "5", "Transfer-Encoding", "chunked", "x", true)
	f.Add("G\nET", "h", false, "/", "", "Accept", "a", "Accept", "b", "", false)
	f.Fuzz(func(t *testing.T, method, host string, preserve bool, path, query, k1, v1, k2, v2, consumer string, fwd bool) {
		if method == "" || k1 == "" || k2 == "" || strings.ContainsAny(k1+k2, ":\r\n") {
			return // not a method or field name a listener would hand on
		}
		r := httptest.NewRequest("GET", "http://api.example.com/", nil)
		r.Method, r.Host = method, host
		r.Header[k1] = append(r.Header[k1], v1)
		r.Header[k2] = append(r.Header[k2], v2)
		out := &Outbound{Path: path, RawQuery: query, ClientIP: "203.0.113.7",
			Identity: Identity{Consumer: consumer, RequestID: "01JD3V0000000000000000TEST"}}
		svc := domain.Service{Targets: []domain.Target{{URL: "http://10.0.0.9:8080/base", Weight: 1}}}
		if preserve {
			svc.HostHeader = "preserve"
		}
		st := headState(t, Options{Forwarded: fwd}, svc, r, out)
		st.buildHead()
		head := append([]byte(nil), st.head...)
		want := viaFastHTTP(t, st)
		if !sameHead(t, r, head, want) {
			t.Errorf("buildHead:\n%q\nfasthttp:\n%q", head, want)
		}
	})
}
