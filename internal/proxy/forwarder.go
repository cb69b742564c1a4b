package proxy

import (
	"log/slog"
	"net/http"
	"time"
)

// Engine names, as reported in Result.Engine and accepted in
// domain.Service.Engine.
const (
	// EngineFast is the pooled HTTP/1.1 engine on fasthttp's HostClient.
	EngineFast = "fast"
	// EngineHTTPUtil is httputil.ReverseProxy with Rewrite: protocol
	// upgrades (WebSocket) and HTTP/2 upstreams.
	EngineHTTPUtil = "httputil"
)

// Forwarder sends one request upstream and streams the response back. The
// pipeline holds one and calls it in the forward stage; it never sees which
// HTTP client runs underneath, so an engine can be replaced without touching
// the pipeline (issue 3 did exactly that).
type Forwarder interface {
	// Forward sends r upstream as described by out and streams the response
	// to w.
	//
	// When no response was started it returns a *reason.Error with code
	// upstream.unavailable (502) or upstream.timeout (504) — never an auth
	// code — whose Debug names the target and the cause; the caller renders
	// it. A client body the listener could not decode, or one that went
	// over the route's max_body (http.MaxBytesReader around r.Body), or one
	// that stalled past the listener's read timeout, is the client's fault,
	// not the upstream's: request.malformed (400), request.too_large (413)
	// or request.read_timeout (408), not counted against the target's
	// health. A client that went away before the response started (its
	// connection closed or reset while its body was forwarded, or its
	// request cancelled) gets no answer: the error wraps ErrClientGone, is
	// no *reason.Error, and is not counted against the target either; the
	// caller records it and aborts the connection. The Result is filled as
	// far as it got (Engine, Target).
	//
	// Once the response has started, the error is nil and any failure
	// (upstream died mid-body, client went away, idle timeout) is reported in
	// Result.Err only: the client then holds an incomplete response. The
	// caller should record the call and then abort the client connection
	// with panic(http.ErrAbortHandler) — net/http's documented way to abort
	// a response — so a chunked or HTTP/2 client sees the truncation instead
	// of a clean end.
	Forward(w http.ResponseWriter, r *http.Request, out *Outbound) (Result, error)
}

// Outbound is what the pipeline decided about the upstream request. The
// forwarder applies it; it takes no decisions of its own about identity or
// trust.
type Outbound struct {
	// Upstream is the compiled service (targets, balancer, passive health,
	// timeouts), from Upstreams.For at snapshot build time.
	Upstream *Upstream
	// Path is the upstream path in escaped (wire) form, after strip_prefix
	// and upstream_path (see UpstreamPath); it is appended to the target
	// URL's own path. Empty means "/".
	Path string
	// RawQuery is the query to send, without "?"; the caller has already
	// removed an api_key parameter.
	RawQuery string
	// Identity becomes the X-Gatehouse-* and X-Request-Id headers.
	Identity Identity
	// DropHeaders names client headers that carry the caller's credential
	// (Authorization, X-API-Key, …); they are removed unless the route
	// forwards the credential, in which case the caller leaves this empty.
	DropHeaders []string
	// ClientIP is the client address as the gateway decided it (the peer,
	// or what a trusted proxy reported).
	ClientIP string
	// ForwardedFor, when set, is the complete X-Forwarded-For value to send
	// (e.g. a trusted proxy chain with the peer appended). Empty sends
	// ClientIP alone. The client's own X-Forwarded-For and Forwarded
	// headers are never passed on as they came: the caller decides trust.
	ForwardedFor string
	// Traceparent and Tracestate are the W3C Trace Context fields to send
	// upstream: the gateway's own span (tracing.Span.Traceparent), so the
	// upstream's spans hang under the gateway's in the same trace.
	//
	// When Traceparent is set, every inbound traceparent and tracestate
	// field is removed and exactly these are sent (Tracestate only when
	// non-empty): a client cannot make the upstream see a parent other
	// than the gateway's span, nor two conflicting ones.
	//
	// When Traceparent is empty (tracing off), the client's traceparent
	// and tracestate pass through unchanged and Tracestate is ignored: a
	// gateway that takes no part in a trace stays transparent to it, as
	// W3C Trace Context asks of intermediaries that do not trace, instead
	// of cutting the client's trace in two. Neither field is identity, so
	// passing them on vouches for nothing.
	Traceparent, Tracestate string
	// OwnCORS says the gateway answers CORS for this route: it set its own
	// Access-Control-* response fields (and Vary: Origin) on the response
	// writer before Forward. The upstream's Access-Control-* fields, in any
	// spelling, are then dropped — two Access-Control-Allow-Origin values
	// make a browser refuse the response — and the upstream's Vary is added
	// to the gateway's instead of replacing it.
	OwnCORS bool
}

// Identity is what the gateway vouches for to the upstream. Empty fields
// send no header. Inbound X-Gatehouse-* headers are always removed first,
// so an upstream can trust whatever X-Gatehouse-* it receives.
type Identity struct {
	Tenant     string // X-Gatehouse-Tenant
	Consumer   string // X-Gatehouse-Consumer
	Credential string // X-Gatehouse-Credential: the credential's public id
	Scopes     string // X-Gatehouse-Scopes: space-separated
	RequestID  string // X-Request-Id (replaces the client's)
	// Token is an optional gateway-signed JWT (X-Gatehouse-Identity) for
	// upstreams that verify it.
	Token string
}

// Result reports one forwarded call for the call log and the decision
// trace.
type Result struct {
	// Status is the upstream status passed to the client; 0 when no
	// response was started.
	Status int
	// BytesIn is the request body bytes read from the client; BytesOut the
	// response body bytes written to it (not counted after a protocol
	// upgrade).
	BytesIn, BytesOut int64
	// Upstream is the time from the first attempt until the response
	// headers arrived (time to first byte), retries included.
	Upstream time.Duration
	// Target is the URL of the target that answered (or failed last).
	Target string
	// Engine is EngineFast or EngineHTTPUtil.
	Engine string
	// Attempts is how many targets were tried (more than 1 only for
	// idempotent requests whose connection could not be made).
	Attempts int
	// Err is set when the response started but did not complete; see
	// Forwarder.Forward.
	Err error
}

// Options configure an engine. The zero value is usable.
type Options struct {
	// Logger receives operator logs (ejections, copy errors); nil discards.
	Logger *slog.Logger
	// Forwarded also sends an RFC 7239 Forwarded header (for, host, proto)
	// next to X-Forwarded-For/-Host/-Proto.
	Forwarded bool
	// ExpectContinueTimeout is how long a request with
	// "Expect: 100-continue" waits for the upstream's 100 before sending the
	// body anyway (default 1s).
	ExpectContinueTimeout time.Duration
	// StaleCheckAfter: the fast engine probes a pooled upstream connection
	// idle for longer than this before reusing it (default 1s). Upstreams
	// close idle keep-alive connections after seconds, so a connection used
	// a moment ago is alive and skipping its probe saves a syscall per
	// request; an idempotent request that still meets a closed connection
	// is re-sent on a fresh one.
	StaleCheckAfter time.Duration
}

func (o Options) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

func (o Options) staleAfter() time.Duration {
	if o.StaleCheckAfter <= 0 {
		return time.Second
	}
	return o.StaleCheckAfter
}

func (o Options) expectTimeout() time.Duration {
	if o.ExpectContinueTimeout <= 0 {
		return time.Second
	}
	return o.ExpectContinueTimeout
}
