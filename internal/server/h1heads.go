package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"gatehouse/internal/front"
)

// HTTP/1.x heads on the net/http proxy listener.
//
// RFC 9112 §6.1: "A server MAY reject a request that contains both
// Content-Length and Transfer-Encoding or process such a request in
// accordance with the Transfer-Encoding alone. Regardless, the server MUST
// close the connection after responding to such a request to avoid the
// potential attacks." The fast listener rejects such a request (front);
// Go's server processes it by the Transfer-Encoding and keeps the
// connection open — and it deletes the Content-Length before any handler
// runs (net/http transfer.go fixLength), so a handler cannot tell the
// request from an ordinary chunked one.
//
// So the listener's connections are read through a headConn, which scans
// the bytes net/http reads for the request heads in them (request line,
// which fields are present, how the blank line ends) and follows the
// framing Go's server gives them — Content-Length bodies are skipped;
// after a chunked request the connection is closed (checkedHeads sets
// Connection: close), so a chunked body never has to be parsed again
// here, and after any other transfer coding Go answers 501 and closes.
// checkedHeads, around the proxy handler, takes the next scanned head for
// each request and refuses one with both fields, in the rejection shape,
// closing the connection. The same check refuses a head whose blank line
// is not CRLFCRLF, as the fast listener does (front/lf.go). A head the
// scan does not match with the request Go parsed (a method or target
// that differ: the two readings of the stream went apart) is refused
// too: its framing cannot be vouched for.
//
// Why not less: the alternatives that keep Go's connection untouched
// cannot see the head (ConnContext and ConnState get the connection, not
// its bytes; the Request has lost the field), and closing after every
// chunked request without the check would still forward the probe. Over
// TLS the scan must read the decrypted bytes, and Go's server serves
// HTTP/2 only on a *tls.Conn: tlsHeadListener makes the handshake itself
// and hands on HTTP/2 connections as they are (the check is HTTP/1 only;
// HTTP/2 has no Transfer-Encoding), HTTP/1 ones wrapped; the wrapper's
// ConnectionState keeps Request.TLS (Go's connectionStater).

// Errors checkedHeads refuses with (request.malformed, 400).
var (
	errBothLengths = errors.New("the request has both Content-Length and Transfer-Encoding (RFC 9112 §6.1); send one")
	errBareLFHead  = errors.New("the request head ends with a bare LF line terminator; end its lines with CRLF (RFC 9112 §2.2)")
	errHeadUnread  = errors.New("the request head could not be read consistently; the connection is closed")
)

// headInfo is what the scan saw of one request head.
type headInfo struct {
	method, target string
	length, coding bool // Content-Length, Transfer-Encoding present
	bareEnd        bool // the blank line ending it is not CRLFCRLF
}

// maxScannedHead bounds a head the scan keeps: Go's server refuses one
// past MaxHeaderBytes (1 MB by default) plus its 4096-byte slack.
const maxScannedHead = http.DefaultMaxHeaderBytes + 4096

// Scan states.
const (
	scanHead = iota // reading a head
	scanBody        // skipping a Content-Length body
	scanOff         // no more heads on this connection (or lost)
)

// headConn scans the request heads read from a connection (see above).
// Read runs on one goroutine at a time (Go's server reads sequentially,
// its background read included); heads is shared with handlers.
type headConn struct {
	net.Conn
	state tls.ConnectionState
	// refuse answers a head Go's server refused itself (Write), in the
	// rejection shape; nil leaves Go's plain-text answer.
	refuse refuseFunc
	// handled: a handler took the connection's current request and its
	// response may still be being written — from checkedHeads' start until
	// the server calls the connection idle (headConnState), after the
	// response's last byte. Only writes while it is false can be Go's own
	// refusals.
	handled atomic.Bool
	// ended: a Read met the end of the client's stream, or a reset.
	ended bool

	mu    sync.Mutex
	heads []headInfo
	lost  bool // the scan stopped inside a head: none can be vouched for
	// upgraded: a request asked to switch protocols; the bytes after it
	// are not scanned (a WebSocket stream would fill heads with garbage),
	// and a request after a switch that did not happen is not vouched for.
	upgraded atomic.Bool

	st        int
	skip      int64
	line      []byte
	head      int // bytes of the current head
	cur       headInfo
	proto     string
	nLine     int
	prevBare  bool // the previous line ended in a bare LF
	sawFields bool
}

// ConnectionState is the handshake's state, for Request.TLS.
func (c *headConn) ConnectionState() tls.ConnectionState { return c.state }

func (c *headConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.scan(p[:n])
	}
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		c.ended = true
	}
	return n, err
}

