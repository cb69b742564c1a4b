// Package proxy is Gatehouse's forwarding layer (spec §8): it sends an
// authorised request to a service's upstream and streams the answer back.
//
// The pipeline sees one small interface, Forwarder, and two values:
// Outbound (what it decided: the upstream, path, query, identity, which
// credential headers to drop, the client IP) and Result (what happened:
// status, bytes, time to first byte, target, engine). No httputil or
// fasthttp type crosses it.
//
// # Upstreams
//
// Upstreams.For compiles a domain.Service at snapshot build time into an
// *Upstream: parsed targets, a precomputed smooth weighted round-robin
// cycle (lock-free pick: one atomic add), passive health, resolved
// timeouts and both engines' connection pools. An unchanged service gets
// the same *Upstream back, so pools and health survive rebuilds; a changed
// one inherits the health of the targets it kept.
//
// Passive health counts connection-level failures only (refused, reset,
// timed out — never an HTTP status: a 500 is the service's answer, not
// its absence). EjectAfter consecutive failures eject a target for
// EjectFor on the injected clock; an ejected target's share is spread over
// the others by weight. Back from ejection a target is on probation: one
// failure ejects it again, one success clears it. When every target is
// ejected the least recently ejected one is still tried.
//
// Retries: a request goes to another target only when its connection could
// not be made and it is idempotent without a body (nothing was sent, and
// nothing needs replaying). Nothing else is ever re-sent, except that the
// fast engine re-sends an idempotent bodyless request whose reused
// keep-alive connection turned out closed before the first response byte.
//
// # Engines
//
// New returns Engines, the default Forwarder: Fast (fasthttp HostClient,
// HTTP/1.1) for ordinary requests; HTTPUtil (httputil.ReverseProxy with
// Rewrite) for protocol upgrades, CONNECT, HTTP/2 targets (h2://, h2c://)
// and services whose Engine is "httputil". Result.Engine names the one
// that served, for the decision trace. Both pass the same conformance
// suite, proxytest.Run.
//
// Both engines: remove hop-by-hop fields and those the client's Connection
// header names, every inbound X-Gatehouse-*, the client's X-Forwarded-*,
// Forwarded and X-Real-Ip, and the dropped credential headers — each in
// any case and with '_' for '-' (X_Gatehouse_Consumer is the same variable
// to a CGI or WSGI upstream) — then set the gateway's identity and
// forwarding headers, so a client cannot strip or forge them. W3C traceparent/tracestate are replaced by the
// Outbound's when it sets a Traceparent (tracing on) and pass through
// untouched otherwise. Host is the target's unless the service preserves the
// client's. On the response, hop-by-hop fields and the upstream's
// X-Request-Id are dropped: that field is the gateway's request ID, set
// by the pipeline on every response. So are its Gatehouse-* fields, and
// its RateLimit fields when the gateway set its own (the response header
// rule in headers.go): a client acts on them, so only the gateway may
// send them. Server-sent events and chunked bodies are flushed as they
// arrive; known-length bodies are not flushed early. Trailers pass both
// ways, the response's under the same rule as its header: the client is
// neither told of nor given an upstream trailer the gateway answers for. Expect: 100-continue is forwarded and the body sent only after the
// upstream's 100, so an upstream refusing an upload (401, 413) spares the
// client sending it. Timeouts per service: connect, response (until
// headers), read (silence between body reads — a stream may last hours),
// write (the upstream not reading), idle (pooled connections).
//
// Errors before the response started come back as *reason.Error
// upstream.unavailable (502) or upstream.timeout (504) — never an auth
// code — with an operator Debug naming service, target, phase and cause,
// and a caller detail that never names the upstream; a client body whose
// framing the listener cannot decode is request.malformed (400) instead,
// one over the route's max_body request.too_large (413), and neither
// they nor a client that went away count against passive health. After the response
// started they are in Result.Err, and the caller aborts the client
// connection (panic(http.ErrAbortHandler)) after recording the call.
//
// Known limits: the fast engine writes the whole request before reading
// the response (an upstream that streams its answer while still reading a
// large body needs engine "httputil"); only the fast engine keeps the
// upstream's response header name spelling (http.Transport canonicalises;
// request names are canonicalised by the net/http listener for both);
// upstream 1xx responses are not relayed (the listener sends its own 100
// Continue); bytes after a protocol upgrade are not counted.
package proxy
