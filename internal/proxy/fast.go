package proxy

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
	"net/http/httputil"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"gatehouse/internal/lazyconn"
)

// Fast is the default engine: the listener stays net/http, the upstream leg
// is HTTP/1.1 over fasthttp's pooled HostClient (one per target, built by
// Upstreams). It uses HostClient for what it is good at — the connection
// pool, dialing, pooled bufio readers/writers, pooled Request/Response
// objects, the request serializer and the response parser — and drives each
// exchange itself instead of calling HostClient.Do, because a gateway needs
// what Do does not give:
//
//   - no automatic retry: Do replays idempotent requests on its own; here a
//     request is sent to another target only after a connect failure, and
//     a bodyless idempotent request is re-sent on a fresh connection only
//     when a reused keep-alive connection turns out to be closed before the
//     first response byte;
//   - separate timeouts: connect (dialer), write (per write: the upstream
//     not reading), response (until headers), read (silence between body
//     reads, so an SSE stream may last hours);
//   - Expect: 100-continue: headers first, the body only after the
//     upstream's 100 (or a timeout), never when it answered early;
//   - streaming both ways: request bodies through SetBodyStream, response
//     bodies relayed as they arrive and flushed at once when the response is
//     a stream (SSE, chunked), with trailers;
//   - stale keep-alive connections: one idle for over a second
//     (Options.StaleCheckAfter) is probed with a non-blocking peek before
//     use, since fasthttp, unlike http.Transport, has no read loop that
//     notices an upstream closing it.
//
// Protocol upgrades (WebSocket) and HTTP/2 upstreams (h2, h2c targets) are
// handed to an httputil engine; Result.Engine says which one served.
type Fast struct {
	opts     Options
	log      *slog.Logger
	fallback *HTTPUtil
	states   sync.Pool // *fastState
	bufs     bufferPool
}

// NewFast returns the fast engine.
func NewFast(opts Options) *Fast {
	f := &Fast{opts: opts, log: opts.logger(), fallback: NewHTTPUtil(opts), bufs: newBufferPool()}
	f.states.New = func() any { return &fastState{f: f} }
	return f
}

// Responses up to this size with a known length are read whole before the
// status is written, so a failure while reading them is still a clean
// upstream.* rejection instead of a truncated response.
const smallBody = 16 << 10

// fastState is one request's pooled working set.
type fastState struct {
	f    *Fast
	req  fasthttp.Request
	resp fasthttp.Response
	body fastBody

	up  *Upstream
	t   *Target
	r   *http.Request
	out *Outbound

	uri     []byte
	head    []byte // the serialised request, when raw (buildHead)
	scratch []byte
	arena   []byte
	spans   []hdrSpan
	conns   [][]byte
	// The upstream sent a RateLimit field in its header, and it gave way
	// to the gateway's own (scanResponse): the same rule for its trailers.
	sawRateLimit, ownRateLimit bool

	hasBody, expect bool
	// raw: the request is st.head (buildHead), not st.req (build).
	raw bool
	// early: the upstream answered before the body was sent (Expect), so
	// the connection cannot be reused.
	early     bool
	mustClose bool
	phase     string
}

type hdrSpan struct{ k0, k1, v1 int }

func (f *Fast) get() *fastState { return f.states.Get().(*fastState) }

func (f *Fast) put(st *fastState) {
	st.req.Reset()
	st.resp.Reset()
	st.body = fastBody{}
	st.up, st.t, st.r, st.out = nil, nil, nil, nil
	st.hasBody, st.expect, st.early, st.mustClose = false, false, false, false
	st.sawRateLimit, st.ownRateLimit = false, false
	if cap(st.arena) > 64<<10 {
		st.arena = nil
	}
	if cap(st.uri) > 16<<10 {
		st.uri = nil
	}
	if cap(st.head) > 64<<10 {
		st.head = nil
	}
	f.states.Put(st)
}

// isUpgrade reports a protocol upgrade request (WebSocket).
func isUpgrade(r *http.Request) bool {
	return r.Header.Get("Upgrade") != "" && namedByConnection(r.Header["Connection"], "upgrade")
}

