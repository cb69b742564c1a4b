package tracing_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"gatehouse/internal/tracing"
)

// collectorToken is the credential the tests configure for the
// collector: it must arrive there and appear nowhere else.
const collectorToken = "Bearer collector-token-c0ll3ct0r"

// collector is a real OTLP/HTTP collector stand-in: it decodes each
// ExportTraceServiceRequest (protobuf, gzip as the exporter sends it) and
// keeps the spans, the raw decoded bodies and the request headers.
type collector struct {
	srv    *httptest.Server
	status atomic.Int32 // 0: accept; otherwise answer this status

	mu      sync.Mutex
	spans   []gotSpan
	bodies  [][]byte
	headers []http.Header
	errs    []string
}

// gotSpan is one exported span with its resource's attributes.
type gotSpan struct {
	*tracepb.Span
	resource map[string]any
}

func newCollector(t *testing.T) *collector {
	t.Helper()
	c := &collector{}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(func() {
		c.srv.Close()
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, e := range c.errs {
			t.Errorf("collector: %s", e)
		}
	})
	return c
}

func (c *collector) fail(w http.ResponseWriter, status int, msg string) {
	c.mu.Lock()
	c.errs = append(c.errs, msg)
	c.mu.Unlock()
	http.Error(w, msg, status)
}

func (c *collector) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
		c.fail(w, http.StatusNotFound, "unexpected "+r.Method+" "+r.URL.Path)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		c.fail(w, http.StatusUnsupportedMediaType, "content type "+ct)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			c.fail(w, http.StatusBadRequest, "gzip: "+err.Error())
			return
		}
		body = gz
	}
	b, err := io.ReadAll(body)
	if err != nil {
		c.fail(w, http.StatusBadRequest, "body: "+err.Error())
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		c.fail(w, http.StatusBadRequest, "protobuf: "+err.Error())
		return
	}
	c.mu.Lock()
	c.bodies = append(c.bodies, b)
	c.headers = append(c.headers, r.Header.Clone())
	for _, rs := range req.GetResourceSpans() {
		res := attrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				c.spans = append(c.spans, gotSpan{Span: sp, resource: res})
			}
		}
	}
	c.mu.Unlock()
	if st := c.status.Load(); st != 0 {
		http.Error(w, "refused by test", int(st))
		return
	}
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (c *collector) got() []gotSpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]gotSpan(nil), c.spans...)
}

func (c *collector) requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.bodies)
}

// everything is every decoded export body and header value, for
// "this secret appears nowhere" checks.
func (c *collector) everything() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, body := range c.bodies {
		b.Write(body)
	}
	return b.String()
}

// attrs flattens OTLP attributes to string / int64 / float64 / bool.
func attrs(kvs []*commonpb.KeyValue) map[string]any {
	m := map[string]any{}
	for _, kv := range kvs {
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = v.IntValue
		case *commonpb.AnyValue_DoubleValue:
			m[kv.GetKey()] = v.DoubleValue
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = v.BoolValue
		default:
			m[kv.GetKey()] = kv.GetValue().String()
		}
	}
	return m
}

func hexID(b []byte) string { return hex.EncodeToString(b) }

// logs is a JSON slog handler's output, safe for the exporter goroutine.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// records returns the logged records as maps.
func (l *logs) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func (l *logs) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newTracer starts a tracer exporting to c; shutdown runs at cleanup.
func newTracer(t *testing.T, c *collector, ratio float64, lg *logs) *tracing.Tracer {
	t.Helper()
	if lg == nil {
		lg = &logs{}
	}
	tr, err := tracing.New(context.Background(), tracing.Config{
		Endpoint:    c.srv.URL,
		SampleRatio: ratio,
		ServiceName: "gatehouse-test",
		Headers:     map[string]string{"Authorization": collectorToken},
	}, lg.logger())
	if err != nil {
		t.Fatal(err)
	}
	if tr == nil {
		t.Fatal("New returned a nil Tracer for a configured endpoint")
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr
}

// shutdown flushes every queued span to the collector, bounded by a
// failure deadline (never an assertion on time).
func shutdown(t *testing.T, tr *tracing.Tracer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}
