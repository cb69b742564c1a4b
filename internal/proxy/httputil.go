package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// HTTPUtil is the engine on httputil.ReverseProxy with Rewrite (never
// Director: with Director, hop-by-hop removal runs after the rewrite, so a
// client's "Connection: X-Gatehouse-Consumer" would strip the gateway's own
// header). It carries what the fast engine does not: protocol upgrades
// (WebSocket) and HTTP/2 upstreams (h2, h2c). One ReverseProxy serves every
// upstream; the per-request state travels in the request context and the
// per-service transport (timeouts, pool) is picked in RoundTrip.
type HTTPUtil struct {
	opts Options
	log  *slog.Logger
	rp   *httputil.ReverseProxy
}

// NewHTTPUtil returns the httputil engine.
func NewHTTPUtil(opts Options) *HTTPUtil {
	e := &HTTPUtil{opts: opts, log: opts.logger()}
	e.rp = &httputil.ReverseProxy{
		Rewrite:        e.rewrite,
		Transport:      stdTransport{},
		ModifyResponse: e.modifyResponse,
		ErrorHandler:   e.errorHandler,
		// 0: known-length bodies are not flushed early; ReverseProxy flushes
		// text/event-stream and unknown-length (chunked) bodies on every
		// write by itself.
		FlushInterval: 0,
		BufferPool:    newBufferPool(),
		ErrorLog:      slog.NewLogLogger(e.log.Handler(), slog.LevelDebug),
	}
	return e
}

type stateKey struct{}

// stdState is one attempt of one request.
type stdState struct {
	e   *HTTPUtil
	up  *Upstream
	out *Outbound
	t   *Target
	in  *http.Request

	w    stdWriter
	body stdBody

	err         error // from ErrorHandler: no response, or upgrade failure
	bodyErr     error // response body read error
	gotResponse bool
	respAt      time.Time

	// The watchdog enforces the service's write timeout (the upstream not
	// consuming the request body) and read timeout (silence between body
	// reads), which http.Transport has no setting for: it cancels the
	// attempt's context when a body makes no progress in time.
	cancel   context.CancelFunc
	watchdog *time.Timer
	armed    atomic.Int32 // phase being watched: 1 send, 2 body
	fired    atomic.Int32 // phase that timed out
}

const (
	watchSend = 1
	watchBody = 2
)

func (st *stdState) fire() {
	st.fired.Store(st.armed.Load())
	st.cancel()
}

func (st *stdState) arm(phase int32, d time.Duration) {
	st.armed.Store(phase)
	st.watchdog.Reset(d)
}

func (st *stdState) disarm() { st.watchdog.Stop() }

func stateFrom(ctx context.Context) *stdState {
	st, _ := ctx.Value(stateKey{}).(*stdState)
	return st
}

// Forward implements Forwarder.
func (e *HTTPUtil) Forward(w http.ResponseWriter, r *http.Request, out *Outbound) (res Result, err error) {
	res.Engine = EngineHTTPUtil
	up := out.Upstream
	if up == nil {
		return res, noUpstream()
	}
	if err := out.validate(); err != nil {
		return res, err
	}
	attempts := 1
	if retryable(r) {
		attempts = max(1, min(len(up.targets), 3))
	}
	start := time.Now()
	var skip *Target
	for a := range attempts {
		t := up.pick(skip)
		if t == nil {
			return res, noTarget(up)
		}
		res.Target, res.Attempts = t.redacted, a+1
		st := e.attempt(w, r, out, t)
		res.BytesIn = st.body.n
		if st.w.final {
			res.Status, res.BytesOut = st.w.status, st.w.n
			if st.gotResponse {
				res.Upstream = st.respAt.Sub(start)
			}
			res.Err = st.lateErr()
			return res, nil
		}
		cause := st.err
		if cause == nil {
			cause = errors.New("no response")
		}
		kind, phase := st.failure(cause)
		if kind != failClient {
			up.failure(t, cause)
		}
		if isConnectFailure(cause) && a+1 < attempts {
			skip = t
			continue
		}
		if kind == failClient {
			return res, clientFailure(r, up, t, phase, st.body.clientErr, cause)
		}
		return res, upstreamError(kind, up, t, phase, cause)
	}
	return res, noTarget(up) // unreachable: attempts >= 1
}

