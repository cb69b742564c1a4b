// Package front is the proxy listener's HTTP/1.1 server for cleartext
// connections: fasthttp's connection loop and request parser in front of the
// same http.Handler (the pipeline) that net/http serves on TLS listeners.
//
// Why not net/http here: on the allowed path net/http's server costs about
// as much CPU per request as everything else Gatehouse does together
// (measured with wrk on one pinned CPU, 2026-11-27, bench/README
// "Listener"): a net/http server forwarding through a pooled fasthttp client
// with one key check and nothing else reaches 0.62–0.70× nginx, fasthttp's
// own server with the same client 0.98×, so no gateway on net/http could
// reach issue 3's 0.6× nginx with authentication and a call log on top. The
// difference is per-request goroutine and context work (the background read
// that watches for a closed client, cancel contexts, header maps built from
// textproto) and two extra wake-ups per request.
//
// What the handler sees is an ordinary *http.Request and http.ResponseWriter
// (pooled, reused across requests):
//
//   - the request: method, URL parsed from the raw request target (no path
//     normalisation, as net/http), Host, RemoteAddr, headers with canonical
//     names and repeated fields in order, Content-Length or chunked framing,
//     a body streamed from the connection when it is larger than
//     BufferBody (a 1 GB upload holds no more than that in memory), and a
//     context carrying http.LocalAddrContextKey that is cancelled when a
//     write to the client fails, or when the client leaves while a request
//     that has run for WatchAfter waits (watch.go; net/http notices a close
//     at any time, with a read per request this listener does not pay);
//     unlike net/http's it is not cancelled at the handler's return: the
//     next request on the exchange reuses it (see exchange);
//   - the response: buffered into fasthttp's response (written after the
//     handler returns, with Content-Length; on a busy keep-alive
//     connection that write is held and sent by the read of the next
//     request, which saves the read(2) that would find nothing: held.go)
//     until the handler flushes, sets
//     trailers or writes more than BufferResponse bytes; from then on it is
//     written straight to the connection, chunked (or with the handler's
//     Content-Length), each Flush reaching the client at once. Afterwards
//     the connection is handed back to fasthttp's loop (serveAgain), so
//     keep-alive goes on — unless the request's body was not read to its
//     end (fasthttp drains an unread body only after responses it writes
//     itself: the rest of the body would be read as the next request) or
//     the client speaks HTTP/1.0; then the connection closes. fasthttp runs
//     with ReduceMemoryUsage, which flushes every response before the next
//     request is read: nothing of an earlier response can be pending when a
//     handler writes directly.
//   - Hijack for protocol upgrades (httputil.ReverseProxy's WebSocket
//     path; bytes a client sends before the 101 are lost); panics with
//     http.ErrAbortHandler abort the connection, as in net/http.
//
// Requests with both Content-Length and Transfer-Encoding (RFC 9112 §6.3: a
// smuggling attempt) are refused with 400 before any handler runs.
// "Expect: 100-continue" is answered by fasthttp before the handler runs
// (net/http sends the 100 when the body is first read). Handing such
// requests to net/http instead was tried and removed: fasthttp's reader
// drops bytes it already buffered at that point, so a body sent with the
// head would have been lost and the next bytes read as the body.
package front

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http/httpguts"
)

// Server serves HTTP/1.1 on cleartext connections with Handler.
type Server struct {
	// Handler serves every request.
	Handler http.Handler
	// Log receives connection-level errors and handler panics.
	Log *slog.Logger
	// ReadHeaderTimeout bounds reading a request's head (and a body of
	// up to BufferBody bytes); 10 s when zero.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a keep-alive
	// connection; 2 minutes when zero.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's head; 64 KiB when zero.
	MaxHeaderBytes int
	// WatchAfter is how long a request runs before its connection is
	// watched for the client leaving (then the request's context is
	// cancelled; watch.go); DefaultWatchAfter when zero, never when
	// negative.
	WatchAfter time.Duration
	// Refuse answers a request the listener refuses before Handler runs:
	// a head it cannot parse, a smuggling probe, an invalid Host, a head
	// too large (431) or too slow (408). It writes the whole answer to w;
	// the connection is closed after it. Nil: a plain-text answer.
	Refuse func(w http.ResponseWriter, r Refusal)

	srv  *fasthttp.Server
	once sync.Once
	// readBuf is fasthttp's ReadBufferSize (MaxHeaderBytes with its
	// default): the size of its reader's buffer (lf.go).
	readBuf int
	// mu guards closing and handed (connections served again by
	// serveAgain).
	mu      sync.Mutex
	closing bool
	handed  map[*againConn]struct{}
	// conns are the accepted connections the sweeper looks at (guarded by
	// connsMu: closeHanded closes connections while it holds mu); stop ends
	// the sweeper, sweeping starts it once.
	connsMu  sync.Mutex
	conns    map[*clientConn]struct{}
	stop     chan struct{}
	stopOnce sync.Once
	sweeping sync.Once
	pool     sync.Pool // *exchange
	bufws    sync.Pool // *bufio.Writer for direct responses
	heldBufs sync.Pool // *[]byte for held responses (held.go)
}

// BufferBody is the largest request body read whole before the handler
// runs; larger ones (and chunked ones) stream from the connection.
const BufferBody = 64 << 10

// BufferResponse is the most response body kept in memory before the
// response is written to the connection (chunked, or with the handler's
// Content-Length).
const BufferResponse = 64 << 10

