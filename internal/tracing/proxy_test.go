package tracing_test

import (
	"net/http"
	"testing"

	"gatehouse/internal/domain"
	"gatehouse/internal/proxy"
	"gatehouse/internal/proxy/proxytest"
	"gatehouse/internal/tracing"
)

// TestUpstreamSeesChildTraceparent runs the pipeline's tracing calls
// through the proxy conformance harness (a real gateway server, both
// engines, a real upstream): the upstream receives the gateway span's
// context — the caller's trace id, the gateway's span as parent — and the
// collector receives that span as the caller's child. With tracing off
// the caller's own fields reach the upstream untouched.
func TestUpstreamSeesChildTraceparent(t *testing.T) {
	const inbound = "00-" + inTrace + "-" + inParent + "-01"
	engines := []struct {
		name string
		new  func(*testing.T) proxy.Forwarder
	}{
		{"fast", func(*testing.T) proxy.Forwarder { return proxy.NewFast(proxy.Options{}) }},
		{"httputil", func(*testing.T) proxy.Forwarder { return proxy.NewHTTPUtil(proxy.Options{}) }},
	}
	for _, e := range engines {
		for _, on := range []bool{true, false} {
			name := e.name + "/tracing off"
			if on {
				name = e.name + "/tracing on"
			}
			t.Run(name, func(t *testing.T) {
				var tr *tracing.Tracer // nil: off
				var c *collector
				if on {
					c = newCollector(t)
					tr = newTracer(t, c, 1, nil)
				}
				g := proxytest.NewGateway(t, e.new)
				up := proxytest.NewUpstream(t, proxytest.OK)
				u := g.Service(nil, up.URL)
				g.SetRoute(proxytest.Route{Upstream: u, Identity: proxytest.DefaultIdentity(), ClientIP: "203.0.113.7",
					// What the pipeline does around Forward.
					Prepare: func(r *http.Request, out *proxy.Outbound) func(proxytest.Record) {
						_, span := tr.Start(r)
						out.Traceparent, out.Tracestate = span.Traceparent()
						return func(rec proxytest.Record) {
							span.End(&domain.Call{RequestID: out.Identity.RequestID, Method: r.Method, Path: r.URL.Path,
								RouteID: "rt_orders", Status: rec.Res.Status, Engine: rec.Res.Engine})
						}
					}})
				resp, _ := g.Get("/v1/orders", "traceparent", inbound, "tracestate", inTS)
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				g.Next()
				seen := up.Seen()
				tps, tss := seen.Header.Values("Traceparent"), seen.Header.Values("Tracestate")
				if len(tps) != 1 || len(tss) != 1 || tss[0] != inTS {
					t.Fatalf("upstream traceparent %q tracestate %q, want one each, tracestate %q", tps, tss, inTS)
				}
				if !on {
					if tps[0] != inbound {
						t.Errorf("tracing off: upstream traceparent %q, want the caller's %q unchanged", tps[0], inbound)
					}
					return
				}
				m := traceparentRE.FindStringSubmatch(tps[0])
				if m == nil || m[1] != inTrace || m[2] == inParent || m[3] != "01" {
					t.Fatalf("upstream traceparent %q, want trace %s with a new parent id, sampled", tps[0], inTrace)
				}
				shutdown(t, tr)
				spans := c.got()
				if len(spans) != 1 {
					t.Fatalf("collector got %d spans, want 1", len(spans))
				}
				sp := spans[0]
				if hexID(sp.GetSpanId()) != m[2] || hexID(sp.GetParentSpanId()) != inParent || hexID(sp.GetTraceId()) != inTrace {
					t.Errorf("exported span %s (parent %s, trace %s); upstream was told parent %s",
						hexID(sp.GetSpanId()), hexID(sp.GetParentSpanId()), hexID(sp.GetTraceId()), m[2])
				}
				a := attrs(sp.GetAttributes())
				if a["http.response.status_code"] != int64(200) || a["gatehouse.engine"] != e.name {
					t.Errorf("span attributes %v", a)
				}
			})
		}
	}
}
