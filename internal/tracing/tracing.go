// Package tracing is Gatehouse's OpenTelemetry tracing (spec §12): one
// server span per proxied request, exported over OTLP/HTTP, with the W3C
// traceparent propagated upstream so the upstream's spans hang under the
// gateway's in the caller's trace.
//
// It is off unless an endpoint is configured. Off, New returns a nil
// *Tracer, and every method of a nil *Tracer or nil *Span is a no-op that
// allocates nothing: the pipeline calls them unconditionally on every
// request (BenchmarkDisabled shows 0 allocations, about 1 ns).
//
// On, the request path only records: spans go to a bounded in-memory queue
// that a background batcher exports; when the collector is slow or down
// spans are dropped, never waited for, and the failure is logged once (and
// its end once), not per batch.
//
// Sampling is parent-based: a request carrying a valid traceparent follows
// the caller's sampled flag; a request without one (a new trace) is sampled
// with probability SampleRatio. An unsampled request still gets a valid
// span context — a fresh or inherited trace id and a new span id with the
// sampled flag 0 — which is propagated upstream, so the upstream's view of
// the trace stays connected and consistent with the gateway's decision.
//
// The span carries what the call record says about routing and the verdict
// (route, service, tenant, consumer, credential public id and type, status,
// reason code, request id, method, path, client address) — never a
// credential, a header value or the URL's query.
package tracing

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"gatehouse/internal/domain"
)

// Config configures tracing. The zero value (no Endpoint) turns it off.
type Config struct {
	// Endpoint is the OTLP/HTTP collector, e.g. http://collector:4318.
	// Without a path (or with "/") spans go to the standard /v1/traces
	// under it; a URL with a path is used as it is. https uses TLS. It
	// must not carry credentials (userinfo) or a query: authenticate with
	// Headers, which are never logged.
	Endpoint string
	// SampleRatio is the share of new traces (requests without a valid
	// inbound traceparent) that are sampled, in [0, 1].
	SampleRatio float64
	// ServiceName is the resource's service.name; empty means "gatehouse".
	ServiceName string
	// Headers are sent with every export (e.g. a collector's API key).
	Headers map[string]string
}

// DefaultServiceName is the service.name when Config.ServiceName is empty.
const DefaultServiceName = "gatehouse"

// scopeName names the instrumentation scope of the gateway's spans.
const scopeName = "gatehouse/internal/tracing"

// Tracer starts the gateway's server spans. A nil *Tracer is tracing off.
type Tracer struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	prop   propagation.TraceContext
	// opts is built once: variadic options passed per call would allocate.
	opts []trace.SpanStartOption
	exp  *loggedExporter
}

// Span is the gateway's span for one request. A nil *Span (tracing off)
// is valid and does nothing.
type Span struct {
	span trace.Span
}

// New returns a Tracer exporting to cfg.Endpoint, or nil (tracing off,
// every method a no-op) when the endpoint is empty. It does not contact
// the collector: an unreachable one costs dropped spans and one warning,
// never a failed start.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Tracer, error) {
	if cfg.Endpoint == "" {
		return nil, nil
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	endpoint, err := exportURL(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if err := checkRatio(cfg.SampleRatio); err != nil {
		return nil, err
	}
	name := cfg.ServiceName
	if name == "" {
		name = DefaultServiceName
	}
	exp, err := otlptracehttp.New(ctx,
		otlptracehttp.WithEndpointURL(endpoint),
		otlptracehttp.WithHeaders(cfg.Headers),
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression),
		otlptracehttp.WithTimeout(10*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter for %s: %w", endpoint, err)
	}
	res, err := resource.Merge(resource.Default(),
		resource.NewSchemaless(attribute.String("service.name", name)))
	if err != nil {
		// Only a schema URL conflict can fail the merge; the service name
		// matters more than the SDK's default attributes.
		res = resource.NewSchemaless(attribute.String("service.name", name))
	}
	limits := sdktrace.NewSpanLimits()
	// Path and user agent come from the client: bound what one request
	// can make the gateway store and ship.
	limits.AttributeValueLengthLimit = 512
	lexp := &loggedExporter{SpanExporter: exp, log: logger, endpoint: endpoint}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(lexp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
		sdktrace.WithResource(res),
		sdktrace.WithRawSpanLimits(limits),
	)
	logger.Info("tracing on", slog.String("endpoint", endpoint),
		slog.Float64("sample_ratio", cfg.SampleRatio), slog.String("service_name", name))
	return &Tracer{
		tp:     tp,
		tracer: tp.Tracer(scopeName),
		opts:   []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)},
		exp:    lexp,
	}, nil
}

