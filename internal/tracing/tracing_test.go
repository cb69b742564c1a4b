package tracing_test

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"gatehouse/internal/domain"
	"gatehouse/internal/tracing"
)

const (
	inTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	inParent = "00f067aa0ba902b7"
	inTS     = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
)

// traceparentRE is the W3C version-00 traceparent the gateway must send.
var traceparentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[0-3])$`)

// request is an inbound request carrying credentials in the places a
// client puts them; none may reach the collector.
func request(method, traceparent, tracestate string) *http.Request {
	r := httptest.NewRequest(method, "/v1/orders/42?api_key=sk_QUERYSECRET&expand=items", nil)
	r.Header.Set("Authorization", "Bearer gk_live_HEADERSECRET")
	r.Header.Set("X-Api-Key", "gk_live_OTHERSECRET")
	if traceparent != "" {
		r.Header.Set("traceparent", traceparent)
	}
	if tracestate != "" {
		r.Header.Set("tracestate", tracestate)
	}
	return r
}

func TestExportedSpan(t *testing.T) {
	cases := []struct {
		desc        string
		traceparent string
		tracestate  string
		call        domain.Call
		wantName    string
		wantStatus  tracepb.Status_StatusCode
		wantAttrs   map[string]any
	}{
		{
			desc:        "a forwarded call inherits the caller's sampled trace",
			traceparent: "00-" + inTrace + "-" + inParent + "-01", tracestate: inTS,
			call: domain.Call{RequestID: "01JD3V0000000000000000TEST", Method: "POST", Path: "/v1/orders/42",
				RouteID: "rt_orders", ServiceID: "svc_orders", TenantID: "ten_acme", ConsumerID: "con_shop",
				CredentialID: "7Hq2xK9pLm3Q", CredentialType: "api_key", Status: 201, ClientIP: "203.0.113.7",
				UserAgent: "shop/1.2", BytesIn: 12, BytesOut: 34, UpstreamMicros: 1500, Engine: "fast"},
			wantName: "POST rt_orders", wantStatus: tracepb.Status_STATUS_CODE_UNSET,
			wantAttrs: map[string]any{
				"http.request.method": "POST", "url.path": "/v1/orders/42", "http.response.status_code": int64(201),
				"gatehouse.request_id": "01JD3V0000000000000000TEST", "gatehouse.route.id": "rt_orders",
				"gatehouse.service.id": "svc_orders", "gatehouse.tenant.id": "ten_acme", "gatehouse.consumer.id": "con_shop",
				"gatehouse.credential.id": "7Hq2xK9pLm3Q", "gatehouse.credential.type": "api_key",
				"gatehouse.engine": "fast", "client.address": "203.0.113.7", "user_agent.original": "shop/1.2",
				"http.request.body.size": int64(12), "http.response.body.size": int64(34),
				"gatehouse.upstream.duration_us": int64(1500),
			},
		},
		{
			desc: "a rejection without a traceparent is a new root span with its reason code",
			call: domain.Call{RequestID: "01JD3V0000000000000000REJ1", Method: "POST", Path: "/v1/orders/42",
				Status: 401, Code: "key.unknown", CredentialType: "api_key", ClientIP: "203.0.113.7"},
			wantName: "POST", wantStatus: tracepb.Status_STATUS_CODE_UNSET,
			wantAttrs: map[string]any{
				"http.request.method": "POST", "url.path": "/v1/orders/42", "http.response.status_code": int64(401),
				"gatehouse.request_id": "01JD3V0000000000000000REJ1", "gatehouse.credential.type": "api_key",
				"gatehouse.reason": "key.unknown", "client.address": "203.0.113.7",
				"http.request.body.size": int64(0), "http.response.body.size": int64(0),
			},
		},
		{
			desc:        "an upstream failure marks the span as an error",
			traceparent: "00-" + inTrace + "-" + inParent + "-01",
			call: domain.Call{RequestID: "01JD3V0000000000000000ERR1", Method: "POST", Path: "/v1/orders/42",
				RouteID: "rt_orders", Status: 502, Code: "upstream.unavailable"},
			wantName: "POST rt_orders", wantStatus: tracepb.Status_STATUS_CODE_ERROR,
			wantAttrs: map[string]any{
				"http.request.method": "POST", "url.path": "/v1/orders/42", "http.response.status_code": int64(502),
				"gatehouse.request_id": "01JD3V0000000000000000ERR1", "gatehouse.route.id": "rt_orders",
				"gatehouse.reason":       "upstream.unavailable",
				"http.request.body.size": int64(0), "http.response.body.size": int64(0),
			},
		},
		{
			desc: "an unknown method is named HTTP and recorded as _OTHER",
			call: domain.Call{RequestID: "01JD3V0000000000000000OTH1", Method: "PROPFIND", Path: "/dav",
				Status: 404, Code: "route.not_found"},
			wantName: "HTTP", wantStatus: tracepb.Status_STATUS_CODE_UNSET,
			wantAttrs: map[string]any{
				"http.request.method": "_OTHER", "url.path": "/dav", "http.response.status_code": int64(404),
				"gatehouse.request_id": "01JD3V0000000000000000OTH1", "gatehouse.reason": "route.not_found",
				"http.request.body.size": int64(0), "http.response.body.size": int64(0),
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			c := newCollector(t)
			lg := &logs{}
			tr := newTracer(t, c, 1, lg)
			_, span := tr.Start(request(tc.call.Method, tc.traceparent, tc.tracestate))
			tp, ts := span.Traceparent()
			span.End(&tc.call)
			shutdown(t, tr)

			spans := c.got()
			if len(spans) != 1 {
				t.Fatalf("collector got %d spans, want 1", len(spans))
			}
			sp := spans[0]
			m := traceparentRE.FindStringSubmatch(tp)
			if m == nil {
				t.Fatalf("Traceparent() = %q, not a W3C version-00 traceparent", tp)
			}
			if hexID(sp.GetTraceId()) != m[1] || hexID(sp.GetSpanId()) != m[2] || m[3] != "01" {
				t.Errorf("Traceparent() = %q, exported span trace %s span %s: the upstream must get the exported span as parent",
					tp, hexID(sp.GetTraceId()), hexID(sp.GetSpanId()))
			}
			if tc.traceparent != "" {
				if hexID(sp.GetTraceId()) != inTrace || hexID(sp.GetParentSpanId()) != inParent {
					t.Errorf("span trace %s parent %s, want the caller's %s / %s",
						hexID(sp.GetTraceId()), hexID(sp.GetParentSpanId()), inTrace, inParent)
				}
			} else if len(sp.GetParentSpanId()) != 0 {
				t.Errorf("span has parent %s, want a root span", hexID(sp.GetParentSpanId()))
			}
			if sp.GetTraceState() != tc.tracestate || ts != tc.tracestate {
				t.Errorf("tracestate exported %q, for the upstream %q, want %q", sp.GetTraceState(), ts, tc.tracestate)
			}
			if sp.GetName() != tc.wantName || sp.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
				t.Errorf("span %q kind %v, want %q SERVER", sp.GetName(), sp.GetKind(), tc.wantName)
			}
			if got := sp.GetStatus().GetCode(); got != tc.wantStatus {
				t.Errorf("span status %v, want %v", got, tc.wantStatus)
			}
			if tc.wantStatus == tracepb.Status_STATUS_CODE_ERROR && sp.GetStatus().GetMessage() != tc.call.Code {
				t.Errorf("status message %q, want the reason code %q", sp.GetStatus().GetMessage(), tc.call.Code)
			}
			got := attrs(sp.GetAttributes())
			for k, v := range tc.wantAttrs {
				if got[k] != v {
					t.Errorf("attribute %s = %#v, want %#v", k, got[k], v)
				}
			}
			for k, v := range got {
				if _, ok := tc.wantAttrs[k]; !ok {
					t.Errorf("unexpected attribute %s = %#v", k, v)
				}
			}
			if sp.resource["service.name"] != "gatehouse-test" {
				t.Errorf("resource service.name = %v", sp.resource["service.name"])
			}
			everything := c.everything() + lg.String()
			for _, secret := range []string{"SECRET", "api_key=", "expand=items", "collector-token"} {
				if strings.Contains(everything, secret) {
					t.Errorf("%q reached the collector or the log", secret)
				}
			}
			for _, h := range c.headers {
				if got := h.Get("Authorization"); got != collectorToken {
					t.Errorf("collector Authorization = %q, want the configured header", got)
				}
			}
		})
	}
}

// TestTraceparentFormat: what the gateway sends upstream is always a valid
// version-00 traceparent that agrees byte for byte with OTel's own
// propagator; an inbound one is inherited only when it is valid W3C.
func TestTraceparentFormat(t *testing.T) {
	cases := []struct {
		desc, inbound string
		inherit       bool
		wantFlags     string
	}{
		{"valid, sampled", "00-" + inTrace + "-" + inParent + "-01", true, "01"},
		{"valid, not sampled (parent-based: not sampled here either)", "00-" + inTrace + "-" + inParent + "-00", true, "00"},
		{"future version with an extra field", "01-" + inTrace + "-" + inParent + "-01-what-the-future-holds", true, "01"},
		{"none", "", false, "01"},
		{"upper-case hex", "00-" + strings.ToUpper(inTrace) + "-" + inParent + "-01", false, "01"},
		{"all-zero trace id", "00-" + strings.Repeat("0", 32) + "-" + inParent + "-01", false, "01"},
		{"all-zero parent id", "00-" + inTrace + "-" + strings.Repeat("0", 16) + "-01", false, "01"},
		{"version ff", "ff-" + inTrace + "-" + inParent + "-01", false, "01"},
		{"version 00 with an extra field", "00-" + inTrace + "-" + inParent + "-01-extra", false, "01"},
		{"short trace id", "00-" + inTrace[:30] + "-" + inParent + "-01", false, "01"},
		{"not hex", "00-" + strings.Repeat("g", 32) + "-" + inParent + "-01", false, "01"},
		{"garbage", "hello", false, "01"},
	}
	c := newCollector(t)
	tr := newTracer(t, c, 1, nil)
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			ctx, span := tr.Start(request("GET", tc.inbound, ""))
			defer span.End(nil)
			tp, _ := span.Traceparent()
			m := traceparentRE.FindStringSubmatch(tp)
			if m == nil {
				t.Fatalf("Traceparent() = %q, not a W3C version-00 traceparent", tp)
			}
			if m[1] == strings.Repeat("0", 32) || m[2] == strings.Repeat("0", 16) {
				t.Errorf("Traceparent() = %q has an all-zero id", tp)
			}
			if m[2] == inParent {
				t.Errorf("Traceparent() = %q: the parent id must be the gateway's span, not the caller's", tp)
			}
			if inherited := m[1] == inTrace; inherited != tc.inherit {
				t.Errorf("Traceparent() = %q: trace inherited %v, want %v", tp, inherited, tc.inherit)
			}
			if m[3] != tc.wantFlags {
				t.Errorf("flags %s, want %s", m[3], tc.wantFlags)
			}
			carrier := propagation.MapCarrier{}
			propagation.TraceContext{}.Inject(ctx, carrier)
			if carrier["traceparent"] != tp {
				t.Errorf("Traceparent() = %q, OTel's propagator writes %q", tp, carrier["traceparent"])
			}
			if sc := trace.SpanContextFromContext(ctx); sc.SpanID().String() != m[2] {
				t.Errorf("returned context holds span %s, Traceparent names %s", sc.SpanID(), m[2])
			}
		})
	}
}

// TestSampling: parent-based ratio sampling. An unsampled request exports
// nothing but still sends the upstream a valid traceparent with sampled 0.
func TestSampling(t *testing.T) {
	cases := []struct {
		desc         string
		ratio        float64
		inbound      string
		wantExported int
		wantFlags    string
		wantTrace    string // "" = a new trace
	}{
		{"ratio 0, new trace: nothing exported, context still propagated", 0, "", 0, "00", ""},
		{"ratio 0, caller sampled: the caller's decision wins", 0, "00-" + inTrace + "-" + inParent + "-01", 1, "01", inTrace},
		{"ratio 1, caller not sampled: the caller's decision wins", 1, "00-" + inTrace + "-" + inParent + "-00", 0, "00", inTrace},
		{"ratio 1, new trace: exported", 1, "", 1, "01", ""},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			c := newCollector(t)
			tr := newTracer(t, c, tc.ratio, nil)
			_, span := tr.Start(request("GET", tc.inbound, ""))
			tp, _ := span.Traceparent()
			span.End(&domain.Call{RequestID: "r1", Method: "GET", Path: "/v1/orders/42", Status: 200})
			shutdown(t, tr)
			m := traceparentRE.FindStringSubmatch(tp)
			if m == nil {
				t.Fatalf("Traceparent() = %q, not a W3C version-00 traceparent", tp)
			}
			if m[3] != tc.wantFlags {
				t.Errorf("Traceparent() = %q, want flags %s", tp, tc.wantFlags)
			}
			if tc.wantTrace != "" && m[1] != tc.wantTrace {
				t.Errorf("Traceparent() = %q, want trace %s", tp, tc.wantTrace)
			}
			if tc.wantTrace == "" && m[1] == inTrace {
				t.Errorf("Traceparent() = %q reuses the test's trace id", tp)
			}
			if got := len(c.got()); got != tc.wantExported {
				t.Errorf("exported %d spans, want %d", got, tc.wantExported)
			}
		})
	}
}

// TestDisabled: no endpoint is tracing off — a nil Tracer whose methods
// do nothing, allocate nothing and send nothing upstream.
func TestDisabled(t *testing.T) {
	tr, err := tracing.New(context.Background(), tracing.Config{SampleRatio: 1, ServiceName: "x"}, nil)
	if err != nil || tr != nil {
		t.Fatalf("New without endpoint = %v, %v; want nil, nil", tr, err)
	}
	r := request("GET", "00-"+inTrace+"-"+inParent+"-01", inTS)
	ctx, span := tr.Start(r)
	if ctx != r.Context() || span != nil {
		t.Errorf("Start = %v, %v; want the request's context and a nil span", ctx, span)
	}
	if tp, ts := span.Traceparent(); tp != "" || ts != "" {
		t.Errorf("Traceparent() = %q, %q; want empty (the proxy then passes the client's through)", tp, ts)
	}
	span.End(&domain.Call{})
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	call := &domain.Call{RequestID: "r1", Status: 200}
	allocs := testing.AllocsPerRun(100, func() {
		_, s := tr.Start(r)
		tp, ts := s.Traceparent()
		_, _ = tp, ts
		s.End(call)
	})
	if allocs != 0 {
		t.Errorf("disabled tracing allocates %v times per request, want 0", allocs)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	cases := []struct {
		desc     string
		cfg      tracing.Config
		wantText string
	}{
		{"no scheme", tracing.Config{Endpoint: "collector:4318", SampleRatio: 1}, "http://"},
		{"gRPC-style scheme", tracing.Config{Endpoint: "grpc://collector:4317", SampleRatio: 1}, "http://"},
		{"credentials in the URL", tracing.Config{Endpoint: "http://user:hunter2@collector:4318", SampleRatio: 1}, "headers"},
		{"query", tracing.Config{Endpoint: "http://collector:4318/?token=hunter2", SampleRatio: 1}, "query"},
		{"no host", tracing.Config{Endpoint: "http:///v1/traces", SampleRatio: 1}, "host"},
		{"negative ratio", tracing.Config{Endpoint: "http://collector:4318", SampleRatio: -0.1}, "0"},
		{"ratio above 1", tracing.Config{Endpoint: "http://collector:4318", SampleRatio: 1.5}, "1"},
		{"NaN ratio", tracing.Config{Endpoint: "http://collector:4318", SampleRatio: math.NaN()}, "ratio"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			tr, err := tracing.New(context.Background(), tc.cfg, nil)
			if err == nil {
				_ = tr.Shutdown(context.Background())
				t.Fatal("New accepted it")
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not say %q", err, tc.wantText)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q repeats a secret", err)
			}
		})
	}
}