// bodyReadTimeout bounds reading a streamed request body (the head's
// timeout would cut long uploads).
const bodyReadTimeout = 24 * time.Hour

func (s *Server) init() {
	s.once.Do(func() {
		if s.Log == nil {
			s.Log = slog.Default()
		}
		rh := s.ReadHeaderTimeout
		if rh <= 0 {
			rh = 10 * time.Second
		}
		idle := s.IdleTimeout
		if idle <= 0 {
			idle = 2 * time.Minute
		}
		mh := s.MaxHeaderBytes
		if mh <= 0 {
			mh = 64 << 10
		}
		s.readBuf = mh
		s.stop = make(chan struct{})
		s.pool.New = func() any {
			x := &exchange{s: s, hdr: make(http.Header, 8)}
			x.stream.read = &x.bodyRead
			x.w.x = x
			x.w.hdr = make(http.Header, 8)
			return x
		}
		s.srv = &fasthttp.Server{
			Handler:                      s.handle,
			Name:                         "",
			NoDefaultServerHeader:        true,
			NoDefaultContentType:         true,
			DisablePreParseMultipartForm: true,
			StreamRequestBody:            true,
			MaxRequestBodySize:           BufferBody,
			ReduceMemoryUsage:            true,
			ReadBufferSize:               mh,
			ReadTimeout:                  rh,
			IdleTimeout:                  idle,
			CloseOnShutdown:              true,
			// A hijacked connection is ours: finishDirect hands it to a new
			// ServeConn loop (which closes it at the end, or hands it on
			// again), closeAfter closes it.
			KeepHijackedConns:             true,
			DisableHeaderNamesNormalizing: false,
			Logger:                        fastLogger{s.Log},
			ErrorHandler:                  s.errorHandler,
			// fasthttp quotes the request's bytes in its parse errors by
			// default — Authorization, cookies, body — and those reach the
			// log (spec §5: secrets never appear in a log line).
			SecureErrorLogMessage: true,
			HeaderReceived: func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
				if h.ContentLength() > BufferBody || h.ContentLength() == -1 {
					return fasthttp.RequestConfig{ReadTimeout: bodyReadTimeout}
				}
				return fasthttp.RequestConfig{}
			},
		}
	})
}

// Serve accepts connections on ln until Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	s.init()
	if after := s.watchAfter(); after > 0 {
		s.sweeping.Do(func() { go s.sweep(after, s.stop) })
		ln = watchListener{Listener: ln, s: s}
	}
	return s.srv.Serve(ln)
}

// watchAfter is WatchAfter with its default; 0 when not watching.
func (s *Server) watchAfter() time.Duration {
	switch {
	case !canWatch || s.WatchAfter < 0:
		return 0
	case s.WatchAfter == 0:
		return DefaultWatchAfter
	}
	return s.WatchAfter
}

// Shutdown stops accepting, closes idle connections and waits for active
// ones until ctx is done. Connections handed back to a new fasthttp loop
// after a direct response are not in fasthttp's idle bookkeeping: they are
// closed here as soon as they are idle (between requests), and the rest
// when ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.stopOnce.Do(func() { close(s.stop) })
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- s.srv.ShutdownWithContext(ctx) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.closeHanded(false)
		select {
		case err := <-done:
			s.closeHanded(true)
			return err
		case <-tick.C:
		}
	}
}

// closeHanded closes the connections served again whose loop waits for a
// request (all of them with all set).
func (s *Server) closeHanded(all bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.handed {
		if all || c.idle.Load() {
			_ = c.Close()
		}
	}
}

// againConn is a connection served again after a direct response; idle is
// true while its loop waits for a request.
type againConn struct {
	net.Conn
	idle  atomic.Bool
	depth int
}

// maxAgain is how many direct responses one connection carries before it
// is closed after one.
const maxAgain = 64

// connState keeps the idle flag of connections served again. fasthttp
// calls it on every request of every connection: no lock here.
func (s *Server) connState(c net.Conn, st fasthttp.ConnState) {
	if a, ok := c.(*againConn); ok && (st == fasthttp.StateIdle || st == fasthttp.StateActive) {
		a.idle.Store(st == fasthttp.StateIdle)
	}
}

// serveAgain serves a connection's next requests after a direct response
// with a new fasthttp loop (the hijacked connection keeps fasthttp's
// buffered reader, so pipelined requests are not lost), tracked so that
// Shutdown can close it.
func (s *Server) serveAgain(c net.Conn) {
	a := &againConn{Conn: c}
	// Each hand-back wraps the connection once more (fasthttp's hijacked
	// connection around ours): past maxAgain on one connection, close it
	// and let the client reconnect rather than read through a deep stack
	// of wrappers.
	if u, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
		if prev, ok := u.UnsafeConn().(*againConn); ok {
			a.depth = prev.depth + 1
		}
	}
	a.idle.Store(true) // waiting for its next request
	s.mu.Lock()
	if s.closing || a.depth >= maxAgain {
		s.mu.Unlock()
		_ = c.Close()
		return
	}
	if s.handed == nil {
		s.handed = map[*againConn]struct{}{}
	}
	s.handed[a] = struct{}{}
	s.mu.Unlock()
	_ = s.srv.ServeConn(a)
	s.mu.Lock()
	delete(s.handed, a)
	s.mu.Unlock()
}

// fastLogger routes fasthttp's connection errors to slog at warn level.
type fastLogger struct{ log *slog.Logger }