func (c *headConn) scan(b []byte) {
	if c.upgraded.Load() {
		return
	}
	for len(b) > 0 {
		switch c.st {
		case scanOff:
			return
		case scanBody:
			k := min(int64(len(b)), c.skip)
			c.skip -= k
			b = b[k:]
			if c.skip == 0 {
				c.st = scanHead
			}
			continue
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			c.addLine(b)
			return
		}
		c.addLine(b[:i+1])
		b = b[i+1:]
		c.endLine()
	}
}

// addLine adds bytes of the current line; a head past the bound stops
// the scan (Go's server refuses it and closes).
func (c *headConn) addLine(b []byte) {
	c.head += len(b)
	if c.head > maxScannedHead {
		c.stop(true)
		return
	}
	c.line = append(c.line, b...)
}

func (c *headConn) stop(lost bool) {
	c.st = scanOff
	c.line = nil
	if lost {
		c.mu.Lock()
		c.lost = true
		c.mu.Unlock()
	}
}

// endLine handles a line ended by LF (in c.line, the LF included), as Go's
// textproto reads it: a CR before the LF is dropped; a line starting with
// space or tab continues the field before it.
func (c *headConn) endLine() {
	line := c.line[:len(c.line)-1]
	bare := len(line) == 0 || line[len(line)-1] != '\r'
	if !bare {
		line = line[:len(line)-1]
	}
	defer func() { c.line, c.prevBare = c.line[:0], bare }()
	c.nLine++
	switch {
	case c.nLine == 1:
		// "GET /x HTTP/1.1"; Go refuses anything else and closes.
		method, rest, ok1 := bytes.Cut(line, []byte(" "))
		target, proto, ok2 := bytes.Cut(rest, []byte(" "))
		if !ok1 || !ok2 {
			c.stop(false)
			return
		}
		c.cur.method, c.cur.target, c.proto = string(method), string(target), string(proto)
	case len(line) == 0:
		c.cur.bareEnd = bare || c.prevBare
		c.endHead()
	case line[0] == ' ' || line[0] == '\t':
		// a continuation: not a field name
	default:
		name, value, _ := bytes.Cut(line, []byte(":"))
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if !c.cur.length { // Go refuses differing repeats and closes
				c.cur.length = true
				c.skip = -1
				if n, err := strconv.ParseUint(textproto.TrimString(string(value)), 10, 63); err == nil {
					c.skip = int64(n)
				}
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			c.cur.coding = true
		}
	}
}

// endHead records the head and follows its framing as Go's server does.
func (c *headConn) endHead() {
	h, proto, skip := c.cur, c.proto, c.skip
	c.cur, c.proto, c.skip, c.nLine, c.head = headInfo{}, "", 0, 0, 0
	// Go's server answers "OPTIONS *" itself (its general OPTIONS handler)
	// and keeps the connection: no handler takes that head, and queued it
	// would pair the next request with it — a mismatch, refused. Its
	// framing is still followed below.
	if !(h.method == "OPTIONS" && h.target == "*") {
		c.mu.Lock()
		c.heads = append(c.heads, h)
		c.mu.Unlock()
	}
	major, minor, ok := http.ParseHTTPVersion(proto)
	switch {
	case !ok:
		c.stop(false) // Go refuses it and closes
	case h.coding && (major > 1 || minor >= 1):
		// Chunked: the connection closes after it (checkedHeads); any
		// other coding: Go answers 501 and closes.
		c.stop(false)
	case skip < 0:
		c.stop(false) // an invalid length: Go refuses it and closes
	case skip > 0:
		c.st, c.skip = scanBody, skip
	}
}

// next takes the oldest head not yet taken; ok is false when there is
// none or the scan was lost.
func (c *headConn) next() (h headInfo, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost || c.upgraded.Load() || len(c.heads) == 0 {
		return headInfo{}, false
	}
	h = c.heads[0]
	c.heads = c.heads[1:]
	return h, true
}

// headConnKey carries a request's headConn in its context (ConnContext).
type headConnKey struct{}

// headConnState is the net/http listener's ConnState: a connection goes
// idle once the response of its last request is written whole.
func headConnState(c net.Conn, st http.ConnState) {
	if hc, ok := c.(*headConn); ok && st == http.StateIdle {
		hc.handled.Store(false)
	}
}

// headConnContext is the net/http listener's ConnContext.
func headConnContext(ctx context.Context, c net.Conn) context.Context {
	if hc, ok := c.(*headConn); ok {
		return context.WithValue(ctx, headConnKey{}, hc)
	}
	return ctx
}

// checkedHeads checks each HTTP/1 request against the head scanned for it
// (see the comment at the top); refused ones get the rejection shape.
type checkedHeads struct {
	next   http.Handler
	refuse func(w http.ResponseWriter, r *http.Request, err error)
}

