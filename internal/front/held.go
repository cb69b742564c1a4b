package front

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/rawsock"
)

// Responses held for the next read.
//
// After a response fasthttp's loop reads the connection for the next
// request, and that read(2) finds nothing (EAGAIN): a client sends its
// next request only once it has the response, which at that moment has
// just been written. nginx tracks readiness and makes no such call; here it
// was one of the five system calls of a proxied request (bench/README
// "System calls per request"). So on a busy connection — its previous
// request came less than heldWithin before this one — the response
// fasthttp writes after a handler returns is held, and the next Read sends
// it from inside its RawConn.Read and then waits for readiness before
// reading (rawsock.Exchange): the reset of the socket's read readiness
// comes before the send, so the next request's readiness cannot be the
// one cleared. A connection that idles between requests gains nothing from
// it and is not held.
//
// Requests a client sent before it had the response (it pipelines) are
// the exception, two ways:
//
//   - fasthttp's reader may already hold the next request and serve it
//     without a Read: the held response would wait for that request's
//     handler. The front sends what is held when a request starts
//     (clientConn.started), and the connection holds no more.
//   - A request that arrived after the last read may have had its
//     readiness cleared by the held read's reset: it would wait for the
//     next event or the idle deadline. The sweeper bounds that wait: a
//     held read still waiting at two of its ticks (at most 250 ms apart)
//     is nudged — its read deadline set in the past, then the one fasthttp
//     set is put back — and reads the ordinary way; if bytes were there at
//     once, the connection holds no more.
//
// A held response has not reached the socket when fasthttp counts the
// connection idle, and Shutdown closes idle connections from its own
// goroutine: Close sends a response no read has claimed before it closes
// (heldResponse.mu orders the two), finishing in the background, bounded,
// for a client that does not read; no answered request loses its answer.

// maxHeld is the largest response held; a larger one is written the
// ordinary way (fasthttp writes a response in 4-KB pieces).
const maxHeld = 16 << 10

// heldWithin is how soon after the previous request a request must come
// for its response to be held: a client that waits longer between
// requests would have its held read nudged, which costs more than the
// read holding saves.
const heldWithin = 100 * time.Millisecond

// nudgeEvery is the longest the sweeper waits between looks at held
// reads (it looks every WatchAfter/2 when that is shorter).
const nudgeEvery = 250 * time.Millisecond

// closeSendTimeout bounds Close's send of a held response to a client
// that does not read.
const closeSendTimeout = time.Second

// States of a held read's wait, for the sweeper (heldResponse.wait).
const (
	waitNone   int32 = iota // no held read waits
	waitHeld                // a held read waits
	waitSeen                // ... and has been seen by a sweep
	waitNudged              // the sweeper set its deadline in the past
)

// heldResponse is a connection's held response and the read that sends
// it. The connection's goroutine owns it; Close (from any goroutine) and
// the sweeper touch what their comments say.
type heldResponse struct {
	// hold: the writes up to the next Read are held. off: the client
	// pipelines; nothing is held on this connection any more. last: the
	// previous request's start (Unix ns), busy: it came within heldWithin
	// of the one before. Owner only.
	hold, off, busy bool
	last            int64
	// mu guards held against Close, and sending and closed. Only the
	// owner changes held (under mu); it may read it without.
	mu sync.Mutex
	// held is *buf's bytes while a response is held; buf comes from the
	// server's pool and goes back once the response is sent, so an idle
	// connection keeps no buffer.
	held    []byte
	buf     *[]byte
	sending bool // a Read claimed held and has not given it up yet
	closed  bool // Close ran: it sent what no Read had claimed
	x       rawsock.Exchange
	// out: the held response went out whole in the last exchange (its
	// buffer is back in the pool). Owner only.
	out bool
	// wait and nudgeMu: see waitNone. rd is the read deadline last set
	// through the connection (fasthttp's; Unix ns, 0 for none), put back
	// after a nudge: atomic because a hijacked connection's deadlines may
	// be set from two goroutines.
	wait    atomic.Int32
	nudgeMu sync.Mutex
	rd      atomic.Int64
}