// attempt runs the ReverseProxy once against t.
func (e *HTTPUtil) attempt(w http.ResponseWriter, r *http.Request, out *Outbound, t *Target) *stdState {
	st := &stdState{e: e, up: out.Upstream, out: out, t: t, in: r}
	ctx, cancel := context.WithCancel(r.Context())
	st.cancel = cancel
	st.watchdog = time.AfterFunc(time.Hour, st.fire)
	st.watchdog.Stop()
	defer func() {
		st.watchdog.Stop()
		cancel()
	}()
	st.w = stdWriter{ResponseWriter: w, scratch: make(http.Header), ownCORS: out.OwnCORS}
	r2 := r.WithContext(context.WithValue(ctx, stateKey{}, st))
	if r.Body != nil && r.Body != http.NoBody {
		st.body = stdBody{rc: r.Body, st: st, cl: r.ContentLength}
		r2.Body = &st.body
	}
	e.serve(st, r2)
	return st
}

// serve runs the ReverseProxy, turning its abort panic into a value: on a
// body copy error under a net/http server, ReverseProxy panics with
// http.ErrAbortHandler; Forward reports it in Result.Err instead and leaves
// the abort to the caller, after it recorded the call.
func (e *HTTPUtil) serve(st *stdState, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			st.w.aborted = true
		}
	}()
	e.rp.ServeHTTP(&st.w, r)
}

// failure classifies an error that happened before the response started.
func (st *stdState) failure(cause error) (failKind, string) {
	switch st.fired.Load() {
	case watchSend:
		return failTimeout, phaseSend
	case watchBody:
		return failTimeout, phaseBody
	}
	if st.body.clientErr != nil {
		return failClient, phaseSend
	}
	if isConnectFailure(cause) {
		return classify(cause), phaseConnect
	}
	kind := classify(cause)
	if kind == failClient && st.in.Context().Err() == nil {
		kind = failUnavailable
	}
	return kind, phaseResponse
}

// lateErr is the error after the response started, if any.
func (st *stdState) lateErr() error {
	if st.fired.Load() != 0 {
		return upstreamError(failTimeout, st.up, st.t, phaseBody, errIdleTimeout)
	}
	switch {
	case st.err != nil:
		return st.err
	case st.bodyErr != nil:
		return st.bodyErr
	case st.w.err != nil:
		return st.w.err
	case st.w.aborted:
		return errors.New("response copy aborted")
	}
	return nil
}

// rewrite builds the outbound request. ReverseProxy calls it after it
// removed the hop-by-hop headers (including those a Connection header
// names) and the client's X-Forwarded-*/Forwarded, so what is set here
// cannot be stripped by the client. The client's fields are then sorted by
// requestRule, as the fast engine sorts them, so both engines remove the
// same fields in every spelling.
func (e *HTTPUtil) rewrite(pr *httputil.ProxyRequest) {
	st := stateFrom(pr.Out.Context())
	out, t := st.out, st.t
	var buf [256]byte
	uri := string(t.requestURI(buf[:0], out.Path, ""))
	u := pr.Out.URL
	u.Scheme = t.scheme
	u.Host = t.hostHeader
	u.RawPath = uri
	if p, err := url.PathUnescape(uri); err == nil {
		u.Path = p
	} else {
		u.Path, u.RawPath = uri, ""
	}
	u.RawQuery = out.RawQuery
	u.User = nil
	pr.Out.Host = ""
	if st.up.preserveHost {
		pr.Out.Host = pr.In.Host
	}
	h := pr.Out.Header
	for k := range h {
		drop := false
		switch requestRule(k) {
		case ruleDrop:
			// ReverseProxy removed the client's hop-by-hop fields (the
			// listeners canonicalise names) and, for a protocol upgrade,
			// set Connection and Upgrade itself: those two are its own.
			drop = k != "Connection" && k != "Upgrade"
		case ruleRequestID:
			drop = out.Identity.RequestID != ""
		case ruleTrace:
			drop = out.Traceparent != ""
		}
		if drop || isDropped(out.DropHeaders, k) {
			delete(h, k)
		}
	}
	if pr.In.ContentLength == 0 {
		delete(h, "Expect")
	}
	// Request.Clone deep-copied the (still empty) trailer map; the body
	// wrapper fills this copy at EOF, when net/http has read the client's
	// trailers, so the transport sends them on.
	st.body.outTrailer = pr.Out.Trailer
	setGatewayHeaders(h, out, pr.In, e.opts.Forwarded)
}