func (h checkedHeads) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hc, _ := r.Context().Value(headConnKey{}).(*headConn)
	if hc == nil || r.ProtoMajor != 1 {
		h.next.ServeHTTP(w, r)
		return
	}
	hc.handled.Store(true)
	var err error
	switch head, ok := hc.next(); {
	case !ok || head.method != r.Method || head.target != r.RequestURI:
		err = errHeadUnread
	// RFC 9112 §6.1: "A server MAY reject a request that contains both
	// Content-Length and Transfer-Encoding or process such a request in
	// accordance with the Transfer-Encoding alone. Regardless, the server
	// MUST close the connection after responding to such a request to
	// avoid the potential attacks."
	case head.length && head.coding:
		err = errBothLengths
	// RFC 9112 §2.2: "a recipient MAY recognize a single LF as a line
	// terminator" — the fast listener does not; neither does this one.
	case head.bareEnd:
		err = errBareLFHead
	}
	if err != nil {
		w.Header().Set("Connection", "close")
		h.refuse(w, r, err)
		return
	}
	if r.Header.Get("Upgrade") != "" {
		hc.upgraded.Store(true)
	}
	if len(r.TransferEncoding) > 0 {
		// The scan does not follow a chunked body: no request after it
		// on this connection.
		w.Header().Set("Connection", "close")
	}
	h.next.ServeHTTP(w, r)
}

// headListener wraps cleartext connections in a headConn.
type headListener struct {
	net.Listener
	refuse refuseFunc
}

func (l headListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &headConn{Conn: c, refuse: l.refuse}, nil
}

// tlsHeadListener makes the TLS handshakes of a proxy listener itself,
// each on its own goroutine (one slow client must not hold up the next),
// and hands on HTTP/2 connections as *tls.Conn — Go's server serves
// HTTP/2 only on those — and HTTP/1 ones as headConns.
type tlsHeadListener struct {
	ln      net.Listener
	cfg     *tls.Config
	timeout time.Duration
	logf    func(format string, args ...any)
	refuse  refuseFunc

	conns chan net.Conn
	errs  chan error
	done  chan struct{}
	once  sync.Once
}

// newTLSHeadListener serves ln with cfg (its NextProtos are h2, http/1.1).
func newTLSHeadListener(ln net.Listener, cfg *tls.Config, timeout time.Duration, logf func(string, ...any), refuse refuseFunc) *tlsHeadListener {
	l := &tlsHeadListener{ln: ln, cfg: cfg, timeout: timeout, logf: logf, refuse: refuse,
		conns: make(chan net.Conn), errs: make(chan error), done: make(chan struct{})}
	go l.accept()
	return l
}

func (l *tlsHeadListener) accept() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			select {
			case l.errs <- err:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		go l.handshake(c)
	}
}

func (l *tlsHeadListener) handshake(c net.Conn) {
	tc := tls.Server(c, l.cfg)
	_ = c.SetDeadline(time.Now().Add(l.timeout))
	if err := tc.Handshake(); err != nil {
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			// As Go's server does for a client speaking plain HTTP.
			_, _ = io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
		}
		l.logf("http: TLS handshake error from %s: %v", c.RemoteAddr(), err)
		_ = c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	var out net.Conn = tc
	if st := tc.ConnectionState(); st.NegotiatedProtocol != "h2" {
		out = &headConn{Conn: tc, state: st, refuse: l.refuse}
	}
	select {
	case l.conns <- out:
	case <-l.done:
		_ = tc.Close()
	}
}

func (l *tlsHeadListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errs:
		return nil, fmt.Errorf("proxy listener: %w", err)
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *tlsHeadListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.ln.Close()
}

func (l *tlsHeadListener) Addr() net.Addr { return l.ln.Addr() }

// looksLikeHTTP reports whether a TLS record header is the start of a
// plain HTTP request (as net/http's tlsRecordHeaderLooksLikeHTTP).
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// Heads Go's server refuses itself.
//
// A head net/http cannot read (a field line without a colon, no Host, an
// invalid field name or value, a head past MaxHeaderBytes) never reaches
// a handler: the server writes a plain-text answer straight to the
// connection and closes it — no request ID, no reason code, no call
// record, unlike the same head on the fast listener (front.errorHandler).
// headConn.Write recognises that answer by its exact shape and writes the
// gateway's refusal in its place (Pipeline.Refuse, through refuseFunc):
// the rejection shape with request.malformed or request.head_too_large, a
// request ID that opens the trace, a log line and a call record.
//
// Recognising it: every such answer is one Write of the status line and
// then exactly goErrorFields (net/http server.go, conn.serve), made while
// no handler has the connection (headConn.handled: from the handler's
// start until the server calls the connection idle, after the response's
// last byte) — so no part of a response, whatever bytes an upstream put in
// its body, is ever taken for one. A handler's head could not match
// anyway: the server writes Date on every handler response (and sorts
// fields, Connection before Content-Type), and the gateway sets
// X-Request-Id on every response.