// Forward implements Forwarder.
func (f *Fast) Forward(w http.ResponseWriter, r *http.Request, out *Outbound) (res Result, err error) {
	up := out.Upstream
	if up == nil {
		res.Engine = EngineFast
		return res, noUpstream()
	}
	if up.h2 || isUpgrade(r) || r.Method == http.MethodConnect {
		return f.fallback.Forward(w, r, out)
	}
	res.Engine = EngineFast
	if err := out.validate(); err != nil {
		return res, err
	}
	attempts := 1
	if retryable(r) {
		attempts = max(1, min(len(up.targets), 3))
	}
	st := f.get()
	defer f.put(st)
	st.up, st.r, st.out = up, r, out
	start := time.Now()
	var skip *Target
	for n := range attempts {
		t := up.pick(skip)
		if t == nil {
			return res, noTarget(up)
		}
		res.Target, res.Attempts = t.redacted, n+1
		st.t = t
		if bodyless(r) {
			st.buildHead()
		} else {
			st.build()
		}
		a := st.attempt(w, start, retryable(r))
		res.BytesIn = st.body.n
		if a.started {
			res.Status, res.Upstream, res.BytesOut, res.Err = a.status, a.ttfb, a.written, a.err
			return res, nil
		}
		err := a.err
		kind := classify(err)
		if st.body.clientErr != nil || (kind == failClient && r.Context().Err() != nil) {
			kind = failClient
		} else if kind == failClient {
			kind = failUnavailable
		}
		if kind != failClient {
			up.failure(t, err)
		}
		if isConnectFailure(err) && n+1 < attempts {
			skip = t
			continue
		}
		if kind == failClient {
			return res, clientFailure(r, up, t, st.phase, st.body.clientErr, err)
		}
		return res, upstreamError(kind, up, t, st.phase, err)
	}
	return res, noTarget(up) // unreachable: attempts >= 1
}

// The upstream request's fields are chosen once, by fields, and written by
// one of two builders: buildHead serialises a request without a body (the
// usual GET) straight into st.head, in less than half the time of filling
// fasthttp's header and having it serialise them (BenchmarkRequestHead);
// build fills fasthttp's raw-mode header for a request with a body, whose
// framing, trailers and Expect handshake fasthttp writes.
// TestRequestHeadMatchesFastHTTP and FuzzRequestHead hold the two to the
// same bytes for every request without a body.

// fields calls add for every field of the upstream request, in order: Host,
// then the client's fields — hop-by-hop fields (and those the client's
// Connection header names), inbound X-Gatehouse-*, client forwarding fields
// and credential headers left out in every spelling (requestRule) — then
// the gateway's own, so nothing the client sent can remove or override
// them. Header names go out as the listener stored them; repeated fields
// keep their order. It sets st.expect. add must copy what it keeps: a
// value may be a view of st.scratch.
func (st *fastState) fields(add func(k, v string)) {
	r, out := st.r, st.out
	if st.up.preserveHost && r.Host != "" {
		add("Host", r.Host)
	} else {
		add("Host", st.t.hostHeader)
	}
	st.expect = false
	conn := r.Header["Connection"]
	te := false
	for k, vv := range r.Header {
		switch requestRule(k) {
		case ruleDrop:
			continue
		case ruleTe:
			te = te || headerHasToken(vv, "trailers")
			continue
		case ruleExpect:
			st.expect = st.hasBody && headerHasToken(vv, "100-continue")
			continue
		case ruleRequestID:
			if out.Identity.RequestID != "" {
				continue
			}
		case ruleTrace:
			if out.Traceparent != "" {
				continue
			}
		}
		if (len(conn) > 0 && namedByConnection(conn, k)) || isDropped(out.DropHeaders, k) {
			continue
		}
		for _, v := range vv {
			add(k, v)
		}
	}
	if te {
		add("Te", "trailers")
	}
	if st.expect {
		add("Expect", "100-continue")
	}
	gatewayFields(out, r, st.f.opts.Forwarded, &st.scratch, add)
}

// bodyless reports whether the client's request has no body to send, so
// its head is all there is (buildHead).
func bodyless(r *http.Request) bool {
	return r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0
}