// A connection the gateway closed on purpose (an aborted response) is not
// worth a line.
func (l fastLogger) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if strings.Contains(msg, net.ErrClosed.Error()) {
		return
	}
	// "error when serving connection %q<->%q: %v": the addresses stay.
	if _, rest, ok := strings.Cut(msg, "<->"); ok {
		if i := strings.Index(rest, ": "); i >= 0 {
			cut := len(msg) - len(rest) + i + 2
			msg = msg[:cut] + unquoted(msg[cut:])
		}
	} else {
		msg = unquoted(msg)
	}
	l.log.Warn("proxy listener: " + msg)
}

// unquoted takes out of one of fasthttp's error texts what it quotes of a
// request: every quoted string (fasthttp quotes request bytes with %q —
// "cannot find whitespace in the first line of request %q" holds the whole
// head, SecureErrorLogMessage or not) becomes "…", and whatever follows
// "contents:" goes. The request's bytes — its Authorization, cookies,
// query, body — never reach a log line, an answer or a call record.
func unquoted(msg string) string {
	if i := strings.Index(msg, "contents:"); i >= 0 {
		msg = msg[:i] + "contents not quoted"
	}
	if strings.IndexByte(msg, '"') < 0 {
		return msg
	}
	var b strings.Builder
	for i := 0; i < len(msg); i++ {
		if msg[i] != '"' {
			b.WriteByte(msg[i])
			continue
		}
		b.WriteString(`"…"`)
		for i++; i < len(msg) && msg[i] != '"'; i++ {
			if msg[i] == '\\' {
				i++ // an escaped character, a quote included
			}
		}
	}
	return b.String()
}

// exchange is one request's pooled state.
//
// The *http.Request is reused from one request to the next: a request's
// context can only be set by WithContext, which copies the whole struct,
// and that copy plus the context's own allocations were a third of the
// bytes a proxied request allocated (fewer bytes, fewer GC cycles: the GC's
// mark phase is the largest source of tail latency on one CPU). The
// context is therefore the exchange's, not the request's: it is cancelled
// when a write to the client fails (the next request then gets a new one)
// but not when the handler returns. Nothing on the request path keeps it
// beyond its handler.
type exchange struct {
	s      *Server
	ctx    *fasthttp.RequestCtx
	r      *http.Request // reused; reset from tmpl before each request
	tmpl   http.Request  // a zero request carrying rc
	rc     *reqContext
	cancel context.CancelFunc
	url    url.URL
	hdr    http.Header
	// vals backs the header map's value slices: one element per header
	// line, three-index sliced so that an append by the handler copies.
	vals   []string
	body   bytes.Reader
	nop    io.ReadCloser // io.NopCloser(&body), made once
	stream streamBody
	w      writer
	// cc is the request's connection when the front watches it (watch.go);
	// bodyRead is set once the request's body is read to its end (or it
	// had none): only then may a watcher read the socket.
	cc       *clientConn
	bodyRead atomic.Bool
}

// reqContext is an exchange's request context: cancellable, and carrying
// the connection's local address (http.LocalAddrContextKey) of the current
// request.
type reqContext struct {
	context.Context
	local net.Addr
}

func (c *reqContext) Value(key any) any {
	if key == http.LocalAddrContextKey {
		return c.local
	}
	return c.Context.Value(key)
}

// newRequest gives the exchange a fresh context and request.
func (x *exchange) newRequest() {
	c, cancel := context.WithCancel(context.Background())
	x.rc, x.cancel = &reqContext{Context: c}, cancel
	x.r = new(http.Request).WithContext(x.rc)
	x.tmpl = *x.r
}

// streamBody is a request body read from the connection; eof records that
// it was read to its end. cl is the declared Content-Length (-1 for a
// chunked body) and n what was read of it.
type streamBody struct {
	r     io.Reader
	eof   bool
	read  *atomic.Bool // the exchange's bodyRead
	cl, n int64
}

// Read reads the body. fasthttp's request stream reports a connection that
// ended before Content-Length bytes arrived as a plain io.EOF, the end of a
// complete body; Read reports it as io.ErrUnexpectedEOF, as net/http's body
// does. Otherwise a handler takes the upload a client abandoned for a whole
// (shorter) body, and a proxy blames the upstream for the length mismatch
// that follows instead of the client that left.
func (b *streamBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err == io.EOF {
		if b.cl >= 0 && b.n < b.cl {
			return n, io.ErrUnexpectedEOF
		}
		b.eof = true
		b.read.Store(true)
	}
	return n, err
}
func (b *streamBody) Close() error { return nil }

var (
	errSmuggling = errors.New("the request has both Content-Length and Transfer-Encoding (RFC 9112 §6.1); send one")
	errHost      = errors.New("the Host header is not a valid host[:port] (RFC 9112 §3.2)")
	errTarget    = errors.New("the request target is not a valid URI (RFC 9112 §3.2)")
)

// StatusClientClosed is a Refusal's status for a client that closed its
// connection mid-request (nginx's 499 "client closed request"): recorded,
// not answered — nobody is left to read an answer.
const StatusClientClosed = 499

// ErrHeadCut is a Refusal's error for a client that closed its connection
// inside the request head (either listener).
var ErrHeadCut = errors.New("the client closed the connection before the request head arrived whole")

// Refusal is a request the listener refused, as far as it could be read.
type Refusal struct {
	Status     int    // 400, 408 or 431; 499 when the client left mid-request
	Method     string // "" when the request line could not be read
	Target     string // the request target as sent ("" likewise)
	RemoteAddr string
	Err        error // what was wrong; never quotes the request's bytes
}

