//go:build unix

package lazyconn

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"gatehouse/internal/rawsock"
)

// canHold: the held write needs a file descriptor for write(2) and read(2).
const canHold = true

// sendThenRead writes the held bytes and reads the answer inside one
// RawConn.Read: its readiness reset comes before the write, so the answer's
// readiness cannot be lost, and the first read happens only once the socket
// is readable.
func (c *Conn) sendThenRead(p []byte) (int, error) {
	x := &c.x
	*x = exchange{held: c.held, p: p}
	c.held = c.held[:0]
	if c.step == nil {
		c.step = c.sendRead // one method value per connection, not per read
	}
	err := c.raw.Read(c.step)
	n, sent, werr, rerr, partial := x.n, x.sent, x.werr, x.rerr, x.partial
	held := x.held
	*x = exchange{}
	switch {
	case err != nil:
		// A deadline or a closed connection, perhaps before anything was
		// sent: what was not sent stays held for the next Read.
		c.held = append(c.held[:0], held[sent:]...)
		var raw *net.OpError // RawConn.Read's own "raw-read" wrapping
		if errors.As(err, &raw) {
			err = raw.Err
		}
		return 0, c.opError("read", err)
	case werr != nil:
		return 0, c.opError("write", os.NewSyscallError("write", werr))
	case partial:
		if _, err := c.io.Write(held[sent:]); err != nil {
			return 0, err
		}
		return c.io.Read(p)
	case rerr != nil:
		return 0, c.opError("read", os.NewSyscallError("read", rerr))
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// sendRead is sendThenRead's callback for RawConn.Read: true ends the
// call, false waits for the socket to be readable and calls it again.
func (c *Conn) sendRead(fd uintptr) bool {
	x := &c.x
	for x.sent < len(x.held) {
		w, err := rawsock.WriteFD(fd, x.held[x.sent:])
		if w > 0 {
			x.sent += w
		}
		switch err {
		case nil:
		case syscall.EAGAIN:
			// The send buffer is full (it should not be, between
			// exchanges): the rest goes the ordinary way, which waits.
			x.partial = true
			return true
		default:
			x.werr = err
			return true
		}
	}
	if !x.waited {
		// Sent: wait for the answer instead of reading nothing.
		x.waited = true
		return len(x.p) == 0
	}
	n, err := rawsock.ReadFD(fd, x.p)
	switch err {
	case syscall.EAGAIN:
		return false
	case nil:
		x.n = n
	default:
		x.rerr = err
	}
	return true
}