// buildHead serialises a request without a body into st.head as fasthttp's
// raw mode would: the request line, the fields, and "Content-Length: 0"
// for a method other than GET and HEAD (fasthttp sends it for any method
// that may carry a body). CR and LF in the request target and in a value
// become spaces (RFC 9110 §5.5: a recipient may replace them with SP;
// fasthttp does the same, and for a field name too), so neither can start
// a line of its own.
// FuzzRequestHead holds it to fasthttp's bytes.
func (st *fastState) buildHead() {
	r, out := st.r, st.out
	st.hasBody = false
	st.uri = st.t.requestURI(st.uri[:0], out.Path, out.RawQuery)
	b := appendNoNewLines(st.head[:0], r.Method)
	b = append(b, ' ')
	b = appendNoNewLines(b, st.uri)
	b = append(b, " HTTP/1.1\r\n"...)
	st.fields(func(k, v string) {
		b = appendNoNewLines(b, k) // a valid name has neither; the listeners refuse others
		b = append(b, ':', ' ')
		b = appendNoNewLines(b, v)
		b = append(b, '\r', '\n')
	})
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		b = append(b, "Content-Length: 0\r\n"...)
	}
	st.head = append(b, '\r', '\n')
	st.raw = true
}

// appendNoNewLines appends s with each CR and LF made a space.
func appendNoNewLines[S string | []byte](b []byte, s S) []byte {
	at := len(b)
	b = append(b, s...)
	if seg := b[at:]; bytes.IndexByte(seg, '\r') >= 0 || bytes.IndexByte(seg, '\n') >= 0 {
		for i, c := range seg {
			if c == '\r' || c == '\n' {
				seg[i] = ' '
			}
		}
	}
	return b
}

// build fills st.req (fasthttp's header in raw mode: every field verbatim,
// the framing ours) for a request with a body.
func (st *fastState) build() {
	r, out, t := st.r, st.out, st.t
	req := &st.req
	req.Reset()
	st.raw = false
	h := &req.Header
	h.DisableSpecialHeader() // raw mode: every field verbatim, framing ours
	h.DisableNormalizing()
	h.SetMethod(r.Method)
	st.uri = t.requestURI(st.uri[:0], out.Path, out.RawQuery)
	h.SetRequestURIBytes(st.uri)
	st.hasBody = !bodyless(r)
	st.fields(h.Add)
	if st.hasBody {
		st.body = fastBody{rc: r.Body, r: r, st: st}
		cl := r.ContentLength
		if cl > 0 {
			st.scratch = strconv.AppendInt(st.scratch[:0], cl, 10)
			h.AddBytesV("Content-Length", st.scratch)
		} else {
			cl = -1
			for k := range r.Trailer {
				_ = h.AddTrailer(k)
			}
		}
		// SetBodyStream sets the framing (Content-Length or chunked) and
		// makes Request.Write stream the client's body without buffering.
		req.SetBodyStream(&st.body, int(cl))
	}
}

func headerHasToken(vv []string, token string) bool { return namedByConnection(vv, token) }

// outcome is one attempt's result.
type outcome struct {
	started bool // the status was written to the client
	status  int
	ttfb    time.Duration
	written int64
	err     error
}

// attempt sends the request to st.t and relays the response. The pooled
// connection stays a local here: fasthttp does not export its type.
func (st *fastState) attempt(w http.ResponseWriter, start time.Time, mayRetryStale bool) outcome {
	t := st.t
	for try := 0; ; try++ {
		st.phase = phaseConnect
		cc, err := t.hc.AcquireConn(0, false)
		if err != nil {
			return outcome{err: err}
		}
		conn := cc.Conn()
		last := cc.LastUseTime()
		reused := !last.IsZero()
		// hold: the request may be sent by the read that waits for its
		// answer (lazyconn.Conn.Hold) on a fresh connection, one used
		// moments ago, or one just found alive.
		hold := true
		if reused {
			idle := time.Since(last)
			peek := try < 64 && idle > st.f.opts.staleAfter()
			if peek && peerClosed(conn) {
				t.hc.CloseConn(cc)
				continue
			}
			hold = peek || idle <= heldWriteWithin
		}
		br := t.hc.AcquireReader(conn)
		if err := st.roundTrip(conn, br, hold); err != nil {
			t.hc.ReleaseReader(br)
			t.hc.CloseConn(cc)
			if reused && try < 2 && mayRetryStale && !st.hasBody && st.phase == phaseResponse && isStaleConn(err) {
				// The upstream closed this keep-alive connection while it
				// was idle: nothing was processed, so send it again on a
				// fresh one.
				continue
			}
			return outcome{err: err}
		}
		o := outcome{status: st.resp.Header.StatusCode(), ttfb: time.Since(start)}
		var reuse bool
		o.written, reuse, o.started, o.err = st.relay(w, conn, br)
		t.hc.ReleaseReader(br)
		if reuse {
			t.hc.ReleaseConn(cc)
		} else {
			t.hc.CloseConn(cc)
		}
		if o.started {
			st.up.success(t)
		}
		return o
	}
}