// refuse answers a refused request through Server.Refuse, then closes
// the connection: after a framing error nothing more on it can be read
// safely.
//
// line says whether the request line was read (a refusal from build):
// after a head that failed to parse, fasthttp's request is reset, and its
// method and target are defaults that name a request never sent.
func (s *Server) refuse(ctx *fasthttp.RequestCtx, status int, err error, line bool) {
	ctx.Response.Reset()
	ctx.SetConnectionClose()
	if s.Refuse == nil {
		ctx.Error(http.StatusText(status)+": "+err.Error(), status)
		return
	}
	r := Refusal{Status: status, Err: err, RemoteAddr: ctx.RemoteAddr().String()}
	// A method is a token (RFC 9110 §9.1), as a field name is.
	if m := ctx.Method(); line && httpguts.ValidHeaderFieldName(string(m)) {
		r.Method = string(m)
		r.Target = string(ctx.RequestURI())
	}
	rw := refusalWriter{ctx: ctx, h: make(http.Header, 4)}
	s.Refuse(&rw, r)
	if status == StatusClientClosed {
		// Recorded, not answered: a client that half-closed would read
		// whatever fasthttp writes next (a bare 499) — it reads the end of
		// the connection instead, as from net/http.
		_ = ctx.Conn().Close()
		return
	}
	if !rw.wrote {
		rw.WriteHeader(status)
	}
}

// errorHandler is fasthttp's ErrorHandler: a head it could not read
// (parse error, ErrSmallBuffer, a timeout) is refused like one build
// rejects. A connection on which nothing at all was sent gets fasthttp's
// own answer: there was no request to refuse.
func (s *Server) errorHandler(ctx *fasthttp.RequestCtx, err error) {
	var nothing fasthttp.ErrNothingRead
	var small *fasthttp.ErrSmallBuffer
	var netErr *net.OpError
	switch {
	case errors.As(err, &nothing):
		ctx.Error("Request timeout", http.StatusRequestTimeout)
	case errors.As(err, &small):
		s.refuse(ctx, http.StatusRequestHeaderFieldsTooLarge, errors.New("the request line and headers exceed the listener's limit"), false)
	case errors.As(err, &netErr) && netErr.Timeout():
		s.refuse(ctx, http.StatusRequestTimeout, errors.New("the request was not received within the listener's read timeout"), false)
	case errors.Is(err, io.ErrUnexpectedEOF):
		// A body read whole before the handler (up to BufferBody) cut
		// short: the client left, nothing it sent was malformed; a
		// streamed body's cut reaches the handler and is recorded the same
		// way (proxy.ErrClientGone).
		s.refuse(ctx, StatusClientClosed, errors.New("the client closed the connection before the request body it announced arrived whole"), false)
	case errors.Is(err, io.EOF):
		// Likewise inside the head (ErrNothingRead above: before it).
		s.refuse(ctx, StatusClientClosed, ErrHeadCut, false)
	case errors.As(err, &netErr):
		// A reset (or another failed read) there: the client's connection
		// is gone as well. Its error names the system call, not the
		// request's bytes.
		s.refuse(ctx, StatusClientClosed, fmt.Errorf("the client's connection failed before the request arrived whole (%v)", netErr.Err), false)
	default:
		s.refuse(ctx, http.StatusBadRequest, errors.New(unquoted(err.Error())), false)
	}
}

// refusalWriter is the http.ResponseWriter Refuse writes its answer to:
// straight into fasthttp's response for the request.
type refusalWriter struct {
	ctx   *fasthttp.RequestCtx
	h     http.Header
	wrote bool
}

func (w *refusalWriter) Header() http.Header { return w.h }

func (w *refusalWriter) WriteHeader(status int) {
	if w.wrote {
		return
	}
	w.wrote = true
	for k, vs := range w.h {
		for _, v := range vs {
			w.ctx.Response.Header.Add(k, v)
		}
	}
	w.ctx.SetStatusCode(status)
}

func (w *refusalWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ctx.Write(b)
}

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	x := s.pool.Get().(*exchange)
	x.ctx = ctx
	defer s.release(x)
	if err := x.build(); err != nil {
		s.refuse(ctx, http.StatusBadRequest, err, true)
		return
	}
	if x.cc != nil { // set by build
		if err := x.cc.started(ctx.Time()); err != nil {
			ctx.SetConnectionClose() // the previous response could not be sent
			return
		}
		x.cc.begin(x, ctx.Time())
		defer x.cc.end()
	}
	defer func() {
		if p := recover(); p != nil {
			x.abort(p)
		}
	}()
	s.Handler.ServeHTTP(&x.w, x.r)
	if x.cc != nil {
		x.cc.end() // before anything reads or hands on the connection
	}
	x.w.finish()
}

func (s *Server) release(x *exchange) {
	clear(x.hdr)
	clear(x.vals)
	x.vals = x.vals[:0]
	x.w.reset()
	if x.r != nil {
		*x.r = x.tmpl
		x.rc.local = nil
	}
	x.url = url.URL{}
	x.body.Reset(nil)
	x.stream.r, x.stream.eof, x.stream.cl, x.stream.n = nil, false, 0, 0
	x.cc = nil
	x.ctx = nil
	s.pool.Put(x)
}