func (e *HTTPUtil) modifyResponse(res *http.Response) error {
	st := stateFrom(res.Request.Context())
	st.disarm()
	st.gotResponse = true
	st.respAt = time.Now()
	st.up.success(st.t)
	if res.StatusCode != http.StatusSwitchingProtocols {
		// A 101's body is the upgraded connection and must stay an
		// io.ReadWriteCloser.
		// Trailers: ReverseProxy announces to the client the names left in
		// res.Trailer (those the upstream announced), and copies the values
		// the transport merges into it at the body's end, announced or not
		// (stdRespBody drops the gateway's names again then).
		b := &stdRespBody{rc: res.Body, st: st, res: res, ownRateLimit: gatewayRateLimit(st.w.ResponseWriter.Header())}
		dropGatewayTrailers(res.Trailer, b.ownRateLimit)
		res.Body = b
	}
	return nil
}

// dropGatewayTrailers deletes from an upstream's trailers the fields the
// gateway answers for (gatewayAnswersFor), as from its header: a trailer
// arrives after the gateway's own fields were sent, and a client that
// merges trailers into the header (many do) would take the upstream's
// Gatehouse-Credential-Expires or RateLimit for the gateway's.
func dropGatewayTrailers(tr http.Header, ownRateLimit bool) {
	for k := range tr {
		if gatewayAnswersFor(k, ownRateLimit) {
			delete(tr, k)
		}
	}
}

func (e *HTTPUtil) errorHandler(_ http.ResponseWriter, r *http.Request, err error) {
	if st := stateFrom(r.Context()); st != nil && st.err == nil {
		st.err = err
	}
}

// stdTransport sends each request through its service's *http.Transport.
type stdTransport struct{}

func (stdTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return stateFrom(r.Context()).up.transport.RoundTrip(r)
}

// stdBody counts the request body and watches the upstream consume it.
type stdBody struct {
	rc         io.ReadCloser
	st         *stdState
	n, cl      int64
	clientErr  error
	outTrailer http.Header
}

func (b *stdBody) Read(p []byte) (int, error) {
	b.st.disarm()
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF {
		b.clientErr = err
	}
	if err == io.EOF && b.outTrailer != nil {
		for k, vv := range b.st.in.Trailer {
			b.outTrailer[k] = vv
		}
	}
	if n > 0 && err == nil && (b.cl < 0 || b.n < b.cl) {
		b.st.arm(watchSend, b.st.up.write)
	}
	return n, err
}

func (b *stdBody) Close() error { return b.rc.Close() }

// stdRespBody bounds the silence between two reads of the response body,
// and drops the gateway's fields from the trailers that arrive with its
// end.
type stdRespBody struct {
	rc           io.ReadCloser
	st           *stdState
	res          *http.Response
	ownRateLimit bool
}