// started records that a request starts on the connection at start (its
// head has been read), and sends a response still held: the request came
// without a Read, from fasthttp's buffer behind the previous one, so the
// client pipelines (see the comment at the top). Owner only.
func (c *clientConn) started(start time.Time) error {
	h := &c.h
	t := start.UnixNano()
	h.busy, h.last = t-h.last < int64(heldWithin), t
	if !h.hold && len(h.held) == 0 {
		return nil
	}
	h.hold, h.off = false, true
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return net.ErrClosed
	}
	held, buf := h.take()
	h.mu.Unlock()
	_, err := c.io.Write(held)
	c.s.putHeld(buf, held)
	return err
}

// holdResponse makes the response fasthttp writes next be held, on a busy
// connection that does not pipeline (see the comment at the top). Called
// by the handler's goroutine when a buffered response goes to fasthttp.
func (c *clientConn) holdResponse() {
	if c.h.busy && !c.h.off {
		c.h.hold = true
	}
}

// Write writes p to the client, or holds it (holdResponse).
func (c *clientConn) Write(p []byte) (int, error) {
	h := &c.h
	if !h.hold {
		return c.io.Write(p)
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return 0, net.ErrClosed
	}
	if len(h.held)+len(p) <= maxHeld {
		if h.buf == nil {
			h.buf = c.s.heldBuf()
			h.held = (*h.buf)[:0]
		}
		h.held = append(h.held, p...)
		h.mu.Unlock()
		return len(p), nil
	}
	// Too large to hold: what is held and p go the ordinary way.
	held, buf := h.take()
	h.hold = false
	h.mu.Unlock()
	if len(held) > 0 {
		_, err := c.io.Write(held)
		c.s.putHeld(buf, held)
		if err != nil {
			return 0, err
		}
	}
	return c.io.Write(p)
}

// take removes the held bytes and their buffer from h (owner, under mu):
// the caller sends them and gives the buffer back (Server.putHeld).
func (h *heldResponse) take() ([]byte, *[]byte) {
	held, buf := h.held, h.buf
	h.held, h.buf = nil, nil
	return held, buf
}

// heldBuf is a buffer for a held response.
func (s *Server) heldBuf() *[]byte {
	if b, ok := s.heldBufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 4<<10)
	return &b
}

// putHeld gives a held response's buffer back (nil: none).
func (s *Server) putHeld(buf *[]byte, held []byte) {
	if buf != nil {
		*buf = held[:0]
		s.heldBufs.Put(buf)
	}
}

// Read reads from the client; a held response is sent first, and the read
// waits for readiness before it reads.
func (c *clientConn) Read(p []byte) (int, error) {
	// Stored only when set: on an upgraded connection reads and writes run
	// on two goroutines, and a store on every Read would race with them
	// (TestUpgradedConnectionIsFullDuplex, under -race).
	if c.h.hold {
		c.h.hold = false
	}
	// A head fasthttp would wait out its read timeout for (lf.go).
	if len(p) < c.s.readBuf && c.state.Load() == connIdle && !c.upgraded.Load() && c.lf.headEnded(c.s.readBuf-len(p)) {
		return 0, errBareLF
	}
	var n int
	var err error
	if len(c.h.held) == 0 {
		n, err = c.io.Read(p)
	} else {
		n, err = c.sendThenRead(p)
	}
	c.lf.saw(p[:max(n, 0)])
	return n, err
}

// claimHeld is the exchange's Claim: the held bytes are the read's to
// send unless Close sent them.
func (c *clientConn) claimHeld() bool {
	h := &c.h
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sending = !h.closed
	return h.sending
}

// sentHeld is the exchange's Sent: a response that went out whole gives
// its buffer back before the read waits (an idle connection keeps none);
// one that did not is left to sendThenRead.
func (c *clientConn) sentHeld() {
	h := &c.h
	if h.x.Partial || h.x.WriteErr != nil {
		return
	}
	h.mu.Lock()
	held, buf := h.take()
	h.sending = false
	h.mu.Unlock()
	c.s.putHeld(buf, held)
	h.out = true
}