// build fills the pooled *http.Request from fasthttp's parsed request.
func (x *exchange) build() error {
	ctx := x.ctx
	rh := &ctx.Request.Header
	if len(rh.Peek("Transfer-Encoding")) > 0 && rh.ContentLength() != -1 || hasBoth(rh) {
		return errSmuggling
	}
	// Strings are reused only within one connection (a tracked one: TCP):
	// comparing with another client's values could time them.
	var cs *connStrings
	if x.cc = clientOf(ctx.Conn()); x.cc != nil {
		cs = &x.cc.strs
	}
	uri := cs.target(ctx.RequestURI())
	u, err := x.parseURI(uri)
	if err != nil {
		return errTarget // not quoted: the target may carry an api_key
	}
	if x.r == nil || x.rc.Err() != nil {
		x.newRequest()
	}
	*x.r = x.tmpl
	x.rc.local = ctx.LocalAddr()
	r := x.r
	r.Method = methodString(ctx.Method())
	r.URL = u
	r.RequestURI = uri
	if rh.IsHTTP11() {
		r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	} else {
		r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.0", 1, 0
	}
	r.Host = cs.hostname(ctx.Host())
	if u.Host != "" {
		r.Host = u.Host
	}
	// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status
	// code to any HTTP/1.1 request message that lacks a Host header field
	// and to any request message that contains more than one Host header
	// field line or a Host header field with an invalid field value."
	// fasthttp refuses the first two; it reads "user@evil.test" as the
	// host evil.test.
	if !validHost(rh.Host(), r.Host) {
		return errHost
	}
	r.RemoteAddr = cs.remoteOf(ctx.RemoteAddr())
	r.Close = rh.ConnectionClose()
	i := 0
	for k, v := range rh.All() {
		key := headerKey(k)
		if key == "Host" {
			continue
		}
		val := cs.header(i, v)
		i++
		if old, ok := x.hdr[key]; ok {
			x.hdr[key] = append(old, val) // a repeated header: copied
			continue
		}
		n := len(x.vals)
		x.vals = append(x.vals, val)
		x.hdr[key] = x.vals[n : n+1 : n+1]
	}
	r.Header = x.hdr
	switch cl := rh.ContentLength(); {
	case cl == -1:
		r.ContentLength = -1
		r.TransferEncoding = chunked
	case cl > 0:
		r.ContentLength = int64(cl)
	}
	x.bodyRead.Store(!ctx.Request.IsBodyStream())
	switch {
	case ctx.Request.IsBodyStream():
		x.stream.r, x.stream.cl = ctx.RequestBodyStream(), r.ContentLength
		r.Body = &x.stream
	case len(ctx.Request.Body()) > 0:
		x.body.Reset(ctx.Request.Body())
		if x.nop == nil {
			x.nop = io.NopCloser(&x.body)
		}
		r.Body = x.nop
		r.ContentLength = int64(len(ctx.Request.Body()))
		r.TransferEncoding = nil
	default:
		r.Body = http.NoBody
	}
	x.w.start(ctx, r.Method == http.MethodHead, r.ProtoMinor == 1)
	return nil
}

// parseURI is url.ParseRequestURI without its allocation for the usual
// request target: an origin-form path of characters that need no escaping
// (so Path is the target's path and RawPath stays empty, as ParseRequestURI
// would leave them) and a query without control characters. Anything else
// goes through ParseRequestURI.
func (x *exchange) parseURI(uri string) (*url.URL, error) {
	if len(uri) == 0 || uri[0] != '/' {
		return url.ParseRequestURI(uri)
	}
	q := len(uri)
	for i := 0; i < len(uri); i++ {
		c := uri[i]
		if i < q {
			if c == '?' {
				q = i
				continue
			}
			if !pathByte[c] {
				return url.ParseRequestURI(uri)
			}
		} else if c < 0x21 || c == 0x7f || c == '#' {
			return url.ParseRequestURI(uri)
		}
	}
	x.url = url.URL{Path: uri[:q]}
	if q < len(uri) {
		x.url.RawQuery = uri[q+1:]
		x.url.ForceQuery = q == len(uri)-1
	}
	return &x.url, nil
}

// pathByte marks the bytes url.URL.EscapedPath leaves as they are.
var pathByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-_.~$&+,/:;=@" {
		t[c] = true
	}
	return t
}()

var chunked = []string{"chunked"}

// hasBoth reports a request head carrying both Content-Length and
// Transfer-Encoding. fasthttp drops Content-Length when the body is
// chunked, so the raw head is consulted; it is only scanned when the
// parsed head has a Transfer-Encoding at all.
func hasBoth(rh *fasthttp.RequestHeader) bool {
	if rh.ContentLength() != -1 {
		return false
	}
	raw := rh.RawHeaders()
	return headerIn(raw, "content-length") && headerIn(raw, "transfer-encoding")
}

// headerIn reports whether raw (a request head's header lines) has a field
// named name (lower case).
func headerIn(raw []byte, name string) bool {
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if i := bytes.IndexByte(line, ':'); i == len(name) && strings.EqualFold(string(line[:i]), name) {
			return true
		}
	}
	return false
}

// abort handles a handler panic: http.ErrAbortHandler closes the connection
// silently (the client sees the truncation); anything else is logged with
// its stack and answered 500 when nothing was written yet.
func (x *exchange) abort(p any) {
	if p != http.ErrAbortHandler {
		x.s.Log.Error("proxy listener: handler panic", "panic", p, "stack", string(debug.Stack()))
	}
	if x.cancel != nil {
		x.cancel()
	}
	if p == http.ErrAbortHandler || x.w.mode != modeBuffered || x.w.wroteHeader {
		x.w.mode = modeHijacked
		_ = x.ctx.Conn().Close()
		x.ctx.HijackSetNoResponse(true)
		x.ctx.Hijack(closeConn)
		return
	}
	x.ctx.Response.Reset()
	x.ctx.SetConnectionClose()
	x.ctx.Error("500 Internal Server Error", http.StatusInternalServerError)
}