func (b *stdRespBody) Read(p []byte) (int, error) {
	b.st.arm(watchBody, b.st.up.read)
	n, err := b.rc.Read(p)
	b.st.disarm()
	if err != nil && err != io.EOF && b.st.bodyErr == nil {
		b.st.bodyErr = err
	}
	if err == io.EOF {
		b.trailersArrived()
	}
	return n, err
}

func (b *stdRespBody) Close() error {
	err := b.rc.Close()
	b.trailersArrived()
	return err
}

// trailersArrived runs once the transport has merged the upstream's
// trailers into res.Trailer (at the body's end), before ReverseProxy
// copies them: it drops the gateway's names again, and the header fields
// named like a trailer (sent already) — the listener sends an announced
// name's values from the header map, where ReverseProxy adds the
// trailer's to the header field's instead of replacing them.
func (b *stdRespBody) trailersArrived() {
	dropGatewayTrailers(b.res.Trailer, b.ownRateLimit)
	h := b.st.w.ResponseWriter.Header()
	for k := range b.res.Trailer {
		delete(h, k)
	}
}

// stdWriter counts what reaches the client and keeps the gateway's own
// response headers safe: until the final status, ReverseProxy writes the
// upstream's headers into a scratch map (it clears the map after relaying
// a 1xx, which would otherwise wipe headers the pipeline had set, such as
// X-Request-Id); the scratch is merged into the real header map when the
// final status is written, without the fields the gateway answers for
// (gatewayAnswersFor: the upstream's X-Request-Id, its Gatehouse-*, and
// its RateLimit when the gateway set its own). Upstream 1xx responses are not
// relayed: the listener sends its own 100 Continue when the body is
// first read.
type stdWriter struct {
	http.ResponseWriter
	scratch http.Header
	// ownCORS: Outbound.OwnCORS.
	ownCORS bool
	final   bool
	aborted bool
	status  int
	n       int64
	err     error
}

func (w *stdWriter) Header() http.Header {
	if w.final {
		return w.ResponseWriter.Header()
	}
	return w.scratch
}

func (w *stdWriter) commit(code int) {
	h := w.ResponseWriter.Header()
	// Decided before the merge writes any upstream field into h.
	ownRateLimit := gatewayRateLimit(h)
	for k, v := range w.scratch {
		if gatewayAnswersFor(k, ownRateLimit) {
			continue // the gateway's own stays
		}
		if w.ownCORS {
			// The transport canonicalised the upstream's names.
			if strings.HasPrefix(k, "Access-Control-") {
				continue
			}
			if k == "Vary" {
				h[k] = append(h[k], v...)
				continue
			}
		}
		h[k] = v
	}
	w.final, w.status = true, code
}

func (w *stdWriter) WriteHeader(code int) {
	if w.final || (code >= 100 && code < 200 && code != http.StatusSwitchingProtocols) {
		return
	}
	w.commit(code)
	w.ResponseWriter.WriteHeader(code)
}

func (w *stdWriter) Write(p []byte) (int, error) {
	if !w.final {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("%w: %w", ErrClientWrite, err)
	}
	return n, err
}

// FlushError lets http.ResponseController (used by ReverseProxy) flush
// through the wrapper.
func (w *stdWriter) FlushError() error {
	if !w.final {
		w.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the client connection over for a protocol upgrade.
func (w *stdWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !w.final {
		w.commit(http.StatusSwitchingProtocols)
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (w *stdWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// bufferPool recycles 32 KiB copy buffers (an engine owns one; the array
// pointer round-trips through sync.Pool without allocating).
type bufferPool struct{ p *sync.Pool }

const copyBufSize = 32 << 10

func newBufferPool() bufferPool {
	return bufferPool{p: &sync.Pool{New: func() any { return new([copyBufSize]byte) }}}
}

func (b bufferPool) Get() []byte { return b.p.Get().(*[copyBufSize]byte)[:] }

func (b bufferPool) Put(buf []byte) {
	if cap(buf) >= copyBufSize {
		b.p.Put((*[copyBufSize]byte)(buf[:copyBufSize]))
	}
}