// heldWriteWithin is how recently a keep-alive connection must have been
// used for its request to be held and sent by the read of the answer
// without first peeking at it (see lazyconn.Conn.Hold): upstreams close
// idle connections after seconds, not milliseconds.
const heldWriteWithin = 100 * time.Millisecond

// roundTrip writes the request and reads the response headers. With hold,
// a plain connection sends the request from the read that waits for the
// answer, which saves a read(2) that would find nothing.
func (st *fastState) roundTrip(conn net.Conn, br *bufio.Reader, hold bool) error {
	up := st.up
	hc := st.t.hc
	st.resp.Reset()
	st.resp.Header.DisableNormalizing()
	st.resp.Header.SetNoDefaultContentType(true)
	st.early, st.mustClose = false, false
	st.phase = phaseSend
	if err := conn.SetWriteDeadline(time.Now().Add(up.write)); err != nil {
		return err
	}
	st.body.conn = conn
	if lc, ok := conn.(*lazyconn.Conn); ok && hold && !st.expect {
		lc.Hold()
	}
	var err error
	if st.raw {
		// The whole request is st.head: one write, no buffer between.
		_, err = conn.Write(st.head)
	} else {
		bw := hc.AcquireWriter(conn)
		if st.expect {
			err = st.sendExpecting(conn, br, bw)
		} else {
			err = st.req.Write(bw)
			if err == nil {
				err = bw.Flush()
			}
		}
		hc.ReleaseWriter(bw)
	}
	if st.early {
		return nil
	}
	if err != nil {
		if st.body.clientErr != nil {
			return fmt.Errorf("reading the client's body: %w", st.body.clientErr)
		}
		if st.hasBody && classify(err) != failTimeout {
			// The upstream may have answered and closed while the body was
			// still going (e.g. 413): relay its answer if it is there.
			_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if st.readHeader(br) == nil {
				st.mustClose = true
				return nil
			}
		}
		return err
	}
	st.phase = phaseResponse
	// The answer is awaited in two stages. The first is short: most
	// answers come within it, and it needs no context callback (arming one
	// for every request would cost every request). A held request waits
	// only heldFirstWait in it: a keep-alive connection the upstream
	// half-closed while idle (a lingering close) takes the held send
	// without a reset and would otherwise be noticed only at the response
	// timeout; after the first stage an ordinary read sees its EOF, and the
	// request is re-sent on a fresh connection like any stale one. The
	// second stage waits for the rest of the response timeout, cut short
	// by the request's context (a client that left: net/http cancels it,
	// and so does the fast listener's watcher).
	now := time.Now()
	deadline := now.Add(up.response)
	firstWait := clientCheckAfter
	if hold {
		firstWait = heldFirstWait
	}
	first := deadline
	if up.response > firstWait {
		first = now.Add(firstWait)
	}
	if err := conn.SetReadDeadline(first); err != nil {
		return err
	}
	err = st.readHeader(br)
	if err == nil || !first.Before(deadline) || classify(err) != failTimeout {
		return err
	}
	ctx := st.r.Context()
	if ctx.Err() != nil {
		return fmt.Errorf("waiting for the answer: %w", ctx.Err())
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	if err := conn.SetReadDeadline(deadline); err != nil {
		stop()
		return err
	}
	err = st.readHeader(br)
	if !stop() || ctx.Err() != nil {
		// The callback ran (or is running): the connection's deadline is
		// in the past or about to be, and the client is gone anyway.
		return fmt.Errorf("waiting for the answer: %w", context.Canceled)
	}
	return err
}

// clientCheckAfter is how long the engine waits for an upstream's answer
// before it also watches the client's context; heldFirstWait is the first
// stage for a held request (see roundTrip). Both are well above a usual
// answer's time, so the second stage is for slow upstreams only.
const (
	clientCheckAfter = time.Second
	heldFirstWait    = 100 * time.Millisecond
)

// readHeader reads the final response header, skipping 1xx responses
// (the listener sends the client its own 100 Continue).
func (st *fastState) readHeader(br *bufio.Reader) error {
	for range 8 {
		if err := st.resp.Header.Read(br); err != nil {
			return err
		}
		code := st.resp.Header.StatusCode()
		if code == http.StatusSwitchingProtocols {
			return errors.New("upstream switched protocols on a request that did not ask to upgrade")
		}
		if code > 999 {
			return fmt.Errorf("upstream sent status %d", code)
		}
		if code >= 200 {
			return nil
		}
	}
	return errors.New("too many 1xx responses")
}

// sendExpecting sends an Expect: 100-continue request: the header first,
// the body only once the upstream said 100 Continue or stayed silent for
// ExpectContinueTimeout (RFC 9110 §10.1.1). If it answers with a final
// status, the body is never read from the client (whose own 100 Continue
// the listener sends only when the body is read), and the connection is
// closed afterwards.
func (st *fastState) sendExpecting(conn net.Conn, br *bufio.Reader, bw *bufio.Writer) error {
	if err := st.req.Header.Write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	st.phase = phaseResponse
	_ = conn.SetReadDeadline(time.Now().Add(st.f.opts.expectTimeout()))
	if _, err := br.Peek(1); err == nil {
		_ = conn.SetReadDeadline(time.Now().Add(st.up.response))
		for {
			if err := st.resp.Header.Read(br); err != nil {
				return err
			}
			code := st.resp.Header.StatusCode()
			if code == http.StatusContinue {
				break
			}
			if code >= 200 {
				st.early, st.mustClose = true, true
				return nil
			}
			if code == http.StatusSwitchingProtocols {
				return errors.New("upstream switched protocols on a request that did not ask to upgrade")
			}
		}
	} else if classify(err) != failTimeout {
		return err
	}
	st.phase = phaseSend
	_ = conn.SetWriteDeadline(time.Now().Add(st.up.write))
	cl := int64(st.req.Header.ContentLength())
	if cl >= 0 {
		n, err := io.CopyN(bw, &st.body, cl)
		if err == nil && n < cl {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return err
		}
	} else {
		cw := httputil.NewChunkedWriter(bw)
		if _, err := io.Copy(cw, &st.body); err != nil {
			return err
		}
		if err := cw.Close(); err != nil {
			return err
		}
		if _, err := bw.Write(st.req.Header.TrailerHeader()); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// fastBody is the client's request body as the upstream write reads it:
// it counts bytes, gives each following write to the upstream the full
// write timeout, and hands request trailers over at the end.
type fastBody struct {
	rc        io.Reader
	r         *http.Request
	st        *fastState
	conn      net.Conn
	n         int64
	clientErr error
}

func (b *fastBody) Read(p []byte) (int, error) {
	if b.clientErr != nil {
		// Sticky: fasthttp's chunked body writer ignores an error that
		// comes with data and reads on, and a chunked decoder that failed
		// on the CRLF after a chunk's data would then parse the next chunk
		// as if nothing were wrong — a malformed body forwarded as a valid
		// one.
		return 0, b.clientErr
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF {
		b.clientErr = err
		return n, err
	}
	if n > 0 && b.conn != nil {
		_ = b.conn.SetWriteDeadline(time.Now().Add(b.st.up.write))
	}
	if err == io.EOF {
		for k, vv := range b.r.Trailer {
			for _, v := range vv {
				b.st.req.Header.Add(k, v)
			}
		}
	}
	return n, err
}

// relay writes the response to the client and reports whether the
// connection may go back to the pool. started is false only when a small
// body failed before anything was written: Forward then answers a clean
// upstream.* rejection. Errors after the status was written are returned
// for Result.Err.
func (st *fastState) relay(w http.ResponseWriter, conn net.Conn, br *bufio.Reader) (written int64, reuse, started bool, err error) {
	resp := &st.resp
	h := &resp.Header
	status := h.StatusCode()
	cl := h.ContentLength()
	reuse = !st.mustClose && !h.ConnectionClose()
	if st.r.Method == http.MethodHead || status == http.StatusNoContent || status == http.StatusNotModified {
		st.copyHeaders(w.Header())
		w.WriteHeader(status)
		return 0, reuse, true, nil
	}
	reuse = reuse && cl != -2 // a body delimited by the connection's end
	stream := cl < 0 || bytes.HasPrefix(h.ContentType(), []byte("text/event-stream"))
	if cl >= 0 && cl <= smallBody && !stream {
		// Small known-length body: read it whole before writing anything,
		// so an upstream failing mid-body is still a clean upstream.*
		// rejection, not a truncated response. A body already in the
		// reader's buffer (the usual small answer, in the header's packet)
		// needs no read and no new deadline.
		if br.Buffered() < cl {
			_ = conn.SetReadDeadline(time.Now().Add(st.up.read))
		}
		st.phase = phaseBody
		if err := resp.ReadBody(br, 0); err != nil {
			return 0, false, false, err
		}
		if fw, ok := w.(FastResponder); ok {
			if out := fw.FastResponse(status); out != nil {
				st.copyHeadersFast(w.Header(), &out.Header)
				out.AppendBody(resp.Body())
				return int64(len(resp.Body())), reuse, true, nil
			}
		}
		st.copyHeaders(w.Header())
		w.WriteHeader(status)
		n, werr := w.Write(resp.Body())
		if werr != nil {
			return int64(n), reuse, true, fmt.Errorf("%w: %w", ErrClientWrite, werr)
		}
		return int64(n), reuse, true, nil
	}

	st.copyHeaders(w.Header())
	w.WriteHeader(status)
	flush := func() error { return nil }
	// cut is the stream's context callback: once it has run, the
	// connection's read deadline is in the past, so it is not reused.
	var cut func() bool
	if stream {
		rc := http.NewResponseController(w)
		flush = rc.Flush
		_ = flush() // the client sees the headers before the first event
		// A silent stream whose client left would otherwise wait for the
		// read timeout.
		cut = context.AfterFunc(st.r.Context(), func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
		defer cut()
	}
	resp.StreamBody = true
	if err := resp.ReadBody(br, 0); err != nil {
		return 0, false, true, upstreamError(classify(err), st.up, st.t, phaseBody, err)
	}
	body := resp.BodyStream()
	buf := st.f.bufs.Get()
	defer st.f.bufs.Put(buf)
	var rerr, werr error
	ctx := st.r.Context()
	for {
		_ = conn.SetReadDeadline(time.Now().Add(st.up.read))
		if stream && ctx.Err() != nil {
			// The client left between the AfterFunc's deadline and ours.
			rerr = ctx.Err()
			break
		}
		n, e := body.Read(buf)
		if n > 0 {
			m, e2 := w.Write(buf[:n])
			written += int64(m)
			if e2 == nil && stream {
				e2 = flush()
			}
			if e2 != nil {
				werr = e2
				break
			}
		}
		if e != nil {
			if e != io.EOF {
				rerr = e
			}
			break
		}
	}
	if werr == nil && rerr == nil {
		st.copyTrailers(w.Header())
	}
	_ = resp.CloseBodyStream()
	switch {
	case rerr != nil:
		if ctx.Err() != nil {
			return written, false, true, fmt.Errorf("client went away: %w", ctx.Err())
		}
		return written, false, true, upstreamError(classify(rerr), st.up, st.t, phaseBody, rerr)
	case werr != nil:
		return written, false, true, fmt.Errorf("%w: %w", ErrClientWrite, werr)
	}
	if cut != nil && !cut() {
		reuse = false
	}
	return written, reuse, true, nil
}

// copyHeaders copies the upstream's response header fields to dst, except
// those skipResponseHeader names (hop-by-hop ones, those its Connection
// header names, its X-Request-Id, the gateway's own: see the response
// header rule in headers.go). Names keep the
// upstream's case; repeated fields keep their order. All names and values
// share one string allocation.
func (st *fastState) copyHeaders(dst http.Header) {
	h := &st.resp.Header
	ownRateLimit := st.scanResponse(dst)
	ar, spans := st.arena[:0], st.spans[:0]
	ownCORS := st.out.OwnCORS
	for k, v := range h.All() {
		if skipResponseHeader(k, st.conns, ownRateLimit) || ownCORS && isCORSField(k) {
			continue
		}
		k0 := len(ar)
		ar = append(ar, k...)
		k1 := len(ar)
		if len(k) == len("Trailer") && strings.EqualFold(string(k), "Trailer") {
			// Only a chunked body carries trailers (RFC 9112 §7.1.2); dst
			// holds only the gateway's fields until after this loop.
			if h.ContentLength() != -1 {
				ar = ar[:k0]
				continue
			}
			if ar = appendTrailerNames(ar, v, gatewayRateLimit(dst)); len(ar) == k1 {
				ar = ar[:k0] // it announced only fields the client will not get
				continue
			}
		} else {
			ar = append(ar, v...)
		}
		spans = append(spans, hdrSpan{k0, k1, len(ar)})
	}
	st.arena, st.spans = ar, spans
	if len(spans) == 0 {
		return
	}
	s := string(ar)
	vals := make([]string, len(spans))
	for i, sp := range spans {
		key := s[sp.k0:sp.k1]
		vals[i] = s[sp.k1:sp.v1]
		if ownCORS && key == "Vary" {
			// Keep the gateway's Vary: Origin (a shared slice: append
			// copies it) and add the upstream's.
			dst[key] = append(dst[key], vals[i])
			continue
		}
		first := i
		for j := i - 1; j >= 0; j-- {
			if s[spans[j].k0:spans[j].k1] == key {
				first = j
				break
			}
		}
		switch {
		case first == i:
			dst[key] = vals[i : i+1 : i+1]
		case first == i-1 && len(dst[key]) > 0 && &dst[key][len(dst[key])-1] == &vals[i-1]:
			// Adjacent repeat: extend the shared slice, no allocation.
			start := i - len(dst[key])
			dst[key] = vals[start : i+1 : i+1]
		default:
			dst[key] = append(dst[key], vals[i])
		}
	}
}

// FastResponder is a ResponseWriter that keeps a fasthttp response to
// write once the handler returns (the fast front, internal/front). A small
// upstream response goes into it directly, without the round trip through
// http.Header (about 1 µs and 140 bytes a request).
type FastResponder interface {
	http.ResponseWriter
	// FastResponse returns the response to fill with status, header fields
	// and body (the writer adds its own Header() fields when the handler
	// returns), or nil when it cannot take one (it has written already).
	FastResponse(status int) *fasthttp.Response
}

// copyHeadersFast is copyHeaders into a fasthttp header: the same fields
// in the same order and case; a field the upstream sends replaces the
// gateway's field of the same name in gw (as copyHeaders does), except
// Vary on a route whose CORS the gateway owns, and except the fields the
// gateway answers for (Gatehouse-*, its RateLimit: skipResponseHeader
// drops the upstream's before they can delete the gateway's from gw).
// Content-Length is the body's own.
func (st *fastState) copyHeadersFast(gw http.Header, dst *fasthttp.ResponseHeader) {
	h := &st.resp.Header
	ownRateLimit := st.scanResponse(gw)
	ownCORS := st.out.OwnCORS
	for k, v := range h.All() {
		if skipResponseHeader(k, st.conns, ownRateLimit) || ownCORS && isCORSField(k) ||
			len(k) == len("Content-Length") && strings.EqualFold(string(k), "Content-Length") ||
			// A known-length body carries no trailers (RFC 9112 §7.1.2:
			// chunked only): an announcement of some would be false.
			len(k) == len("Trailer") && strings.EqualFold(string(k), "Trailer") {
			continue
		}
		if ownCORS && string(k) == "Vary" {
			// The gateway's Vary: Origin first, then the upstream's.
			for _, gv := range gw["Vary"] {
				dst.Add("Vary", gv)
			}
		}
		delete(gw, string(k))
		dst.AddBytesKV(k, v)
	}
}

// scanResponse collects the upstream's Connection values in st.conns and
// reports whether its RateLimit fields give way to the gateway's: it sent
// one, and gw (the gateway's header map, before any upstream field is
// copied into it) has the gateway's own. An ordinary response, with no
// rate-limit field, costs no map lookup.
func (st *fastState) scanResponse(gw http.Header) (ownRateLimit bool) {
	st.conns = st.conns[:0]
	sawRateLimit := false
	for k, v := range st.resp.Header.All() {
		if len(k) == len("Connection") && strings.EqualFold(string(k), "Connection") {
			st.conns = append(st.conns, v)
		}
		sawRateLimit = sawRateLimit || isRateLimitField(k)
	}
	st.sawRateLimit, st.ownRateLimit = sawRateLimit, sawRateLimit && gatewayRateLimit(gw)
	return st.ownRateLimit
}

// skipResponseHeader reports an upstream response field the client does
// not get: hop-by-hop fields, those the upstream's Connection header names,
// and those the gateway answers for itself (gatewayAnswersFor).
func skipResponseHeader(k []byte, conns [][]byte, ownRateLimit bool) bool {
	if gatewayAnswersFor(k, ownRateLimit) {
		return true
	}
	switch len(k) {
	case 2, 7, 10, 16, 17, 18, 19:
		s := string(k) // no allocation: compared, not kept
		if isHopByHop(s) && !strings.EqualFold(s, "Trailer") {
			return true
		}
	}
	for _, c := range conns {
		for c2 := c; len(c2) > 0; {
			var tok []byte
			tok, c2, _ = bytes.Cut(c2, []byte{','})
			if bytes.EqualFold(bytes.TrimSpace(tok), k) {
				return true
			}
		}
	}
	return false
}

// copyTrailers sets the upstream's response trailers (read with the end
// of a chunked body) as net/http trailers: a name the response announced
// (its Trailer field, which copyHeaders passed on) under its own key — the
// listener sends an announced name's values from the header map, so a
// header field of the same name is replaced, not repeated as a trailer —
// and any other under http.TrailerPrefix.
func (st *fastState) copyTrailers(dst http.Header) {
	announced := dst["Trailer"]
	// An announced name the upstream then does not send (RFC 9110 §6.6.2
	// allows that) must not go out with the header field's value again.
	for _, v := range announced {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			if name = textproto.TrimString(name); name != "" {
				delete(dst, textproto.CanonicalMIMEHeaderKey(name))
			}
		}
	}
	raw := st.resp.Header.TrailerHeader()
	if len(raw) <= 2 {
		return
	}
	// The header rule (gatewayAnswersFor) for trailers too. Whether the
	// gateway has RateLimit fields of its own: scanResponse knew if the
	// upstream sent one in its header (dst holds it now); otherwise dst
	// holds only the gateway's, until the loop below writes to it.
	own := st.ownRateLimit
	if !st.sawRateLimit {
		own = gatewayRateLimit(dst)
	}
	for len(raw) > 2 {
		line, rest, ok := bytes.Cut(raw, []byte("\r\n"))
		if !ok || len(line) == 0 {
			break
		}
		raw = rest
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		if gatewayAnswersFor(k, own) {
			continue
		}
		name, val := textproto.CanonicalMIMEHeaderKey(string(k)), string(bytes.TrimSpace(v))
		if !headerHasToken(announced, name) {
			name = http.TrailerPrefix + name
		}
		dst[name] = append(dst[name], val)
	}
}

// appendTrailerNames appends to dst the field names of a Trailer field's
// value v, comma-separated, without those the gateway answers for
// (gatewayAnswersFor): the client is not told of trailers it will not get.
func appendTrailerNames(dst, v []byte, ownRateLimit bool) []byte {
	start := len(dst)
	for len(v) > 0 {
		var name []byte
		name, v, _ = bytes.Cut(v, []byte{','})
		name = bytes.TrimSpace(name)
		if len(name) == 0 || gatewayAnswersFor(name, ownRateLimit) {
			continue
		}
		if len(dst) > start {
			dst = append(dst, ", "...)
		}
		dst = append(dst, name...)
	}
	return dst
}