// methodString returns the method without an allocation for the usual ones.
func methodString(m []byte) string {
	switch string(m) {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPatch:
		return http.MethodPatch
	case http.MethodOptions:
		return http.MethodOptions
	}
	return string(m)
}

// commonKeys are header names returned without an allocation (fasthttp has
// already normalised names to the canonical form).
var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control",
		"Connection", "Content-Length", "Content-Type", "Cookie", "Host", "Origin", "Referer", "User-Agent",
		"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-Ip", "X-Request-Id", "X-Api-Key",
		"Forwarded", "Traceparent", "Tracestate", "Expect", "Upgrade", "Sec-Websocket-Key", "Sec-Websocket-Version",
		"Signature", "Signature-Input", "Content-Digest", "Date", "If-None-Match", "If-Modified-Since", "Te",
		"Access-Control-Request-Method", "Access-Control-Request-Headers", "Anthropic-Version", "X-Goog-Api-Key"} {
		m[k] = k
	}
	return m
}()

// connStrings are the strings of a connection's last request, for the next
// request to reuse where its bytes are equal: a keep-alive client sends the
// same target, Host and header values (its key, its User-Agent) again and
// again, and a string made once per connection instead of once per request
// is garbage the collector never sees — on one CPU its mark phase is the
// largest source of tail latency (bench/README). Only the goroutine serving
// the connection touches them, one request at a time; a comparison with the
// previous value of the same connection tells that client nothing new.
//
// What a connection keeps is bounded — connStringsMax bytes, the first
// connStringsHeaders header positions — so that idle connections that sent
// large heads do not hold them: a value past the budget is made per
// request, as before.
type connStrings struct {
	remoteAddr net.Addr
	remote     string // remoteAddr.String()
	uri, host  string
	vals       []string // header values by position, Host skipped
	size       int      // bytes of uri, host and vals
}

const (
	connStringsMax     = 4 << 10
	connStringsHeaders = 32
)

// reuse returns *prev when b holds the same bytes, else a new string of b,
// which it keeps in *prev while the connection's budget allows.
func (c *connStrings) reuse(prev *string, b []byte) string {
	if string(b) == *prev {
		return *prev
	}
	s := string(b)
	c.size -= len(*prev)
	*prev = ""
	if c.size+len(s) <= connStringsMax {
		c.size += len(s)
		*prev = s
	}
	return s
}

// The accessors below take a nil *connStrings for a connection the front
// does not track: every string is then made for the request.

// target is the request target's string.
func (c *connStrings) target(b []byte) string {
	if c == nil {
		return string(b)
	}
	return c.reuse(&c.uri, b)
}

// hostname is the Host header's string.
func (c *connStrings) hostname(b []byte) string {
	if c == nil {
		return string(b)
	}
	return c.reuse(&c.host, b)
}

// remoteOf is the client address's string (kept while the address is the
// same: fasthttp gives the connection's own).
func (c *connStrings) remoteOf(a net.Addr) string {
	if c == nil {
		return a.String()
	}
	if a != c.remoteAddr || c.remote == "" {
		c.remoteAddr, c.remote = a, a.String()
	}
	return c.remote
}

// header is the string of the i-th header line's value.
func (c *connStrings) header(i int, b []byte) string {
	if c == nil || i >= connStringsHeaders {
		return string(b)
	}
	if i == len(c.vals) {
		c.vals = append(c.vals, "")
	}
	return c.reuse(&c.vals[i], b)
}

func headerKey(k []byte) string {
	if s, ok := commonKeys[string(k)]; ok {
		return s
	}
	return http.CanonicalHeaderKey(string(k))
}

// Response modes.
const (
	modeBuffered = iota // into fasthttp's response, written after the handler
	modeDirect          // written to the connection as it comes
	modeHijacked        // the handler owns the connection (or it was aborted)
)

// writer is the http.ResponseWriter of one exchange.
type writer struct {
	x           *exchange
	ctx         *fasthttp.RequestCtx
	hdr         http.Header
	status      int
	wroteHeader bool
	head        bool // a HEAD request: no body
	http11      bool
	mode        int
	// direct mode
	bw       *bufio.Writer
	chunked  bool
	declared int64 // Content-Length the handler set, -1 if none
	written  int64
	trailers []string // names declared in the Trailer field
	err      error    // the first write error to the client
}

var (
	_ http.ResponseWriter = (*writer)(nil)
	_ http.Flusher        = (*writer)(nil)
	_ http.Hijacker       = (*writer)(nil)
)

func (w *writer) start(ctx *fasthttp.RequestCtx, head, http11 bool) {
	w.ctx, w.head, w.http11 = ctx, head, http11
	w.declared = -1
}

func (w *writer) reset() {
	clear(w.hdr)
	if w.bw != nil {
		w.bw.Reset(nil)
		w.x.s.bufws.Put(w.bw)
	}
	*w = writer{x: w.x, hdr: w.hdr, trailers: w.trailers[:0]}
}

func (w *writer) Header() http.Header { return w.hdr }

func (w *writer) WriteHeader(code int) {
	if w.wroteHeader || w.mode == modeHijacked {
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.informational(code)
		return
	}
	w.wroteHeader = true
	w.status = code
	if v := w.hdr.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			w.declared = n
		}
	}
	if _, ok := w.hdr["Trailer"]; ok {
		// Trailers need chunked framing: go direct now.
		w.direct()
	}
}

