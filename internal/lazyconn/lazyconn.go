// Package lazyconn wraps network connections so that deadline updates that
// would move a deadline later by less than Slack are skipped.
//
// Why: both of Gatehouse's hot connections set a deadline per request —
// the fast engine on its upstream connection (now + the write, then the
// response timeout), fasthttp on a client connection (now + the idle, then
// the read timeout). On a busy keep-alive connection each new deadline
// differs from the one in force by microseconds, yet costs a runtime timer
// update: about 0.4 µs each, 4 % of the gateway's CPU per proxied request
// in the profile (bench/README "Profile"). Skipping them means a timeout
// may fire up to Slack early, never late.
package lazyconn

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// Slack is the largest move of a deadline to a later time that is skipped.
const Slack = 50 * time.Millisecond

// Conn is a net.Conn with lazy deadlines. It is not safe to set deadlines
// from several goroutines at once (neither of its users does).
type Conn struct {
	net.Conn
	rd, wd time.Time
}

// Wrap returns c with lazy deadlines.
func Wrap(c net.Conn) *Conn { return &Conn{Conn: c} }

// skip reports whether moving a deadline from cur to t can be skipped.
func skip(cur, t time.Time) bool {
	return !t.IsZero() && !cur.IsZero() && !t.Before(cur) && t.Sub(cur) < Slack
}

// SetReadDeadline sets the read deadline unless that only moves it later
// by less than Slack.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if skip(c.rd, t) {
		return nil
	}
	c.rd = t
	return c.Conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline unless that only moves it later
// by less than Slack.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if skip(c.wd, t) {
		return nil
	}
	c.wd = t
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rd, c.wd = t, t
	return c.Conn.SetDeadline(t)
}

// SyscallConn exposes the socket (a pooled connection's liveness check
// peeks at it).
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("lazyconn: connection has no socket")
	}
	return sc.SyscallConn()
}

// Listener wraps every accepted connection.
type Listener struct{ net.Listener }

// Accept accepts a connection with lazy deadlines.
func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}
