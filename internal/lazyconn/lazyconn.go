// Package lazyconn wraps network connections so that deadline updates that
// would move a deadline later by less than Slack are skipped.
//
// Why: the fast engine sets deadlines on its upstream connection on every
// exchange (now + the write timeout, now + the response timeout). On a
// busy keep-alive connection each new deadline differs from the one in
// force by microseconds, yet costs a runtime timer update: about 0.4 µs
// each, 4 % of the gateway's CPU per proxied request in the profile
// (bench/README "Profile"). Skipping them means a timeout may fire up to
// Slack early, never late. (The client side was tried too — fasthttp's
// idle and read deadlines, made equal so both moves would be skipped — and
// measured no difference: not kept.)
package lazyconn

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// Slack is the largest move of a deadline to a later time that is skipped.
const Slack = 50 * time.Millisecond

// Conn is a net.Conn with lazy deadlines. Deadlines may be set from
// several goroutines (the engine cuts a stream's read from a context
// callback while its loop sets the next deadline): a mutex keeps each
// decision and its update together.
type Conn struct {
	net.Conn
	mu     sync.Mutex
	rd, wd time.Time
}

// Wrap returns c with lazy deadlines.
func Wrap(c net.Conn) *Conn { return &Conn{Conn: c} }

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
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("lazyconn: connection has no socket")
	}
	return sc.SyscallConn()
}