// informational writes a 1xx response straight away (fasthttp's writer
// holds nothing: see the package comment).
func (w *writer) informational(code int) {
	if w.mode != modeBuffered {
		return
	}
	conn := w.ctx.Conn()
	var b []byte
	b = fmt.Appendf(b, "HTTP/1.1 %d %s\r\n", code, http.StatusText(code))
	for k, vs := range w.hdr {
		switch k {
		case "Content-Length", "Transfer-Encoding", "Connection":
			continue
		}
		for _, v := range vs {
			b = append(b, headerValue(k)...)
			b = append(b, ": "...)
			b = append(b, headerValue(v)...)
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "\r\n"...)
	if _, err := conn.Write(b); err != nil {
		w.fail(err)
	}
}

func bodyAllowed(status int) bool {
	return !(status >= 100 && status < 200 || status == http.StatusNoContent || status == http.StatusNotModified)
}

func (w *writer) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	switch {
	case w.mode == modeHijacked:
		return 0, http.ErrHijacked
	case !bodyAllowed(w.status):
		return 0, http.ErrBodyNotAllowed
	case w.err != nil:
		return 0, w.err
	case w.head:
		w.written += int64(len(p))
		return len(p), nil
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	if w.mode == modeBuffered {
		if len(w.ctx.Response.Body())+len(p) <= BufferResponse {
			w.ctx.Response.AppendBody(p)
			w.written += int64(len(p))
			return len(p), nil
		}
		w.direct()
		if w.err != nil {
			return 0, w.err
		}
	}
	n, err := w.writeBody(p)
	w.written += int64(n)
	return n, err
}

// writeBody writes p to the connection in direct mode.
func (w *writer) writeBody(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if w.chunked {
		w.bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
		w.bw.WriteString("\r\n")
	}
	n, err := w.bw.Write(p)
	if err == nil && w.chunked {
		_, err = w.bw.WriteString("\r\n")
	}
	if err != nil {
		w.fail(err)
		return n, err
	}
	return n, nil
}

// fail records a write error to the client: the client is gone, so the
// request's context is cancelled (what net/http does when it notices).
func (w *writer) fail(err error) {
	if w.err == nil {
		w.err = err
		if w.x.cancel != nil {
			w.x.cancel()
		}
	}
}

func (w *writer) Flush() { _ = w.FlushError() }

// FlushError sends what was written so far to the client (used by
// http.ResponseController).
func (w *writer) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.mode == modeHijacked {
		return http.ErrHijacked
	}
	if w.mode == modeBuffered {
		w.direct()
	}
	if w.err != nil {
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.fail(err)
		return err
	}
	return nil
}

// direct switches to writing on the connection: the status line and
// header now, then what was buffered. fasthttp is told to write nothing for
// this request and to continue serving the connection afterwards.
func (w *writer) direct() {
	if w.mode != modeBuffered {
		return
	}
	w.mode = modeDirect
	s := w.x.s
	conn := w.ctx.Conn()
	// fasthttp writes nothing for this request; finishDirect decides
	// whether the connection goes on serving requests.
	w.ctx.HijackSetNoResponse(true)
	w.closeAfter()
	if bw, ok := s.bufws.Get().(*bufio.Writer); ok {
		bw.Reset(conn)
		w.bw = bw
	} else {
		w.bw = bufio.NewWriterSize(conn, 8<<10)
	}
	if v, ok := w.hdr["Trailer"]; ok {
		for _, t := range v {
			for name := range strings.SplitSeq(t, ",") {
				if name = strings.TrimSpace(name); name != "" {
					w.trailers = append(w.trailers, http.CanonicalHeaderKey(name))
				}
			}
		}
	}
	bodyOK := bodyAllowed(w.status) && !w.head
	w.chunked = bodyOK && w.http11 && (w.declared < 0 || len(w.trailers) > 0)
	b := w.bw
	b.WriteString("HTTP/1.1 ")
	b.WriteString(strconv.Itoa(w.status))
	b.WriteByte(' ')
	b.WriteString(http.StatusText(w.status))
	b.WriteString("\r\n")
	for k, vs := range w.hdr {
		if k == "Transfer-Encoding" || k == "Connection" || w.chunked && k == "Content-Length" || strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(headerValue(v))
			b.WriteString("\r\n")
		}
	}
	if _, ok := w.hdr["Date"]; !ok {
		b.WriteString("Date: ")
		b.WriteString(time.Now().UTC().Format(http.TimeFormat))
		b.WriteString("\r\n")
	}
	switch {
	case w.chunked:
		b.WriteString("Transfer-Encoding: chunked\r\n")
	case bodyOK && w.declared < 0:
		// HTTP/1.0 without a length: the body ends with the connection.
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	if buffered := w.ctx.Response.Body(); len(buffered) > 0 && !w.head {
		_, _ = w.writeBody(buffered)
	}
	w.ctx.Response.ResetBody()
}

// closeAfter makes the hijack handler close the connection instead of
// serving more requests on it.
func (w *writer) closeAfter() {
	w.ctx.Hijack(closeConn)
}

func closeConn(c net.Conn) { _ = c.Close() }

// headerValue drops CR and LF from a header value (a handler bug must not
// become response splitting).
func headerValue(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		return strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	return v
}

