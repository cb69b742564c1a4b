// Package lazyconn wraps upstream connections to save the kernel and
// runtime work a proxied exchange does not need: deadline updates that
// would move a deadline later by less than Slack are skipped, and a
// request's last write can be held back and sent by the read that waits for
// its answer.
//
// Why deadlines: the fast engine sets deadlines on its upstream connection
// on every exchange (now + the write timeout, now + the response timeout).
// On a busy keep-alive connection each new deadline differs from the one in
// force by microseconds, yet costs a runtime timer update: about 0.4 µs
// each, 4 % of the gateway's CPU per proxied request in the profile
// (bench/README "Profile"). Skipping them means a timeout may fire up to
// Slack early, never late. (The client side was tried too — fasthttp's
// idle and read deadlines, made equal so both moves would be skipped — and
// measured no difference: not kept.)
//
// Why held writes: Go's net.Conn.Read always tries read(2) before it waits,
// so reading the answer right after sending a request costs a read that
// fails with EAGAIN — the upstream cannot have answered yet. nginx tracks
// readiness and does not make that call; per proxied request it makes 2
// reads and 2 writes where the fast engine made 4 reads and 2 writes (perf
// stat, bench/README "Profile"), and on this VM a syscall costs about 1 µs.
// See Hold.
package lazyconn

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"gatehouse/internal/rawsock"
)

// Slack is the largest move of a deadline to a later time that is skipped.
const Slack = 50 * time.Millisecond

// Conn is a net.Conn with lazy deadlines and held writes. Deadlines may
// be set from several goroutines (the engine cuts a stream's read from a
// context callback while its loop sets the next deadline): a mutex keeps
// each decision and its update together.
type Conn struct {
	net.Conn
	mu     sync.Mutex
	rd, wd time.Time

	// raw is the socket, for the held write and the read after it; nil if
	// c has none (then Hold does nothing).
	raw syscall.RawConn
	// hold and held: see Hold. Used only by the one goroutine that owns the
	// connection for an exchange.
	hold bool
	held []byte
	// x carries one held exchange through RawConn.Read's callback.
	x rawsock.Exchange

	// io makes the reads and writes: raw system calls that do not wake
	// the runtime's monitor thread (package rawsock).
	io rawsock.Socket
}

// MaxHeld is the most a held request may be: a larger one is written the
// ordinary way. The held bytes' buffer stays with the connection, so this
// also bounds what a pooled connection keeps.
const MaxHeld = 16 << 10

// Wrap returns c with lazy deadlines.
func Wrap(c net.Conn) *Conn {
	lc := &Conn{Conn: c}
	lc.io.Init(c)
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			lc.raw = raw
		}
	}
	return lc
}

// Hold makes the writes that follow, up to the next Read, be kept instead
// of sent, and sent by that Read just before it waits for the answer —
// without first trying a read that would find nothing. A write that would
// make the held bytes exceed MaxHeld sends them and itself the ordinary way
// and ends the hold.
//
// Only for a request on a connection the peer has no reason to have
// written to: a keep-alive connection between exchanges, or a fresh one.
// The held send runs inside syscall.RawConn.Read, which first clears the
// socket's read readiness; an answer can only arrive after the send, so
// its readiness is never the one cleared. What could have arrived before
// is the peer closing an idle connection (FIN or reset): the send then
// fails, or draws a reset from the peer's closed socket that wakes the
// read, which sees EOF or ECONNRESET — what the ordinary path reports for a
// stale keep-alive connection. Held bytes the socket does not take at once
// (a full send buffer) go the ordinary way, which waits; bytes a failed
// Read could not send (its deadline had passed) stay held and go first on
// the next Read or Write. The one case that differs — a peer that
// half-closed and stays silent — waits for the read's deadline instead of
// seeing EOF at once; the fast engine holds only on connections used
// moments ago (proxy: heldWriteWithin), and its first wait for an answer
// ends after a second (proxy: clientCheckAfter), when an ordinary read
// sees the EOF.
func (c *Conn) Hold() {
	if canHold && c.raw != nil {
		c.hold = true
	}
}

// Write sends p, or keeps it while the connection holds (see Hold). Bytes
// still held (a Read that failed before it could send them keeps them) go
// first.
func (c *Conn) Write(p []byte) (int, error) {
	if c.hold && len(c.held)+len(p) <= MaxHeld {
		c.held = append(c.held, p...)
		return len(p), nil
	}
	c.hold = false
	if len(c.held) > 0 {
		held := c.held
		c.held = c.held[:0]
		if _, err := c.io.Write(held); err != nil {
			return 0, err
		}
	}
	return c.io.Write(p)
}

// Read reads; if writes are held it sends them first and then waits for
// readiness before it reads (see Hold).
func (c *Conn) Read(p []byte) (int, error) {
	c.hold = false
	if len(c.held) == 0 {
		return c.io.Read(p)
	}
	return c.sendThenRead(p)
}

// opError wraps err the way net.Conn's own Read and Write do, so callers
// that classify errors (timeouts, resets) see the same shapes.
func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// move records t as the deadline in *cur and reports whether the
// connection's deadline must be set, or reports false (and keeps *cur) when
// t only moves a deadline later by less than Slack.
func move(cur *time.Time, t time.Time) bool {
	if !t.IsZero() && !cur.IsZero() && !t.Before(*cur) && t.Sub(*cur) < Slack {
		return false
	}
	*cur = t
	return true
}

// SetReadDeadline sets the read deadline unless that only moves it later
// by less than Slack.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !move(&c.rd, t) {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline unless that only moves it later
// by less than Slack.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !move(&c.wd, t) {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rd, c.wd = t, t
	return c.Conn.SetDeadline(t)
}

// SyscallConn exposes the socket (a pooled connection's liveness check
// peeks at it).
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if c.raw == nil {
		return nil, errors.New("lazyconn: connection has no socket")
	}
	return c.raw, nil
}
