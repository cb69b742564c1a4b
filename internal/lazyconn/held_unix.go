//go:build unix

package lazyconn

import (
	"errors"
	"io"
	"net"
	"os"
)

// canHold: the held write needs a file descriptor for write(2) and read(2).
const canHold = true

// sendThenRead writes the held bytes and reads the answer inside one
// RawConn.Read (rawsock.Exchange): its readiness reset comes before the
// write, so the answer's readiness cannot be lost, and the first read
// happens only once the socket is readable.
func (c *Conn) sendThenRead(p []byte) (int, error) {
	x := &c.x
	x.Out, x.In = c.held, p
	c.held = c.held[:0]
	err := x.Run(c.raw)
	held, n, sent := x.Out, x.N, x.Wrote
	werr, rerr, partial := x.WriteErr, x.ReadErr, x.Partial
	x.Out, x.In = nil, nil
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