// finish completes the response after the handler returned.
func (w *writer) finish() {
	if !w.wroteHeader && w.mode == modeBuffered {
		w.WriteHeader(http.StatusOK)
	}
	switch w.mode {
	case modeHijacked:
		return
	case modeBuffered:
		if w.hasTrailerValues() {
			w.direct()
			w.finishDirect()
			return
		}
		w.toFastHTTP()
		return
	}
	w.finishDirect()
}

func (w *writer) hasTrailerValues() bool {
	for k := range w.hdr {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

func (w *writer) finishDirect() {
	if w.err == nil && w.chunked {
		b := w.bw
		b.WriteString("0\r\n")
		for _, k := range w.trailers {
			for _, v := range w.hdr[k] {
				b.WriteString(k + ": " + headerValue(v) + "\r\n")
			}
		}
		for k, vs := range w.hdr {
			if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
				for _, v := range vs {
					b.WriteString(http.CanonicalHeaderKey(name) + ": " + headerValue(v) + "\r\n")
				}
			}
		}
		b.WriteString("\r\n")
	}
	if w.err == nil {
		if err := w.bw.Flush(); err != nil {
			w.fail(err)
		}
	}
	if w.err != nil || w.x.r.Close || (w.declared >= 0 && !w.chunked && !w.head && w.written != w.declared && bodyAllowed(w.status)) ||
		bodyAllowed(w.status) && !w.head && !w.chunked && w.declared < 0 {
		// The client cannot tell where this response ends (or asked to
		// close): close.
		_ = w.ctx.Conn().Close()
		w.closeAfter()
		return
	}
	// A request body left unread is still on the wire (fasthttp drains it
	// only for responses it writes itself): the next "request" would be
	// read from it. And an HTTP/1.0 client asked for no keep-alive unless
	// it said so. Either way the connection ends here.
	if w.x.stream.r != nil && !w.x.stream.eof || !w.http11 {
		_ = w.ctx.Conn().Close()
		w.closeAfter()
		return
	}
	s := w.x.s
	w.ctx.Hijack(s.serveAgain)
}

// toFastHTTP moves the buffered response into fasthttp's, which writes it
// after the handler returns.
func (w *writer) toFastHTTP() {
	resp := &w.ctx.Response
	resp.SetStatusCode(w.status)
	h := &resp.Header
	h.DisableNormalizing() // names as the handler wrote them, as on net/http
	for k, vs := range w.hdr {
		switch k {
		case "Content-Length", "Transfer-Encoding", "Connection":
			continue
		}
		for _, v := range vs {
			h.Add(k, headerValue(v))
		}
	}
	if w.head {
		resp.SkipBody = true
		if w.declared >= 0 {
			h.SetContentLength(int(w.declared))
		} else if w.written > 0 {
			h.SetContentLength(int(w.written))
		}
	} else if !bodyAllowed(w.status) {
		resp.SkipBody = true
	}
	if w.declared >= 0 && w.written != w.declared && !w.head && bodyAllowed(w.status) {
		// Fewer bytes than promised: the response ends with the connection,
		// so the client sees the truncation as net/http would show it.
		resp.SetConnectionClose()
	}
	if w.x.r.Close {
		resp.SetConnectionClose()
	}
	if cc := w.x.cc; cc != nil && !h.ConnectionClose() {
		cc.holdResponse() // sent by the read of the next request (held.go)
	}
}

// FastResponse hands fasthttp's response to the forwarding engine
// (proxy.FastResponder), which fills in a small upstream response
// directly; the writer adds its Header() fields when the handler returns.
func (w *writer) FastResponse(status int) *fasthttp.Response {
	if w.wroteHeader || w.mode != modeBuffered || w.head || !bodyAllowed(status) || status < 200 {
		return nil
	}
	w.wroteHeader, w.status = true, status
	resp := &w.ctx.Response
	// Names keep the upstream's case, as on net/http.
	resp.Header.DisableNormalizing()
	return resp
}

// Hijack hands the connection to the handler (protocol upgrades).
func (w *writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.mode != modeBuffered || w.wroteHeader {
		return nil, nil, errors.New("front: hijack after the response started")
	}
	if w.x.cc != nil {
		w.x.cc.upgraded.Store(true) // no more HTTP heads on it
		w.x.cc.end()                // the handler reads the connection from now on
	}
	w.mode = modeHijacked
	conn := w.ctx.Conn()
	_ = conn.SetDeadline(time.Time{})
	w.ctx.HijackSetNoResponse(true)
	w.ctx.Hijack(closeConn)
	return conn, bufio.NewReadWriter(bufio.NewReader(conn), bufio.NewWriter(conn)), nil
}

// validHost reports whether the Host header's value raw is valid, as
// net/http judges it (httpguts.ValidHostHeader). parsed is the host the
// request was read with (fasthttp lowercases it): when raw is the same text
// but for case (the usual request) parsed is checked in its place — case
// does not change validity — without converting raw to a string.
func validHost(raw []byte, parsed string) bool {
	if len(raw) == len(parsed) && equalFoldASCII(raw, parsed) {
		return httpguts.ValidHostHeader(parsed)
	}
	return httpguts.ValidHostHeader(string(raw))
}

// equalFoldASCII reports whether b and s are equal with ASCII letters'
// case ignored.
func equalFoldASCII(b []byte, s string) bool {
	for i := range len(b) {
		x, y := b[i], s[i]
		if x == y {
			continue
		}
		if x|0x20 != y|0x20 || x|0x20 < 'a' || x|0x20 > 'z' {
			return false
		}
	}
	return true
}