// exportURL checks the configured endpoint and returns the URL spans are
// posted to.
func exportURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the input, which may hold a password.
		return "", errors.New("tracing: endpoint is not a URL; use e.g. http://collector:4318")
	}
	switch {
	case u.User != nil:
		return "", errors.New("tracing: endpoint must not contain credentials; send them as headers (GATEHOUSE_TRACING_HEADERS)")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("tracing: endpoint scheme %q: use http:// or https:// (OTLP over HTTP), e.g. http://collector:4318", u.Scheme)
	case u.Host == "":
		return "", errors.New("tracing: endpoint has no host; use e.g. http://collector:4318")
	case u.RawQuery != "" || u.Fragment != "":
		return "", errors.New("tracing: endpoint must not have a query or fragment")
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	return u.String(), nil
}

func checkRatio(r float64) error {
	if math.IsNaN(r) || r < 0 || r > 1 {
		return fmt.Errorf("tracing: sample ratio %v: use a number from 0 (no new traces) to 1 (all)", r)
	}
	return nil
}

// knownMethod returns the standard method m as a constant, or ok false:
// an arbitrary client method would make span names unbounded (OTel HTTP
// conventions name such spans "HTTP" and record the method as "_OTHER").
func knownMethod(m string) (string, bool) {
	switch m {
	case http.MethodGet:
		return http.MethodGet, true
	case http.MethodPost:
		return http.MethodPost, true
	case http.MethodPut:
		return http.MethodPut, true
	case http.MethodPatch:
		return http.MethodPatch, true
	case http.MethodDelete:
		return http.MethodDelete, true
	case http.MethodHead:
		return http.MethodHead, true
	case http.MethodOptions:
		return http.MethodOptions, true
	case http.MethodConnect:
		return http.MethodConnect, true
	case http.MethodTrace:
		return http.MethodTrace, true
	}
	return "", false
}

// Start extracts the inbound W3C traceparent/tracestate of r (an invalid
// one is ignored: the request starts a new trace) and starts the gateway's
// server span as its child. The returned context carries the span; the
// request path need not adopt it (nothing below the pipeline starts spans
// of its own). With tracing off it returns r.Context() and a nil *Span.
func (t *Tracer) Start(r *http.Request) (context.Context, *Span) {
	if t == nil {
		return r.Context(), nil
	}
	ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	name, ok := knownMethod(r.Method)
	if !ok {
		name = "HTTP"
	}
	ctx, s := t.tracer.Start(ctx, name, t.opts...)
	return ctx, &Span{span: s}
}

// Traceparent returns the W3C traceparent and tracestate to send upstream
// (proxy.Outbound.Traceparent/Tracestate): the same trace id as the
// inbound context, the gateway span's id as parent id, and the sampling
// decision in the flags. Tracestate is the inbound one, passed on as W3C
// asks. With tracing off both are empty, and the proxy then passes the
// client's own fields through.
func (s *Span) Traceparent() (traceparent, tracestate string) {
	if s == nil {
		return "", ""
	}
	sc := s.span.SpanContext()
	if !sc.IsValid() {
		return "", ""
	}
	// version "00", as propagation.TraceContext writes it (the tests
	// check they agree), in one allocation.
	var b [55]byte
	b[0], b[1], b[2] = '0', '0', '-'
	tid, sid := sc.TraceID(), sc.SpanID()
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	flags := [1]byte{byte(sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom))}
	hex.Encode(b[53:55], flags[:])
	return string(b[:]), sc.TraceState().String()
}