// refuseFunc answers a refused head (Pipeline.Refuse's signature).
type refuseFunc func(w http.ResponseWriter, status int, method, target, remoteAddr string, err error)

const goErrorFields = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// Go's texts for the heads it refuses with a reason (server.go,
// readRequest), as the gateway says them. Any other 400 of Go's has no
// text (a request line or field line that does not parse).
var goRefusals = map[string]error{
	"missing required Host header": errors.New("the request has no Host header field; HTTP/1.1 requires one (RFC 9112 §3.2)"),
	"malformed Host header":        errors.New("the Host header field is not a valid host[:port], or there is more than one (RFC 9112 §3.2)"),
	"invalid header name":          errors.New("a header field name has a character a field name cannot have (RFC 9110 §5.1)"),
	"invalid header value":         errors.New("a header field value has a control character (RFC 9110 §5.5)"),
}

var (
	errHeadUnparsable = errors.New("the request line or a header field line could not be parsed (RFC 9112 §3, §5)")
	errHeadTooLarge   = errors.New("the request line and headers exceed the listener's limit")
)

func (c *headConn) Write(p []byte) (int, error) {
	if c.refuse != nil && len(p) > len("HTTP/1.1 400") && string(p[:len("HTTP/1.1 4")]) == "HTTP/1.1 4" && !c.handled.Load() {
		if status, err, ok := goRefusal(p); ok {
			return c.answer(p, status, err)
		}
	}
	return c.Conn.Write(p)
}

// goRefusal reads an answer Go's server wrote itself to a head it
// refused: its status (400 or 431) and what was wrong, in the gateway's
// words.
func goRefusal(p []byte) (status int, err error, ok bool) {
	line, rest, found := bytes.Cut(p, []byte("\r\n"))
	if !found || !bytes.HasPrefix(rest, []byte(goErrorFields[2:])) {
		return 0, nil, false
	}
	switch {
	case bytes.HasPrefix(line, []byte("HTTP/1.1 431 ")):
		return http.StatusRequestHeaderFieldsTooLarge, errHeadTooLarge, true
	case bytes.Equal(line, []byte("HTTP/1.1 400 Bad Request")):
		return http.StatusBadRequest, errHeadUnparsable, true
	case bytes.HasPrefix(line, []byte("HTTP/1.1 400 Bad Request: ")):
		if e, known := goRefusals[string(line[len("HTTP/1.1 400 Bad Request: "):])]; known {
			return http.StatusBadRequest, e, true
		}
		return http.StatusBadRequest, errHeadUnparsable, true
	}
	return 0, nil, false
}

// answer writes the gateway's refusal instead of Go's answer p (reported
// written whole: Go closes the connection next either way). The method
// and target are what the scan read of the refused head's request line.
func (c *headConn) answer(p []byte, status int, err error) (int, error) {
	method, target := c.cur.method, c.cur.target
	c.mu.Lock()
	headDone := len(c.heads) > 0
	if headDone { // the head ended; no handler took it
		method, target = c.heads[0].method, c.heads[0].target
	}
	c.mu.Unlock()
	if status == http.StatusBadRequest && c.ended && !headDone && c.st == scanHead && c.head > 0 {
		// Go answers 400 to a stream that ends (or is reset) inside a
		// head too: the client left before its request arrived whole.
		// Recorded as the fast listener records it, with nobody to answer.
		status, err = front.StatusClientClosed, front.ErrHeadCut
	}
	// A method is a token (RFC 9110 §9.1), as a field name is.
	if !httpguts.ValidHeaderFieldName(method) {
		method, target = "", ""
	}
	rw := heldResponse{header: make(http.Header, 4)}
	c.refuse(&rw, status, method, target, c.Conn.RemoteAddr().String(), err)
	if status == front.StatusClientClosed {
		return len(p), nil
	}
	if _, werr := c.Conn.Write(answerBytes(&rw, status)); werr != nil {
		return 0, werr
	}
	return len(p), nil
}

// answerBytes is the answer held in w (a heldResponse, as a prompt
// call's) as a whole HTTP/1.1 response that closes the connection; status
// when the refusal wrote none.
func answerBytes(w *heldResponse, status int) []byte {
	if w.status != 0 {
		status = w.status
	}
	h := w.Header()
	h.Set("Content-Length", strconv.Itoa(w.body.Len()))
	h.Set("Connection", "close")
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	_ = h.Write(&b)
	b.WriteString("\r\n")
	b.Write(w.body.Bytes())
	return b.Bytes()
}