// sendThenRead sends the held response and reads the next request (see
// the comment at the top).
func (c *clientConn) sendThenRead(p []byte) (int, error) {
	h := &c.h
	x := &h.x
	x.Out, x.In = h.held, p
	h.out = false
	h.wait.Store(waitHeld)
	err := x.Run(c.raw)
	nudged := !h.wait.CompareAndSwap(waitHeld, waitNone) && !h.wait.CompareAndSwap(waitSeen, waitNone)
	claimed := h.out
	if h.sending { // claimed, but not all of it went out
		claimed = true
		h.mu.Lock()
		held, buf := h.take()
		h.sending = false
		h.mu.Unlock()
		defer c.s.putHeld(buf, held) // after Result writes the rest
	}
	if nudged {
		h.nudgeMu.Lock() // the sweeper's deadline is set
		h.nudgeMu.Unlock()
		h.wait.Store(waitNone)
		if derr := c.TCPConn.SetReadDeadline(c.readDeadline()); derr != nil {
			return 0, derr
		}
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			if !claimed {
				// Nudged before the send (the goroutine was held up for
				// two sweeps): the response is still held.
				return c.sendThenRead(p)
			}
			err = nil // the nudge's deadline, not the connection's
			if !x.Partial && x.WriteErr == nil {
				// The response is out; the wait may have missed bytes
				// that came before it.
				x.Out, x.In = nil, nil
				if peekData(c.raw) {
					h.off = true
				}
				return c.io.Read(p)
			}
		}
	}
	// A deadline or a closed connection with no claim leaves the response
	// held for Close.
	n, err := x.Result(err, &c.io)
	x.Out, x.In = nil, nil
	return n, err
}

// nudgeHeld ends a held read's wait that a sweep saw before (see the
// comment at the top). Sweeper only.
func (c *clientConn) nudgeHeld() {
	h := &c.h
	h.nudgeMu.Lock()
	defer h.nudgeMu.Unlock()
	if h.wait.CompareAndSwap(waitSeen, waitNudged) {
		_ = c.TCPConn.SetReadDeadline(time.Unix(1, 0))
	}
}

// SetReadDeadline sets the read deadline and remembers it (a nudge puts it
// back).
func (c *clientConn) SetReadDeadline(t time.Time) error {
	c.rememberRead(t)
	return c.TCPConn.SetReadDeadline(t)
}

// SetDeadline sets both deadlines and remembers the read one.
func (c *clientConn) SetDeadline(t time.Time) error {
	c.rememberRead(t)
	return c.TCPConn.SetDeadline(t)
}

func (c *clientConn) rememberRead(t time.Time) {
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	c.h.rd.Store(ns)
}

// readDeadline is the read deadline last set through the connection.
func (c *clientConn) readDeadline() time.Time {
	if ns := c.h.rd.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Close forgets the connection, sends a response no read has claimed, and
// closes. The send does not wait: what the socket does not take at once
// is finished by a goroutine that closes after it, within
// closeSendTimeout (Shutdown closes idle connections under fasthttp's lock
// and must not wait on a client that does not read).
func (c *clientConn) Close() error {
	c.s.track(c, false)
	h := &c.h
	h.mu.Lock()
	var rest []byte
	if !h.closed && !h.sending && len(h.held) > 0 {
		rest = h.held[c.sendNow(h.held):]
	}
	h.closed = true // held stays: the owner's Read may be looking at it
	h.mu.Unlock()
	if len(rest) == 0 {
		return c.TCPConn.Close()
	}
	go func() {
		_ = c.TCPConn.SetWriteDeadline(time.Now().Add(closeSendTimeout))
		_, _ = c.io.Write(rest)
		_ = c.TCPConn.Close()
	}()
	return nil
}

// sendNow writes what the socket takes of p without waiting and returns
// how much that was.
func (c *clientConn) sendNow(p []byte) int {
	sent := 0
	_ = c.raw.Write(func(fd uintptr) bool {
		sent, _ = rawsock.WriteAvailable(fd, p)
		return true
	})
	return sent
}