// End records the call's outcome on the span and ends it. Attributes come
// from the call record only — route, service, tenant, consumer,
// credential public id and type, status, reason code, request id, method,
// path (the record's, which never has the query), client address, user
// agent, sizes, engine — so no secret can reach the collector. A 5xx
// marks the span as an error (a 4xx is the caller's, not the gateway's).
// Unsampled spans skip all of it. c may be nil.
func (s *Span) End(c *domain.Call) {
	if s == nil {
		return
	}
	sp := s.span
	if c != nil && sp.IsRecording() {
		var kv [20]attribute.KeyValue
		a := kv[:0]
		str := func(k, v string) {
			if v != "" {
				a = append(a, attribute.String(k, v))
			}
		}
		method, known := knownMethod(c.Method)
		if !known {
			method = "_OTHER"
		}
		str("http.request.method", method)
		str("url.path", c.Path)
		if c.Status != 0 {
			a = append(a, attribute.Int("http.response.status_code", c.Status))
		}
		str("gatehouse.request_id", c.RequestID)
		str("gatehouse.route.id", c.RouteID)
		str("gatehouse.service.id", c.ServiceID)
		str("gatehouse.tenant.id", c.TenantID)
		str("gatehouse.consumer.id", c.ConsumerID)
		str("gatehouse.credential.id", c.CredentialID)
		str("gatehouse.credential.type", c.CredentialType)
		str("gatehouse.reason", c.Code)
		str("gatehouse.engine", c.Engine)
		str("client.address", c.ClientIP)
		str("user_agent.original", c.UserAgent)
		a = append(a, attribute.Int64("http.request.body.size", c.BytesIn),
			attribute.Int64("http.response.body.size", c.BytesOut))
		if c.UpstreamMicros > 0 {
			a = append(a, attribute.Int64("gatehouse.upstream.duration_us", c.UpstreamMicros))
		}
		sp.SetAttributes(a...)
		if c.RouteID != "" {
			// "{method} {route}", the OTel HTTP server span name, with
			// the route's id for its template.
			sp.SetName(method + " " + c.RouteID)
		}
		if c.Status >= 500 {
			sp.SetStatus(codes.Error, c.Code)
		}
	}
	sp.End()
}

// Shutdown exports the spans still queued and stops the exporter; ctx
// bounds the wait. A nil Tracer has nothing to do.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	err := t.tp.Shutdown(ctx)
	if t.exp.failing.Load() {
		t.exp.log.Warn("tracing: shut down while exports were failing",
			slog.String("endpoint", t.exp.endpoint), slog.Int64("spans_lost", t.exp.lost.Load()))
	}
	if err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

// loggedExporter reports export failures through the gateway's logger:
// once when exports start failing (with the cause) and once when they
// work again (with how many spans were lost in between), instead of the
// SDK's per-batch report through OTel's process-wide error handler. It
// therefore returns nil to the batcher after logging.
type loggedExporter struct {
	sdktrace.SpanExporter
	log      *slog.Logger
	endpoint string
	failing  atomic.Bool
	lost     atomic.Int64
}

func (e *loggedExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	if err != nil {
		e.lost.Add(int64(len(spans)))
		if !e.failing.Swap(true) {
			e.log.Warn("tracing: exporting spans failed; dropping them until the collector accepts them again",
				slog.String("endpoint", e.endpoint), slog.Int("spans", len(spans)), slog.Any("error", err))
		}
		return nil
	}
	if e.failing.Swap(false) {
		e.log.Info("tracing: exporting spans again",
			slog.String("endpoint", e.endpoint), slog.Int64("spans_lost", e.lost.Swap(0)))
	}
	return nil
}
