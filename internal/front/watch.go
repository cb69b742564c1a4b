package front

import (
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"gatehouse/internal/rawsock"
)

// Noticing a client that leaves while its request runs.
//
// net/http notices it with a background read on every request's
// connection, and cancels the request's context; the upstream call (an LLM
// completion that would go on generating, and billing, for a minute) then
// stops. That read costs a goroutine hand-off and system calls on every
// request, which is part of what made net/http's server too slow here
// (package doc). The front watches only the requests that outlast
// Server.WatchAfter: a sweeper looks at each connection's request every
// half of that, and for one that has run long enough, with its body read
// to its end, starts a watcher that waits for the connection to become
// readable and peeks (MSG_PEEK: nothing is consumed). End of stream or a
// reset means the client is gone: the request's context is cancelled,
// what net/http does (including for a client that half-closed after its
// request, as net/http). Bytes mean a pipelined request: the client is
// there, and the watcher stops. The request's end stops a watcher before
// fasthttp reads the connection again. A request costs four atomic
// operations on its connection's state for this; a watched one a goroutine
// and two deadline updates.

// DefaultWatchAfter is how long a request runs before its connection is
// watched for the client leaving, when Server.WatchAfter is zero.
const DefaultWatchAfter = 500 * time.Millisecond

// Connection states (clientConn.state).
const (
	connIdle    int32 = iota // no request is being handled
	connBusy                 // a handler runs
	connWatched              // a handler runs and a watcher waits on the socket
)

// clientConn is an accepted TCP connection with what the sweeper needs.
type clientConn struct {
	*net.TCPConn
	raw syscall.RawConn
	s   *Server

	state atomic.Int32
	x     atomic.Pointer[exchange] // the request being handled
	since atomic.Int64             // its start (fasthttp's ctx.Time), Unix ns
	done  chan struct{}            // closed when the watcher ends

	// io makes the reads and writes: raw system calls that do not wake
	// the runtime's monitor thread (package rawsock).
	io rawsock.Socket

	// strs are the strings of the last request, for the next to reuse
	// (build; touched only by the goroutine serving the connection).
	strs connStrings

	// h is the response held for the next read to send (held.go).
	h heldResponse

	// lf follows the bytes read for the bare-LF check (lf.go);
	// upgraded turns the check off once the connection carries another
	// protocol.
	lf       lfTail
	upgraded atomic.Bool
}

// watchListener wraps accepted TCP connections as clientConns.
type watchListener struct {
	net.Listener
	s *Server
}

func (l watchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c, nil
	}
	cc := newClientConn(tc, raw, l.s)
	l.s.track(cc, true)
	return cc, nil
}

// newClientConn wraps an accepted connection (raw is its SyscallConn).
func newClientConn(tc *net.TCPConn, raw syscall.RawConn, s *Server) *clientConn {
	cc := &clientConn{TCPConn: tc, raw: raw, s: s}
	cc.io.Init(tc)
	cc.h.x.Claim, cc.h.x.Sent = cc.claimHeld, cc.sentHeld
	return cc
}

// track adds or removes a connection for the sweeper.
func (s *Server) track(c *clientConn, add bool) {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	if !add {
		delete(s.conns, c)
		return
	}
	if s.conns == nil {
		s.conns = map[*clientConn]struct{}{}
	}
	s.conns[c] = struct{}{}
}

// clientOf finds the clientConn under a connection fasthttp serves (served
// again after a direct response, it is wrapped), or nil.
func clientOf(c net.Conn) *clientConn {
	for range 2 * maxAgain {
		switch v := c.(type) {
		case *clientConn:
			return v
		case *againConn:
			c = v.Conn
		case interface{ UnsafeConn() net.Conn }:
			c = v.UnsafeConn()
		default:
			return nil
		}
	}
	return nil
}

// begin marks x's request as running on c.
func (c *clientConn) begin(x *exchange, start time.Time) {
	c.x.Store(x)
	c.since.Store(start.UnixNano())
	c.state.Store(connBusy)
}

// end marks the request as finished; if a watcher runs, it is stopped and
// waited for, so that nothing but fasthttp reads the connection afterwards.
// Safe to call twice.
func (c *clientConn) end() {
	if !c.state.CompareAndSwap(connBusy, connIdle) && c.state.Load() == connWatched {
		_ = c.TCPConn.SetReadDeadline(time.Unix(1, 0))
		<-c.done
		// fasthttp sets its own deadline before it reads the next request.
		_ = c.TCPConn.SetReadDeadline(time.Time{})
		c.state.Store(connIdle)
	}
	c.x.Store(nil)
}

// sweep starts a watcher for each request that has run for at least after
// with its body read, and nudges held reads that wait too long (held.go).
// It runs until stop is closed.
func (s *Server) sweep(after time.Duration, stop <-chan struct{}) {
	tick := time.NewTicker(min(after/2, nudgeEvery))
	defer tick.Stop()
	var due, nudge []*clientConn
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		now := time.Now().UnixNano()
		due, nudge = due[:0], nudge[:0]
		s.connsMu.Lock()
		for c := range s.conns {
			if c.state.Load() == connBusy && now-c.since.Load() >= int64(after) {
				due = append(due, c)
			}
			// A held read waiting at two sweeps is nudged (held.go).
			switch c.h.wait.Load() {
			case waitHeld:
				c.h.wait.CompareAndSwap(waitHeld, waitSeen)
			case waitSeen:
				nudge = append(nudge, c)
			}
		}
		s.connsMu.Unlock()
		for _, c := range due {
			c.watch()
		}
		for _, c := range nudge {
			c.nudgeHeld()
		}
		clear(due)
		clear(nudge)
	}
}

// watch starts a watcher on c if its request still runs with its body read.
// Only the sweeper calls it, and only it moves a connection to connWatched:
// so c.done is not in use when it is set here.
func (c *clientConn) watch() {
	x := c.x.Load()
	if x == nil || !x.bodyRead.Load() {
		return
	}
	done := make(chan struct{})
	c.done = done // published to end() by the CompareAndSwap below
	if !c.state.CompareAndSwap(connBusy, connWatched) {
		return
	}
	go func() {
		defer close(done)
		if peekGone(c.raw) {
			x.cancel()
		}
	}()
}
